// Training checkpoints: every tensor of a run (student, teacher, optimizer moments, centers) in
// one safetensors file, with the run's JSON state (step, schedules, RNG, loader position) in its
// metadata. Written atomically (temp file, fsync, rename), so a killed job leaves either the old
// checkpoint or the new one, never half of one.
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { loadSafetensors, saveSafetensors } from './safetensors.js';
import type { TensorDict } from './safetensors_format.js';
import type { Tensor } from '../tensor/tensor.js';

const FORMAT = 'raddino-checkpoint';
const VERSION = '1';

export interface Checkpoint<S = Record<string, unknown>> {
  tensors: Map<string, Tensor>;
  state: S;
}

/** Writes `tensors` and the JSON-serialisable `state` to `path` atomically. */
export async function saveCheckpoint(path: string, tensors: TensorDict, state: Record<string, unknown>): Promise<void> {
  let json: string;
  try {
    json = JSON.stringify(state);
  } catch (e) {
    throw new TypeError(`saveCheckpoint: argument 'state' must be JSON-serialisable (${(e as Error).message})`);
  }
  if (json === undefined) throw new TypeError("saveCheckpoint: argument 'state' must be a JSON object");
  await saveSafetensors(path, tensors, { format: FORMAT, version: VERSION, state: json });
}

/** Reads a checkpoint written by saveCheckpoint; a file of another kind is a clear error. */
export async function loadCheckpoint<S = Record<string, unknown>>(path: string): Promise<Checkpoint<S>> {
  const data = await loadSafetensors(path);
  const meta = data.metadata;
  const dispose = () => { for (const t of data.tensors.values()) t.dispose(); };
  if (meta.format !== FORMAT) {
    dispose();
    throw new Error(`loadCheckpoint: ${path} is not a raddino checkpoint (metadata 'format' is ${JSON.stringify(meta.format)}, expected "${FORMAT}")`);
  }
  if (meta.version !== VERSION) {
    dispose();
    throw new Error(`loadCheckpoint: ${path} has checkpoint version ${JSON.stringify(meta.version)} (this build reads version ${VERSION})`);
  }
  let state: S;
  try {
    state = JSON.parse(meta.state ?? '') as S;
  } catch (e) {
    dispose();
    throw new Error(`loadCheckpoint: ${path}: the 'state' metadata is not valid JSON (${(e as Error).message})`);
  }
  return { tensors: data.tensors, state };
}

/** Writes a small text file atomically (temp file in the same folder, fsync, rename). */
export function writeFileAtomicSync(path: string, text: string | Uint8Array): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx');
    const buf = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
    for (let done = 0; done < buf.length;) done += writeSync(fd, buf, done, buf.length - done);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) try { closeSync(fd); } catch { /* already failing */ }
    try { unlinkSync(tmp); } catch { /* never created, or renamed */ }
    throw new Error(`writeFileAtomic: cannot write ${path}: ${(e as Error).message}`, { cause: e });
  }
}
