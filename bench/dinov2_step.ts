// One DINOv2/iBOT training step in its own process (so that its peak RSS is its own), timed:
//   npx tsx bench/dinov2_step.ts --batch 8 --global-size 224 --local-size 98 --n-local 8 --k 4096 --threads 2 --reps 3 [--precision bf16]
// Prints one JSON line: {"median_s", "min_s", "first_loss", "loss", "peak_rss_mb"}. The same work as
// bench/yardsticks/torch_dinov2.py: ViT-S/14 student and teacher, one shared DINO head with K
// prototypes, half of the global crops masked (ratios 0.1-0.5), softmax centering, DINO + iBOT
// + KoLeo, backward, clipping per submodule, AdamW (param groups), EMA; drop path 0.
import { AdamW, fromTypedArray, mergeConfig, randn, setNumThreads, sslPreset, SSLMetaArch, type SSLBatch } from '../lib/index.js';
import { MaskingGenerator } from '../lib/data/masking.js';
import { Rng } from '../lib/data/rng.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

const B = arg('batch', 8), gs = arg('global-size', 224), ls = arg('local-size', 98), nLocal = arg('n-local', 8);
const K = arg('k', 4096), threads = arg('threads', 2), reps = arg('reps', 3);
setNumThreads(threads);
// --precision bf16: the step's matmuls with bfloat16 products and float32 sums
// (train.matmulPrecision), the counterpart of the yardstick's --autocast bf16.
const pi = process.argv.indexOf('--precision');
const precision = pi >= 0 ? process.argv[pi + 1] : 'fp32';
if (precision !== 'fp32' && precision !== 'bf16') throw new Error(`dinov2_step: --precision is ${precision} (expected fp32 or bf16)`);
const cfg = mergeConfig(sslPreset('default'), {
  student: { arch: 'vit_small', patchSize: 14, dropPathRate: 0, layerscale: 1e-5 },
  dino: { headNPrototypes: K }, ibot: { headNPrototypes: K },
  train: { batchSizePerGpu: B, matmulPrecision: precision === 'bf16' ? 'bfloat16' : 'float32' }, crops: { globalCropsSize: gs, localCropsSize: ls, localCropsNumber: nLocal },
});
const model = new SSLMetaArch(cfg);
const optimizer: AdamW = model.createOptimizer();

// A batch like the collate step's: half of the 2B global crops masked with ratios spread over [0.1, 0.5].
const G = gs / 14, N = G * G, rng = new Rng(0);
const gen = new MaskingGenerator(G, G);
const masks = new Uint8Array(2 * B * N);
const nMasked = B;  // floor(2B · 0.5)
const order = rng.permutation(2 * B);
for (let i = 0; i < nMasked; i++) {
  const lo = 0.1 + (0.4 * i) / nMasked, hi = 0.1 + (0.4 * (i + 1)) / nMasked;
  const m = gen.generate(rng, Math.floor(N * rng.uniform(lo, hi)));
  masks.set(m, order[i]! * N);
}
const idx: bigint[] = [], w: number[] = [];
for (let c = 0; c < 2 * B; c++) {
  let cnt = 0;
  for (let p = 0; p < N; p++) cnt += masks[c * N + p]!;
  for (let p = 0; p < N; p++) if (masks[c * N + p]) { idx.push(BigInt(c * N + p)); w.push(1 / Math.max(cnt, 1)); }
}
const batch: SSLBatch = {
  globalCrops: randn([2 * B, 3, gs, gs]), localCrops: nLocal > 0 ? randn([nLocal * B, 3, ls, ls]) : null,
  masks: fromTypedArray(masks, [2 * B, N], { dtype: 'bool' }), maskIndices: fromTypedArray(BigInt64Array.from(idx), [idx.length]),
  masksWeight: fromTypedArray(Float32Array.from(w), [w.length]), nMaskedPatches: idx.length, upperbound: idx.length,
  batchSize: B, nGlobalCrops: 2, nLocalCrops: nLocal,
};
const values = { lr: 1e-4, wd: 0.04, momentum: 0.996, teacherTemp: 0.07, lastLayerLr: 1e-4 };
const firstLoss = model.trainStep(batch, optimizer, values).total;  // warm-up
let loss = firstLoss;
const ts: number[] = [];
for (let r = 0; r < reps; r++) {
  const t0 = performance.now();
  loss = model.trainStep(batch, optimizer, values).total;
  ts.push((performance.now() - t0) / 1000);
}
ts.sort((a, b) => a - b);
console.log(JSON.stringify({ median_s: ts[Math.floor(ts.length / 2)], min_s: ts[0], first_loss: firstLoss, loss, peak_rss_mb: process.resourceUsage().maxRSS / 1024 }));
