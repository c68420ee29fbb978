// The TypeScript op names equal the native op table, and supports() answers from it.
import { describe, expect, it } from 'vitest';
import * as R from '../lib/index.js';

describe('op table', () => {
  it('the TS op list equals the native table', () => {
    const ts = Object.values(R.OPS).flat().sort();
    expect(ts).toEqual([...R.opNames()].sort());
    expect(new Set(ts).size).toBe(ts.length);
  });

  it('supports() reflects the CPU kernels and dtypes', () => {
    expect(R.supports('matmul', 'float32')).toBe(true);
    expect(R.supports('matmul', 'int32')).toBe(false);
    expect(R.supports('exp', 'bfloat16')).toBe(true);
    expect(R.supports('exp', 'int64')).toBe(false);
    expect(R.supports('add', 'int64')).toBe(true);
    expect(R.supports('add', 'float32', 'cuda')).toBe(false);
    expect(() => R.supports('nope', 'float32')).toThrow(/supports: argument 'op' is 'nope'/);
    for (const op of R.opNames()) expect(typeof R.supports(op, 'float32')).toBe('boolean');
  });

  it('reports the CPU and thread count', () => {
    const info = R.cpuInfo();
    expect(info.hardwareThreads).toBeGreaterThan(0);
    expect(['avx512', 'avx2', 'generic']).toContain(info.sgemmKernel);
    R.setNumThreads(1);
    expect(R.getNumThreads()).toBe(1);
    R.setNumThreads(0);
    expect(R.getNumThreads()).toBe(info.hardwareThreads);
  });
});
