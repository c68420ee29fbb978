// Bicubic resampling (F.interpolate(mode='bicubic', align_corners=False), with and without
// antialias) against PyTorch 1.13: the fixtures in test/fixtures/bicubic/ are written by
// test/scripts/bicubic_reference.py. Also: the backward is the exact adjoint of the forward in
// float64, any input layout gives the same bits, and the thread count does not matter.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as R from '../lib/index.js';
import { DType } from '../lib/index.js';
import { native } from '../lib/tensor/native.js';
import { wrap } from '../lib/tensor/tensor.js';
import { make, numel, prng, vals } from './helpers.js';

interface Case {
  name: string;
  dtype: DType;
  antialias: boolean;
  scale_factor: [number, number] | null;
  size: [number, number] | null;
  dinov2: { M: number; h0: number; w0: number; offset: number } | null;
  shape: [number, number, number, number];
  out: [number, number];
  step: [number, number];
  dx_source: 'torch' | 'adjoint';
  x: number[];
  y: number[];
  dy: number[];
  dx: number[];
  dx_adjoint?: number[];
}

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'bicubic');
const FILES = ['nonaa_scale', 'nonaa_size', 'aa', 'float64'];
const cases: [string, Case][] = FILES.flatMap((f) =>
  (JSON.parse(readFileSync(join(FIXTURES, `${f}.json`), 'utf8')) as Case[]).map((c): [string, Case] => [`${f}: ${c.name}`, c]));

/** Reference values in the case's dtype (float32 ones are stored as their shortest decimal). */
const ref = (c: Case, v: number[]): number[] => (c.dtype === 'float32' ? v.map(Math.fround) : v);

/** max |actual - expected| / max |expected|. */
function relErr(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let err = 0, scale = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    err = Number.isNaN(d) ? Infinity : Math.max(err, d);
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return scale > 0 ? err / scale : err;
}

// float32: the forward reproduces PyTorch's float32 results (to the bit on the reference build);
// PyTorch's own non-antialiased backward is up to ~1.3e-6 away from the exact adjoint of its
// forward, which is what we compute (dx_adjoint carries that adjoint).
const TOL = {
  float32: { y: 1e-6, dx: 2e-6, adjoint: 2e-7 },
  float64: { y: 1e-12, dx: 1e-12, adjoint: 1e-12 },
} as Record<string, { y: number; dx: number; adjoint: number }>;

const opts = (c: Case): R.BicubicOptions =>
  c.scale_factor ? { scaleFactor: c.scale_factor, antialias: c.antialias } : { size: c.size!, antialias: c.antialias };

describe('interpolateBicubic vs PyTorch 1.13', () => {
  it.each(cases)('%s', (_, c) => {
    R.tidy(() => {
      const tol = TOL[c.dtype];
      const [N, C] = c.shape;
      const yShape = [N, C, c.out[0], c.out[1]];
      for (const layout of ['contiguous', 'permuted', 'sliced'] as const) {
        const x = make(Float64Array.from(c.x), [...c.shape], c.dtype, layout).requiresGrad_();
        const y = R.interpolateBicubic(x, opts(c));
        expect(y.shape).toEqual(yShape);
        expect(relErr(vals(y), ref(c, c.y)), `${layout} y`).toBeLessThanOrEqual(tol.y);
        y.backward(make(Float64Array.from(c.dy), yShape, c.dtype, layout));
        const dx = vals(x.grad!);
        expect(relErr(dx, ref(c, c.dx)), `${layout} dx (${c.dx_source})`).toBeLessThanOrEqual(c.dx_source === 'adjoint' ? tol.adjoint : tol.dx);
        if (c.dx_adjoint) expect(relErr(dx, ref(c, c.dx_adjoint)), `${layout} dx (adjoint)`).toBeLessThanOrEqual(tol.adjoint);
      }
    });
  });

  it.each(cases)('%s (native, fixture steps)', (_, c) => {
    R.tidy(() => {
      const [N, C, H, W] = c.shape;
      const [OH, OW] = c.out;
      const x = R.tensor(Float64Array.from(c.x), c.shape, c.dtype);
      const dy = R.tensor(Float64Array.from(c.dy), [N, C, OH, OW], c.dtype);
      const y = wrap(native.bicubic(x._h!, OH, OW, c.step[0], c.step[1], c.antialias));
      const dx = wrap(native.bicubicBackward(dy._h!, H, W, c.step[0], c.step[1], c.antialias));
      expect(y.shape).toEqual([N, C, OH, OW]);
      expect(dx.shape).toEqual(c.shape);
      const tol = TOL[c.dtype];
      expect(relErr(vals(y), ref(c, c.y))).toBeLessThanOrEqual(tol.y);
      expect(relErr(vals(dx), ref(c, c.dx))).toBeLessThanOrEqual(c.dx_source === 'adjoint' ? tol.adjoint : tol.dx);
    });
  });
});

