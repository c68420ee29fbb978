// bf16 GEMM on CUDA at the ViT-B/14 shapes (batch 32 at 518x518: M = 32 * 1370 tokens):
// y = x W^T with W [N, K], through the library's matmul (cuBLASLt). Prints one JSON line per
// shape: median time and TFLOP/s (2 M N K / t). Run: node --import tsx bench/cuda/gemm.ts
import { Tensor, cudaInfo, cudaSynchronize, randn } from '../../lib/index.js';
import { native } from '../../lib/tensor/native.js';

const M = 32 * 1370;
const SHAPES: [string, number, number][] = [['qkv', 2304, 768], ['fc1', 3072, 768], ['fc2', 768, 3072], ['proj', 768, 768]];
const info = cudaInfo();
if (!info.available) throw new Error(`bench/cuda/gemm: ${info.code}: ${info.error}`);

function toCuda(t: Tensor): Tensor {
  const b = t.to('bfloat16');
  t.dispose();
  try { return b.to('cuda'); } finally { b.dispose(); }
}

for (const [name, N, K] of SHAPES) {
  // Random data (never zeros), drawn on the CPU (random ops are not on CUDA yet), moved as bf16.
  const x = toCuda(randn([M, K]));
  const w = toCuda(randn([N, K], { std: 0.05 }));
  const hx = x.handle('bench'), hw = w.handle('bench');
  const once = () => native.matmul(hx, hw, false, true, null).dispose();
  for (let i = 0; i < 10; i++) once();
  cudaSynchronize();
  const reps = 30, samples: number[] = [];
  for (let s = 0; s < 7; s++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < reps; i++) once();
    cudaSynchronize();
    samples.push(Number(process.hrtime.bigint() - t0) / 1e9 / reps);
  }
  samples.sort((a, b) => a - b);
  const t = samples[3];
  console.log(JSON.stringify({ impl: 'raddino', name, M, N, K, ms: t * 1e3, tflops: (2 * M * N * K) / t / 1e12 }));
  x.dispose();
  w.dispose();
}
