// Views share storage and read the right elements; reshape copies only when it must.
import { describe, expect, it } from 'vitest';
import * as R from '../lib/index.js';
import { expectClose, forEachIndex, make, numel, stridesOf, TOL, values, vals } from './helpers.js';

describe('views', () => {
  it('permute/transpose/narrow/slice/select/expand/squeeze/unsqueeze read the right elements and share storage', () => {
    R.tidy(() => {
      const shape = [5, 7, 11];
      const v = values(numel(shape), 1);
      const x = make(v, shape);
      const at = (i: number, j: number, k: number) => v[(i * 7 + j) * 11 + k];
      const p = x.permute(2, 0, 1);
      expect(p.shape).toEqual([11, 5, 7]);
      expect(p._h!.storageId).toBe(x._h!.storageId);
      const pe: number[] = [];
      forEachIndex([11, 5, 7], ([k, i, j]) => pe.push(at(i, j, k)));
      expectClose(p, pe, TOL.exact, 'permute');
      expect(p.isContiguous()).toBe(false);

      const s = x.slice(2, 1, 10, 3);  // k = 1, 4, 7
      const se: number[] = [];
      forEachIndex([5, 7, 3], ([i, j, k]) => se.push(at(i, j, 1 + 3 * k)));
      expectClose(s, se, TOL.exact, 'slice step 3');
      expectClose(x.slice(0, -2), (() => { const e: number[] = []; forEachIndex([2, 7, 11], ([i, j, k]) => e.push(at(3 + i, j, k))); return e; })(), TOL.exact, 'slice negative start');

      expectClose(x.narrow(1, 2, 3), (() => { const e: number[] = []; forEachIndex([5, 3, 11], ([i, j, k]) => e.push(at(i, 2 + j, k))); return e; })(), TOL.exact, 'narrow');
      expectClose(x.select(1, -1), (() => { const e: number[] = []; forEachIndex([5, 11], ([i, k]) => e.push(at(i, 6, k))); return e; })(), TOL.exact, 'select');

      const col = make(values(5, 2), [5, 1]);
      const ex = col.expand(3, 5, 4);
      expect(ex.shape).toEqual([3, 5, 4]);
      expect(ex.stride()).toEqual([0, 1, 0]);
      expectClose(ex, (() => { const c = vals(col); const e: number[] = []; forEachIndex([3, 5, 4], ([, i]) => e.push(c[i])); return e; })(), TOL.exact, 'expand');
      expect(col.unsqueeze(0).shape).toEqual([1, 5, 1]);
      expect(col.unsqueeze(-1).shape).toEqual([5, 1, 1]);
      expect(col.unsqueeze(0).squeeze().shape).toEqual([5]);
      expect(col.squeeze(0).shape).toEqual([5, 1]);  // a non-1 dim is left alone
      expect(x.flatten(1).shape).toEqual([5, 77]);
      expect(x.unflatten(2, [1, 11]).shape).toEqual([5, 7, 1, 11]);
      expect(x.t === undefined).toBe(false);
      expect(x.mT.shape).toEqual([5, 11, 7]);
    });
  });

  it('reshape is a view when strides allow it and a copy otherwise; view() refuses to copy', () => {
    R.tidy(() => {
      const v = values(6 * 4, 3);
      const x = make(v, [6, 4]);
      const r = x.reshape(2, 3, 4);
      expect(r._h!.storageId).toBe(x._h!.storageId);
      expect(x.reshape(-1).shape).toEqual([24]);
      const t = x.t();
      const rt = t.reshape(24);
      expect(rt._h!.storageId).not.toBe(x._h!.storageId);
      const te: number[] = [];
      forEachIndex([4, 6], ([i, j]) => te.push(v[j * 4 + i]));
      expectClose(rt, te, TOL.exact, 'reshape of transpose copies in logical order');
      expect(() => t.view(24)).toThrow(/view: argument 'shape' \[24\] is incompatible with the input's strides/);
      expect(t.view(2, 2, 6).shape).toEqual([2, 2, 6]);  // splitting one dim is always a view
    });
  });

  it('contiguous() of a permuted 4-D view and clone() copy in logical order', () => {
    R.tidy(() => {
      const shape = [5, 7, 11, 13];
      const v = values(numel(shape), 4);
      const p = make(v, shape, 'float32', 'permuted');
      const c = p.contiguous();
      expect(c.isContiguous()).toBe(true);
      expect(c.stride()).toEqual(stridesOf(shape));
      expectClose(c, Array.from(v), TOL.exact, 'contiguous');
      const k = c.clone();
      expect(k._h!.storageId).not.toBe(c._h!.storageId);
    });
  });

  it('split and chunk return views covering the dim; stack adds a dim', () => {
    R.tidy(() => {
      const x = make(values(10 * 3, 5), [10, 3]);
      expect(x.split(4).map((t) => t.shape[0])).toEqual([4, 4, 2]);
      expect(x.split([1, 9]).map((t) => t.shape[0])).toEqual([1, 9]);
      expect(x.chunk(3).map((t) => t.shape[0])).toEqual([4, 4, 2]);
      expect(x.chunk(3, 1).map((t) => t.shape[1])).toEqual([1, 1, 1]);
      const parts = x.split(3);
      expectClose(R.cat(parts, 0), vals(x), TOL.exact, 'cat of split');
      const s = R.stack([x, x.mul(2)], 1);
      expect(s.shape).toEqual([10, 2, 3]);
      expectClose(s.select(1, 1), vals(x).map((a) => 2 * a), TOL.exact, 'stack');
      expect(R.stack([x, x], -1).shape).toEqual([10, 3, 2]);
    });
  });
});
