// The pretraining loop, its run directory and the CLI: a killed-and-resumed run reproduces the
// uninterrupted run exactly (losses and final weights), checkpoints are atomic and complete,
// bad data and bad configs give clear errors or counted skips, and the demo runs end to end.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cudaAvailable, loadCheckpoint, memory, mergeConfig, sslPreset, writeSyntheticDataset, type SSLConfig } from '../lib/index.js';
import { pretrain, type StepRecord } from '../lib/ssl/trainer.js';
import { main } from '../lib/cli/index.js';
import { readConfigFile } from '../lib/cli/pretrain.js';
import { runDemo } from '../lib/cli/demo.js';
import { MetricsLog } from '../lib/cli/metrics.js';

const root = mkdtempSync(join(tmpdir(), 'raddino-pretrain-'));
let csv = '';
let folder = '';
const cfg: SSLConfig = mergeConfig(sslPreset('tiny'), { train: { batchSizePerGpu: 4, officialEpochLength: 3 }, optim: { epochs: 2, warmupEpochs: 1 } });

beforeAll(async () => {
  const ds = await writeSyntheticDataset(join(root, 'data'), { n: 10, size: 56, seed: 3 });
  csv = ds.csv;
  folder = join(root, 'data', 'images');
  // one corrupt file in the folder: skipped and counted, never fatal
  writeFileSync(join(folder, '000100.png'), readFileSync(join(folder, '000001.png')).subarray(0, 60));
});

afterAll(() => { /* temp files stay in the OS temp dir */ });

const losses = (recs: Record<string, unknown>[]) => recs.map((r) => [r.step, r.loss, r.dinoLocal, r.dinoGlobal, r.koleo, r.ibot]);

