// The pretraining data loader: batches of SSLBatch built off the main thread by a pool of
// worker_threads (decode + multi-crop augmentation + masking + collate in each worker), with
// prefetching. Batch s of epoch e depends only on (seed, e, s) (see pipeline.ts), so the stream is
// the same for any number of workers and resumes exactly from a position (epoch, step).
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { SSLBatch } from '../ssl/batch.js';
import { resolveAugmentation, type AugmentationOptions } from './augment.js';
import { toSSLBatch } from './collate.js';
import type { ImageDataset } from './dataset.js';
import { BatchBuilder, type BuiltBatch, type PipelineConfig, type SkippedFile } from './pipeline.js';
import type { WorkerReply, WorkerRequest } from './worker.js';

export type { SkippedFile } from './pipeline.js';

export interface LoaderOptions {
  /** Images per batch (B); an epoch has floor(n / B) batches (the last partial batch is dropped). */
  batchSize: number;
  /** Seed of every random draw (order, crops, masks); default 0. */
  seed?: number;
  augmentation?: AugmentationOptions;
  /** Worker threads (default min(4, cores)); 0 builds batches on the main thread. */
  numWorkers?: number;
  /** Batches requested ahead of the consumer (default 2 per worker, at least 1). */
  prefetch?: number;
  /** Shuffle the order every epoch (default true). */
  shuffle?: boolean;
  /** iBOT mask ratio range (default [0.1, 0.5]). */
  maskRatio?: [number, number];
  /** Fraction of global crops masked (default 0.5). */
  maskProbability?: number;
  /** Files a sample may try before the batch fails (default 16). */
  maxAttempts?: number;
  /** Called once per file that is skipped (default: a console warning). */
  onSkip?: (skip: SkippedFile) => void;
}

/** A position in the stream: the next batch is step `step` of epoch `epoch`. */
export interface LoaderPosition {
  epoch: number;
  step: number;
}

export interface LoadedBatch extends SSLBatch {
  epoch: number;
  step: number;
  /** Data-set indices and paths of the B images of the batch, in batch order. */
  indices: number[];
  paths: string[];
}

interface Pending {
  resolve: (b: BuiltBatch) => void;
  reject: (e: Error) => void;
  req: WorkerRequest;
}

/** A fixed pool of batch workers; one request per worker at a time. */
class WorkerPool {
  private readonly idle: Worker[] = [];
  private readonly busy = new Map<Worker, Pending>();
  private readonly queue: Pending[] = [];
  private nextId = 0;
  private closed = false;

  constructor(size: number, private readonly data: { paths: string[]; config: PipelineConfig }) {
    for (let i = 0; i < size; i++) this.idle.push(this.spawn());
  }

