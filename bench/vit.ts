// ViT benchmark: ViT-B/14 inference at 224 (batch 1 and 8) and 518 (batch 1), and a ViT-S/14
// training step (forward, backward, AdamW) at 224 batch 8, with the thread counts asked for.
// Yardsticks in the same invocation, when installed: PyTorch CPU (Debian python3-torch, run as a
// child process at its best setting, OMP_WAIT_POLICY=PASSIVE) and onnxruntime-node (a dev-only
// install: npm install --no-save --onnxruntime-node-install=skip onnxruntime-node) on the same
// model exported to ONNX by the PyTorch script. Ratio > 1: we are faster.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import * as R from '../lib/index.js';
import { packageRoot } from '../lib/tensor/native.js';
import { fmt, medianMs, report, Row } from './timing.js';
import { fmaPeak } from './yardsticks.js';

const PYTHON = '/usr/bin/python3';
const SCRIPT = join(packageRoot, 'bench', 'yardsticks', 'torch_vit.py');
const OUT = join(packageRoot, 'build', 'bench');

interface Workload {
  name: string;
  arch: 'base' | 'small';
  img: number;
  batch: number;
  train: boolean;
  /** Inference in the bf16 mode (bf16 weights and GEMM inputs, float32 accumulation). */
  bf16?: boolean;
  /** GFLOP per image (forward; x3 for a training step), from the model's matmuls. */
  gflop: number;
}

/** Forward GFLOP of a ViT per image: 2 * (params-matmuls * tokens) + attention. */
export function vitGflop(d: number, depth: number, img: number): number {
  const n = 1 + (img / 14) ** 2;
  const linear = depth * (12 * d * d) * n * 2;  // qkv 3d^2 + proj d^2 + mlp 8d^2
  const attn = depth * 2 * 2 * n * n * d;       // q k^T and p v
  const patch = 2 * (img / 14) ** 2 * 3 * 14 * 14 * d;
  return (linear + attn + patch) / 1e9;
}

const WORKLOADS: Workload[] = [
  { name: 'ViT-B/14 infer 224 batch 1', arch: 'base', img: 224, batch: 1, train: false, gflop: vitGflop(768, 12, 224) },
  { name: 'ViT-B/14 infer 224 batch 8', arch: 'base', img: 224, batch: 8, train: false, gflop: vitGflop(768, 12, 224) },
  { name: 'ViT-B/14 infer 518 batch 1', arch: 'base', img: 518, batch: 1, train: false, gflop: vitGflop(768, 12, 518) },
  { name: 'ViT-S/14 train step 224 batch 8', arch: 'small', img: 224, batch: 8, train: true, gflop: 3 * vitGflop(384, 12, 224) },
  { name: 'ViT-B/14 bf16 infer 224 batch 1', arch: 'base', img: 224, batch: 1, train: false, bf16: true, gflop: vitGflop(768, 12, 224) },
  { name: 'ViT-B/14 bf16 infer 224 batch 8', arch: 'base', img: 224, batch: 8, train: false, bf16: true, gflop: vitGflop(768, 12, 224) },
  { name: 'ViT-B/14 bf16 infer 518 batch 1', arch: 'base', img: 518, batch: 1, train: false, bf16: true, gflop: vitGflop(768, 12, 518) },
];

const cosine = (a: Float32Array, b: Float32Array) => {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
};