describe('pretrain', () => {
  it('a killed-and-resumed run reproduces the uninterrupted run bit for bit', async () => {
    const a = join(root, 'run_a'), b = join(root, 'run_b');
    const before = memory().tensors;
    const full = await pretrain({ config: cfg, data: csv, out: a, numWorkers: 1, progress: false });
    expect(full.finished).toBe(true);
    expect(full.step).toBe(6);
    full.model.dispose();

    // "killed" after 2 steps (the checkpoint at step 2 is the last one), then resumed twice
    const first = await pretrain({ config: cfg, data: csv, out: b, numWorkers: 0, progress: false, stopAfter: 2, checkpointEvery: 2 });
    expect(first.step).toBe(2);
    first.model.dispose();
    // a torn metrics line and a record past the checkpoint, as a kill could leave them
    writeFileSync(join(b, 'metrics.jsonl'), readFileSync(join(b, 'metrics.jsonl'), 'utf8') + '{"step": 3, "loss": 1}\n{"step": 4, "lo');
    const second = await pretrain({ config: cfg, data: csv, out: b, resume: true, numWorkers: 2, progress: false, stopAfter: 1 });
    expect(second.step).toBe(3);
    second.model.dispose();
    const third = await pretrain({ config: cfg, data: csv, out: b, resume: true, numWorkers: 1, progress: false });
    expect(third.finished).toBe(true);
    third.model.dispose();

    const la = losses(new MetricsLog(join(a, 'metrics.jsonl')).read());
    const lb = losses(new MetricsLog(join(b, 'metrics.jsonl')).read());
    expect(la).toHaveLength(6);
    expect(lb).toEqual(la);  // exact equality of every loss term at every step
    for (const r of la) for (const v of r) expect(Number.isFinite(v)).toBe(true);

    const ca = await loadCheckpoint(join(a, 'checkpoint.safetensors'));
    const cb = await loadCheckpoint(join(b, 'checkpoint.safetensors'));
    expect([...cb.tensors.keys()].sort()).toEqual([...ca.tensors.keys()].sort());
    for (const [k, t] of ca.tensors) expect(Buffer.from(cb.tensors.get(k)!.bytes()).equals(Buffer.from(t.bytes())), k).toBe(true);
    expect(cb.state).toEqual(ca.state);
    for (const c of [ca, cb]) for (const t of c.tensors.values()) t.dispose();
    expect(memory().tensors).toBe(before);
    // no temp files left behind by the atomic writes
    expect(readdirSync(b).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  }, 120_000);

  it('a run killed with SIGKILL mid-training resumes to the uninterrupted result', async () => {
    const long = mergeConfig(cfg, { optim: { epochs: 8 } });  // 24 steps
    const cfgFile = join(root, 'long.json');
    writeFileSync(cfgFile, JSON.stringify({ optim: { epochs: 8, warmupEpochs: 1 }, train: { batchSizePerGpu: 4, officialEpochLength: 3 } }));
    const killed = join(root, 'run_killed');
    const child = spawn(process.execPath, ['--import', 'tsx', 'lib/cli/bin.ts', 'pretrain', '--preset', 'tiny', '--config', cfgFile, '--data', csv,
      '--out', killed, '--workers', '0', '--checkpoint-every', '1'], { stdio: 'ignore' });
    const exited = new Promise<void>((res) => child.on('exit', () => res()));
    const metricsPath = join(killed, 'metrics.jsonl');
    for (let i = 0; i < 600; i++) {  // until 3 steps are logged, then kill -9
      if (existsSync(metricsPath) && readFileSync(metricsPath, 'utf8').split('\n').filter(Boolean).length >= 3) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
    await exited;
    const done = new MetricsLog(metricsPath).read().length;
    expect(done).toBeGreaterThanOrEqual(3);
    expect(done).toBeLessThan(24);  // it really was killed mid-run
    const resumed = await pretrain({ config: long, data: csv, out: killed, resume: true, numWorkers: 0, progress: false });
    expect(resumed.finished).toBe(true);
    resumed.model.dispose();
    const straight = await pretrain({ config: long, data: csv, out: join(root, 'run_straight'), numWorkers: 0, progress: false });
    straight.model.dispose();
    expect(losses(new MetricsLog(metricsPath).read())).toEqual(losses(new MetricsLog(join(root, 'run_straight', 'metrics.jsonl')).read()));
  }, 120_000);

  it('records the schedules and the loss terms per step, and frees every step', async () => {
    const before = memory().tensors;
    const recs: StepRecord[] = [];
    const r = await pretrain({ config: cfg, data: folder, out: join(root, 'run_c'), numWorkers: 0, progress: false, steps: 3, onStep: (s) => recs.push(s) });
    const live = memory().tensors;
    r.model.dispose();
    expect(memory().tensors).toBeLessThanOrEqual(before);  // (tensors an earlier test left to the GC may go meanwhile)
    expect(live).toBeGreaterThan(memory().tensors);
    expect(recs.map((s) => s.step)).toEqual([1, 2, 3]);
    expect(recs[0].lr).toBe(0);                      // linear warmup from 0
    expect(recs[1].lr).toBeGreaterThan(0);
    expect(recs.every((s) => s.lastLayerLr === 0)).toBe(true);  // frozen for the first epoch (3 steps)
    for (const s of recs) expect(s.loss).toBeCloseTo(s.dinoLocal + s.dinoGlobal + s.koleo + s.ibot, 5);
    // the truncated PNG in the folder was skipped and reported
    expect(r.skipped.map((s) => s.path.endsWith('000100.png'))).toContain(true);
    expect(r.step).toBe(3);
    expect(r.totalSteps).toBe(3);  // --steps caps the run; the schedules keep their length (6 steps)
    expect(r.finished).toBe(true);
  }, 60_000);

  it('refuses to overwrite a run, to resume nothing, and a config with an unknown key', async () => {
    await expect(pretrain({ config: cfg, data: csv, out: join(root, 'run_a'), progress: false })).rejects.toThrow(/already holds a run.*--resume/);
    await expect(pretrain({ config: cfg, data: csv, out: join(root, 'nothing'), resume: true, progress: false })).rejects.toThrow(/no checkpoint/);
    const bad = join(root, 'bad.yaml');
    writeFileSync(bad, 'optim:\n  base_lr: 0.001\n  learning_rate: 3\n');
    expect(() => mergeConfig(cfg, readConfigFile(bad))).toThrow(/learning_rate/);
    writeFileSync(join(root, 'broken.json'), '{"optim": ');
    expect(() => readConfigFile(join(root, 'broken.json'))).toThrow(/not valid JSON/);
    await expect(pretrain({ config: cfg, data: join(root, 'empty_dir_that_is_missing'), out: join(root, 'run_e'), progress: false })).rejects.toThrow();
  });
});

describe('raddino CLI', () => {
  it('reports usage and configuration errors with an exit status, never a crash', async () => {
    const err: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => { err.push(String(s)); return true; }) as typeof process.stderr.write;
    try {
      expect(await main(['node', 'raddino', 'pretrain', '--out', join(root, 'x')])).toBe(2);
      expect(err.join('')).toMatch(/--data is required/);
      const bad = join(root, 'bad2.json');
      writeFileSync(bad, JSON.stringify({ optim: { baseLr: 0.001, nope: 1 } }));
      expect(await main(['node', 'raddino', 'pretrain', '--config', bad, '--preset', 'tiny', '--data', csv, '--out', join(root, 'run_f')])).toBe(1);
      expect(err.join('')).toMatch(/nope/);
      expect(existsSync(join(root, 'run_f', 'checkpoint.safetensors'))).toBe(false);
      expect(await main(['node', 'raddino', 'pretrain', '--threads', 'two', '--data', csv, '--out', join(root, 'x')])).toBe(2);
      expect(await main(['node', 'raddino', 'pretrain', '--precision', 'float16', '--data', csv, '--out', join(root, 'x')])).toBe(2);
      expect(await main(['node', 'raddino', 'pretrain', '--preset', 'tiny', '--device', 'tpu', '--data', csv, '--out', join(root, 'run_tpu')])).toBe(1);
      expect(err.join('')).toMatch(/pretrain: option 'device' is "tpu" \(expected 'cpu' or 'cuda'\)/);
      expect(existsSync(join(root, 'run_tpu'))).toBe(false);
      if (!cudaAvailable()) {  // the backend's own reason, before anything is written
        expect(await main(['node', 'raddino', 'pretrain', '--preset', 'tiny', '--device', 'cuda', '--data', csv, '--out', join(root, 'run_cuda')])).toBe(1);
        expect(err.join('')).toMatch(/pretrain: device 'cuda' is not available: /);
        expect(existsSync(join(root, 'run_cuda'))).toBe(false);
      }
      expect(err.join('')).toMatch(/--precision <p>' argument 'float16' is invalid. Allowed choices are float32, bfloat16/);
    } finally {
      process.stderr.write = write;
    }
  });

  it('runs a small pretraining through the command line', async () => {
    const cfgFile = join(root, 'small.yaml');
    writeFileSync(cfgFile, 'train:\n  batch_size_per_gpu: 4\n  OFFICIAL_EPOCH_LENGTH: 2\noptim:\n  epochs: 1\n  warmup_epochs: 0\n');
    const out: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((s: string) => { out.push(String(s)); return true; }) as typeof process.stdout.write;
    let code: number;
    try {
      code = await main(['node', 'raddino', 'pretrain', '--preset', 'tiny', '--config', cfgFile, '--data', csv, '--out', join(root, 'run_g'), '--workers', '0', '--json',
        '--precision', 'bfloat16']);
    } finally {
      process.stdout.write = write;
    }
    expect(code).toBe(0);
    const summary = JSON.parse(out.join('').trim().split('\n').pop()!);
    expect(summary.step).toBe(2);
    expect(summary.finished).toBe(true);
    expect(existsSync(join(root, 'run_g', 'checkpoint.safetensors'))).toBe(true);
    expect(JSON.parse(readFileSync(join(root, 'run_g', 'config.json'), 'utf8')).config.train.matmulPrecision).toBe('bfloat16');
    const err: string[] = [];
    const werr = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => { err.push(String(s)); return true; }) as typeof process.stderr.write;
    try {
      code = await main(['node', 'raddino', 'pretrain', '--preset', 'tiny', '--data', csv, '--out', join(root, 'run_g'), '--resume', '--precision', 'float32']);
    } finally {
      process.stderr.write = werr;
    }
    expect(code).toBe(1);
    expect(err.join('')).toMatch(/--precision float32: the run in .*run_g trains in bfloat16 \(a resumed run keeps its arithmetic/);
  }, 60_000);
});

describe('demo', () => {
  const tinyDemo = {
    workers: 0, nPretrain: 16, nProbeTrain: 60, nProbeTest: 60, imageSize: 42, log: () => {},
    config: { student: { embedDim: 48, depth: 2, numHeads: 2 }, dino: { headNPrototypes: 32, headHiddenDim: 64, headBottleneckDim: 16 },
      ibot: { headNPrototypes: 32, headHiddenDim: 64, headBottleneckDim: 16 }, train: { batchSizePerGpu: 4, officialEpochLength: 2 },
      crops: { globalCropsSize: 42, localCropsSize: 28, localCropsNumber: 2 } },
  };

  it('runs a fixed number of steps by default (the same work on every machine)', async () => {
    const r = await runDemo({ ...tinyDemo, out: join(root, 'demo_steps'), steps: 5 });
    expect(r.steps).toBe(4);  // whole epochs of 2 steps
    expect(r.pretrained.ci[0]).toBeLessThanOrEqual(r.pretrained.value);
    // --precision bfloat16 reaches the run's config
    const b = await runDemo({ ...tinyDemo, out: join(root, 'demo_bf16'), steps: 4, precision: 'bfloat16' });
    expect(JSON.parse(readFileSync(join(root, 'demo_bf16', 'run', 'config.json'), 'utf8')).config.train.matmulPrecision).toBe('bfloat16');
    expect(b.steps).toBe(4);
    await expect(runDemo({ ...tinyDemo, out: join(root, 'demo_bad'), steps: 3 })).rejects.toThrow(/option 'steps' is 3/);
  }, 120_000);

  it('runs end to end on a tiny time budget and reports both probes with intervals', async () => {
    const r = await runDemo({
      out: join(root, 'demo'), minutes: 0.05, workers: 0, nPretrain: 16, nProbeTrain: 60, nProbeTest: 60, imageSize: 42, log: () => {},
      config: { student: { embedDim: 48, depth: 2, numHeads: 2 }, dino: { headNPrototypes: 32, headHiddenDim: 64, headBottleneckDim: 16 },
        ibot: { headNPrototypes: 32, headHiddenDim: 64, headBottleneckDim: 16 }, train: { batchSizePerGpu: 4, officialEpochLength: 2 },
        crops: { globalCropsSize: 42, localCropsSize: 28, localCropsNumber: 2 } },
    });
    expect(r.metric).toBe('mean_auroc');
    for (const m of [r.pretrained, r.random]) {
      expect(m.value).toBeGreaterThan(0);
      expect(m.value).toBeLessThanOrEqual(1);
      expect(m.ci[0]).toBeLessThanOrEqual(m.value);
      expect(m.ci[1]).toBeGreaterThanOrEqual(m.value);
    }
    expect(r.steps).toBeGreaterThan(0);
  }, 120_000);
});