// Random values in [-1, 1) as a Float64Array.
function randomValues(n: number, seed: number): Float64Array {
  const r = prng(seed);
  return Float64Array.from({ length: n }, () => 2 * r() - 1);
}

interface Resize { h: number; w: number; oh: number; ow: number; sh: number; sw: number; aa: boolean }
const RESIZES: Resize[] = [
  { h: 5, w: 5, oh: 7, ow: 3, sh: 5 / 7.1, sw: 5 / 3.1, aa: false },
  { h: 5, w: 5, oh: 5, ow: 5, sh: 5 / 5.1, sw: 5 / 5.1, aa: false },  // same size, step != 1
  { h: 37, w: 37, oh: 46, ow: 40, sh: 37 / 46.1, sw: 37 / 40.1, aa: false },
  { h: 37, w: 37, oh: 16, ow: 23, sh: 37 / 16.1, sw: 37 / 23.1, aa: false },
  { h: 1, w: 6, oh: 3, ow: 2, sh: 1 / 3, sw: 3, aa: false },
  { h: 12, w: 10, oh: 5, ow: 3, sh: 12 / 5, sw: 10 / 3, aa: true },
  { h: 4, w: 6, oh: 9, ow: 13, sh: 4 / 9, sw: 6 / 13, aa: true },
  { h: 37, w: 37, oh: 16, ow: 23, sh: 37 / 16, sw: 37 / 23, aa: true },
  { h: 3, w: 40, oh: 2, ow: 3, sh: 1.5, sw: 40 / 3, aa: true },
];
const label = (r: Resize) => `${r.h}x${r.w} -> ${r.oh}x${r.ow}${r.aa ? ' antialias' : ''}`;

describe('bicubic backward', () => {
  it.each(RESIZES.map((r) => [label(r), r] as const))('is the adjoint of the forward in float64: %s', (_, r) => {
    R.tidy(() => {
      const xs = [2, 3, r.h, r.w], ys = [2, 3, r.oh, r.ow];
      const x = R.tensor(randomValues(numel(xs), 1), xs, 'float64');
      const v = R.tensor(randomValues(numel(ys), 2), ys, 'float64');
      const wx = vals(wrap(native.bicubic(x._h!, r.oh, r.ow, r.sh, r.sw, r.aa)));
      const wtv = vals(wrap(native.bicubicBackward(v._h!, r.h, r.w, r.sh, r.sw, r.aa)));
      const xv = vals(x), vv = vals(v);
      let a = 0, b = 0, s = 0;
      for (let i = 0; i < vv.length; i++) { a += wx[i] * vv[i]; s += Math.abs(wx[i] * vv[i]); }
      for (let i = 0; i < xv.length; i++) b += xv[i] * wtv[i];
      expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-13 * s);
    });
  });

  it('passes a float64 gradient check (with and without antialias, scale factors and sizes)', () => {
    R.tidy(() => {
      const x = R.tensor(randomValues(2 * 5 * 4, 3), [1, 2, 5, 4], 'float64').requiresGrad_();
      R.gradCheck((t) => R.interpolateBicubic(t, { scaleFactor: [7.1 / 5, 3.1 / 4] }), [x]);
      R.gradCheck((t) => R.interpolateBicubic(t, { size: [3, 9] }), [x]);
      R.gradCheck((t) => R.interpolateBicubic(t, { size: [2, 7], antialias: true }), [x]);
    });
  });
});

