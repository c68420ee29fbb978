// Memory: dispose, tidy, `using`, keep; 100,000 create/dispose cycles end at zero with a flat
// RSS; zero-copy typed arrays share memory.
import { describe, expect, it } from 'vitest';
import * as R from '../lib/index.js';

describe('memory', () => {
  it('100,000 create/dispose cycles return memory() to zero with a flat RSS', async () => {
    const start = R.memory();
    const cycle = (k: number) => {
      const a = R.full([64, 64], k);
      const b = a.add(1);
      const c = R.tidy(() => b.mul(a).reshape(4096).sum());
      for (const t of [a, b, c]) t.dispose();
    };
    // Node-API runs the finalizers of collected wrapper objects from the event loop, so the
    // loop yields between rounds as any real program does.
    const round = async (offset: number) => {
      for (let k = 0; k < 10_000; k++) cycle(offset + k);
      await new Promise((resolve) => setImmediate(resolve));
    };
    await round(0);  // warm-up: allocator cache, JIT
    const rssWarm = process.memoryUsage().rss;
    for (let r = 1; r < 10; r++) await round(r * 10_000);
    const end = R.memory();
    expect(end.tensors).toBe(start.tensors);
    expect(end.bytes).toBe(start.bytes);
    expect(end.devices.cpu.storages).toBe(start.devices.cpu.storages);
    const growth = process.memoryUsage().rss - rssWarm;
    expect(growth).toBeLessThan(32 * 1024 * 1024);  // 90k cycles moving ~48 KB each: 4 GB if leaked
  });

  it('the CPU allocator keeps freed blocks up to setCacheLimit() and emptyCache() returns them', () => {
    const cpu = () => R.memory().devices.cpu!;
    expect(cpu().cacheLimit).toBeGreaterThanOrEqual(2 ** 31);  // default: max(2 GiB, RAM / 4)
    const def = cpu().cacheLimit!;
    try {
      R.emptyCache();
      expect(cpu().cachedBytes).toBe(0);
      R.zeros([1 << 20]).dispose();  // 4 MiB: kept for reuse
      expect(cpu().cachedBytes).toBe(4 << 20);
      R.setCacheLimit(1 << 20);  // below what is cached: the cache empties
      expect(cpu().cachedBytes).toBe(0);
      expect(cpu().cacheLimit).toBe(1 << 20);
      R.zeros([1 << 20]).dispose();  // above the bound: back to the system
      R.zeros([1 << 10]).dispose();  // 4 KiB: kept
      expect(cpu().cachedBytes).toBe(4 << 10);
      expect(() => R.setCacheLimit(-1)).toThrow(/setCacheLimit: argument 'bytes' is -1 \(expected a whole number/);
      expect(() => R.setCacheLimit(1.5)).toThrow(/setCacheLimit: argument 'bytes'/);
    } finally {
      R.setCacheLimit(null);
    }
    expect(cpu().cacheLimit).toBe(def);
  });

  it('tidy disposes intermediates and keeps returned tensors (nested, arrays, objects, keep())', () => {
    const before = R.memory().tensors;
    let kept: R.Tensor | undefined;
    const out = R.tidy(() => {
      const a = R.ones([3]);
      const inner = R.tidy(() => {
        const b = a.add(1);
        kept = R.keep(b.mul(3));
        return { sum: b.sum(), parts: [b.exp()] };
      });
      expect(a.isDisposed).toBe(false);
      return [inner.sum, inner.parts[0]];
    });
    expect(out[0].item()).toBe(6);
    expect(out[1].isDisposed).toBe(false);
    expect(kept!.isDisposed).toBe(false);
    expect(R.memory().tensors).toBe(before + 3);
    for (const t of [...out, kept!]) t.dispose();
    expect(R.memory().tensors).toBe(before);
  });

  it('using declarations dispose at the end of the block', () => {
    const before = R.memory().tensors;
    let ref: R.Tensor;
    {
      using t = R.ones([1000]);
      ref = t;
      expect(R.memory().tensors).toBe(before + 1);
    }
    expect(ref.isDisposed).toBe(true);
    expect(R.memory().tensors).toBe(before);
  });

  it('views keep their storage alive after the base is disposed', () => {
    const before = R.memory();
    const base = R.arange(12, undefined, 1, { dtype: 'float32' });
    const v = R.tidy(() => base.reshape(3, 4).t());
    base.dispose();
    expect(v.toArray()).toEqual([[0, 4, 8], [1, 5, 9], [2, 6, 10], [3, 7, 11]]);
    expect(R.memory().bytes).toBe(before.bytes + 48);
    v.dispose();
    expect(R.memory().bytes).toBe(before.bytes);
  });

  it('fromTypedArray shares memory without a copy; { copy: true } and tensor() copy', () => {
    const arr = new Float32Array([1, 2, 3, 4, 5, 6]);
    const shared = R.fromTypedArray(arr, [2, 3]);
    const copied = R.fromTypedArray(arr, [2, 3], { copy: true });
    const viaTensor = R.tensor(arr, [2, 3]);
    arr[0] = 100;
    expect(shared.toArray()).toEqual([[100, 2, 3], [4, 5, 6]]);
    expect(copied.toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
    expect(viaTensor.toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
    // lent memory is counted as live bytes but not as owned (V8 already accounts for it)
    const m = R.memory().devices.cpu;
    expect(m.bytes - m.ownedBytes).toBeGreaterThanOrEqual(24);
    // a misaligned view is copied
    const odd = new Uint8Array(new ArrayBuffer(17), 1, 16);
    const t = R.fromTypedArray(new Float32Array(odd.buffer.slice(1)), [4]);
    expect(t.shape).toEqual([4]);
    for (const x of [shared, copied, viaTensor, t]) x.dispose();
  });

  it('reading a disposed tensor\'s metadata works, data does not', () => {
    const t = R.ones([2, 2]);
    t.dispose();
    t.dispose();  // idempotent
    expect(t.shape).toEqual([2, 2]);
    expect(t.isDisposed).toBe(true);
    expect(() => t.toArray()).toThrow(/disposed/);
    expect(String(t)).toMatch(/disposed/);
  });
});
