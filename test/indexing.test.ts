// cat, index_select, gather, scatter_add, index_add, masked_fill, masked_select, one_hot, topk,
// arange and linspace against references, on odd shapes and non-contiguous inputs.
import { describe, expect, it } from 'vitest';
import * as R from '../lib/index.js';
import { DType } from '../lib/index.js';
import { expectClose, forEachIndex, LAYOUTS, make, numel, prng, stridesOf, TOL, values, vals } from './helpers.js';

const SHAPE = [5, 7, 11];
const flatAt = (shape: number[], idx: number[]) => idx.reduce((a, i, d) => a + i * stridesOf(shape)[d], 0);

describe('joining and indexing', () => {
  it('cat along every dim, mixed layouts and dtypes', () => {
    for (const dtype of ['float32', 'int64', 'bool'] as DType[]) {
      for (let dim = 0; dim < 3; dim++) {
        R.tidy(() => {
          const shapes = [SHAPE, SHAPE.map((s, d) => (d === dim ? 3 : s)), SHAPE.map((s, d) => (d === dim ? 0 : s))];
          const vs = shapes.map((s, i) => values(numel(s), 10 + i, -9, 9).map((x) => (dtype === 'float32' ? x : Math.round(x) !== 0 || dtype !== 'bool' ? Math.round(x) : 1)).map((x) => (dtype === 'bool' ? Number(x !== 0) : x)));
          const ts = shapes.map((s, i) => make(vs[i], s, dtype, LAYOUTS[i % 3]));
          const out = R.cat(ts, dim);
          const outShape = SHAPE.map((s, d) => (d === dim ? s + 3 : s));
          expect(out.shape).toEqual(outShape);
          const expected: number[] = [];
          forEachIndex(outShape, (idx) => {
            const k = idx[dim] < SHAPE[dim] ? 0 : 1;
            const local = idx.map((v, d) => (d === dim ? v - (k ? SHAPE[dim] : 0) : v));
            expected.push(vs[k][flatAt(shapes[k], local)]);
          });
          expectClose(out, expected, TOL.exact, `cat ${dtype} dim ${dim}`);
        });
      }
    }
  });

  it('index_select and gather pick the referenced elements along every dim', () => {
    const v = values(numel(SHAPE), 2);
    const r = prng(5);
    for (const layout of LAYOUTS) {
      for (let dim = 0; dim < 3; dim++) {
        R.tidy(() => {
          const x = make(v, SHAPE, 'float32', layout);
          const idx = Array.from({ length: 9 }, () => Math.floor(r() * SHAPE[dim]));
          const sel = x.indexSelect(dim, R.tensor(idx, undefined, 'int64'));
          const selShape = SHAPE.map((s, d) => (d === dim ? 9 : s));
          const e1: number[] = [];
          forEachIndex(selShape, (i) => e1.push(v[flatAt(SHAPE, i.map((a, d) => (d === dim ? idx[a] : a)))]));
          expectClose(sel, e1, TOL.exact, `index_select ${layout} ${dim}`);
          expectClose(x.indexSelect(dim, R.tensor(idx, undefined, 'int32')), e1, TOL.exact, 'int32 index');

          const gShape = SHAPE.map((s, d) => (d === dim ? 4 : s - 1));
          const gv = Float64Array.from({ length: numel(gShape) }, () => Math.floor(r() * SHAPE[dim]));
          const g = x.gather(dim, make(gv, gShape, 'int64', layout));
          const e2: number[] = [];
          forEachIndex(gShape, (i, f) => e2.push(v[flatAt(SHAPE, i.map((a, d) => (d === dim ? gv[f] : a)))]));
          expectClose(g, e2, TOL.exact, `gather ${layout} ${dim}`);
        });
      }
    }
  });

  it('scatter_add and index_add accumulate duplicates (out of place)', () => {
    const r = prng(9);
    for (const dtype of ['float64', 'int32'] as DType[]) {
      for (let dim = 0; dim < 3; dim++) {
        R.tidy(() => {
          const base = values(numel(SHAPE), 3, -5, 5).map(Math.round);
          const x = make(base, SHAPE, dtype, 'permuted');
          const iShape = SHAPE.map((s, d) => (d === dim ? 6 : s - 2));
          const iv = Float64Array.from({ length: numel(iShape) }, () => Math.floor(r() * SHAPE[dim]));
          const sShape = SHAPE.map((s, d) => (d === dim ? 6 : s - 1));
          const sv = values(numel(sShape), 4, -5, 5).map(Math.round);
          const out = x.scatterAdd(dim, make(iv, iShape, 'int64'), make(sv, sShape, dtype, 'sliced'));
          const e = Array.from(base);
          forEachIndex(iShape, (i, f) => {
            e[flatAt(SHAPE, i.map((a, d) => (d === dim ? iv[f] : a)))] += sv[flatAt(sShape, i)];
          });
          expectClose(out, e, TOL.exact, `scatter_add ${dtype} ${dim}`);
          expectClose(x, Array.from(base), TOL.exact, 'input unchanged');

          const ji = [0, SHAPE[dim] - 1, 0, 1];
          const srcShape = SHAPE.map((s, d) => (d === dim ? 4 : s));
          const src = values(numel(srcShape), 6, -5, 5).map(Math.round);
          const ia = x.indexAdd(dim, R.tensor(ji, undefined, 'int64'), make(src, srcShape, dtype, 'sliced'), 2);
          const e2 = Array.from(base);
          forEachIndex(srcShape, (i, f) => { e2[flatAt(SHAPE, i.map((a, d) => (d === dim ? ji[a] : a)))] += 2 * src[f]; });
          expectClose(ia, e2, TOL.exact, `index_add ${dtype} ${dim}`);
        });
      }
    }
  });

  it('masked_fill and masked_select with a broadcast mask', () => {
    R.tidy(() => {
      const v = values(numel(SHAPE), 7);
      const mv = values(7 * 1, 8).map((x) => Number(x > 0));
      const x = make(v, SHAPE, 'float32', 'permuted');
      const m = make(mv, [7, 1], 'bool');
      const e: number[] = [];
      const sel: number[] = [];
      forEachIndex(SHAPE, (i, f) => {
        e.push(mv[i[1]] ? -1 : v[f]);
        if (mv[i[1]]) sel.push(v[f]);
      });
      expectClose(x.maskedFill(m, -1), e, TOL.exact, 'masked_fill');
      expectClose(x.maskedSelect(m), sel, TOL.exact, 'masked_select');
      expect(x.maskedSelect(R.zeros([7, 1], { dtype: 'bool' })).shape).toEqual([0]);
    });
  });

  it('one_hot with given and inferred class counts', () => {
    R.tidy(() => {
      const idx = R.tensor([[0, 2], [1, 2]], undefined, 'int64');
      expect(R.oneHot(idx).toArray()).toEqual([[[1, 0, 0], [0, 0, 1]], [[0, 1, 0], [0, 0, 1]]]);
      expect(R.oneHot(idx.t(), 4).shape).toEqual([2, 2, 4]);
      expect(R.oneHot(idx, 4).dtype).toBe('int64');
    });
  });

  it('topk largest/smallest along every dim with sorted values and matching indices', () => {
    const v = values(numel(SHAPE), 12, -3, 3).map((x) => Math.round(x * 4) / 4);  // ties
    for (const layout of LAYOUTS) {
      for (let dim = 0; dim < 3; dim++) {
        for (const largest of [true, false]) {
          R.tidy(() => {
            const x = make(v, SHAPE, 'float32', layout);
            const k = Math.min(3, SHAPE[dim]);
            const { values: tv, indices: ti } = x.topk(k, dim, largest);
            const outShape = SHAPE.map((s, d) => (d === dim ? k : s));
            const ev: number[] = [], ei: number[] = [];
            forEachIndex(outShape, (i) => {
              const line = Array.from({ length: SHAPE[dim] }, (_, j) => ({ x: v[flatAt(SHAPE, i.map((a, d) => (d === dim ? j : a)))], j }));
              line.sort((p, q) => (p.x !== q.x ? (largest ? q.x - p.x : p.x - q.x) : p.j - q.j));
              ev.push(line[i[dim]].x);
              ei.push(line[i[dim]].j);
            });
            expectClose(tv, ev, TOL.exact, `topk values ${layout} ${dim} ${largest}`);
            expectClose(ti, ei, TOL.exact, `topk indices ${layout} ${dim} ${largest}`);
          });
        }
      }
    }
  });

  it('arange and linspace', () => {
    R.tidy(() => {
      expect(R.arange(5).toArray()).toEqual([0, 1, 2, 3, 4]);
      expect(R.arange(5).dtype).toBe('int64');
      expect(R.arange(1, 2, 0.25).toArray()).toEqual([1, 1.25, 1.5, 1.75]);
      expect(R.arange(5, 0, -2).toArray()).toEqual([5, 3, 1]);
      expect(R.arange(0, 0).shape).toEqual([0]);
      const l = vals(R.linspace(-1, 1, 7, { dtype: 'float64' }));
      expectClose(l, [-1, -2 / 3, -1 / 3, 0, 1 / 3, 2 / 3, 1], { rtol: 1e-15, atol: 1e-15 }, 'linspace');
      expect(vals(R.linspace(0, 1, 1))).toEqual([0]);
      expect(vals(R.linspace(2, 9, 2))).toEqual([2, 9]);
    });
  });
});
