// Memory and runtime introspection: live tensors and bytes, threads, op support.
import { native, type NativeCudaInfo } from './native.js';

export interface MemoryInfo {
  /** Live (not disposed, not collected) tensors. */
  tensors: number;
  /** Bytes of all live storages on the CPU (views share storage and count once). */
  bytes: number;
  /**
   * Per device: live storages, their bytes, the bytes allocated by us (not lent by JS), and the
   * bytes of freed blocks the allocator keeps for reuse (see emptyCache()) and, on the CPU, the
   * bound on them (see setCacheLimit()).
   */
  devices: Record<string, { storages: number; bytes: number; ownedBytes: number; cachedBytes?: number; cacheLimit?: number }>;
}

export function memory(): MemoryInfo {
  const m = native.memory();
  return { tensors: m.tensors, bytes: m.devices.cpu?.bytes ?? 0, devices: m.devices };
}

/** Returns the freed blocks the CPU allocator keeps for reuse to the system. */
export function emptyCache(): void {
  native.emptyCache();
}

/**
 * Bounds the bytes of freed blocks the CPU allocator keeps for reuse (null: the default, a quarter
 * of the memory the process may use — physical, or a container's cgroup limit — and at least 2 GiB). Blocks freed beyond it go back to the system; a
 * training loop whose step frees more than the bound then page-faults that memory back in every
 * step, so lower it only to cap the process's footprint.
 */
export function setCacheLimit(bytes: number | null): void {
  native.setCacheLimit(bytes);
}

/**
 * How float32 matmuls on the CPU compute their products (every matmul: Linear layers, their
 * gradients, the patch embedding, the heads; not attention, which has its own kernels):
 * - 'float32' (default): float32 products;
 * - 'bfloat16': both operands rounded to bfloat16 (nearest even) as the GEMM packs them, products
 *   summed in float32, result float32 — mixed precision without casting any tensor, about twice
 *   the FLOP rate on CPUs with AVX512-BF16 (Zen 4, Sapphire Rapids; elsewhere the same numbers
 *   at float32 speed). The inputs keep ~3 significant digits, like PyTorch's autocast to bfloat16
 *   or torch.set_float32_matmul_precision('medium').
 * Process-wide (like setNumThreads); float64 matmuls are unaffected. The backward of a matmul or
 * Linear uses the precision its forward ran with (as autocast does), wherever backward() is
 * called. See withMatmulPrecision().
 */
export function setMatmulPrecision(precision: 'float32' | 'bfloat16'): void {
  native.setMatmulPrecision(precision);
}
export function getMatmulPrecision(): 'float32' | 'bfloat16' {
  return native.getMatmulPrecision();
}
/** Runs fn with the CPU matmul precision set, restoring the previous one afterwards (also on throw). */
export function withMatmulPrecision<T>(precision: 'float32' | 'bfloat16', fn: () => T): T {
  const prev = getMatmulPrecision();
  setMatmulPrecision(precision);
  try {
    return fn();
  } finally {
    setMatmulPrecision(prev);
  }
}

/** Sets the number of threads kernels use (0 restores the default: all hardware threads). */
export function setNumThreads(n: number): void {
  native.setNumThreads(n);
}
export function getNumThreads(): number {
  return native.getNumThreads();
}

/** Whether the backend of `device` implements op for dtype. */
export function supports(op: string, dtype: string, device = 'cpu'): boolean {
  return native.supports(op, dtype, device);
}

const fusedOff = new Set<string>();

/**
 * Turns the fused kernels of attention, bicubic interpolation and the EMA update off (false) or
 * back on: those ops then run as they do on a backend without the kernel — attention as matmul,
 * softmax and matmul (attentionComposed), bicubic as two matmuls with its weight matrices
 * (bicubicMatrix), ema_ as element-wise ops. For debugging and for checking the fallbacks
 * (the ViT parity tests run both ways); process-wide, like PyTorch's enable_flash_sdp().
 */
export function setFusedKernels(opts: { attention?: boolean; bicubic?: boolean; ema?: boolean }): void {
  for (const [op, on] of Object.entries(opts)) {
    if (op !== 'attention' && op !== 'bicubic' && op !== 'ema') throw new TypeError(`setFusedKernels: unknown kernel '${op}' (expected attention, bicubic or ema)`);
    if (typeof on !== 'boolean') throw new TypeError(`setFusedKernels: '${op}' must be a boolean (got ${typeof on})`);
    if (on) fusedOff.delete(op);
    else fusedOff.add(op);
  }
}

/** @internal Whether op runs its fused kernel for this dtype and device (supported and not turned off). */
export function useFused(op: 'attention' | 'bicubic' | 'ema', dtype: string, device: string): boolean {
  return !fusedOff.has(op) && native.supports(op, dtype, device);
}

/** The names of the native op table, in table order. */
export function opNames(): string[] {
  return native.opNames();
}

export function cpuInfo(): { hardwareThreads: number; sgemmKernel: string; bf16Native: boolean; features: Record<string, boolean> } {
  return native.cpuInfo();
}

// ---- CUDA -------------------------------------------------------------------------------------

/**
 * The CUDA backend: its devices and versions when it is built and a GPU is usable, else
 * `available: false` with the error code and message saying what is missing (the backend not
 * built, the driver or a library not found, no device). Loads the backend on first call.
 */
export function cudaInfo(): NativeCudaInfo {
  return native.cudaInfo();
}

/** Whether tensors can be created on 'cuda' (see cudaInfo() for why not). */
export function cudaAvailable(): boolean {
  return native.cudaInfo().available;
}

/** Waits until the work queued on the CUDA device is done; rethrows its errors. */
export function cudaSynchronize(): void {
  native.cudaSynchronize();
}

/** Returns the freed blocks the CUDA allocator keeps for reuse to the driver. */
export function cudaEmptyCache(): void {
  native.cudaEmptyCache();
}

/** float32 matmuls on CUDA use tf32 tensor cores (about 1e-3 relative error) when on; off by default. */
export function setCudaTf32(on: boolean): void {
  native.setCudaTf32(on);
}
