// The DINOv2 training schedules: cosine with linear warmup (lr, weight decay, teacher momentum),
// the teacher-temperature warmup, the frozen last layer, and the learning-rate scaling rule.
// Values are computed in float64 exactly as numpy computes them in the reference.
import type { SSLConfig } from './config.js';

export interface CosineSchedulerOptions {
  baseValue: number;
  finalValue: number;
  totalIters: number;
  warmupIters?: number;
  startWarmupValue?: number;
  freezeIters?: number;
}

/** numpy.linspace(start, stop, num) with the endpoint. */
function linspace(start: number, stop: number, num: number): number[] {
  const div = num - 1, delta = stop - start;
  const out = new Array<number>(num);
  for (let i = 0; i < num; i++) out[i] = (div > 0 ? (delta / div === 0 ? (i / div) * delta : i * (delta / div)) : i * delta) + start;
  if (num > 1) out[num - 1] = stop;
  return out;
}

/**
 * freezeIters zeros, then warmupIters values rising linearly from startWarmupValue to baseValue
 * (both included), then final + ½ (base - final)(1 + cos(π i / n)) for i < n, n the remaining
 * iterations. Indices at or beyond totalIters give finalValue.
 */
export class CosineScheduler {
  readonly finalValue: number;
  readonly totalIters: number;
  readonly schedule: Float64Array;

  constructor(opts: CosineSchedulerOptions) {
    const { baseValue, finalValue, totalIters } = opts;
    const warmup = opts.warmupIters ?? 0, freeze = opts.freezeIters ?? 0, start = opts.startWarmupValue ?? 0;
    for (const [name, v] of [['totalIters', totalIters], ['warmupIters', warmup], ['freezeIters', freeze]] as const) {
      if (!Number.isInteger(v) || v < 0) throw new RangeError(`CosineScheduler: option '${name}' is ${v} (expected an integer >= 0)`);
    }
    for (const [name, v] of [['baseValue', baseValue], ['finalValue', finalValue], ['startWarmupValue', start]] as const) {
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new TypeError(`CosineScheduler: option '${name}' is ${v} (expected a finite number)`);
    }
    if (warmup + freeze > totalIters) {
      throw new RangeError(`CosineScheduler: warmupIters (${warmup}) + freezeIters (${freeze}) exceed totalIters (${totalIters})`);
    }
    this.finalValue = finalValue;
    this.totalIters = totalIters;
    const n = totalIters - warmup - freeze;
    const s = new Float64Array(totalIters);
    linspace(start, baseValue, warmup).forEach((v, i) => (s[freeze + i] = v));
    const half = 0.5 * (baseValue - finalValue);
    for (let i = 0; i < n; i++) s[freeze + warmup + i] = finalValue + half * (1 + Math.cos((Math.PI * i) / n));
    this.schedule = s;
  }

  /** The value at iteration `it` (finalValue from totalIters on). */
  at(it: number): number {
    if (!Number.isInteger(it) || it < 0) throw new RangeError(`CosineScheduler.at: argument 'it' is ${it} (expected an integer >= 0)`);
    return it >= this.totalIters ? this.finalValue : this.schedule[it];
  }
}

export interface ScheduleValues {
  lr: number;
  wd: number;
  momentum: number;
  teacherTemp: number;
  lastLayerLr: number;
}

export interface Schedules {
  lr: CosineScheduler;
  wd: CosineScheduler;
  momentum: CosineScheduler;
  teacherTemp: CosineScheduler;
  lastLayerLr: CosineScheduler;
  /** All five values at iteration `it`. */
  at(it: number): ScheduleValues;
}

/** base_lr · sqrt(batch_total / 1024), batch_total = batchSizePerGpu · worldSize (the 'sqrt_wrt_1024' rule). */
export function scaledLr(cfg: SSLConfig): number {
  if (cfg.optim.scalingRule !== 'sqrt_wrt_1024') {
    throw new Error(`scaledLr: optim.scalingRule is ${JSON.stringify(cfg.optim.scalingRule)} (only 'sqrt_wrt_1024' is implemented)`);
  }
  return cfg.optim.baseLr * Math.sqrt((cfg.train.batchSizePerGpu * cfg.train.worldSize) / 1024.0);
}

/**
 * DINOv2's build_schedulers: lr (scaled, linear warmup from 0, cosine to minLr), weight decay and
 * teacher momentum (cosine, no warmup), teacher temperature (linear warmup, then constant),
 * last-layer lr (the lr schedule, 0 during the first freezeLastLayerEpochs).
 */
export function buildSchedules(cfg: SSLConfig, opts: { epochLength?: number } = {}): Schedules {
  const E = opts.epochLength ?? cfg.train.officialEpochLength;
  if (!Number.isInteger(E) || E <= 0) throw new RangeError(`buildSchedules: option 'epochLength' is ${E} (expected a positive integer)`);
  const o = cfg.optim, t = cfg.teacher;
  const total = o.epochs * E;
  const lrOpts = { baseValue: scaledLr(cfg), finalValue: o.minLr, totalIters: total, warmupIters: o.warmupEpochs * E, startWarmupValue: 0 };
  const lr = new CosineScheduler(lrOpts);
  const wd = new CosineScheduler({ baseValue: o.weightDecay, finalValue: o.weightDecayEnd, totalIters: total });
  const momentum = new CosineScheduler({ baseValue: t.momentumTeacher, finalValue: t.finalMomentumTeacher, totalIters: total });
  const warm = t.warmupTeacherTempEpochs * E;
  const teacherTemp = new CosineScheduler({
    baseValue: t.teacherTemp, finalValue: t.teacherTemp, totalIters: warm, warmupIters: warm, startWarmupValue: t.warmupTeacherTemp,
  });
  const lastLayerLr = new CosineScheduler(lrOpts);
  lastLayerLr.schedule.fill(0, 0, Math.min(o.freezeLastLayerEpochs * E, total));
  return {
    lr, wd, momentum, teacherTemp, lastLayerLr,
    at: (it: number) => ({ lr: lr.at(it), wd: wd.at(it), momentum: momentum.at(it), teacherTemp: teacherTemp.at(it), lastLayerLr: lastLayerLr.at(it) }),
  };
}
