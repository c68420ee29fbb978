// Counter-based RNG: reproducible from a seed, independent of thread count and of how a draw is
// split, with the right distributions.
import { afterAll, describe, expect, it } from 'vitest';
import * as R from '../lib/index.js';
import { vals } from './helpers.js';

const minOf = (xs: number[]) => xs.reduce((a, b) => Math.min(a, b), Infinity);
const maxOf = (xs: number[]) => xs.reduce((a, b) => Math.max(a, b), -Infinity);
const moments = (xs: number[]) => {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const v = xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length;
  return { m, v };
};

describe('random', () => {
  afterAll(() => R.setNumThreads(0));

  it('the same seed gives the same numbers; the generator advances between draws', () => {
    R.tidy(() => {
      const a = vals(R.randn([1000], { generator: new R.Generator(42) }));
      const b = vals(R.randn([1000], { generator: new R.Generator(42) }));
      expect(a).toEqual(b);
      const g = new R.Generator(42);
      const first = vals(R.randn([500], { generator: g }));
      const second = vals(R.randn([500], { generator: g }));
      expect([...first, ...second]).toEqual(a);  // draws continue the same stream
      expect(g.offset).toBe(1000n);
      expect(vals(R.randn([1000], { generator: new R.Generator(43) }))).not.toEqual(a);
      R.manualSeed(7);
      const c = vals(R.rand([10]));
      R.manualSeed(7);
      expect(vals(R.rand([10]))).toEqual(c);
    });
  });

  it('does not depend on the thread count', () => {
    R.tidy(() => {
      const draw = () => [
        R.rand([200_003], { generator: new R.Generator(5) }),
        R.randn([200_003], { generator: new R.Generator(5), dtype: 'float64' }),
        R.randint(0, 1000, [200_003], { generator: new R.Generator(5) }),
        R.randperm(50_000, { generator: new R.Generator(5) }),
        R.truncNormal([100_001], { generator: new R.Generator(5) }),
      ].map((t) => Buffer.from(t.dataSync().buffer));
      R.setNumThreads(1);
      const one = draw();
      R.setNumThreads(2);
      const two = draw();
      one.forEach((b, i) => expect(Buffer.compare(b, two[i])).toBe(0));
    });
  });

  it('has the right distributions', () => {
    R.tidy(() => {
      const g = new R.Generator(123);
      const n = 200_000;
      const u = moments(vals(R.rand([n], { generator: g })));
      expect(Math.abs(u.m - 0.5)).toBeLessThan(0.005);
      expect(Math.abs(u.v - 1 / 12)).toBeLessThan(0.002);
      const ru = vals(R.rand([n], { generator: g, low: -3, high: 5 }));
      expect(minOf(ru)).toBeGreaterThanOrEqual(-3);
      expect(maxOf(ru)).toBeLessThan(5);
      const z = moments(vals(R.randn([n], { generator: g, mean: 2, std: 3 })));
      expect(Math.abs(z.m - 2)).toBeLessThan(0.03);
      expect(Math.abs(Math.sqrt(z.v) - 3)).toBeLessThan(0.03);
      const t = vals(R.truncNormal([n], { generator: g, std: 0.02, a: -0.04, b: 0.04 }));
      expect(minOf(t)).toBeGreaterThanOrEqual(-0.04);
      expect(maxOf(t)).toBeLessThanOrEqual(0.04);
      // variance of a normal truncated at +-2 sigma: sigma^2 (1 - 2*2*phi(2)/(2*Phi(2)-1))
      const phi2 = Math.exp(-2) / Math.sqrt(2 * Math.PI), Phi2 = 0.9772498680518208;
      const tv = 0.02 ** 2 * (1 - (4 * phi2) / (2 * Phi2 - 1));
      expect(Math.abs(moments(t).v / tv - 1)).toBeLessThan(0.02);
      const ri = vals(R.randint(-3, 4, [n], { generator: g }));
      for (let k = -3; k < 4; k++) expect(Math.abs(ri.filter((x) => x === k).length / n - 1 / 7)).toBeLessThan(0.005);
      const p = R.full([n], 0.3);
      expect(Math.abs(moments(vals(R.bernoulli(p, { generator: g }))).m - 0.3)).toBeLessThan(0.005);
      const perm = vals(R.randperm(1000, { generator: g }));
      expect([...perm].sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
      expect(perm).not.toEqual(Array.from({ length: 1000 }, (_, i) => i));
    });
  });

  it('generator state round-trips for checkpoints', () => {
    R.tidy(() => {
      const g = new R.Generator(99);
      R.rand([17], { generator: g });
      const state = g.getState();
      const a = vals(R.rand([5], { generator: g }));
      const h = new R.Generator().setState(state);
      expect(vals(R.rand([5], { generator: h }))).toEqual(a);
    });
  });
});
