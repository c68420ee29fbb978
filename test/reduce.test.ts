// Reductions over every subset of axes, softmax and log-softmax, against float64 references.
import { describe, expect, it } from 'vitest';
import * as R from '../lib/index.js';
import { DType, Tensor } from '../lib/index.js';
import { expectClose, forEachIndex, LAYOUTS, make, numel, stridesOf, TOL, values } from './helpers.js';

const SHAPE = [5, 7, 11, 13];

/** Reference reduction of `v` (row-major over shape) over `axes`, with fn(list) -> number. */
function refReduce(v: ArrayLike<number>, shape: number[], axes: number[], fn: (xs: number[]) => number): number[] {
  const kept = shape.map((_, d) => d).filter((d) => !axes.includes(d));
  const outShape = kept.map((d) => shape[d]);
  const groups: number[][] = Array.from({ length: numel(outShape) }, () => []);
  const ostr = stridesOf(outShape);
  forEachIndex(shape, (idx, flat) => {
    let o = 0;
    kept.forEach((d, k) => (o += idx[d] * ostr[k]));
    groups[o].push(v[flat]);
  });
  return groups.map(fn);
}

const sumOf = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const meanOf = (xs: number[]) => sumOf(xs) / xs.length;
const REF: Record<string, (xs: number[]) => number> = {
  sum: sumOf,
  mean: meanOf,
  max: (xs) => Math.max(...xs),
  min: (xs) => Math.min(...xs),
  var: (xs) => sumOf(xs.map((x) => (x - meanOf(xs)) ** 2)) / (xs.length - 1),
  logsumexp: (xs) => { const m = Math.max(...xs); return m + Math.log(sumOf(xs.map((x) => Math.exp(x - m)))); },
  norm: (xs) => Math.sqrt(sumOf(xs.map((x) => x * x))),
};

const AXES_SETS = [[], [0], [3], [1, 2], [0, 3], [0, 1, 3], [0, 1, 2, 3], [2]];

function call(name: string, x: Tensor, axes: number[] | undefined, keepdim: boolean): Tensor {
  switch (name) {
    case 'var': return x.var(axes, { keepdim });
    case 'norm': return x.norm(2, axes, keepdim);
    default: return (x as unknown as Record<string, (d?: number[], k?: boolean) => Tensor>)[name].call(x, axes, keepdim);
  }
}

