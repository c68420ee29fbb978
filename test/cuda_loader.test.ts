// Loading the CUDA backend on demand: each missing piece (the library not built, no driver, a
// library that does not load, no device) is a coded JS error, never an abort. Each case runs in
// a fresh process, since a process loads the backend once.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cudaLibraryPaths } from '../lib/tensor/native.js';

interface Probe {
  info: { available: boolean; code?: string; error?: string; devices?: { name: string }[] };
  thrown: { name: string; code?: string; message: string } | null;
  sum: number | null;
}

function probe(paths: string[], env: Record<string, string> = {}): Probe {
  const out = execFileSync(process.execPath, ['--import', 'tsx', 'test/scripts/cuda_probe.ts', ...paths], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  return JSON.parse(out.trim().split('\n').pop()!) as Probe;
}

function hasDriver(): boolean {
  try {
    return execFileSync('/sbin/ldconfig', ['-p'], { encoding: 'utf8' }).includes('libcuda.so.1');
  } catch {
    return false;
  }
}

const built = cudaLibraryPaths().find((p) => existsSync(p));

describe('CUDA backend loading', () => {
  it('reports a backend that is not built, with its code, and the process goes on', () => {
    const r = probe(['/nonexistent/libraddino_cuda.so']);
    expect(r.info.available).toBe(false);
    expect(r.info.code).toBe('ERR_RADDINO_CUDA_NOT_BUILT');
    expect(r.info.error).toMatch(/not built.*npm run build:cuda/);
    expect(r.thrown?.code).toBe('ERR_RADDINO_CUDA_NOT_BUILT');
    expect(r.thrown?.message).toMatch(/\/nonexistent\/libraddino_cuda\.so/);
  });

  it('names the missing driver, or the library that does not load', () => {
    const dir = mkdtempSync(join(tmpdir(), 'raddino-cuda-'));
    const bogus = join(dir, 'libraddino_cuda.so');
    writeFileSync(bogus, 'not a shared object');
    const r = probe([bogus]);
    expect(r.info.available).toBe(false);
    if (hasDriver()) {
      expect(r.info.code).toBe('ERR_RADDINO_CUDA_LIBRARY');
      expect(r.info.error).toContain(bogus);
    } else {
      expect(r.info.code).toBe('ERR_RADDINO_CUDA_DRIVER');
      expect(r.info.error).toContain('libcuda.so.1');
    }
    expect(r.thrown?.code).toBe(r.info.code);
  });

  it.skipIf(!built || !hasDriver())('says when no device is visible', () => {
    const r = probe([built!], { CUDA_VISIBLE_DEVICES: '' });
    expect(r.info.available).toBe(false);
    expect(r.info.code).toBe('ERR_RADDINO_CUDA_NO_DEVICE');
    expect(r.thrown?.code).toBe('ERR_RADDINO_CUDA_NO_DEVICE');
  });

  it.skipIf(!built || !hasDriver())('loads the built backend and runs on the GPU', () => {
    const r = probe([built!]);
    expect(r.thrown).toBeNull();
    expect(r.info.available).toBe(true);
    expect(r.info.devices!.length).toBeGreaterThan(0);
    expect(r.sum).toBe(4);
  });
});
