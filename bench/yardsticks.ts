// Builds and runs the small C programs that measure the machine's ceilings (FMA peak, memory
// bandwidth) and the OpenBLAS yardstick. Binaries are cached in build/bench/. Each returns
// undefined when its compiler or library is missing, so benchmarks still run without them.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../lib/tensor/native.js';

const outDir = join(packageRoot, 'build', 'bench');

function build(name: string, flags: string[]): string | undefined {
  const src = join(packageRoot, 'bench', 'native', `${name}.c`);
  const bin = join(outDir, name);
  if (existsSync(bin) && statSync(bin).mtimeMs >= statSync(src).mtimeMs) return bin;
  mkdirSync(outDir, { recursive: true });
  try {
    execFileSync('gcc', [src, '-o', bin, ...flags], { stdio: 'pipe' });
    return bin;
  } catch {
    return undefined;
  }
}

function runJson<T>(bin: string | undefined, args: (string | number)[]): T | undefined {
  if (!bin) return undefined;
  try {
    return JSON.parse(execFileSync(bin, args.map(String), { encoding: 'utf8' }).trim()) as T;
  } catch {
    return undefined;
  }
}

// A ceiling is the best the hardware does: the best of 3 runs of the probe (each the best of 5),
// cached per process, so that a neighbour's burst on a shared machine does not lower it (a low
// ceiling reads as more than 100% of peak).
const peaks = new Map<string, number | undefined>();
function bestOf3(key: string, run: () => number | undefined): number | undefined {
  if (!peaks.has(key)) {
    const xs = [run(), run(), run()].filter((x): x is number => x !== undefined && x > 0);
    peaks.set(key, xs.length ? Math.max(...xs) : undefined);
  }
  return peaks.get(key);
}

/** Float32 FMA peak in GFLOP/s with `threads` threads. */
export function fmaPeak(threads: number): number | undefined {
  const bin = process.arch === 'x64' ? build('fma_peak', ['-O3', '-mavx2', '-mfma', '-pthread']) : undefined;
  return bestOf3(`fma ${threads}`, () => runJson<{ gflops: number }>(bin, [threads])?.gflops);
}

/** bfloat16 dot-product peak (vdpbf16ps, float32 accumulation) in GFLOP/s; undefined without AVX512-BF16. */
export function bf16Peak(threads: number): number | undefined {
  const bin = process.arch === 'x64' ? build('fma_peak', ['-O3', '-mavx2', '-mfma', '-pthread']) : undefined;
  return bestOf3(`bf16 ${threads}`, () => runJson<{ gflops: number }>(bin, [threads, 'bf16'])?.gflops);
}

/** STREAM triad bandwidth in GB/s with `threads` threads (arrays of `mib` MiB each). */
export function streamBandwidth(threads: number, mib = 256): number | undefined {
  return runJson<{ gbps: number }>(build('stream_triad', ['-O2', '-pthread']), [threads, mib])?.gbps;
}

export interface BlasTiming {
  median_ms: number;
  min_ms: number;
  gflops: number;
}

/** OpenBLAS cblas_sgemm on the same problem (undefined when libopenblas-dev is not installed). */
export function openblasGemm(M: number, N: number, K: number, transA: boolean, transB: boolean, threads: number, reps: number): BlasTiming | undefined {
  const bin = build('openblas_gemm', ['-O2', '-lopenblas']) ?? build('openblas_gemm', ['-O2', '-I/usr/include/openblas', '-lopenblas']);
  return runJson<BlasTiming>(bin, [M, N, K, Number(transA), Number(transB), threads, reps]);
}