describe('bicubic as matrices (the fallback on backends without the kernel)', () => {
  it.each(RESIZES.map((r) => [label(r), r] as const))('Wh x Wwᵀ from bicubicMatrix equals the kernel, forward and backward: %s', (_, r) => {
    R.tidy(() => {
      for (const dtype of ['float32', 'float64'] as const) {
        const x = R.tensor(randomValues(2 * 3 * r.h * r.w, 5), [2, 3, r.h, r.w], dtype).requiresGrad_();
        const dy = R.tensor(randomValues(2 * 3 * r.oh * r.ow, 6), [2, 3, r.oh, r.ow], dtype);
        const wh = R.bicubicMatrix(r.h, r.oh, r.sh, r.aa, dtype), ww = R.bicubicMatrix(r.w, r.ow, r.sw, r.aa, dtype);
        expect(wh.shape).toEqual([r.oh, r.h]);
        expect(R.bicubicMatrix(r.h, r.oh, r.sh, r.aa, dtype)).toBe(wh);  // cached
        const y = wrap(native.bicubic(x._h!, r.oh, r.ow, r.sh, r.sw, r.aa));
        const m = wh.matmul(x.matmul(ww, { transB: true }));
        m.backward(dy);
        const dx = wrap(native.bicubicBackward(dy._h!, r.h, r.w, r.sh, r.sw, r.aa));
        const tol = dtype === 'float32' ? 2e-6 : 1e-13;
        const close = (a: number[], b: number[]) => {
          const scale = Math.max(1, ...b.map(Math.abs));
          return a.every((v, i) => Math.abs(v - b[i]!) <= tol * scale);
        };
        expect(close(vals(m), vals(y)), `${dtype} forward`).toBe(true);
        expect(close(vals(x.grad!), vals(dx)), `${dtype} backward`).toBe(true);
      }
    });
  });
});

