// Loaded in a worker thread by test/workers.test.ts: the addon is context-aware, so each thread
// gets its own instance and computes independently.
import { parentPort, workerData } from 'node:worker_threads';
import * as R from '../../lib/index.js';

const { seed } = workerData as { seed: number };
const x = R.randn([64, 64], { generator: new R.Generator(seed) });
const y = x.matmul(x.t()).gelu().sum().item();
const m = R.memory();
x.dispose();
parentPort!.postMessage({ y, tensors: m.tensors });
