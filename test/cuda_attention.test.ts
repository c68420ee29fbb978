// Flash attention on CUDA (native/cuda/attention.cu) against the CPU attention in float64 on the
// same values (the CPU op is itself tested against the composite softmax(q k^T s) v). Shapes: the
// ViT's sequence lengths (257, 1370 and with register tokens), odd N and M != N, head dims 64 and
// 128 plus padded ones (3, 32, 80), batched heads, and q, k, v as the strided views of one
// [B, N, 3, H, D] qkv projection (the layout the ViT hands over). Runs where supports() says the
// backend has the op for the dtype, so the file passes on machines without a GPU.
//
// Tolerance: bf16/f16 inputs with float32 accumulation; P and dS are rounded to the input dtype
// before their products (as in FlashAttention), so the check is on the relative Frobenius error
// of each output, ||got - ref|| / ||ref|| <= TOL[dtype].rtol, plus every element within
// TOL[dtype].atol + 4 rtol max|ref| (no stray element hides behind a good norm) and no NaN.
import { describe, expect, it } from 'vitest';
import * as R from '../lib/index.js';
import { cudaAvailable, supports } from '../lib/index.js';
import { native, type NativeTensor } from '../lib/tensor/native.js';
import { TOL, prng, hostValues } from './helpers.js';

type H = NativeTensor;
const CUDA = cudaAvailable();


function values(n: number, seed: number, amp: number): Float32Array {
  const r = prng(seed);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = amp * (2 * r() - 1);
  return v;
}

// A [B, H, L, D] tensor on `device` in `dtype`, contiguous or as the q/k/v slice of a packed
// [B, L, 3, H, D] buffer (slot = 0, 1, 2), holding `vals` (row-major over [B, H, L, D]).
function place(vals: Float32Array, shape: number[], dtype: string, device: string, packed: number | null): H {
  const [B, Hh, L, D] = shape;
  if (packed === null) {
    const f = native.fromBuffer(vals, shape, 'float32', true);
    const c = native.cast(f, dtype);
    const d = native.toDevice(c, device);
    for (const t of [f, c]) if (t !== d) t.dispose();
    return d;
  }
  const buf = new Float32Array(B * L * 3 * Hh * D);
  // fill the other slots with NaN: reading them would show
  buf.fill(Number.NaN);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < Hh; h++)
      for (let l = 0; l < L; l++)
        for (let d = 0; d < D; d++)
          buf[(((b * L + l) * 3 + packed) * Hh + h) * D + d] = vals[((b * Hh + h) * L + l) * D + d];
  const f = native.fromBuffer(buf, [B, L, 3, Hh, D], 'float32', true);
  const c = native.cast(f, dtype);
  const d = native.toDevice(c, device);
  const sel = native.slice(d, 2, packed, packed + 1, 1);
  const r = native.reshape(sel, [B, L, Hh, D]);
  const out = native.permute(r, [0, 2, 1, 3]);
  for (const t of [f, c, d, sel, r]) if (t !== out) t.dispose();
  return out;
}

function check(name: string, got: H, want: H, dtype: string): { rel: number; worst: number } {
  expect(got.shape, `${name}: shape`).toEqual(want.shape);
  const g = hostValues(got), w = hostValues(want);
  const tol = TOL[dtype];
  let num = 0, den = 0, maxRef = 0;
  for (let i = 0; i < w.length; i++) maxRef = Math.max(maxRef, Math.abs(w[i]));
  let worst = 0, at = -1;
  for (let i = 0; i < w.length; i++) {
    expect(Number.isNaN(g[i]), `${name}: element ${i} is NaN`).toBe(false);
    const e = g[i] - w[i];
    num += e * e;
    den += w[i] * w[i];
    const over = Math.abs(e) - (tol.atol + 4 * tol.rtol * maxRef);
    if (over > worst) {
      worst = over;
      at = i;
    }
  }
  const rel = Math.sqrt(num / Math.max(den, 1e-300));
  if (at >= 0) expect.fail(`${name}: element ${at} is ${g[at]}, reference ${w[at]} (max |ref| ${maxRef}, ${dtype})`);
  expect(rel, `${name}: relative error ${rel}`).toBeLessThanOrEqual(tol.rtol);
  return { rel, worst };
}

