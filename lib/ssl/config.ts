// The DINOv2 training configuration: the parts of dinov2/configs/ssl_default_config.yaml that the
// objective, the optimiser, the schedules and the crops use, with the reference's defaults, plus
// presets ('default', 'tiny' for tests, 'raddino') and a strict merge.
// Keys are camelCase; mergeConfig also accepts the reference's snake_case names.
import type { DinoV2Config } from '../models/dinov2.js';

export type Arch = 'vit_small' | 'vit_base' | 'vit_large' | 'vit_giant2';
export type Centering = 'centering' | 'sinkhorn_knopp';

export interface StudentConfig {
  arch: Arch;
  patchSize: number;
  dropPathRate: number;
  /** LayerScale init; null: no LayerScale. */
  layerscale: number | null;
  dropPathUniform: boolean;
  /** Path of backbone weights to start from (continual pretraining); '' for none. */
  pretrainedWeights: string;
  ffnLayer: 'mlp' | 'swiglufused' | 'swiglu';
  blockChunks: number;
  qkvBias: boolean;
  projBias: boolean;
  ffnBias: boolean;
  numRegisterTokens: number;
  interpolateAntialias: boolean;
  interpolateOffset: number;
  /** Ours: width, depth and heads overriding the arch's (null: the arch's), for small models. */
  embedDim: number | null;
  depth: number | null;
  numHeads: number | null;
}

export interface TeacherConfig {
  momentumTeacher: number;
  finalMomentumTeacher: number;
  warmupTeacherTemp: number;
  teacherTemp: number;
  warmupTeacherTempEpochs: number;
}

export interface HeadConfig {
  headNPrototypes: number;
  headBottleneckDim: number;
  headNlayers: number;
  headHiddenDim: number;
}

export interface DinoConfig extends HeadConfig {
  lossWeight: number;
  koleoLossWeight: number;
}

export interface IbotConfig extends HeadConfig {
  lossWeight: number;
  maskSampleProbability: number;
  maskRatioMinMax: [number, number];
  /** iBOT gets its own head (otherwise it shares the DINO head). */
  separateHead: boolean;
}

export interface TrainConfig {
  batchSizePerGpu: number;
  /** Ours: processes that each see batchSizePerGpu images (the lr scaling rule uses the product). */
  worldSize: number;
  officialEpochLength: number;
  centering: Centering;
  seed: number;
  numWorkers: number;
  saveckpFreq: number;
  outputDir: string;
  datasetPath: string;
  /**
   * Ours: how the step's matmuls compute on the CPU (setMatmulPrecision): 'float32' (default) or
   * 'bfloat16' — mixed precision as the reference trains (its compute_precision), bfloat16
   * products with float32 sums, float32 weights, optimizer state, losses and reductions; about
   * twice the GEMM rate on CPUs with AVX512-BF16.
   */
  matmulPrecision: 'float32' | 'bfloat16';
}

export interface OptimConfig {
  epochs: number;
  weightDecay: number;
  weightDecayEnd: number;
  /** Learning rate for a batch of 1024; the lr is baseLr · sqrt(batch / 1024) (scaledLr). */
  baseLr: number;
  warmupEpochs: number;
  minLr: number;
  /** Gradient-norm clip per student submodule (0: no clipping). */
  clipGrad: number;
  freezeLastLayerEpochs: number;
  scalingRule: 'sqrt_wrt_1024';
  patchEmbedLrMult: number;
  layerwiseDecay: number;
  adamwBeta1: number;
  adamwBeta2: number;
}

export interface CropsConfig {
  globalCropsScale: [number, number];
  localCropsNumber: number;
  localCropsScale: [number, number];
  globalCropsSize: number;
  localCropsSize: number;
}

export interface SSLConfig {
  student: StudentConfig;
  teacher: TeacherConfig;
  dino: DinoConfig;
  ibot: IbotConfig;
  train: TrainConfig;
  optim: OptimConfig;
  crops: CropsConfig;
}

/** A deep partial, for mergeConfig. */
export type SSLConfigPatch = { [S in keyof SSLConfig]?: Partial<SSLConfig[S]> };

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') for (const v of Object.values(o)) deepFreeze(v);
  return Object.freeze(o);
}

