// Loads the native addon and describes its surface. Everything native goes through `native`;
// the rest of lib/ never touches the addon directly.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The JS object that owns one native tensor (a strided view plus a storage reference). */
export interface NativeTensor {
  readonly shape: number[];
  readonly strides: number[];
  readonly dtype: string;
  readonly device: string;
  readonly offset: number;
  readonly isContiguous: boolean;
  readonly isDisposed: boolean;
  readonly storageBytes: number;
  readonly storageId: number;
  dispose(): void;
}

type T = NativeTensor;
type Seed = number | bigint;

export interface NativeMemory {
  tensors: number;
  devices: Record<string, { storages: number; bytes: number; ownedBytes: number; cachedBytes?: number; cacheLimit?: number }>;
}

export interface NativeCpuInfo {
  hardwareThreads: number;
  sgemmKernel: string;
  /** Whether bf16 GEMMs use AVX512-BF16 dot products (else an exact float32 emulation). */
  bf16Native: boolean;
  features: Record<string, boolean>;
}

/** What cudaInfo() reports: the devices when the CUDA backend loaded, else why it did not. */
export interface NativeCudaInfo {
  available: boolean;
  /** ERR_RADDINO_CUDA_NOT_BUILT, ERR_RADDINO_CUDA_DRIVER, ERR_RADDINO_CUDA_LIBRARY, ERR_RADDINO_CUDA_ABI, ERR_RADDINO_CUDA_NO_DEVICE */
  code?: string;
  error?: string;
  devices?: { name: string; computeCapability: string; multiprocessors: number; totalMemory: number }[];
  driverVersion?: number;
  runtimeVersion?: number;
  cublasVersion?: number;
  archs?: string;
  tf32?: boolean;
}

/** The addon's exports (native/napi/addon.cc and native/napi/ops.cc). */
export interface NativeBinding {
  fromBuffer(data: ArrayBufferView, shape: number[], dtype: string, copy: boolean): T;
  toBuffer(t: T): ArrayBuffer;
  item(t: T): number;
  opNames(): string[];
  supports(op: string, dtype: string, device?: string): boolean;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  memory(): NativeMemory;
  cpuInfo(): NativeCpuInfo;
  emptyCache(): void;
  setCacheLimit(bytes: number | null): void;
  setMatmulPrecision(precision: string): void;
  getMatmulPrecision(): 'float32' | 'bfloat16';
  toDevice(x: T, device: string): T;
  setCudaLibraryPaths(paths: string[]): void;
  cudaInfo(): NativeCudaInfo;
  cudaSynchronize(): void;
  cudaEmptyCache(): void;
  setCudaTf32(on: boolean): void;

  reshape(x: T, shape: number[]): T;
  view(x: T, shape: number[]): T;
  permute(x: T, dims: number[]): T;
  transpose(x: T, d0: number, d1: number): T;
  slice(x: T, dim: number, start: number, end: number, step: number): T;
  narrow(x: T, dim: number, start: number, length: number): T;
  select(x: T, dim: number, index: number): T;
  expand(x: T, shape: number[]): T;
  squeeze(x: T, dims: number[]): T;
  unsqueeze(x: T, dim: number): T;
  contiguous(x: T): T;
  clone(x: T): T;
  cast(x: T, dtype: string): T;
  copyInto(dst: T, src: T): void;

  full(shape: number[], value: number, dtype: string, device?: string): T;
  empty(shape: number[], dtype: string, device?: string): T;
  arange(start: number, end: number, step: number, dtype: string, device?: string): T;
  linspace(start: number, end: number, steps: number, dtype: string, device?: string): T;

  unary(op: string, x: T): T;
  clamp(x: T, min: number | null, max: number | null): T;
  binary(op: string, a: T, b: T): T;
  where(cond: T, a: T, b: T): T;
  reduce(op: string, x: T, dims: number[] | null, keepdim: boolean, param: number): T;
  argReduce(op: string, x: T, dim: number | null, keepdim: boolean): T;
  softmax(op: string, x: T, dim: number): T;
  matmul(a: T, b: T, transA: boolean, transB: boolean, bias?: T | null): T;
  linearBf16(x: T, weight: T, bias: T | null): T;

  cat(xs: T[], dim: number): T;
  indexSelect(x: T, dim: number, index: T): T;
  gather(x: T, dim: number, index: T): T;
  scatterAdd(x: T, dim: number, index: T, src: T): T;
  indexAdd(x: T, dim: number, index: T, source: T, alpha: number): T;
  maskedFill(x: T, mask: T, value: number): T;
  maskedSelect(x: T, mask: T): T;
  oneHot(x: T, numClasses: number): T;
  topk(x: T, k: number, dim: number, largest: boolean, sorted: boolean): [T, T];

  layerNorm(x: T, weight: T | null, bias: T | null, eps: number): [T, T, T];
  layerNormBackward(dy: T, x: T, mean: T, rstd: T, weight: T | null, hasBias: boolean): [T, T | null, T | null];
  geluBackward(dy: T, x: T, tanh: boolean): T;
  softmaxBackward(y: T, dy: T, dim: number, log: boolean): T;
  attention(q: T, k: T, v: T, scale: number): [T, T];
  attentionBackward(q: T, k: T, v: T, out: T, lse: T, dout: T, scale: number): [T, T, T];
  /** The fused [B, N, 3 H D] gradient of the qkv whose views q, k, v are (attentionQkv's layout). */
  attentionBackwardQkv(q: T, k: T, v: T, out: T, lse: T, dout: T, scale: number): T;
  bicubic(x: T, outH: number, outW: number, stepH: number, stepW: number, antialias: boolean): T;
  bicubicBackward(dy: T, inH: number, inW: number, stepH: number, stepW: number, antialias: boolean): T;
  adamw(param: T, grad: T, expAvg: T, expAvgSq: T, lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, step: number): void;
  /** In place: target = momentum * target + (1 - momentum) * source. */
  ema(target: T, source: T, momentum: number): void;

  rand(shape: number[], low: number, high: number, dtype: string, device: string, seed: Seed, offset: Seed): T;
  randn(shape: number[], mean: number, std: number, dtype: string, device: string, seed: Seed, offset: Seed): T;
  truncNormal(shape: number[], mean: number, std: number, a: number, b: number, dtype: string, device: string,
    seed: Seed, offset: Seed): T;
  randint(shape: number[], low: number, high: number, dtype: string, device: string, seed: Seed, offset: Seed): T;
  randperm(n: number, dtype: string, device: string, seed: Seed, offset: Seed): T;
  bernoulli(p: T, seed: Seed, offset: Seed): T;
}

/** The package root: lib/tensor (sources) and dist/tensor (compiled) both sit two levels down. */
export const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const require = createRequire(import.meta.url);

function load(): NativeBinding {
  const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
  try {
    return nodeGypBuild(packageRoot) as NativeBinding;
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new Error(
      `@raddino/core: the native addon could not be loaded (${msg}). ` +
        'Build it with `npm run build:native` (needs g++, python3 and make).',
    );
  }
}

export const native: NativeBinding = load();

/**
 * Where the CUDA backend library (a separate artifact, npm run build:cuda) may be: the path in
 * RADDINO_CUDA_LIBRARY first, then the build folder. The addon loads it the first time a CUDA
 * device is asked for.
 */
export function cudaLibraryPaths(): string[] {
  const paths = [join(packageRoot, 'build-cuda', 'Release', 'libraddino_cuda.so')];
  const env = process.env.RADDINO_CUDA_LIBRARY;
  return env ? [env, ...paths] : paths;
}
native.setCudaLibraryPaths(cudaLibraryPaths());
