// Element types and their JS representations.

export const DTYPES = ['float32', 'float64', 'bfloat16', 'float16', 'int32', 'int64', 'uint8', 'bool'] as const;
export type DType = (typeof DTYPES)[number];

/** The typed array `dataSync()` returns for each dtype (bfloat16/float16 are widened to float32). */
export interface DataTypeMap {
  float32: Float32Array;
  float64: Float64Array;
  bfloat16: Float32Array;
  float16: Float32Array;
  int32: Int32Array;
  int64: BigInt64Array;
  uint8: Uint8Array;
  bool: Uint8Array;
}
export type TypedArray = DataTypeMap[DType];

export const ITEM_SIZE: Record<DType, number> = {
  float32: 4, float64: 8, bfloat16: 2, float16: 2, int32: 4, int64: 8, uint8: 1, bool: 1,
};

export function isDType(x: unknown): x is DType {
  return typeof x === 'string' && (DTYPES as readonly string[]).includes(x);
}

export function isFloating(d: DType): boolean {
  return d === 'float32' || d === 'float64' || d === 'bfloat16' || d === 'float16';
}

/** The dtype a typed array holds natively, or undefined for arrays without a tensor dtype. */
export function dtypeOfArray(a: ArrayBufferView): DType | undefined {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof BigInt64Array) return 'int64';
  if (a instanceof Uint8Array || a instanceof Uint8ClampedArray) return 'uint8';
  return undefined;
}

/** Views `buf` (raw bytes of `dtype`) as the typed array `dataSync()` returns. */
export function viewBuffer(buf: ArrayBuffer, dtype: DType): TypedArray {
  switch (dtype) {
    case 'float32': case 'bfloat16': case 'float16': return new Float32Array(buf);
    case 'float64': return new Float64Array(buf);
    case 'int32': return new Int32Array(buf);
    case 'int64': return new BigInt64Array(buf);
    case 'uint8': case 'bool': return new Uint8Array(buf);
  }
}