/** ssl_default_config.yaml (frozen: derive configs with mergeConfig or sslPreset). */
export const DEFAULT_SSL_CONFIG: SSLConfig = deepFreeze({
  student: {
    arch: 'vit_large', patchSize: 16, dropPathRate: 0.3, layerscale: 1e-5, dropPathUniform: true, pretrainedWeights: '',
    ffnLayer: 'mlp', blockChunks: 0, qkvBias: true, projBias: true, ffnBias: true, numRegisterTokens: 0,
    interpolateAntialias: false, interpolateOffset: 0.1, embedDim: null, depth: null, numHeads: null,
  },
  teacher: { momentumTeacher: 0.992, finalMomentumTeacher: 1, warmupTeacherTemp: 0.04, teacherTemp: 0.07, warmupTeacherTempEpochs: 30 },
  dino: { lossWeight: 1.0, headNPrototypes: 65536, headBottleneckDim: 256, headNlayers: 3, headHiddenDim: 2048, koleoLossWeight: 0.1 },
  ibot: {
    lossWeight: 1.0, maskSampleProbability: 0.5, maskRatioMinMax: [0.1, 0.5], separateHead: false, headNPrototypes: 65536,
    headBottleneckDim: 256, headNlayers: 3, headHiddenDim: 2048,
  },
  train: {
    batchSizePerGpu: 64, worldSize: 1, officialEpochLength: 1250, centering: 'centering', seed: 0, numWorkers: 10, saveckpFreq: 20,
    outputDir: '.', datasetPath: '', matmulPrecision: 'float32',
  },
  optim: {
    epochs: 100, weightDecay: 0.04, weightDecayEnd: 0.4, baseLr: 0.004, warmupEpochs: 10, minLr: 1.0e-6, clipGrad: 3.0,
    freezeLastLayerEpochs: 1, scalingRule: 'sqrt_wrt_1024', patchEmbedLrMult: 0.2, layerwiseDecay: 0.9, adamwBeta1: 0.9, adamwBeta2: 0.999,
  },
  crops: { globalCropsScale: [0.32, 1.0], localCropsNumber: 8, localCropsScale: [0.05, 0.32], globalCropsSize: 224, localCropsSize: 96 },
} as SSLConfig);

/** Keys whose value may be null (the others keep their default's type). */
const NULLABLE = new Set(['student.layerscale', 'student.embedDim', 'student.depth', 'student.numHeads']);

const ENUMS: Record<string, readonly string[]> = {
  'student.arch': ['vit_small', 'vit_base', 'vit_large', 'vit_giant2'],
  'student.ffnLayer': ['mlp', 'swiglufused', 'swiglu'],
  'train.centering': ['centering', 'sinkhorn_knopp'],
  'train.matmulPrecision': ['float32', 'bfloat16'],
  'optim.scalingRule': ['sqrt_wrt_1024'],
};

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;

// snake_case → camelCase; an all-caps key (the reference's train.OFFICIAL_EPOCH_LENGTH) is lower-cased first.
const camel = (k: string) => (/^[A-Z0-9_]+$/.test(k) ? k.toLowerCase() : k).replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

function mergeInto(base: Record<string, unknown>, patch: unknown, path: string, keyPath: string): Record<string, unknown> {
  if (!isPlainObject(patch)) {
    throw new TypeError(`mergeConfig: '${path || '(root)'}' must be an object (got ${Array.isArray(patch) ? 'an array' : patch === null ? 'null' : typeof patch})`);
  }
  const out: Record<string, unknown> = { ...base };
  for (const [rawKey, value] of Object.entries(patch)) {
    const key = camel(rawKey);
    const where = path ? `${path}.${rawKey}` : rawKey;  // as the user wrote it
    const canonical = keyPath ? `${keyPath}.${key}` : key;
    if (!Object.prototype.hasOwnProperty.call(base, key)) {
      throw new Error(`mergeConfig: unknown key '${where}' (expected one of: ${Object.keys(base).join(', ')})`);
    }
    if (value === undefined) continue;
    const cur = base[key];
    if (isPlainObject(cur)) {
      out[key] = mergeInto(cur, value, where, canonical);
    } else if (Array.isArray(cur)) {
      if (!Array.isArray(value) || value.length !== cur.length || value.some((v) => typeof v !== 'number' || !Number.isFinite(v))) {
        throw new TypeError(`mergeConfig: '${where}' must be an array of ${cur.length} finite numbers (got ${JSON.stringify(value)})`);
      }
      out[key] = [...value];
    } else if (value === null) {
      if (!NULLABLE.has(canonical)) throw new TypeError(`mergeConfig: '${where}' cannot be null (expected a ${typeof cur})`);
      out[key] = null;
    } else {
      const want = cur === null ? 'number' : typeof cur;
      if (typeof value !== want || (want === 'number' && !Number.isFinite(value as number))) {
        throw new TypeError(`mergeConfig: '${where}' must be a ${want === 'number' ? 'finite number' : want} (got ${JSON.stringify(value)})`);
      }
      const allowed = ENUMS[canonical];
      if (allowed && !allowed.includes(value as string)) {
        throw new RangeError(`mergeConfig: '${where}' is ${JSON.stringify(value)} (expected one of: ${allowed.join(', ')})`);
      }
      out[key] = value;
    }
  }
  return out;
}