describe('reductions match a float64 reference over any set of axes', () => {
  for (const name of Object.keys(REF)) {
    it(`${name}`, () => {
      const v = values(numel(SHAPE), 21, -3, 3);
      for (const axes of AXES_SETS) {
        const expected = refReduce(v, SHAPE, axes.length ? axes : [0, 1, 2, 3], REF[name]);
        for (const dtype of ['float32', 'float64'] as DType[]) {
          for (const layout of LAYOUTS) {
            for (const keepdim of [false, true]) {
              R.tidy(() => {
                const r = call(name, make(v, SHAPE, dtype, layout), axes.length ? axes : undefined, keepdim);
                const outShape = SHAPE.map((s, d) => (axes.length === 0 || axes.includes(d) ? (keepdim ? 1 : -1) : s)).filter((s) => s >= 0);
                expect(r.shape).toEqual(outShape);
                const tol = dtype === 'float32' ? { rtol: 1e-5, atol: 1e-5 } : TOL.float64;
                expectClose(r, expected, tol, `${name} ${dtype} ${layout} axes=${axes} keepdim=${keepdim}`);
              });
            }
          }
        }
      }
    });
  }

  it('negative axes, var correction, norm p = 1 / 3 / inf, std', () => {
    R.tidy(() => {
      const v = values(7 * 11, 3, -2, 2);
      const x = make(v, [7, 11], 'float64', 'sliced');
      expectClose(x.sum(-1), refReduce(v, [7, 11], [1], sumOf), TOL.float64, 'sum(-1)');
      expectClose(x.var(0, { correction: 0 }), refReduce(v, [7, 11], [0], (xs) => sumOf(xs.map((a) => (a - meanOf(xs)) ** 2)) / xs.length), TOL.float64, 'var c=0');
      expectClose(x.std(1), refReduce(v, [7, 11], [1], (xs) => Math.sqrt(REF.var(xs))), TOL.float64, 'std');
      expectClose(x.norm(1, 1), refReduce(v, [7, 11], [1], (xs) => sumOf(xs.map(Math.abs))), TOL.float64, 'norm 1');
      expectClose(x.norm(3, 0), refReduce(v, [7, 11], [0], (xs) => sumOf(xs.map((a) => Math.abs(a) ** 3)) ** (1 / 3)), TOL.float64, 'norm 3');
      expectClose(x.norm(Infinity, 1), refReduce(v, [7, 11], [1], (xs) => Math.max(...xs.map(Math.abs))), TOL.float64, 'norm inf');
    });
  });

  it('integer and bool sums give int64; max/min keep the dtype; all/any', () => {
    R.tidy(() => {
      const x = R.tensor([[1, 2, 3], [4, 5, 6]], undefined, 'int32');
      const s = x.sum(1);
      expect(s.dtype).toBe('int64');
      expect(s.toArray()).toEqual([6, 15]);
      expect(x.max(0).toArray()).toEqual([4, 5, 6]);
      expect(x.max().dtype).toBe('int32');
      const b = R.tensor([[true, false], [true, true]]);
      expect(b.sum().item()).toBe(3);
      expect(b.all(1).toArray()).toEqual([0, 1]);
      expect(b.any(0).toArray()).toEqual([1, 1]);
      expect(x.gt(3).any().item()).toBe(1);
    });
  });

  it('max/min propagate NaN; logsumexp of all -inf is -inf', () => {
    R.tidy(() => {
      const x = R.tensor([[1, NaN, 3], [4, 5, 6]]);
      expectClose(x.max(1), [NaN, 6], TOL.exact, 'max');
      expectClose(x.min(1), [NaN, 4], TOL.exact, 'min');
      expect(R.tensor([-Infinity, -Infinity]).logsumexp().item()).toBe(-Infinity);
    });
  });

  it('argmax / argmin along a dim and over the flattened tensor (first of ties, NaN wins)', () => {
    R.tidy(() => {
      const v = values(5 * 7 * 11, 8, -3, 3).map((x) => Math.round(x * 2));
      for (const layout of LAYOUTS) {
        const x = make(v, [5, 7, 11], 'float32', layout);
        for (const dim of [0, 1, 2]) {
          const arg = (xs: number[], better: (a: number, b: number) => boolean) => {
            let k = 0;
            xs.forEach((a, i) => { if (better(a, xs[k])) k = i; });
            return k;
          };
          expectClose(x.argmax(dim), refReduce(v, [5, 7, 11], [dim], (xs) => arg(xs, (a, b) => a > b)), TOL.exact, `argmax ${dim} ${layout}`);
          expectClose(x.argmin(dim), refReduce(v, [5, 7, 11], [dim], (xs) => arg(xs, (a, b) => a < b)), TOL.exact, `argmin ${dim} ${layout}`);
        }
        expect(x.argmax().item()).toBe(Array.from(v).indexOf(Math.max(...v)));
        expect(x.argmax(1, true).shape).toEqual([5, 1, 11]);
      }
      expect(R.tensor([1, NaN, 5, NaN]).argmax().item()).toBe(1);
    });
  });
});

describe('softmax and log-softmax', () => {
  const ref = (xs: number[], log: boolean) => {
    const m = Math.max(...xs);
    const s = xs.reduce((a, x) => a + Math.exp(x - m), 0);
    return xs.map((x) => (log ? x - m - Math.log(s) : Math.exp(x - m) / s));
  };
  for (const log of [false, true]) {
    it(`${log ? 'log_softmax' : 'softmax'} along every dim, every layout`, () => {
      const v = values(numel(SHAPE), 31, -10, 10);
      for (let dim = 0; dim < 4; dim++) {
        // reference: softmax of each vector along dim, written back in place
        const expected = new Array<number>(v.length);
        const str = stridesOf(SHAPE);
        forEachIndex(SHAPE.map((s, d) => (d === dim ? 1 : s)), (idx) => {
          const base = idx.reduce((a, i, d) => a + i * str[d], 0);
          const xs = Array.from({ length: SHAPE[dim] }, (_, k) => v[base + k * str[dim]]);
          ref(xs, log).forEach((y, k) => (expected[base + k * str[dim]] = y));
        });
        for (const dtype of ['float32', 'float64'] as DType[]) {
          for (const layout of LAYOUTS) {
            R.tidy(() => {
              const x = make(v, SHAPE, dtype, layout);
              const r = log ? x.logSoftmax(dim) : x.softmax(dim);
              // log_softmax is x - (m + log sum): an absolute error of a few ulp of |x| (<= 10 here)
              const tol = dtype === 'float32' ? { rtol: 1e-5, atol: log ? 5e-6 : 1e-7 } : TOL.float64;
              expectClose(r, expected, tol, `dim ${dim} ${dtype} ${layout}`);
            });
          }
        }
      }
    });
  }

  it('is stable for large logits and exact for a 0-d input', () => {
    R.tidy(() => {
      expectClose(R.tensor([1000, 1000, -1000]).softmax(), [0.5, 0.5, 0], TOL.float32, 'large');
      expect(R.tensor(3).softmax(0).item()).toBe(1);
      expect(R.tensor(3).logSoftmax(0).item()).toBe(0);
    });
  });
});