interface Shape {
  B: number;
  H: number;
  N: number;
  M: number;
  D: number;
  packed?: boolean;
  amp?: number;
}
const SHAPES: Shape[] = [
  { B: 2, H: 3, N: 257, M: 257, D: 64 },
  { B: 1, H: 2, N: 1370, M: 1370, D: 64, packed: true },
  { B: 2, H: 2, N: 261, M: 261, D: 64, packed: true, amp: 3 },  // 256 patches + cls + 4 registers, peaked scores
  { B: 1, H: 3, N: 50, M: 50, D: 128 },
  { B: 2, H: 1, N: 201, M: 201, D: 128, packed: true },
  { B: 1, H: 2, N: 37, M: 133, D: 64 },  // cross attention, M != N, both odd
  { B: 3, H: 2, N: 70, M: 5, D: 80 },    // fewer keys than one tile; padded head dim
  { B: 1, H: 2, N: 17, M: 19, D: 3 },    // tiny head dim: element loads, odd stores
  { B: 2, H: 2, N: 65, M: 129, D: 32 },
];

const DTYPES = ['bfloat16', 'float16'];

describe('CUDA flash attention against the CPU attention (float64)', () => {
  for (const dtype of DTYPES) {
    const on = CUDA && supports('attention', dtype, 'cuda') && supports('attention_back', dtype, 'cuda');
    describe.skipIf(!on)(dtype, () => {
      SHAPES.forEach((s, si) => {
        const label = `B=${s.B} H=${s.H} N=${s.N} M=${s.M} D=${s.D}${s.packed ? ' (q, k, v views of a packed qkv)' : ''}`;
        it(`forward and backward, ${label}`, () => {
          const amp = s.amp ?? 1;
          const qv = values(s.B * s.H * s.N * s.D, 100 + si, amp);
          const kv = values(s.B * s.H * s.M * s.D, 200 + si, amp);
          const vv = values(s.B * s.H * s.M * s.D, 300 + si, 1);
          const gv = values(s.B * s.H * s.N * s.D, 400 + si, 1);
          const scale = 1 / Math.sqrt(s.D);
          // packed qkv needs N == M
          const pk = (slot: number) => (s.packed && s.N === s.M ? slot : null);
          const dev = [
            place(qv, [s.B, s.H, s.N, s.D], dtype, 'cuda', pk(0)),
            place(kv, [s.B, s.H, s.M, s.D], dtype, 'cuda', pk(1)),
            place(vv, [s.B, s.H, s.M, s.D], dtype, 'cuda', pk(2)),
          ];
          const dout = place(gv, [s.B, s.H, s.N, s.D], dtype, 'cuda', null);
          // Reference: the same (rounded) values in float64 on the CPU.
          const ref = [...dev, dout].map((t) => {
            const c = native.toDevice(t, 'cpu');
            const d = native.cast(c, 'float64');
            if (c !== d) c.dispose();
            return d;
          });
          const [out, lse] = native.attention(dev[0], dev[1], dev[2], scale);
          const [rOut, rLse] = native.attention(ref[0], ref[1], ref[2], scale);
          const errs: string[] = [];
          errs.push(`out ${check(`${label} out`, out, rOut, dtype).rel.toExponential(2)}`);
          errs.push(`lse ${check(`${label} lse`, lse, rLse, dtype).rel.toExponential(2)}`);
          const grads = native.attentionBackward(dev[0], dev[1], dev[2], out, lse, dout, scale);
          const rGrads = native.attentionBackward(ref[0], ref[1], ref[2], rOut, rLse, ref[3], scale);
          ['dq', 'dk', 'dv'].forEach((n, i) => errs.push(`${n} ${check(`${label} ${n}`, grads[i], rGrads[i], dtype).rel.toExponential(2)}`));
          console.log(`attention ${dtype} ${label}: relative errors ${errs.join(', ')}`);
          for (const t of [...dev, dout, ...ref, out, lse, rOut, rLse, ...grads, ...rGrads]) t.dispose();
        });
      });

      it('gives the same result twice (no race between warps or blocks)', () => {
        const s = { B: 2, H: 2, N: 300, M: 300, D: 64 };
        const mk = (seed: number) => place(values(s.B * s.H * s.N * s.D, seed, 2), [s.B, s.H, s.N, s.D], dtype, 'cuda', null);
        const [q, k, v, g] = [mk(1), mk(2), mk(3), mk(4)];
        const runs = [0, 1].map(() => {
          const [o, l] = native.attention(q, k, v, 0.125);
          const gr = native.attentionBackward(q, k, v, o, l, g, 0.125);
          const vals = [o, l, gr[0], gr[1], gr[2]].map((t) => hostValues(t));
          for (const t of [o, l, ...gr]) t.dispose();
          return vals;
        });
        // forward and dk/dv are deterministic; dq sums float32 atomics in any order (rounding only)
        for (const i of [0, 1, 3, 4]) expect(Array.from(runs[1][i])).toEqual(Array.from(runs[0][i]));
        const a = runs[0][2], b = runs[1][2];
        let num = 0, den = 0;
        for (let i = 0; i < a.length; i++) {
          num += (a[i] - b[i]) ** 2;
          den += a[i] ** 2;
        }
        expect(Math.sqrt(num / den)).toBeLessThan(1e-3);
        for (const t of [q, k, v, g]) t.dispose();
      });

      it('takes a negative or zero scale', () => {
        const s = { B: 1, H: 2, N: 33, M: 40, D: 64 };
        const qv = values(s.B * s.H * s.N * s.D, 7, 1), kv = values(s.B * s.H * s.M * s.D, 8, 1), vv = values(s.B * s.H * s.M * s.D, 9, 1);
        for (const scale of [-0.3, 0]) {
          const dev = [place(qv, [s.B, s.H, s.N, s.D], dtype, 'cuda', null), place(kv, [s.B, s.H, s.M, s.D], dtype, 'cuda', null), place(vv, [s.B, s.H, s.M, s.D], dtype, 'cuda', null)];
          const ref = dev.map((t) => native.cast(native.toDevice(t, 'cpu'), 'float64'));
          const [o, l] = native.attention(dev[0], dev[1], dev[2], scale);
          const [ro, rl] = native.attention(ref[0], ref[1], ref[2], scale);
          check(`scale ${scale} out`, o, ro, dtype);
          check(`scale ${scale} lse`, l, rl, dtype);
          for (const t of [...dev, ...ref, o, l, ro, rl]) t.dispose();
        }
      });

      it('refuses head dims over 128 with an error that names the op and the limit', () => {
        const q = place(values(2 * 5 * 160, 3, 1), [1, 2, 5, 160], dtype, 'cuda', null);
        expect(() => native.attention(q, q, q, 0.1)).toThrow(/attention: argument 'query' has head dimension 160 .*1\.\.128/);
        q.dispose();
      });
    });
  }

  it.skipIf(!CUDA)('has no float32 kernel on CUDA and says so instead of falling back to the CPU', () => {
    expect(supports('attention', 'float32', 'cuda')).toBe(false);
    const f = native.fromBuffer(values(2 * 9 * 64, 5, 1), [1, 2, 9, 64], 'float32', true);
    const q = native.toDevice(f, 'cuda');
    expect(() => native.attention(q, q, q, 0.125)).toThrow(/attention/);
    for (const t of [f, q]) t.dispose();
    // the functional form takes the composed path there (matmul, softmax, matmul) and matches the CPU kernel
    const x = R.randn([1, 2, 9, 64], { generator: new R.Generator(5) }), xc = x.to('cuda');
    const ref = R.attention(x, x, x), got = R.attention(xc, xc, xc).cpu();
    expect(got.sub(ref).abs().max().item()).toBeLessThan(1e-5 * Math.max(1, ref.abs().max().item()));
    for (const t of [x, xc, ref, got]) t.dispose();
  });
});
