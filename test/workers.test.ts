// The addon loads in worker_threads (context-aware) and gives the same numbers as the main thread.
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import * as R from '../lib/index.js';

function runWorker(seed: number): Promise<{ y: number; tensors: number }> {
  return new Promise((resolve, reject) => {
    // The worker registers tsx itself to load the TypeScript sources.
    const child = new URL('./scripts/worker_child.ts', import.meta.url).href;
    const boot = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(child)}); })`;
    const w = new Worker(boot, { eval: true, workerData: { seed } });
    w.once('message', resolve);
    w.once('error', reject);
  });
}

describe('worker_threads', () => {
  it('two workers compute concurrently and match the main thread', async () => {
    const expected = (seed: number) => R.tidy(() => {
      const x = R.randn([64, 64], { generator: new R.Generator(seed) });
      return x.matmul(x.t()).gelu().sum().item();
    });
    const [a, b] = await Promise.all([runWorker(1), runWorker(2)]);
    expect(a.y).toBe(expected(1));
    expect(b.y).toBe(expected(2));
    expect(a.tensors).toBeGreaterThan(0);
  });
});
