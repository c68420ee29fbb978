// The CUDA runtime: host <-> device transfers, memory accounting and the caching allocator, errors
// with codes (out of memory) that leave the process usable, and autograd across devices. Runs
// only where the CUDA backend is available.
import { describe, expect, it } from 'vitest';
import * as R from '../lib/index.js';
import { prng } from './helpers.js';

const CUDA = R.cudaAvailable();

describe.skipIf(!CUDA)('CUDA runtime', () => {
  it('moves every dtype to the device and back bit for bit, through the staging buffers', () => {
    const r = prng(7);
    // 3M elements: several 4 MiB staging chunks
    const n = 3 * 1024 * 1024 + 5;
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) v[i] = (r() - 0.5) * 1000;
    for (const dtype of ['float32', 'bfloat16', 'float16', 'float64', 'int32', 'int64', 'uint8', 'bool'] as R.DType[]) {
      const h = R.tensor(v, [n], 'float32').to(dtype);
      const d = h.to('cuda');
      expect(d.device).toMatch(/^cuda/);
      const back = d.cpu();
      expect(back.device).toBe('cpu');
      expect(Array.from(back.to('float64').dataSync() as Float64Array)).toEqual(Array.from(h.to('float64').dataSync() as Float64Array));
      for (const t of [h, d, back]) t.dispose();
    }
  });

  it('counts device bytes in memory() and reuses freed blocks', () => {
    R.cudaSynchronize();
    const before = R.memory().devices.cuda?.bytes ?? 0;
    const t = R.zeros([1024, 1024], { device: 'cuda' });
    expect(R.memory().devices.cuda.bytes - before).toBe(4 * 1024 * 1024);
    t.dispose();
    const m = R.memory().devices.cuda as { bytes: number; cachedBytes?: number; reservedBytes?: number };
    expect(m.bytes).toBe(before);
    expect(m.cachedBytes).toBeGreaterThanOrEqual(4 * 1024 * 1024);
    const reserved = m.reservedBytes!;
    const u = R.zeros([1024, 1024], { device: 'cuda' });
    expect((R.memory().devices.cuda as { reservedBytes?: number }).reservedBytes).toBe(reserved);  // reused, no new cudaMalloc
    u.dispose();
    R.cudaEmptyCache();
    expect((R.memory().devices.cuda as { cachedBytes?: number }).cachedBytes).toBe(0);
  });

  it('turns an impossible allocation into ERR_RADDINO_CUDA_OOM and keeps working', () => {
    let caught: (Error & { code?: string }) | null = null;
    try {
      R.empty([1024, 1024, 1024, 1024], { device: 'cuda' });  // 4 TiB
    } catch (e) {
      caught = e as Error & { code?: string };
    }
    expect(caught).toBeInstanceOf(RangeError);
    expect(caught!.code).toBe('ERR_RADDINO_CUDA_OOM');
    expect(caught!.message).toMatch(/out of memory allocating 4398046511104 bytes on cuda:0/);
    expect(R.ones([3], { device: 'cuda' }).sum().item()).toBe(3);
  });

  it('says which op a device lacks instead of falling back to the CPU', () => {
    // topk has no CUDA kernel (yet): the error names it and the device, nothing runs on the CPU
    const x = R.zeros([4], { device: 'cuda' });
    expect(R.supports('topk', 'float32', 'cuda')).toBe(false);
    expect(() => R.topk(x, 2)).toThrow(/topk: .*on cuda/);
    x.dispose();
  });

  it('carries gradients back across a device move', () => {
    const w = R.tensor([[0.5, -1, 2], [1.5, 0.25, -0.75]]);
    w.requiresGrad = true;
    const y = w.to('cuda').mul(w.to('cuda')).sum();
    y.backward();
    expect(w.grad!.device).toBe('cpu');
    expect(Array.from(w.grad!.dataSync() as Float32Array)).toEqual([1, -2, 4, 3, 0.5, -1.5]);
  });

  it('reports the device and versions', () => {
    const info = R.cudaInfo();
    expect(info.available).toBe(true);
    expect(info.devices![0].name).toMatch(/NVIDIA/);
    expect(info.runtimeVersion).toBeGreaterThan(11000);
    expect(info.cublasVersion).toBeGreaterThan(0);
  });
});
