// Run by test/isa.test.ts with RADDINO_ISA set: computes the vectorised kernels (math, softmax,
// GEMM, fused attention, bf16 GEMM) on this ISA path and prints, as JSON, the kernel name and
// each op's worst error against float64.
import * as R from '../../lib/index.js';
import { erf, values } from '../helpers.js';

const x = values(10_007, 3, -8, 8);
const t = R.tensor(x, [10_007]);
const worst = (got: ArrayLike<number>, ref: (i: number) => number, atol: number) => {
  let w = 0;
  for (let i = 0; i < got.length; i++) {
    const e = ref(i);
    w = Math.max(w, Math.abs(got[i] - e) / (atol + Math.abs(e)));
  }
  return w;
};
const sig = (v: number) => 1 / (1 + Math.exp(-v));
const out: Record<string, number | string> = { kernel: R.cpuInfo().sgemmKernel };
out.exp = worst(t.exp().dataSync() as Float32Array, (i) => Math.exp(x[i]), 1e-30);
out.tanh = worst(t.tanh().dataSync() as Float32Array, (i) => Math.tanh(x[i]), 1e-30);
out.erf = worst(t.erf().dataSync() as Float32Array, (i) => erf(x[i]), 1e-30);
out.gelu = worst(t.gelu().dataSync() as Float32Array, (i) => 0.5 * x[i] * (1 + erf(x[i] / Math.SQRT2)), 1e-7);
out.silu = worst(t.silu().dataSync() as Float32Array, (i) => x[i] * sig(x[i]), 1e-7);
out.sigmoid = worst(t.sigmoid().dataSync() as Float32Array, (i) => sig(x[i]), 1e-30);
out.log = worst(t.abs().log().dataSync() as Float32Array, (i) => Math.log(Math.abs(x[i])), 1e-7);
const sm = t.reshape(1, -1).softmax(-1).dataSync() as Float32Array;
const m = Math.max(...x);
const s = x.reduce((a, v) => a + Math.exp(v - m), 0);
out.softmax = worst(sm, (i) => Math.exp(x[i] - m) / s, 1e-12);
// matmul on shapes that exercise every edge tile, and its transposed layouts
for (const [M, K, N] of [[37, 67, 53], [129, 300, 77], [5, 1000, 3]]) {
  const a = values(M * K, 4), b = values(K * N, 5);
  const A = R.tensor(a, [M, K]), B = R.tensor(b, [K, N]);
  for (const [name, y] of [['nn', A.matmul(B)], ['tn', A.t().contiguous().matmul(B, { transA: true })], ['nt', A.matmul(B.t().contiguous(), { transB: true })]] as const) {
    const got = y.dataSync() as Float32Array;
    out[`matmul_${M}x${K}x${N}_${name}`] = worst(got, (i) => {
      const r = Math.floor(i / N), c = i % N;
      let acc = 0;
      for (let k = 0; k < K; k++) acc += a[r * K + k] * b[k * N + c];
      return acc;
    }, 1e-3);
  }
}
// fused attention forward and backward against the composite (float64 reference)
{
  const g = new R.Generator(4);
  const mk = (n: number) => R.randn([2, 3, n, 40], { generator: g });
  const q = mk(37).requiresGrad_(), k = mk(70).requiresGrad_(), v = mk(70).requiresGrad_();
  const dy = R.randn([2, 3, 37, 40], { generator: g });
  R.attention(q, k, v).backward(dy);
  const q64 = q.detach().to('float64').requiresGrad_(), k64 = k.detach().to('float64').requiresGrad_(), v64 = v.detach().to('float64').requiresGrad_();
  const ref = q64.matmul(k64, { transB: true }).mul(1 / Math.sqrt(40)).softmax(-1).matmul(v64);
  ref.backward(dy.to('float64'));
  const rel = (a: R.Tensor, b: R.Tensor) => {
    const x = a.contiguous().dataSync() as Float32Array, y = b.contiguous().dataSync() as Float64Array;
    let e = 0, m = 0;
    for (let i = 0; i < y.length; i++) { e = Math.max(e, Math.abs(x[i] - y[i])); m = Math.max(m, Math.abs(y[i])); }
    return e / m;
  };
  out.attention = rel(R.noGrad(() => R.attention(q, k, v)), ref);
  out.attention_dq = rel(q.grad!, q64.grad!);
  out.attention_dk = rel(k.grad!, k64.grad!);
  out.attention_dv = rel(v.grad!, v64.grad!);
}
// bf16 GEMM: float64 math on the bf16-rounded operands
{
  const x = R.randn([129, 200], { generator: new R.Generator(5) });
  const w = R.randn([70, 200], { generator: new R.Generator(6) }).to('bfloat16');
  const y = R.linearBf16(x, w).dataSync() as Float32Array;
  const ref = x.to('bfloat16').to('float64').matmul(w.to('float64'), { transB: true }).dataSync() as Float64Array;
  let e = 0, m = 0;
  for (let i = 0; i < ref.length; i++) { e = Math.max(e, Math.abs(y[i] - ref[i])); m = Math.max(m, Math.abs(ref[i])); }
  out.matmul_bf16 = e / m;
}
// setMatmulPrecision('bfloat16'): both float32 operands rounded, in the Linear and weight-gradient layouts
{
  const x = R.randn([129, 200], { generator: new R.Generator(7) }), w = R.randn([70, 200], { generator: new R.Generator(8) });
  const bf = (t: R.Tensor) => t.to('bfloat16').to('float64');
  for (const [name, a, b] of [['linear', x, w.t()], ['wgrad', x.t(), R.randn([129, 70], { generator: new R.Generator(9) })]] as const) {
    const y = R.withMatmulPrecision('bfloat16', () => a.matmul(b)).dataSync() as Float32Array;
    const ref = bf(a).matmul(bf(b)).dataSync() as Float64Array;
    let e = 0, m = 0;
    for (let i = 0; i < ref.length; i++) { e = Math.max(e, Math.abs(y[i] - ref[i])); m = Math.max(m, Math.abs(ref[i])); }
    out[`matmul_precision_bf16_${name}`] = e / m;
  }
}
console.log(JSON.stringify(out));
