// `raddino pretrain --config ... --data ... --out ...`: reads the configuration (JSON or YAML,
// camelCase or the reference's snake_case keys), merges it over a preset and runs the trainer.
import { existsSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { setNumThreads } from '../tensor/memory.js';
import { mergeConfig, sslPreset, type PresetName, type SSLConfig } from '../ssl/config.js';
import { pretrain } from '../ssl/trainer.js';

export interface PretrainCommand {
  config?: string;
  preset?: string;
  data: string;
  out: string;
  resume: boolean;
  init?: string;
  steps?: number;
  threads?: number;
  workers?: number;
  checkpointEvery?: number;
  json: boolean;
  /** 'cpu' (default) or 'cuda'. */
  device?: string;
  /** Overrides the config's train.matmulPrecision (a resumed run keeps its own). */
  precision?: 'float32' | 'bfloat16';
}

/** Reads a configuration file: JSON, or YAML for .yaml/.yml; errors name the file. */
export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`--config: cannot read ${path}: ${(e as Error).message}`);
  }
  let v: unknown;
  try {
    v = ['.yaml', '.yml'].includes(extname(path).toLowerCase()) ? parseYaml(text) : JSON.parse(text);
  } catch (e) {
    throw new Error(`--config: ${path} is not valid ${['.yaml', '.yml'].includes(extname(path).toLowerCase()) ? 'YAML' : 'JSON'}: ${(e as Error).message}`);
  }
  if (v === null || v === undefined) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new Error(`--config: ${path} must hold an object of sections (student, teacher, dino, ibot, train, optim, crops)`);
  return v as Record<string, unknown>;
}

export function resolveConfig(opts: { config?: string; preset?: string }): SSLConfig {
  const base = sslPreset((opts.preset ?? 'default') as PresetName);
  if (!opts.config) return base;
  const patch = readConfigFile(opts.config);
  try {
    return mergeConfig(base, patch);
  } catch (e) {
    throw new Error(`--config ${opts.config}: ${(e as Error).message}`);
  }
}

export async function runPretrainCommand(o: PretrainCommand): Promise<void> {
  if (o.threads !== undefined) setNumThreads(o.threads);
  let config = resolveConfig(o);
  if (o.precision !== undefined) {
    const saved = o.resume ? join(o.out, 'config.json') : null;
    if (saved && existsSync(saved)) {
      const was = (JSON.parse(readFileSync(saved, 'utf8')) as { config?: { train?: { matmulPrecision?: string } } }).config?.train?.matmulPrecision ?? 'float32';
      if (was !== o.precision) {
        throw new Error(`--precision ${o.precision}: the run in ${o.out} trains in ${was} (a resumed run keeps its arithmetic, so that it continues bit-exactly)`);
      }
    }
    config = mergeConfig(config, { train: { matmulPrecision: o.precision } });
  }
  const res = await pretrain({
    config, data: o.data, out: o.out, resume: o.resume, init: o.init, steps: o.steps, numWorkers: o.workers, device: o.device,
    checkpointEvery: o.checkpointEvery, augmentation: o.preset === 'raddino' ? { preset: 'raddino' } : undefined,
  });
  res.model.dispose();
  const summary = {
    out: o.out, step: res.step, totalSteps: res.totalSteps, finished: res.finished, seconds: Math.round(res.seconds * 10) / 10,
    loss: res.last?.loss ?? null, skipped: res.skipped.length, checkpoint: res.checkpoint,
  };
  if (res.skipped.length) process.stderr.write(`pretrain: skipped ${res.skipped.length} unreadable file(s); see the warnings above\n`);
  if (o.json) process.stdout.write(JSON.stringify(summary) + '\n');
  else process.stdout.write(`pretrain: ${res.step}/${res.totalSteps} steps in ${summary.seconds} s, last loss ${summary.loss?.toFixed(4) ?? '-'}; checkpoint ${res.checkpoint}\n`);
}