function torchAvailable(): boolean {
  try {
    execFileSync(PYTHON, ['-c', 'import torch'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

function torchTime(w: Workload, threads: number): number | undefined {
  try {
    const out = execFileSync(PYTHON, [SCRIPT, w.train ? 'train' : 'infer', '--arch', w.arch, '--img', String(w.img),
      '--batch', String(w.batch), '--threads', String(threads), '--reps', '7'],
      { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(threads), OMP_WAIT_POLICY: 'PASSIVE' } });
    return JSON.parse(out.trim().split('\n').pop()!).median_s * 1000;
  } catch {
    return undefined;
  }
}

type Ort = { InferenceSession: { create(path: string, opts: object): Promise<{ run(feeds: object): Promise<object> }> }; Tensor: new (type: string, data: Float32Array, dims: number[]) => object };

function loadOrt(): Ort | undefined {
  try {
    return createRequire(import.meta.url)('onnxruntime-node') as Ort;
  } catch {
    return undefined;
  }
}

async function ortTime(ort: Ort, w: Workload, threads: number): Promise<number | undefined> {
  const file = join(OUT, `vit_${w.arch}_${w.img}.onnx`);
  if (!existsSync(file)) {
    mkdirSync(OUT, { recursive: true });
    try {
      execFileSync(PYTHON, [SCRIPT, 'export', '--arch', w.arch, '--img', String(w.img), '--out', file], { stdio: 'pipe' });
    } catch {
      return undefined;
    }
  }
  const session = await ort.InferenceSession.create(file, {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
  });
  const x = new ort.Tensor('float32', new Float32Array(w.batch * 3 * w.img * w.img).fill(0.5), [w.batch, 3, w.img, w.img]);
  await session.run({ x });
  const times: number[] = [];
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now();
    await session.run({ x });
    times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b)[3];
}

/** Median ms of our run of the workload, and for bf16 the cosine similarity of the cls tokens to float32. */
async function ourTime(w: Workload, quick: boolean): Promise<{ ms: number; cosine?: number }> {
  const model = w.arch === 'base' ? R.vitBase({ imgSize: w.img }) : R.vitSmall({ imgSize: w.img });
  const x = R.randn([w.batch, 3, w.img, w.img]);
  try {
    if (!w.train) {
      model.eval();
      const run = () => R.noGrad(() => R.tidy(() => model.forward(x).dataSync() as Float32Array));
      let cos: number | undefined;
      if (w.bf16) {
        const f32 = run();
        R.setInferenceDtype(model, 'bfloat16');
        cos = cosine(f32, run());
      }
      return { ms: await medianMs(() => { run(); }, quick ? 1000 : 6000, quick ? 3 : 7), cosine: cos };
    }
    model.train();
    const opt = new R.AdamW(model.parameters(), { lr: 1e-4, weightDecay: 0.04 });
    const ms = await medianMs(() => {
      opt.zeroGrad();
      R.tidy(() => model.forward(x).square().mean().backward());
      opt.step();
    }, quick ? 1000 : 6000, quick ? 3 : 7);
    opt.dispose();
    return { ms };
  } finally {
    x.dispose();
    model.dispose();
  }
}

export async function benchVit(opts: { threads: number[]; json: boolean; quick: boolean }): Promise<Row[]> {
  const rows: Row[] = [];
  // Ceilings first: onnxruntime's thread pool, once loaded, competes with the measurement.
  const peaks = new Map(opts.threads.map((t) => [t, fmaPeak(t)]));
  const haveTorch = torchAvailable();
  const ort = haveTorch ? loadOrt() : undefined;
  for (const threads of opts.threads) {
    R.setNumThreads(threads);
    const peak = peaks.get(threads);
    for (const w of WORKLOADS) {
      const { ms, cosine: cos } = await ourTime(w, opts.quick);
      // bf16 rows compare with the yardsticks' float32 runs of the same workload
      const torchMs = haveTorch && !w.bf16 ? torchTime(w, threads) : undefined;
      const ortMs = ort && !w.train ? await ortTime(ort, w, threads) : undefined;
      const gflops = (w.gflop * w.batch) / (ms / 1000);
      rows.push({
        suite: 'vit', name: w.name, threads, median_ms: ms, img_per_s: w.batch / (ms / 1000), gflops,
        // bf16 rows against the bf16 dot-product peak (twice the float32 FMA peak on AVX512-BF16)
        pct_peak: peak ? (100 * gflops) / (w.bf16 && R.cpuInfo().bf16Native ? 2 * peak : peak) : undefined, torch_ms: torchMs, ort_ms: ortMs,
        vs_torch: torchMs ? torchMs / ms : undefined, vs_ort: ortMs ? ortMs / ms : undefined, cls_cosine_vs_f32: cos,
      });
    }
  }
  R.setNumThreads(0);
  report(rows, [
    ['workload', (r) => String(r.name)],
    ['thr', (r) => String(r.threads)],
    ['ms', (r) => fmt(r.median_ms, 0)],
    ['img/s', (r) => fmt(r.img_per_s as number, 2)],
    ['GFLOP/s', (r) => fmt(r.gflops as number)],
    ['% peak', (r) => fmt(r.pct_peak as number)],
    ['PyTorch ms', (r) => fmt(r.torch_ms as number, 0)],
    ['vs PyTorch', (r) => fmt(r.vs_torch as number, 2)],
    ['ORT ms', (r) => fmt(r.ort_ms as number, 0)],
    ['vs ORT', (r) => fmt(r.vs_ort as number, 2)],
    ['cos vs f32', (r) => (r.cls_cosine_vs_f32 === undefined ? '' : (r.cls_cosine_vs_f32 as number).toFixed(5))],
  ], opts.json);
  if (!opts.json) console.log(`bf16 GEMM: ${R.cpuInfo().bf16Native ? 'AVX512-BF16' : 'emulated in float32 (no AVX512-BF16)'}; bf16 rows compare with the yardsticks' float32 runs`);
  if (!opts.json && (!haveTorch || !ort)) {
    console.log(`yardsticks: ${haveTorch ? '' : 'PyTorch (apt-get install python3-torch) '}${ort ? '' : 'onnxruntime-node (npm install --no-save --onnxruntime-node-install=skip onnxruntime-node)'} not installed`);
  }
  return rows;
}
