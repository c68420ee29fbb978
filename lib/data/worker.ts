// The loader's worker thread: builds whole batches (decode, augment, collate) on request and
// transfers their arrays back without copying. Errors are sent back as messages, never thrown.
import { parentPort, workerData } from 'node:worker_threads';
import { BatchBuilder, transferList, type PipelineConfig } from './pipeline.js';

export interface WorkerRequest { id: number; epoch: number; step: number }
export type WorkerReply =
  | { id: number; ok: true; batch: import('./pipeline.js').BuiltBatch }
  | { id: number; ok: false; message: string };

const { paths, config } = workerData as { paths: string[]; config: PipelineConfig };
const builder = new BatchBuilder(paths, config);
const port = parentPort!;

port.on('message', (req: WorkerRequest) => {
  builder.build(req.epoch, req.step).then(
    (batch) => port.postMessage({ id: req.id, ok: true, batch } satisfies WorkerReply, transferList(batch.arrays)),
    (e: unknown) => port.postMessage({ id: req.id, ok: false, message: e instanceof Error ? e.message : String(e) } satisfies WorkerReply),
  );
});
