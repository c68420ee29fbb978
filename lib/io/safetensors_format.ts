// The safetensors format: dtype names, the header layout, and the validation of a header read
// from an untrusted file (every violation is a clear error before anything is allocated).
import { DType, ITEM_SIZE, Tensor } from '../tensor/index.js';

/** The reference implementation's header limit (MAX_HEADER_SIZE): 100 MB. */
export const SAFETENSORS_MAX_HEADER_BYTES = 100_000_000;
const MAX_DIMS = 16;
const SUPPORTED = 'F32, F64, BF16, F16, I64, I32, U8, BOOL';
const TO_DTYPE = new Map<string, DType>([['F32', 'float32'], ['F64', 'float64'], ['BF16', 'bfloat16'], ['F16', 'float16'],
  ['I64', 'int64'], ['I32', 'int32'], ['U8', 'uint8'], ['BOOL', 'bool']]);
export const FROM_DTYPE = Object.fromEntries([...TO_DTYPE].map(([k, v]) => [v, k])) as Record<DType, string>;
// Position in the reference's Dtype enum (BOOL < U8 < F16 < BF16 < I32 < F32 < F64 < I64). Its
// writer lays tensors out by descending position, then by name, so every tensor is aligned.
export const RANK: Record<DType, number> = { bool: 0, uint8: 1, float16: 2, bfloat16: 3, int32: 4, float32: 5, float64: 6, int64: 7 };

export interface SafetensorsData {
  /** The tensors in file (data offset) order. */
  tensors: Map<string, Tensor>;
  /** The "__metadata__" map ({} when the file has none). */
  metadata: Record<string, string>;
}
export interface ParseOptions {
  /** Copy each tensor instead of sharing the input's memory (default false). */
  copy?: boolean;
}
export interface LoadOptions extends ParseOptions {
  /** Largest read buffer (default buffer.constants.MAX_LENGTH); past it, one buffer per tensor. */
  maxBufferBytes?: number;
}
export type TensorDict = Map<string, Tensor> | Record<string, Tensor>;

export interface Entry { name: string; dtype: DType; shape: number[]; begin: number; end: number }
export interface Header { entries: Entry[]; metadata: Record<string, string>; dataBytes: number }

// ---- validation -------------------------------------------------------------------------------

/** A short description of a JSON value for error messages (never the whole of a large value). */
export function describe(v: unknown, max = 40): string {
  if (typeof v === 'string') return JSON.stringify(v.length > max ? `${v.slice(0, max)}...` : v);
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (v === null) return 'null';
  return typeof v === 'object' ? 'an object' : String(v);
}
export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
export const quote = (name: string) => describe(name, 200);
export const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** The header length from the 8-byte prefix, checked against the limit and the file size. */
export function headerLength(where: string, prefix: Uint8Array, size: number): number {
  if (size < 8) throw new RangeError(`${where} is ${size} bytes (expected at least 8: a little-endian u64 header length, then the header)`);
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n === 0n) throw new RangeError(`${where}: header length is 0 (expected the byte length of a JSON object)`);
  if (n > BigInt(SAFETENSORS_MAX_HEADER_BYTES)) throw new RangeError(`${where}: header length is ${n} bytes (expected at most ${SAFETENSORS_MAX_HEADER_BYTES})`);
  if (Number(n) > size - 8) throw new RangeError(`${where}: header length is ${n} bytes but only ${size - 8} bytes follow the length prefix`);
  return Number(n);
}

/**
 * The first key that occurs twice in one object of `json` (already accepted by JSON.parse, which
 * silently keeps the last value). One pass tracking strings and brackets; a Set per open object.
 */
function duplicateKey(json: string): string | undefined {
  const stack: (Set<string> | null)[] = [];
  let expectKey = false;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c === 0x22) {  // '"': find the closing quote (one not preceded by an odd run of '\')
      let j = i;
      for (;;) {
        j = json.indexOf('"', j + 1);
        if (j < 0) return undefined;  // unreachable for JSON that parsed
        let k = j - 1;
        while (json.charCodeAt(k) === 0x5c) k--;
        if ((j - 1 - k) % 2 === 0) break;
      }
      const keys = stack[stack.length - 1];
      if (keys && expectKey) {
        const raw = json.slice(i + 1, j);
        const key = raw.includes('\\') ? (JSON.parse(json.slice(i, j + 1)) as string) : raw;
        if (keys.has(key)) return key;
        keys.add(key);
        expectKey = false;
      }
      i = j;
    } else if (c === 0x7b) { stack.push(new Set()); expectKey = true; }      // {
    else if (c === 0x5b) { stack.push(null); expectKey = false; }           // [
    else if (c === 0x7d || c === 0x5d) { stack.pop(); expectKey = false; }  // } ]
    else if (c === 0x2c) expectKey = stack[stack.length - 1] != null;     // ,
  }
  return undefined;
}

function field(at: string, v: Record<string, unknown>, key: string, expected: string): unknown {
  if (!Object.hasOwn(v, key)) throw new TypeError(`${at} has no '${key}' (expected ${expected})`);
  return v[key];
}

