// The DINOv2/iBOT step on the GPU against the CPU step (issue 5): the same model moved with
// SSLMetaArch.to('cuda'), the same batch moved with toDeviceBatch, one trainStep each; losses,
// every student gradient and the updated teacher agree to 1e-4 (float32). The CUDA part runs only
// where the backend is available; the device plumbing it relies on (Module.to, toDeviceBatch, the
// batch's device check) is checked on the CPU everywhere.
import { describe, expect, it } from 'vitest';
import * as R from '../lib/index.js';
import { SSLBatch, SSLMetaArch, Tensor } from '../lib/index.js';
import { vals } from './helpers.js';

const CUDA = R.cudaAvailable();

/** A batch for the 'tiny' preset (42-px globals: 9 patches, 28-px locals), masks on crops 1 and 2. */
function tinyBatch(seed: number, B = 2, nLocal = 2): SSLBatch {
  const g = new R.Generator(seed), N = 9;
  const m = new Uint8Array(2 * B * N);
  const idx: bigint[] = [], w: number[] = [];
  for (const [i, ps] of [[1, [0, 4, 5]], [2, [1, 2, 3, 8]]] as const) {
    for (const p of ps) { m[i * N + p] = 1; idx.push(BigInt(i * N + p)); w.push(1 / ps.length); }
  }
  return {
    globalCrops: R.randn([2 * B, 3, 42, 42], { generator: g }), localCrops: R.randn([nLocal * B, 3, 28, 28], { generator: g }),
    masks: R.tidy(() => R.tensor(m, [2 * B, N]).to('bool')), maskIndices: R.tensor(BigInt64Array.from(idx)), masksWeight: R.tensor(w),
    nMaskedPatches: idx.length, upperbound: idx.length, batchSize: B, nGlobalCrops: 2, nLocalCrops: nLocal,
  };
}
const disposeBatch = (b: SSLBatch) => { for (const t of Object.values(b)) if (t instanceof Tensor) t.dispose(); };

describe('device plumbing of the SSL step (CPU)', () => {
  it('Module.to / SSLMetaArch.to keep the tensor objects; toDeviceBatch copies; a batch elsewhere is refused', () => {
    const cfg = R.mergeConfig(R.sslPreset('tiny'), {});
    const arch = new SSLMetaArch(cfg, { generator: new R.Generator(1) });
    const before = arch.student.parameters();
    expect(arch.to('cpu')).toBe(arch);
    expect(arch.device).toBe('cpu');
    expect(arch.student.parameters().every((p, i) => p === before[i])).toBe(true);
    const b = tinyBatch(3);
    const moved = R.toDeviceBatch(b, 'cpu');
    expect(moved.globalCrops).not.toBe(b.globalCrops);
    expect(vals(moved.masksWeight)).toEqual(vals(b.masksWeight));
    expect(moved.nMaskedPatches).toBe(b.nMaskedPatches);
    expect(() => R.checkBatch(b, 14, 'cuda')).toThrow(/SSLBatch: 'globalCrops' is on cpu \(expected cuda, where the model is; see toDeviceBatch\)/);
    disposeBatch(b);
    disposeBatch(moved);
    arch.dispose();
  });
});

describe.skipIf(!CUDA)('DINOv2 step on CUDA (float32) matches the CPU step', () => {
  it('losses, student gradients and the EMA teacher agree to 1e-4 (both targets, both drop-path regimes)', () => {
    // drop path draws its masks and subsets on the input's device, the same numbers as on the CPU
    const cases = [['centering', 0], ['sinkhorn_knopp', 0], ['centering', 0.05], ['centering', 0.4]] as const;
    for (const [centering, dropPathRate] of cases) {
      const cfg = R.mergeConfig(R.sslPreset('tiny'), { train: { centering }, student: { dropPathRate, dropPathUniform: true } });
      const cpu = new SSLMetaArch(cfg, { generator: new R.Generator(21) });
      const gpu = new SSLMetaArch(cfg, { generator: new R.Generator(21) }).to('cuda');
      expect(gpu.device).toMatch(/^cuda/);
      const optCpu = cpu.createOptimizer(), optGpu = gpu.createOptimizer();
      const values = R.buildSchedules(cfg).at(3);
      for (let step = 0; step < 2; step++) {
        const b = tinyBatch(40 + step), bg = R.toDeviceBatch(b, 'cuda');
        const lc = cpu.trainStep(b, optCpu, values), lg = gpu.trainStep(bg, optGpu, values);
        for (const k of ['dinoLocal', 'dinoGlobal', 'ibot', 'koleo', 'total'] as const) {
          expect(Math.abs((lg[k] as number) - (lc[k] as number)), `${centering} dp ${dropPathRate} step ${step} ${k}`).toBeLessThanOrEqual(1e-4 * Math.abs(lc[k] as number) + 1e-6);
        }
        disposeBatch(b);
        disposeBatch(bg);
      }
      R.tidy(() => {
        const pairs: [string, Tensor, Tensor][] = [];
        const gs = new Map(gpu.student.namedParameters());
        for (const [k, p] of cpu.student.namedParameters()) if (p.grad) pairs.push([`grad ${k}`, p.grad, gs.get(k)!.grad!]);
        const gt = new Map(gpu.teacher.namedParameters());
        for (const [k, p] of cpu.teacher.namedParameters()) pairs.push([`teacher ${k}`, p, gt.get(k)!]);
        for (const [k, a, b] of pairs) {
          const x = vals(a), y = vals(b.cpu());
          let d = 0, n = 0;
          for (let i = 0; i < x.length; i++) { d += (y[i]! - x[i]!) ** 2; n += x[i]! ** 2; }
          expect(Math.sqrt(d), `${centering} dp ${dropPathRate} ${k}`).toBeLessThanOrEqual(1e-4 * Math.sqrt(n) + 1e-7);
        }
      });
      optCpu.dispose();
      optGpu.dispose();
      cpu.dispose();
      gpu.dispose();
    }
  }, 120_000);
});

describe.skipIf(!CUDA)('pretraining on CUDA', () => {
  it("pretrain({ device: 'cuda' }) trains, checkpoints on the host and resumes to the uninterrupted run's losses", async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { pretrain } = await import('../lib/ssl/trainer.js');
    const root = mkdtempSync(join(tmpdir(), 'raddino-cuda-pretrain-'));
    const { csv } = await R.writeSyntheticDataset(join(root, 'data'), { n: 8, size: 56, seed: 3 });
    const cfg = R.mergeConfig(R.sslPreset('tiny'), { train: { batchSizePerGpu: 4, officialEpochLength: 2 }, optim: { epochs: 2, warmupEpochs: 1 } });
    const recs: number[][] = [], again: number[][] = [];
    const full = await pretrain({ config: cfg, data: csv, out: join(root, 'a'), device: 'cuda', numWorkers: 0, progress: false, onStep: (r) => recs.push([r.step, r.loss]) });
    expect(full.model.device).toMatch(/^cuda/);
    full.model.dispose();
    const half = await pretrain({ config: cfg, data: csv, out: join(root, 'b'), device: 'cuda', numWorkers: 0, progress: false, stopAfter: 2, onStep: (r) => again.push([r.step, r.loss]) });
    half.model.dispose();
    const rest = await pretrain({ config: cfg, data: csv, out: join(root, 'b'), device: 'cuda', numWorkers: 0, progress: false, resume: true, onStep: (r) => again.push([r.step, r.loss]) });
    rest.model.dispose();
    expect(again).toEqual(recs);
  }, 300_000);
});