/**
 * A copy of `base` with `patch` applied (nested objects merge, arrays and values replace).
 * Keys may be camelCase or the reference's snake_case. An unknown key, a value of the wrong
 * type or an unknown enum value is an error naming its path; the result is validated.
 */
export function mergeConfig(base: SSLConfig, patch: SSLConfigPatch | Record<string, unknown>): SSLConfig {
  const merged = mergeInto(structuredClone(base) as unknown as Record<string, unknown>, patch, '', '') as unknown as SSLConfig;
  validateConfig(merged);
  return merged;
}

/** Checks ranges that types cannot (positive sizes, probabilities, the patch grid); throws naming the key. */
export function validateConfig(cfg: SSLConfig): void {
  const fail = (key: string, v: unknown, want: string) => {
    throw new RangeError(`validateConfig: '${key}' is ${JSON.stringify(v)} (expected ${want})`);
  };
  const posInt = (key: string, v: number) => (Number.isInteger(v) && v > 0) || fail(key, v, 'a positive integer');
  const nonNegInt = (key: string, v: number) => (Number.isInteger(v) && v >= 0) || fail(key, v, 'an integer >= 0');
  const s = cfg.student, c = cfg.crops;
  posInt('student.patchSize', s.patchSize);
  nonNegInt('student.numRegisterTokens', s.numRegisterTokens);
  for (const k of ['embedDim', 'depth', 'numHeads'] as const) if (s[k] !== null) posInt(`student.${k}`, s[k]!);
  if (!(s.dropPathRate >= 0 && s.dropPathRate < 1)) fail('student.dropPathRate', s.dropPathRate, 'a number in [0, 1)');
  for (const k of ['dino', 'ibot'] as const) {
    for (const h of ['headNPrototypes', 'headBottleneckDim', 'headNlayers', 'headHiddenDim'] as const) posInt(`${k}.${h}`, cfg[k][h]);
    if (!(cfg[k].lossWeight >= 0)) fail(`${k}.lossWeight`, cfg[k].lossWeight, 'a number >= 0');
  }
  if (!(cfg.dino.koleoLossWeight >= 0)) fail('dino.koleoLossWeight', cfg.dino.koleoLossWeight, 'a number >= 0');
  const [rmin, rmax] = cfg.ibot.maskRatioMinMax;
  if (!(rmin >= 0 && rmin <= rmax && rmax <= 1)) fail('ibot.maskRatioMinMax', cfg.ibot.maskRatioMinMax, '0 <= min <= max <= 1');
  if (!(cfg.ibot.maskSampleProbability >= 0 && cfg.ibot.maskSampleProbability <= 1)) fail('ibot.maskSampleProbability', cfg.ibot.maskSampleProbability, 'a probability');
  posInt('train.batchSizePerGpu', cfg.train.batchSizePerGpu);
  posInt('train.worldSize', cfg.train.worldSize);
  posInt('train.officialEpochLength', cfg.train.officialEpochLength);
  posInt('optim.epochs', cfg.optim.epochs);
  nonNegInt('optim.warmupEpochs', cfg.optim.warmupEpochs);
  nonNegInt('optim.freezeLastLayerEpochs', cfg.optim.freezeLastLayerEpochs);
  nonNegInt('teacher.warmupTeacherTempEpochs', cfg.teacher.warmupTeacherTempEpochs);
  if (cfg.optim.warmupEpochs > cfg.optim.epochs) fail('optim.warmupEpochs', cfg.optim.warmupEpochs, `at most optim.epochs (${cfg.optim.epochs})`);
  if (!(cfg.optim.baseLr >= 0)) fail('optim.baseLr', cfg.optim.baseLr, 'a number >= 0');
  if (!(cfg.optim.clipGrad >= 0)) fail('optim.clipGrad', cfg.optim.clipGrad, 'a number >= 0 (0: no clipping)');
  if (!(cfg.optim.layerwiseDecay > 0 && cfg.optim.layerwiseDecay <= 1)) fail('optim.layerwiseDecay', cfg.optim.layerwiseDecay, 'a number in (0, 1]');
  for (const k of ['momentumTeacher', 'finalMomentumTeacher'] as const) {
    if (!(cfg.teacher[k] >= 0 && cfg.teacher[k] <= 1)) fail(`teacher.${k}`, cfg.teacher[k], 'a number in [0, 1]');
  }
  for (const k of ['warmupTeacherTemp', 'teacherTemp'] as const) if (!(cfg.teacher[k] > 0)) fail(`teacher.${k}`, cfg.teacher[k], 'a positive number');
  posInt('crops.globalCropsSize', c.globalCropsSize);
  posInt('crops.localCropsSize', c.localCropsSize);
  nonNegInt('crops.localCropsNumber', c.localCropsNumber);
  for (const k of ['globalCropsSize', 'localCropsSize'] as const) {
    if (c[k] % s.patchSize !== 0) fail(`crops.${k}`, c[k], `a multiple of student.patchSize (${s.patchSize})`);
  }
  for (const k of ['globalCropsScale', 'localCropsScale'] as const) {
    const [lo, hi] = c[k];
    if (!(lo > 0 && lo <= hi && hi <= 1)) fail(`crops.${k}`, c[k], '0 < min <= max <= 1');
  }
}