/** Checks a list of JSON integers: non-negative and exactly representable. */
function checkInts(at: string, what: string, list: unknown[]): number[] {
  const shown = `[${list.map((x) => describe(x)).join(', ')}]`;
  for (const s of list) {
    if (typeof s !== 'number' || !Number.isInteger(s)) throw new TypeError(`${at}: ${what} ${shown} holds ${describe(s)} (expected non-negative integers)`);
    if (s < 0 || s > Number.MAX_SAFE_INTEGER) throw new RangeError(`${at}: ${what} ${shown} holds ${s} (expected integers in [0, 2^53 - 1])`);
  }
  return list.map((s) => (s as number) + 0);  // -0 -> 0
}

function checkEntry(where: string, name: string, v: unknown, dataBytes: number): Entry {
  const at = `${where}: tensor ${quote(name)}`;
  if (!isObject(v)) throw new TypeError(`${at} is ${describe(v)} (expected an object with dtype, shape and data_offsets)`);
  const d = field(at, v, 'dtype', `a dtype, one of ${SUPPORTED}`);
  const dtype = typeof d === 'string' ? TO_DTYPE.get(d) : undefined;
  if (dtype === undefined) throw new TypeError(`${at} has dtype ${describe(d)} (expected one of ${SUPPORTED})`);
  const s = field(at, v, 'shape', 'a shape');
  if (!Array.isArray(s)) throw new TypeError(`${at}: shape is ${describe(s)} (expected an array of non-negative integers)`);
  if (s.length > MAX_DIMS) throw new RangeError(`${at}: shape has ${s.length} dimensions (expected at most ${MAX_DIMS})`);
  const shape = checkInts(at, 'shape', s);
  const o = field(at, v, 'data_offsets', 'data_offsets [begin, end]');
  if (!Array.isArray(o) || o.length !== 2) throw new TypeError(`${at}: data_offsets is ${describe(o)} (expected [begin, end])`);
  const [begin, end] = checkInts(at, 'data_offsets', o);
  if (begin > end) throw new RangeError(`${at}: data_offsets [${begin}, ${end}] end before they begin (expected begin <= end)`);
  if (end > dataBytes) throw new RangeError(`${at}: data_offsets [${begin}, ${end}] end past the data section (expected end <= ${dataBytes})`);
  let numel = 1;
  for (const n of shape) {
    numel *= n;  // exact while <= 2^53 - 1, which any valid span is
    if (numel > Number.MAX_SAFE_INTEGER) throw new RangeError(`${at}: shape [${shape.join(', ')}] has more than 2^53 - 1 elements (expected a size that fits the file)`);
  }
  const nbytes = numel * ITEM_SIZE[dtype];
  if (end - begin !== nbytes) {
    throw new RangeError(`${at}: data_offsets [${begin}, ${end}] span ${end - begin} bytes (expected ${nbytes}: ` +
      `shape [${shape.join(', ')}] of ${d} is ${numel} elements of ${ITEM_SIZE[dtype]} bytes)`);
  }
  return { name, dtype, shape, begin, end };
}

/** Parses and validates the JSON header; dataBytes is the size of the data section after it. */
export function parseHeader(where: string, bytes: Uint8Array, dataBytes: number): Header {
  let text: string, json: unknown;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new Error(`${where}: header is not valid UTF-8 (expected a UTF-8 JSON object)`);
  }
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`${where}: header is not valid JSON (${(e as Error).message})`, { cause: e });
  }
  if (!isObject(json)) throw new TypeError(`${where}: header is ${describe(json)} (expected a JSON object)`);
  const dup = duplicateKey(text);
  if (dup !== undefined) throw new Error(`${where}: header has the key ${quote(dup)} twice in one object (expected unique keys)`);
  let metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, v] of Object.entries(json)) {
    if (name !== '__metadata__') {
      entries.push(checkEntry(where, name, v, dataBytes));
      continue;
    }
    if (!isObject(v)) throw new TypeError(`${where}: __metadata__ is ${describe(v)} (expected an object mapping strings to strings)`);
    for (const [k, s] of Object.entries(v)) {
      if (typeof s !== 'string') throw new TypeError(`${where}: __metadata__ ${quote(k)} is ${describe(s)} (expected a string)`);
    }
    metadata = Object.fromEntries(Object.entries(v)) as Record<string, string>;  // own keys, even "__proto__"
  }
  // The reference rule: sorted by offsets, each tensor starts where the previous ends and the last
  // ends at the end of the file: no overlaps, no gaps, no trailing bytes.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev: Entry | undefined;
  for (const e of entries) {
    if (e.begin < pos) {
      throw new RangeError(`${where}: tensor ${quote(e.name)} [${e.begin}, ${e.end}] overlaps tensor ${quote(prev!.name)} ` +
        `[${prev!.begin}, ${prev!.end}] (expected disjoint byte ranges)`);
    }
    if (e.begin > pos) {
      throw new RangeError(`${where}: ${e.begin - pos} unused bytes at ${pos} before tensor ${quote(e.name)} ` +
        '(expected tensors packed without gaps, as the reference implementation requires)');
    }
    pos = e.end;
    prev = e;
  }
  if (pos !== dataBytes) {
    throw new RangeError(`${where}: the tensors cover ${pos} of the ${dataBytes} data bytes ` +
      '(expected them to cover the data section exactly, with no trailing bytes)');
  }
  return { entries, metadata, dataBytes };
}