describe('bicubic layouts and threads', () => {
  it('gives the same bits for the DINOv2 grid layout ([1, M*M, D] viewed as [1, D, M, M]) as for a contiguous copy', () => {
    R.tidy(() => {
      const M = 37, D = 48;
      const tokens = R.tensor(randomValues(M * M * D, 4), [1, M * M, D], 'float32');
      const grid = tokens.reshape([1, M, M, D]).permute([0, 3, 1, 2]);
      expect(grid._h!.isContiguous).toBe(false);
      const dense = grid.contiguous();
      for (const [h0, w0, aa] of [[46, 40, false], [16, 23, false], [16, 23, true], [37, 50, true]] as const) {
        const o = { scaleFactor: [(h0 + 0.1) / M, (w0 + 0.1) / M] as [number, number], antialias: aa };
        const a = R.interpolateBicubic(grid, o), b = R.interpolateBicubic(dense, o);
        expect(a.shape).toEqual([1, D, h0, w0]);
        expect(vals(a)).toEqual(vals(b));
        // the upstream gradient of `.permute(0, 2, 3, 1).reshape(1, h0 * w0, D)` is channels-last too
        const g = R.tensor(randomValues(h0 * w0 * D, 5), [1, h0 * w0, D], 'float32');
        const gView = g.reshape([1, h0, w0, D]).permute([0, 3, 1, 2]);
        const sh = M / (h0 + 0.1), sw = M / (w0 + 0.1);
        const da = vals(wrap(native.bicubicBackward(gView._h!, M, M, sh, sw, aa)));
        const db = vals(wrap(native.bicubicBackward(gView.contiguous()._h!, M, M, sh, sw, aa)));
        expect(da).toEqual(db);
      }
    });
  });

  it('does not depend on the thread count', () => {
    const before = R.getNumThreads();
    try {
      R.tidy(() => {
        const x = R.tensor(randomValues(2 * 7 * 9 * 11, 6), [2, 7, 9, 11], 'float32');
        const g = R.tensor(randomValues(2 * 7 * 13 * 5, 7), [2, 7, 13, 5], 'float32');
        const run = () => [false, true].map((aa) => [
          vals(wrap(native.bicubic(x._h!, 13, 5, 9 / 13.1, 11 / 5.1, aa))),
          vals(wrap(native.bicubicBackward(g._h!, 9, 11, 9 / 13.1, 11 / 5.1, aa))),
        ]);
        R.setNumThreads(1);
        const one = run();
        R.setNumThreads(4);
        expect(run()).toEqual(one);
      });
    } finally {
      R.setNumThreads(before);
    }
  });

  // Every ISA path (portable, AVX2 + FMA clones of the plane loops) gives the same bits: the
  // function below runs here and in child processes with RADDINO_ISA capping the CPU features.
  function computeAll(api: typeof R, nat: typeof native, wrapFn: typeof wrap, cs: Case[]): number[][] {
    const out: number[][] = [];
    const data = (n: number, seed: number) => {
      let s = seed >>> 0;
      return Float64Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 31) - 1);
    };
    const runs = cs.map((c) => ({ c, x: Float64Array.from(c.x), dy: Float64Array.from(c.dy) }));
    // a DINOv2-sized grid in its channels-last layout, resized up and down, with and without antialias
    for (const [oh, ow, aa] of [[46, 40, false], [16, 23, true]] as const) {
      const c = { shape: [1, 24, 37, 37], out: [oh, ow], step: [37 / (oh + 0.1), 37 / (ow + 0.1)], antialias: aa, dtype: 'float32' } as Case;
      runs.push({ c, x: data(24 * 37 * 37, oh), dy: data(24 * oh * ow, ow) });
    }
    for (const { c, x: xv, dy: dyv } of runs) {
      api.tidy(() => {
        const [N, C, H, W] = c.shape;
        const [OH, OW] = c.out;
        const x = api.tensor(xv, [N, H, W, C], c.dtype).permute([0, 3, 1, 2]);
        const dy = api.tensor(dyv, [N, C, OH, OW], c.dtype);
        out.push(Array.from(wrapFn(nat.bicubic(x._h!, OH, OW, c.step[0], c.step[1], c.antialias)).dataSync() as Float64Array));
        out.push(Array.from(wrapFn(nat.bicubicBackward(dy._h!, H, W, c.step[0], c.step[1], c.antialias)).dataSync() as Float64Array));
      });
    }
    return out;
  }

  const f = R.cpuInfo().features;
  it.each([['generic', true], ['avx2', f.avx2 && f.fma]] as const)('gives the same bits on the %s path', (isa, available) => {
    if (!available) return;
    const local = JSON.parse(JSON.stringify(computeAll(R, native, wrap, cases.map(([, c]) => c)))) as number[][];
    const script = `Promise.all([import('./lib/index.js'), import('./lib/tensor/native.js'), import('./lib/tensor/tensor.js')])
      .then(([R, n, t]) => {
        const fs = require('node:fs'), path = require('node:path');
        const cases = ${JSON.stringify(FILES)}.flatMap((f) => JSON.parse(fs.readFileSync(path.join(${JSON.stringify(FIXTURES)}, f + '.json'), 'utf8')));
        process.stdout.write(JSON.stringify((${computeAll.toString()})(R, n.native, t.wrap, cases)));
      });`;
    const stdout = execFileSync(process.execPath, ['--import', 'tsx', '-e', script], {
      env: { ...process.env, RADDINO_ISA: isa },
      encoding: 'utf8',
      maxBuffer: 1 << 28,
    });
    expect(JSON.parse(stdout) as number[][]).toEqual(local);
  });

  it('rejects bad arguments', () => {
    R.tidy(() => {
      const x = R.zeros([1, 2, 4, 4]);
      expect(() => R.interpolateBicubic(R.zeros([2, 4, 4]), { size: [2, 2] })).toThrow(/expected 4-D/);
      expect(() => wrap(native.bicubic(x._h!, 0, 3, 1, 1, false))).toThrow(/bicubic: output size \[0, 3\] must be positive/);
      expect(() => wrap(native.bicubic(x._h!, 3, 3, Number.NaN, 1, false))).toThrow(/must be positive and finite/);
    });
  });
});