/** Width, depth and heads of the dinov2 architectures. */
export const ARCHS: Record<Arch, { embedDim: number; depth: number; numHeads: number }> = {
  vit_small: { embedDim: 384, depth: 12, numHeads: 6 },
  vit_base: { embedDim: 768, depth: 12, numHeads: 12 },
  vit_large: { embedDim: 1024, depth: 24, numHeads: 16 },
  vit_giant2: { embedDim: 1536, depth: 40, numHeads: 24 },
};

/**
 * The DinoVisionTransformer options of the student (or of the teacher: no drop path), as
 * dinov2's build_model: the position embedding is sized for the global crops.
 */
export function backboneConfig(cfg: SSLConfig, role: 'student' | 'teacher'): Partial<DinoV2Config> {
  const s = cfg.student, a = ARCHS[s.arch];
  if (!a) throw new RangeError(`backboneConfig: student.arch is ${JSON.stringify(s.arch)} (expected one of: ${Object.keys(ARCHS).join(', ')})`);
  return {
    imgSize: cfg.crops.globalCropsSize, patchSize: s.patchSize, embedDim: s.embedDim ?? a.embedDim, depth: s.depth ?? a.depth,
    numHeads: s.numHeads ?? a.numHeads, mlpRatio: 4, qkvBias: s.qkvBias, projBias: s.projBias, ffnBias: s.ffnBias,
    dropPathRate: role === 'student' ? s.dropPathRate : 0, dropPathUniform: s.dropPathUniform, initValues: s.layerscale,
    ffnLayer: s.ffnLayer, numRegisterTokens: s.numRegisterTokens, interpolateAntialias: s.interpolateAntialias,
    interpolateOffset: s.interpolateOffset, blockChunks: s.blockChunks,
  };
}

const PRESET_PATCHES: Record<string, SSLConfigPatch> = {
  default: {},
  /**
   * A ViT with D 48, depth 2, 2 heads, patch 14, 42-px globals and two 28-px locals, K 32: a
   * full training step takes milliseconds (tests, smoke runs).
   */
  tiny: {
    student: { arch: 'vit_small', patchSize: 14, embedDim: 48, depth: 2, numHeads: 2, dropPathRate: 0, dropPathUniform: false },
    dino: { headNPrototypes: 32, headBottleneckDim: 16, headHiddenDim: 64 },
    ibot: { headNPrototypes: 32, headBottleneckDim: 16, headHiddenDim: 64 },
    train: { batchSizePerGpu: 4, officialEpochLength: 10, numWorkers: 1, saveckpFreq: 1 },
    optim: { epochs: 4, warmupEpochs: 1 },
    teacher: { warmupTeacherTempEpochs: 2 },
    crops: { globalCropsSize: 42, localCropsSize: 28, localCropsNumber: 2 },
  },
  /**
   * RAD-DINO (Pérez-García et al. 2024, appendix C.1): ViT-B/14 without registers, 518-px global
   * crops and 196-px local crops, batch 640 (40 per GPU on 16 GPUs), base lr 1e-3, 100 epochs;
   * the rest as DINOv2. The crop scales are the area fractions of the paper's side ranges
   * U(259, 518) and U(104, 259) on a 518-px image (the data pipeline samples sides).
   */
  raddino: {
    student: { arch: 'vit_base', patchSize: 14, numRegisterTokens: 0 },
    train: { batchSizePerGpu: 40, worldSize: 16 },
    optim: { baseLr: 0.001, epochs: 100 },
    crops: { globalCropsSize: 518, localCropsSize: 196, globalCropsScale: [0.25, 1.0], localCropsScale: [(104 / 518) ** 2, 0.25] },
  },
};

export type PresetName = 'default' | 'tiny' | 'raddino';

/** A fresh copy of a preset configuration. */
export function sslPreset(name: PresetName): SSLConfig {
  const patch = PRESET_PATCHES[name];
  if (!patch) throw new RangeError(`sslPreset: unknown preset ${JSON.stringify(name)} (expected one of: ${Object.keys(PRESET_PATCHES).join(', ')})`);
  return mergeConfig(DEFAULT_SSL_CONFIG, patch);
}
