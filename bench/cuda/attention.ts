// Flash attention on CUDA (bf16, D = 64) at the ViT-B/14 shapes: B*H = 32*12 heads, N = 1370
// (518x518 crops) and N = 257 (224x224). Forward: native.attention; backward:
// native.attentionBackward (delta pass, main kernel, dq cast). FLOPs as FlashAttention counts
// them: forward 4 N^2 D per head, backward 2.5x that. One JSON line per (shape, pass): median of
// 7 host-timed samples (reps calls, then cudaSynchronize). Run: node --import tsx bench/cuda/attention.ts
import { Tensor, cudaInfo, cudaSynchronize, randn } from '../../lib/index.js';
import { native } from '../../lib/tensor/native.js';

const info = cudaInfo();
if (!info.available) throw new Error(`bench/cuda/attention: ${info.code}: ${info.error}`);
const B = 32, H = 12, D = 64;

function toCuda(t: Tensor): Tensor {
  const b = t.to('bfloat16');
  t.dispose();
  try { return b.to('cuda'); } finally { b.dispose(); }
}

function time(fn: () => void, reps: number): number {
  for (let i = 0; i < 3; i++) fn();
  cudaSynchronize();
  const samples: number[] = [];
  for (let s = 0; s < 7; s++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < reps; i++) fn();
    cudaSynchronize();
    samples.push(Number(process.hrtime.bigint() - t0) / 1e9 / reps);
  }
  return samples.sort((a, b) => a - b)[3];
}

for (const N of [1370, 257]) {
  // random data (never zeros), drawn on the CPU, moved as bf16
  const [q, k, v, g] = [0, 1, 2, 3].map(() => toCuda(randn([B, H, N, D])));
  const [hq, hk, hv, hg] = [q, k, v, g].map((t) => t.handle('bench'));
  const scale = 1 / Math.sqrt(D);
  const reps = N > 1000 ? 10 : 40;
  const tf = time(() => native.attention(hq, hk, hv, scale).forEach((t) => t.dispose()), reps);
  const [o, l] = native.attention(hq, hk, hv, scale);
  const tb = time(() => native.attentionBackward(hq, hk, hv, o, l, hg, scale).forEach((t) => t.dispose()), reps);
  const flops = 4 * N * N * D * B * H;
  console.log(JSON.stringify({ impl: 'raddino', name: `fwd N=${N}`, N, ms: tf * 1e3, tflops: flops / tf / 1e12 }));
  console.log(JSON.stringify({ impl: 'raddino', name: `bwd N=${N}`, N, ms: tb * 1e3, tflops: (2.5 * flops) / tb / 1e12 }));
  o.dispose();
  l.dispose();
  for (const t of [q, k, v, g]) t.dispose();
}