  private spawn(): Worker {
    const here = import.meta.url;
    let w: Worker;
    if (here.endsWith('.ts')) {
      // Running from the TypeScript sources (vitest, tsx): the worker registers tsx itself.
      const src = new URL('./worker.ts', here).href;
      const boot = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(src)}); })`;
      w = new Worker(boot, { eval: true, workerData: this.data });
    } else {
      w = new Worker(new URL('./worker.js', here), { workerData: this.data });
    }
    w.on('message', (m: WorkerReply) => this.onReply(w, m));
    w.on('error', (e) => this.onCrash(w, e));
    w.on('exit', (code) => { if (!this.closed) this.onCrash(w, new Error(`the worker exited with code ${code}`)); });
    w.unref();
    return w;
  }

  private onReply(w: Worker, m: WorkerReply): void {
    const p = this.busy.get(w);
    this.busy.delete(w);
    this.idle.push(w);
    if (p) {
      if (m.ok) p.resolve(m.batch);
      else p.reject(new Error(m.message));
    }
    this.pump();
  }

  /** A worker died (an uncaught error or an exit): fail its request, replace it. */
  private onCrash(w: Worker, e: Error): void {
    if (this.closed) return;
    const p = this.busy.get(w);
    this.busy.delete(w);
    const i = this.idle.indexOf(w);
    if (i >= 0) this.idle.splice(i, 1);
    w.removeAllListeners();
    void w.terminate();
    if (p) p.reject(new Error(`DataLoader: the worker building epoch ${p.req.epoch} step ${p.req.step} crashed: ${e.message}`));
    this.idle.push(this.spawn());
    this.pump();
  }

  private pump(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const w = this.idle.pop()!;
      const p = this.queue.shift()!;
      this.busy.set(w, p);
      w.ref();
      w.postMessage(p.req);
    }
    for (const w of this.idle) w.unref();
  }

  run(epoch: number, step: number): Promise<BuiltBatch> {
    if (this.closed) return Promise.reject(new Error('DataLoader: the loader is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ resolve, reject, req: { id: this.nextId++, epoch, step } });
      this.pump();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const err = new Error('DataLoader: the loader was closed');
    for (const p of [...this.queue, ...this.busy.values()]) p.reject(err);
    this.queue.length = 0;
    const all = [...this.idle, ...this.busy.keys()];
    this.idle.length = 0;
    this.busy.clear();
    await Promise.all(all.map((w) => w.terminate()));
  }
}

/**
 * Iterates SSL batches of a data set, reproducibly from a seed. `for await (const b of loader)`
 * runs forever from the current position, crossing epochs; `loader.epoch()` stops at the end
 * of the current epoch. The position (the next batch) is `loader.position`; `start(pos)` moves it,
 * so a trainer resuming at step s of epoch e gets exactly the batches the uninterrupted run got.
 * Files that cannot be decoded are skipped, replaced deterministically, reported through onSkip
 * and listed in `skipped`. Batches own native tensors: dispose them (disposeBatch) when done.
 * Call close() to stop the workers. One iteration at a time per loader.
 */
export class DataLoader implements AsyncIterable<LoadedBatch> {
  readonly stepsPerEpoch: number;
  readonly numWorkers: number;
  readonly prefetch: number;
  private readonly paths: string[];
  private readonly config: PipelineConfig;
  private readonly pool: WorkerPool | null;
  private local: BatchBuilder | null = null;
  private readonly inflight = new Map<number, Promise<BuiltBatch>>();
  private readonly skips = new Map<string, string>();
  private readonly onSkip: (s: SkippedFile) => void;
  private pos = 0; // global step: epoch · stepsPerEpoch + step
  private closed = false;

  constructor(dataset: ImageDataset | readonly string[], opts: LoaderOptions) {
    this.paths = Array.isArray(dataset) ? [...dataset as string[]] : (dataset as ImageDataset).items.map((it) => it.path);
    const B = opts.batchSize;
    if (!(Number.isInteger(B) && B > 0)) throw new RangeError(`DataLoader: option 'batchSize' is ${B} (expected a positive integer)`);
    if (this.paths.length === 0) throw new RangeError('DataLoader: the data set is empty');
    if (this.paths.length < B) throw new RangeError(`DataLoader: the data set has ${this.paths.length} images, fewer than one batch of ${B}`);
    const seed = opts.seed ?? 0;
    if (!(Number.isSafeInteger(seed) && seed >= 0)) throw new RangeError(`DataLoader: option 'seed' is ${seed} (expected a non-negative integer)`);
    this.config = {
      seed,
      batchSize: B,
      shuffle: opts.shuffle ?? true,
      augmentation: resolveAugmentation(opts.augmentation),
      maskRatio: opts.maskRatio ?? [0.1, 0.5],
      maskProbability: opts.maskProbability ?? 0.5,
      maxAttempts: opts.maxAttempts ?? 16,
    };
    this.stepsPerEpoch = Math.floor(this.paths.length / B);
    this.numWorkers = opts.numWorkers ?? Math.min(4, availableParallelism());
    if (!(Number.isInteger(this.numWorkers) && this.numWorkers >= 0)) throw new RangeError(`DataLoader: option 'numWorkers' is ${this.numWorkers} (expected an integer >= 0)`);
    this.prefetch = opts.prefetch ?? Math.max(1, 2 * this.numWorkers);
    if (!(Number.isInteger(this.prefetch) && this.prefetch >= 1)) throw new RangeError(`DataLoader: option 'prefetch' is ${this.prefetch} (expected an integer >= 1)`);
    this.onSkip = opts.onSkip ?? ((s) => console.warn(`DataLoader: skipped ${s.path}: ${s.reason}`));
    this.pool = this.numWorkers > 0 ? new WorkerPool(this.numWorkers, { paths: this.paths, config: this.config }) : null;
  }

  /** The next batch to be yielded. */
  get position(): LoaderPosition {
    return { epoch: Math.floor(this.pos / this.stepsPerEpoch), step: this.pos % this.stepsPerEpoch };
  }

  /** Moves to `pos` (e.g. a resumed trainer's); batches prefetched for other positions are dropped. */
  start(pos: LoaderPosition): this {
    const { epoch, step } = pos;
    if (!(Number.isInteger(epoch) && epoch >= 0)) throw new RangeError(`DataLoader.start: epoch ${epoch} (expected an integer >= 0)`);
    if (!(Number.isInteger(step) && step >= 0 && step < this.stepsPerEpoch)) throw new RangeError(`DataLoader.start: step ${step} (expected an integer in [0, ${this.stepsPerEpoch}))`);
    this.pos = epoch * this.stepsPerEpoch + step;
    for (const g of [...this.inflight.keys()]) if (g < this.pos || g >= this.pos + this.prefetch) this.inflight.delete(g);
    return this;
  }

  /** Files skipped so far (each once), with the reason. */
  get skipped(): readonly SkippedFile[] {
    return [...this.skips].map(([path, reason]) => ({ path, reason }));
  }

  get skippedCount(): number {
    return this.skips.size;
  }

  /** Batch `step` of epoch `epoch`, built on its own (no prefetch, the position does not move). */
  async getBatch(epoch: number, step: number): Promise<LoadedBatch> {
    return this.wrap(await this.request(epoch, step));
  }

  private request(epoch: number, step: number): Promise<BuiltBatch> {
    if (this.closed) return Promise.reject(new Error('DataLoader: the loader is closed'));
    if (this.pool) return this.pool.run(epoch, step);
    this.local ??= new BatchBuilder(this.paths, this.config);
    return this.local.build(epoch, step);
  }

  private fetch(g: number): Promise<BuiltBatch> {
    let p = this.inflight.get(g);
    if (!p) {
      p = this.request(Math.floor(g / this.stepsPerEpoch), g % this.stepsPerEpoch);
      p.catch(() => {}); // rejections surface when the batch is awaited, not as unhandled ones
      this.inflight.set(g, p);
    }
    return p;
  }

  private wrap(b: BuiltBatch): LoadedBatch {
    for (const s of b.skipped) {
      if (this.skips.has(s.path)) continue;
      this.skips.set(s.path, s.reason);
      this.onSkip(s);
    }
    return { ...toSSLBatch(b.arrays), epoch: b.epoch, step: b.step, indices: b.indices, paths: b.indices.map((i) => this.paths[i]!) };
  }

  /** The next batch; advances the position. */
  async next(): Promise<LoadedBatch> {
    const g = this.pos;
    for (let k = 0; k < this.prefetch; k++) this.fetch(g + k);
    const p = this.fetch(g);
    let built: BuiltBatch;
    try {
      built = await p;
    } finally {
      if (this.inflight.get(g) === p) this.inflight.delete(g);
    }
    if (this.pos === g) this.pos = g + 1;
    return this.wrap(built);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<LoadedBatch> {
    for (;;) yield await this.next();
  }

  /** The batches from the position to the end of its epoch. */
  async *epoch(): AsyncGenerator<LoadedBatch> {
    const { epoch } = this.position;
    while (this.position.epoch === epoch) yield await this.next();
  }

  /** Stops the workers; pending requests are rejected. */
  async close(): Promise<void> {
    this.closed = true;
    this.inflight.clear();
    await this.pool?.close();
  }
}
