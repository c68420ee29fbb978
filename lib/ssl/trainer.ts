// The DINOv2/iBOT pretraining loop (dinov2/train/train.py do_train) as a library function:
// schedules → zero grads → forward/backward → clip per submodule → AdamW → EMA teacher, with
// metrics as JSON lines, a progress bar, atomic checkpoints and a bit-exact resume.
//
// A run directory holds:
//   config.json        the resolved SSLConfig and the data/augmentation options of the run
//   metrics.jsonl      one record per step (losses, schedule values, grad norms, img/s)
//   checkpoint.safetensors   the last checkpoint: student, teacher, centers, AdamW moments, and
//                      in its metadata the step, the AdamW step counts and the RNG state
// Resuming restores all of it and moves the data loader to the same batch, so the resumed run
// computes exactly what the uninterrupted run would have.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadCheckpoint, saveCheckpoint, writeFileAtomicSync } from '../io/checkpoint.js';
import { loadSafetensors } from '../io/safetensors.js';
import { Progress } from '../cli/progress.js';
import { MetricsLog } from '../cli/metrics.js';
import { DataLoader, type LoaderOptions } from '../data/loader.js';
import { openDataset, type ImageDataset } from '../data/dataset.js';
import { disposeBatch } from '../data/collate.js';
import type { AugmentationOptions } from '../data/augment.js';
import { cudaAvailable, cudaInfo } from '../tensor/memory.js';
import { Generator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import type { AdamW } from '../optim/adamw.js';
import { mergeConfig, validateConfig, type SSLConfig } from './config.js';
import { toDeviceBatch } from './batch.js';
import { SSLMetaArch } from './meta_arch.js';
import { buildSchedules } from './schedules.js';

export interface PretrainOptions {
  config: SSLConfig;
  /** An image folder, a CSV/JSONL list, or a data set object. */
  data: string | ImageDataset;
  /** The run directory (created when missing). */
  out: string;
  /** Continue from out/checkpoint.safetensors (the config stored in the run is used). */
  resume?: boolean;
  /** Released backbone weights (safetensors path or a state dict; HF or dinov2 names) for the student; the teacher is a copy. */
  init?: string | Map<string, Tensor>;
  /** Stop once this many steps are done in total (default: epochs × epoch length). Schedules keep their length. */
  steps?: number;
  /** Stop this call after this many steps (the run stays resumable), e.g. a time-boxed job or a test of resume. */
  stopAfter?: number;
  /** Stop this call once this many seconds have passed (checked after each step). */
  timeBudgetS?: number;
  /** Checkpoint every n steps (default: an epoch length) and always when the call ends. */
  checkpointEvery?: number;
  /** Data loading: workers, prefetch, and augmentation overrides (sizes come from config.crops). */
  numWorkers?: number;
  augmentation?: AugmentationOptions;
  loader?: Partial<Omit<LoaderOptions, 'batchSize' | 'seed' | 'augmentation' | 'numWorkers'>>;
  /**
   * Where the model trains: 'cpu' (default) or 'cuda' (needs the CUDA backend: see cudaInfo()).
   * Batches are made on the CPU by the loader and copied over; checkpoints are the same files.
   */
  device?: string;
  /** Draw a progress bar (default true; false for silence). */
  progress?: boolean;
  /** Called with each step's metrics record. */
  onStep?: (record: StepRecord) => void;
}

export interface StepRecord {
  step: number;
  epoch: number;
  loss: number;
  dinoLocal: number;
  dinoGlobal: number;
  koleo: number;
  ibot: number;
  lr: number;
  wd: number;
  momentum: number;
  teacherTemp: number;
  lastLayerLr: number;
  gradNorms: Record<string, number>;
  imgPerS: number;
}

export interface PretrainResult {
  /** Steps done in total (including those of earlier calls). */
  step: number;
  totalSteps: number;
  /** Whether the run reached totalSteps. */
  finished: boolean;
  seconds: number;
  last: StepRecord | null;
  skipped: { path: string; reason: string }[];
  checkpoint: string;
  /** The trained model; call dispose() when done. */
  model: SSLMetaArch;
}

interface RunState {
  version: 1;
  step: number;
  generator: { seed: string; offset: string };
  optimizerSteps: number[];
  loader: { seed: number; batchSize: number; stepsPerEpoch: number };
}

interface RunConfig {
  config: SSLConfig;
  augmentation: AugmentationOptions;
}

/** AdamW moments and step counts by (group, index), the layout that a rebuilt optimizer has too. */
function optimizerTensors(opt: AdamW): { tensors: Map<string, Tensor>; steps: number[] } {
  const tensors = new Map<string, Tensor>();
  const steps: number[] = [];
  opt.groups.forEach((g, gi) => g.params.forEach((p, pi) => {
    const s = opt.getState(p);
    steps.push(s ? s.step : 0);
    if (s) {
      tensors.set(`optimizer.${gi}.${pi}.exp_avg`, s.expAvg);
      tensors.set(`optimizer.${gi}.${pi}.exp_avg_sq`, s.expAvgSq);
    }
  }));
  return { tensors, steps };
}

function loadOptimizer(opt: AdamW, tensors: Map<string, Tensor>, steps: number[], where: string): void {
  let k = 0;
  opt.groups.forEach((g, gi) => g.params.forEach((p, pi) => {
    const step = steps[k++];
    if (step === undefined) throw new Error(`${where}: the checkpoint's optimizer has fewer parameters than this model`);
    if (step === 0) return;
    const m = tensors.get(`optimizer.${gi}.${pi}.exp_avg`), v = tensors.get(`optimizer.${gi}.${pi}.exp_avg_sq`);
    if (!m || !v) throw new Error(`${where}: the checkpoint lacks the AdamW moments of parameter ${gi}.${pi}`);
    opt.setState(p, { step, expAvg: m, expAvgSq: v });
  }));
  if (k !== steps.length) throw new Error(`${where}: the checkpoint's optimizer has ${steps.length} parameters (this model has ${k})`);
}

/** The augmentation of a run: the config's crop sizes and scales over the given preset/options. */
export function augmentationFor(cfg: SSLConfig, extra: AugmentationOptions = {}): AugmentationOptions {
  const c = cfg.crops;
  const aug: AugmentationOptions = {
    patchSize: cfg.student.patchSize,
    globalCropsSize: c.globalCropsSize,
    localCropsSize: c.localCropsSize,
    localCropsNumber: c.localCropsNumber,
    ...extra,
  };
  if ((extra.preset ?? 'dinov2') === 'dinov2') {
    aug.globalCrop ??= { mode: 'area', scale: [...c.globalCropsScale] as [number, number] };
    aug.localCrop ??= { mode: 'area', scale: [...c.localCropsScale] as [number, number] };
  }
  return aug;
}

/** Runs (or resumes) DINOv2/iBOT pretraining; see PretrainOptions. */
export async function pretrain(opts: PretrainOptions): Promise<PretrainResult> {
  const where = 'pretrain';
  const out = opts.out;
  const device = opts.device ?? 'cpu';
  if (device !== 'cpu' && !/^cuda(:\d+)?$/.test(device)) throw new RangeError(`${where}: option 'device' is ${JSON.stringify(device)} (expected 'cpu' or 'cuda')`);
  if (device !== 'cpu' && !cudaAvailable()) {
    const info = cudaInfo() as { code?: string; message?: string };
    const e = new Error(`${where}: device '${device}' is not available: ${info.message ?? 'no CUDA backend'}`) as Error & { code?: string };
    e.code = info.code;
    throw e;  // before anything is written
  }
  mkdirSync(out, { recursive: true });
  const ckptPath = join(out, 'checkpoint.safetensors');
  const cfgPath = join(out, 'config.json');
  let run: RunConfig;
  if (opts.resume) {
    if (!existsSync(ckptPath)) throw new Error(`${where}: --resume: no checkpoint in ${out} (expected ${ckptPath})`);
    if (!existsSync(cfgPath)) throw new Error(`${where}: --resume: ${cfgPath} is missing`);
    const saved = JSON.parse(readFileSync(cfgPath, 'utf8')) as RunConfig;
    run = { config: mergeConfig(opts.config, saved.config as unknown as Record<string, unknown>), augmentation: saved.augmentation };
  } else {
    if (existsSync(ckptPath)) throw new Error(`${where}: ${out} already holds a run (checkpoint.safetensors); use --resume to continue it or choose another --out`);
    run = { config: opts.config, augmentation: augmentationFor(opts.config, opts.augmentation) };
  }
  const cfg = run.config;
  validateConfig(cfg);
  const dataset = typeof opts.data === 'string' ? openDataset(opts.data) : opts.data;
  const seed = cfg.train.seed;
  const generator = new Generator(seed);
  const model = new SSLMetaArch(cfg, { generator }).to(device);  // before the optimizer: its moments go where the parameters are
  let loader: DataLoader | null = null;
  let optimizer: AdamW | null = null;
  try {
    optimizer = model.createOptimizer();
    const epochLength = cfg.train.officialEpochLength;
    const schedules = buildSchedules(cfg, { epochLength });
    const scheduledSteps = cfg.optim.epochs * epochLength;
    const totalSteps = Math.min(opts.steps ?? scheduledSteps, scheduledSteps);
    const metrics = new MetricsLog(join(out, 'metrics.jsonl'));
    let step = 0;

    if (opts.resume) {
      const ck = await loadCheckpoint<RunState>(ckptPath);
      try {
        const st = ck.state;
        if (st.version !== 1) throw new Error(`${where}: checkpoint state version ${st.version} is not supported`);
        const modelDict = new Map([...ck.tensors].filter(([k]) => !k.startsWith('optimizer.')));
        model.loadStateDict(modelDict);
        loadOptimizer(optimizer, ck.tensors, st.optimizerSteps, where);
        generator.setState(st.generator);
        step = st.step;
        if (st.loader.batchSize !== cfg.train.batchSizePerGpu || st.loader.seed !== seed) {
          throw new Error(`${where}: the checkpoint was made with batch size ${st.loader.batchSize} and seed ${st.loader.seed} (the config now says ${cfg.train.batchSizePerGpu} and ${seed})`);
        }
      } finally {
        for (const t of ck.tensors.values()) t.dispose();
      }
      metrics.truncateAfter(step);
    } else {
      if (opts.init !== undefined) {
        const weights = typeof opts.init === 'string' ? (await loadSafetensors(opts.init)).tensors : opts.init;
        try {
          model.initFromBackbone(weights);
        } finally {
          if (typeof opts.init === 'string') for (const t of weights.values()) t.dispose();
        }
      }
      writeFileAtomicSync(cfgPath, JSON.stringify(run, null, 2) + '\n');
      metrics.truncateAfter(0);
    }

    loader = new DataLoader(dataset, {
      ...opts.loader,
      batchSize: cfg.train.batchSizePerGpu,
      seed,
      augmentation: run.augmentation,
      numWorkers: opts.numWorkers,
      maskRatio: [...cfg.ibot.maskRatioMinMax] as [number, number],
      maskProbability: cfg.ibot.maskSampleProbability,
    });
    const spe = loader.stepsPerEpoch;
    loader.start({ epoch: Math.floor(step / spe), step: step % spe });

    const save = async () => {
      const { tensors, steps } = optimizerTensors(optimizer!);
      const dict = model.stateDict();
      try {
        for (const [k, t] of tensors) dict.set(k, device === 'cpu' ? t : t.cpu());  // host copies of device moments (disposed below)
        if (device !== 'cpu') {
          for (const [k, t] of dict) {
            if (k.startsWith('optimizer.') || t.device === 'cpu') continue;
            dict.set(k, t.cpu());
            t.dispose();
          }
        }
        const state: RunState = {
          version: 1, step, generator: generator.getState(), optimizerSteps: steps,
          loader: { seed, batchSize: cfg.train.batchSizePerGpu, stepsPerEpoch: spe },
        };
        await saveCheckpoint(ckptPath, dict, state as unknown as Record<string, unknown>);
      } finally {
        for (const [k, t] of dict) if (!k.startsWith('optimizer.') || device !== 'cpu') t.dispose();
      }
    };

    const every = opts.checkpointEvery ?? epochLength;
    const bar = opts.progress === false ? null : new Progress(totalSteps, { label: 'pretrain', unit: 'step' }, step);
    const t0 = performance.now();
    let last: StepRecord | null = null;
    let doneHere = 0;
    let lastSaved = step;
    model.train();
    while (step < totalSteps) {
      if (opts.stopAfter !== undefined && doneHere >= opts.stopAfter) break;
      if (opts.timeBudgetS !== undefined && (performance.now() - t0) / 1000 >= opts.timeBudgetS) break;
      const ts = performance.now();
      const batch = await loader.next();
      let losses;
      const values = schedules.at(step);
      const onDevice = device === 'cpu' ? batch : toDeviceBatch(batch, device);
      try {
        losses = model.trainStep(onDevice, optimizer, values);
      } finally {
        disposeBatch(batch);
        if (onDevice !== batch) disposeBatch(onDevice);
      }
      if (!Number.isFinite(losses.total)) {
        throw new Error(`${where}: the loss is ${losses.total} at step ${step} (dino local ${losses.dinoLocal}, dino global ${losses.dinoGlobal}, koleo ${losses.koleo}, ibot ${losses.ibot}); the last checkpoint is step ${lastSaved}`);
      }
      step += 1;
      doneHere += 1;
      const imgs = cfg.train.batchSizePerGpu;
      last = {
        step, epoch: Math.floor((step - 1) / epochLength), loss: losses.total, dinoLocal: losses.dinoLocal, dinoGlobal: losses.dinoGlobal,
        koleo: losses.koleo, ibot: losses.ibot, lr: values.lr, wd: values.wd, momentum: values.momentum, teacherTemp: values.teacherTemp,
        lastLayerLr: values.lastLayerLr, gradNorms: losses.gradNorms, imgPerS: imgs / ((performance.now() - ts) / 1000),
      };
      metrics.write({ ...last });
      opts.onStep?.(last);
      bar?.update(step, { loss: losses.total, dino: losses.dinoLocal + losses.dinoGlobal, ibot: losses.ibot, koleo: losses.koleo });
      if (step % every === 0 || step === totalSteps) {
        await save();
        lastSaved = step;
      }
    }
    if (lastSaved !== step) await save();
    bar?.finish();
    const result: PretrainResult = {
      step, totalSteps, finished: step >= totalSteps, seconds: (performance.now() - t0) / 1000, last,
      skipped: [...loader.skipped], checkpoint: ckptPath, model,
    };
    return result;
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    optimizer?.dispose();
    await loader?.close();
  }
}
