// safetensors: round trips of every dtype and layout, the reference writer's exact bytes, a file
// built by hand per the spec, every validation rule with its exact error, a seeded fuzz of
// hostile files, zero-copy reads and atomic writes.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as R from '../lib/index.js';
import {
  loadSafetensors, loadSafetensorsSync, parseSafetensors, saveSafetensors, saveSafetensorsSync, serializeSafetensors,
} from '../lib/io/index.js';
import { prng } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'raddino-st-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const enc = (s: string) => new TextEncoder().encode(s);
/** A file from raw header text (not padded) and data bytes; `length` overrides the prefix. */
function file(header: string | Uint8Array, data: ArrayLike<number> = [], length?: bigint): Uint8Array {
  const h = typeof header === 'string' ? enc(header) : header;
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, length ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}
function caught(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}
const bytesOf = (t: R.Tensor) => Array.from(t.bytes());
const disposeAll = (m: Map<string, R.Tensor>) => { for (const t of m.values()) t.dispose(); };
const u16 = (bits: number[], dtype: R.DType, shape = [bits.length]) => R.fromTypedArray(new Uint16Array(bits), shape, { dtype, copy: true });

/** One tensor of every dtype with edge values, plus odd, 0-d, empty and non-contiguous shapes. */
function zoo(): Record<string, R.Tensor> {
  return R.tidy(() => {
    const base = R.arange(0, 24, 1, { dtype: 'float32' }).reshape([2, 3, 4]);
    return {
      f32: R.fromTypedArray(new Float32Array([1.5, -0, NaN, Infinity, -3.4e38, 1e-45, 7]), [7]),
      f64: R.fromTypedArray(new Float64Array([Math.PI, -0, NaN, -Infinity, 5e-324, 1e308]), [2, 3]),
      bf16: u16([0x3f80, 0x8000, 0x7fc1, 0xff80, 0x0001, 0x4049], 'bfloat16', [3, 2]),
      f16: u16([0x3c00, 0x8000, 0x7e01, 0xfc00, 0x0001, 0x7bff, 0x3555], 'float16', [7, 1]),
      i64: R.fromTypedArray(new BigInt64Array([2n ** 62n + 1n, -(2n ** 63n), 2n ** 63n - 1n, 9007199254740993n]), [2, 2]),
      i32: R.fromTypedArray(new Int32Array([-(2 ** 31), 2 ** 31 - 1, 0, -1, 5]), [5]),
      u8: R.fromTypedArray(new Uint8Array([0, 1, 127, 128, 255]), [5, 1, 1]),
      bool: R.tensor([[true, false, true], [false, false, true]]),
      scalar: R.tensor(42, [], 'float64'),
      empty: R.zeros([0], { dtype: 'int32' }),
      empty3d: R.zeros([2, 0, 3], { dtype: 'float16' }),
      odd: R.arange(0, 105, 1, { dtype: 'int64' }).reshape([3, 5, 7]),
      transposed: base.permute([2, 0, 1]),
      sliced: base.slice(2, 1, 4, 2),
      expanded: R.tensor([1, 2, 3], [3, 1], 'int32').expand([3, 4]),
    };
  });
}

describe('safetensors round trip', () => {
  it('every dtype, bit patterns, int64 beyond 2^53, 0-d, empty and non-contiguous tensors, metadata (async and sync)', async () => {
    const before = R.memory().tensors;
    const src = zoo();
    const metadata = { format: 'pt', 'üñí©ødé': '✓ "quoted"\n', __proto__x: '', ['__proto__']: 'own' };
    const path = join(dir, 'zoo.safetensors');
    await saveSafetensors(path, src, metadata);
    for (const got of [await loadSafetensors(path), loadSafetensorsSync(path), parseSafetensors(readFileSync(path), { copy: true })]) {
      expect([...got.tensors.keys()].sort()).toEqual(Object.keys(src).sort());
      for (const [name, t] of Object.entries(src)) {
        const u = got.tensors.get(name)!;
        expect([name, u.dtype, u.shape]).toEqual([name, t.dtype, t.shape]);
        expect(bytesOf(u)).toEqual(bytesOf(t));
      }
      expect(got.tensors.get('i64')!.dataSync()).toEqual(new BigInt64Array([2n ** 62n + 1n, -(2n ** 63n), 2n ** 63n - 1n, 9007199254740993n]));
      expect(got.metadata).toEqual({ ...metadata });
      expect(Object.hasOwn(got.metadata, '__proto__')).toBe(true);
      disposeAll(got.tensors);
    }
    // saveSafetensorsSync writes the same bytes, from a Map as from an object
    saveSafetensorsSync(join(dir, 'zoo2.safetensors'), new Map(Object.entries(src)), metadata);
    expect(readFileSync(join(dir, 'zoo2.safetensors'))).toEqual(readFileSync(path));
    for (const t of Object.values(src)) t.dispose();
    expect(R.memory().tensors).toBe(before);
  });

  it('long tensor names and metadata values round-trip whole (a 16 KB JSON state, a 300-character name)', async () => {
    const name = 'blocks.' + 'x'.repeat(300);
    const state = JSON.stringify({ step: 12, note: 'y'.repeat(16_000), nested: { a: [1, 2, 3] } });
    const t = R.tensor([1, 2, 3]);
    const path = join(dir, 'long.safetensors');
    await saveSafetensors(path, { [name]: t }, { state });
    const got = await loadSafetensors(path);
    expect([...got.tensors.keys()]).toEqual([name]);
    expect(got.metadata.state).toBe(state);
    expect(JSON.parse(got.metadata.state)).toEqual(JSON.parse(state));
    for (const x of got.tensors.values()) x.dispose();
    t.dispose();
  });

  it('writes the reference layout byte for byte (hand-checked)', () => {
    // One F32 [1, 2, 3] tensor: the JSON is 64 bytes, so no padding; then 0..5 as little-endian floats.
    const t = R.tidy(() => R.arange(0, 6, 1, { dtype: 'float32' }).reshape([1, 2, 3]));
    const json = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
    expect(Array.from(serializeSafetensors({ 'attn.0': t }))).toEqual([
      64, 0, 0, 0, 0, 0, 0, 0, ...enc(json),
      0, 0, 0, 0, 0, 0, 0x80, 0x3f, 0, 0, 0, 0x40, 0, 0, 0x40, 0x40, 0, 0, 0x80, 0x40, 0, 0, 0xa0, 0x40,
    ]);
    // No tensors: "{}" padded with 6 spaces; metadata only: 35 bytes of JSON padded with 5 spaces.
    expect(Array.from(serializeSafetensors({}))).toEqual([8, 0, 0, 0, 0, 0, 0, 0, ...enc('{}      ')]);
    expect(Array.from(serializeSafetensors({}, { framework: 'pt' }))).toEqual([40, 0, 0, 0, 0, 0, 0, 0, ...enc('{"__metadata__":{"framework":"pt"}}     ')]);
    // Mixed dtypes go widest first (I64, F32, F16, BOOL: the reference's dtype order), then by
    // name, so every tensor is aligned; header keys follow the data; metadata keys are sorted.
    const b = R.tensor([true, false, true]), a = R.tensor([1], [1], 'float32'), c = R.tensor([-2n]), h = u16([0x3c00], 'float16');
    const mixed = '{"__metadata__":{"a":"1","b":"2"},"c":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},' +
      '"a":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},"h":{"dtype":"F16","shape":[1],"data_offsets":[12,14]},' +
      '"b":{"dtype":"BOOL","shape":[3],"data_offsets":[14,17]}}';
    expect(mixed.length).toBe(252);  // 2 braces + 32 + 52 + 53 + 54 + 55 + 4 commas; + 4 spaces = 256
    expect(Array.from(serializeSafetensors({ b, a, c, h }, { b: '2', a: '1' }))).toEqual([
      0, 1, 0, 0, 0, 0, 0, 0, ...enc(mixed + ' '.repeat(4)),
      0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0x80, 0x3f, 0x00, 0x3c, 1, 0, 1,
    ]);
    for (const x of [t, a, b, c, h]) x.dispose();
  });

  it('reads a file built by hand per the spec: any key order, padding, a misaligned tensor, shared memory', () => {
    // After I32 [1] and U8 [3] the F32 tensor sits at data offset 7: it is copied, the others are not.
    const header = '{"w":{"dtype":"F32","shape":[2],"data_offsets":[7,15]},"__metadata__":{"k":"v"},' +
      '"b":{"data_offsets":[4,7],"shape":[3],"dtype":"U8"},"z":{"dtype":"I32","shape":[1],"data_offsets":[0,4]},"e":{"dtype":"BOOL","shape":[0],"data_offsets":[15,15]}}';
    const pad = ' '.repeat((8 - (header.length % 8)) % 8);
    const data = [0xff, 0xff, 0xff, 0xff, 7, 8, 9, 0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0];
    const bytes = file(header + pad, data);
    const owned = () => R.memory().devices.cpu.ownedBytes;
    const before = owned();
    const got = parseSafetensors(bytes);
    expect([...got.tensors.keys()]).toEqual(['z', 'b', 'w', 'e']);  // data order
    expect(got.metadata).toEqual({ k: 'v' });
    expect(got.tensors.get('w')!.toArray()).toEqual([1, -2]);
    expect(owned() - before).toBe(8);  // only the misaligned F32 tensor was copied
    const z = 8 + header.length + pad.length;
    bytes.set([0xfe, 70], z + 3);  // the others share the input's memory
    expect([got.tensors.get('z')!.toArray(), got.tensors.get('b')!.toArray()]).toEqual([[-(2 ** 24) - 1], [70, 8, 9]]);
    const copied = parseSafetensors(bytes, { copy: true });
    expect(owned() - before).toBe(8 + 4 + 3 + 8);
    bytes.set([0, 0, 0, 0, 1], z);
    expect([copied.tensors.get('z')!.toArray(), copied.tensors.get('b')!.toArray()]).toEqual([[-(2 ** 24) - 1], [70, 8, 9]]);
    disposeAll(got.tensors);
    disposeAll(copied.tensors);
  });

  it('normalises BOOL bytes other than 0/1 to true; reads one buffer per tensor past maxBufferBytes', () => {
    const got = parseSafetensors(file('{"m":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}}', [0, 2, 255]));
    expect(bytesOf(got.tensors.get('m')!)).toEqual([0, 1, 1]);
    disposeAll(got.tensors);
    const src = zoo();
    const path = join(dir, 'segments.safetensors');
    saveSafetensorsSync(path, src);
    const whole = loadSafetensorsSync(path), split = loadSafetensorsSync(path, { maxBufferBytes: 900 });
    for (const [k, t] of whole.tensors) expect(bytesOf(split.tensors.get(k)!)).toEqual(bytesOf(t));
    expect(caught(() => loadSafetensorsSync(path, { maxBufferBytes: 100 })).message)
      .toBe(`loadSafetensorsSync: file '${path}': tensor "odd" has 840 bytes (expected at most 100, the largest buffer available)`);
    for (const m of [whole.tensors, split.tensors, new Map(Object.entries(src))]) disposeAll(m);
  });
});

describe('safetensors validation', () => {
  const W = "parseSafetensors: argument 'bytes'";
  const T = (name: string) => `${W}: tensor "${name}"`;
  const entry = (dtype: unknown, shape: unknown, offsets: unknown) => JSON.stringify({ x: { dtype, shape, data_offsets: offsets } });
  const cases: [string, Uint8Array, ErrorConstructor, string][] = [
    ['shorter than 8 bytes', new Uint8Array(5), RangeError, `${W} is 5 bytes (expected at least 8: a little-endian u64 header length, then the header)`],
    ['header length 0', file('', [1, 2]), RangeError, `${W}: header length is 0 (expected the byte length of a JSON object)`],
    ['header length past the file', file('{}', [], 3n), RangeError, `${W}: header length is 3 bytes but only 2 bytes follow the length prefix`],
    ['header over 100 MB', file('{}', [], 100_000_001n), RangeError, `${W}: header length is 100000001 bytes (expected at most 100000000)`],
    ['header length 2^64 - 1', file('{}', [], 2n ** 64n - 1n), RangeError, `${W}: header length is 18446744073709551615 bytes (expected at most 100000000)`],
    ['invalid UTF-8', file(new Uint8Array([0x7b, 0xff, 0x7d])), Error, `${W}: header is not valid UTF-8 (expected a UTF-8 JSON object)`],
    ['invalid JSON', file('{"a":'), Error, `${W}: header is not valid JSON (Unexpected end of JSON input)`],
    ['a byte-order mark', file('\ufeff{}'), Error, `${W}: header is not valid JSON (Unexpected token '﻿', "﻿{}" is not valid JSON)`],
    ['a JSON array', file('[]'), TypeError, `${W}: header is an array of 0 (expected a JSON object)`],
    ['JSON null', file('null'), TypeError, `${W}: header is null (expected a JSON object)`],
    ['metadata not an object', file('{"__metadata__":"x"}'), TypeError, `${W}: __metadata__ is "x" (expected an object mapping strings to strings)`],
    ['a metadata value not a string', file('{"__metadata__":{"a":1}}'), TypeError, `${W}: __metadata__ "a" is 1 (expected a string)`],
    ['an entry not an object', file('{"x":[1]}'), TypeError, `${T('x')} is an array of 1 (expected an object with dtype, shape and data_offsets)`],
    ['no dtype', file('{"x":{"shape":[],"data_offsets":[0,0]}}'), TypeError, `${T('x')} has no 'dtype' (expected a dtype, one of F32, F64, BF16, F16, I64, I32, U8, BOOL)`],
    ['dtype F8_E4M3', file(entry('F8_E4M3', [1], [0, 1]), [0]), TypeError, `${T('x')} has dtype "F8_E4M3" (expected one of F32, F64, BF16, F16, I64, I32, U8, BOOL)`],
    ['dtype I16', file(entry('I16', [1], [0, 2]), [0, 0]), TypeError, `${T('x')} has dtype "I16" (expected one of F32, F64, BF16, F16, I64, I32, U8, BOOL)`],
    ['dtype U16', file(entry('U16', [1], [0, 2]), [0, 0]), TypeError, `${T('x')} has dtype "U16" (expected one of F32, F64, BF16, F16, I64, I32, U8, BOOL)`],
    ['dtype lower case', file(entry('f32', [], [0, 4])), TypeError, `${T('x')} has dtype "f32" (expected one of F32, F64, BF16, F16, I64, I32, U8, BOOL)`],
    ['dtype a number', file(entry(32, [], [0, 4])), TypeError, `${T('x')} has dtype 32 (expected one of F32, F64, BF16, F16, I64, I32, U8, BOOL)`],
    ['shape not an array', file(entry('U8', 3, [0, 3])), TypeError, `${T('x')}: shape is 3 (expected an array of non-negative integers)`],
    ['17 dims', file(entry('U8', Array(17).fill(1), [0, 1]), [0]), RangeError, `${T('x')}: shape has 17 dimensions (expected at most 16)`],
    ['a negative dim', file(entry('U8', [2, -1], [0, 0])), RangeError, `${T('x')}: shape [2, -1] holds -1 (expected integers in [0, 2^53 - 1])`],
    ['a fractional dim', file(entry('U8', [1.5], [0, 0])), TypeError, `${T('x')}: shape [1.5] holds 1.5 (expected non-negative integers)`],
    ['a string dim', file(entry('U8', ['2'], [0, 2]), [0, 0]), TypeError, `${T('x')}: shape ["2"] holds "2" (expected non-negative integers)`],
    ['a dim of 2^53', file(entry('U8', [2 ** 53], [0, 0])), RangeError, `${T('x')}: shape [9007199254740992] holds 9007199254740992 (expected integers in [0, 2^53 - 1])`],
    ['huge shape [2^40, 2^40]', file(entry('F32', [2 ** 40, 2 ** 40], [0, 4]), [0, 0, 0, 0]), RangeError,
      `${T('x')}: shape [1099511627776, 1099511627776] has more than 2^53 - 1 elements (expected a size that fits the file)`],
    ['no data_offsets', file('{"x":{"dtype":"U8","shape":[]}}'), TypeError, `${T('x')} has no 'data_offsets' (expected data_offsets [begin, end])`],
    ['three offsets', file(entry('U8', [1], [0, 1, 2]), [0]), TypeError, `${T('x')}: data_offsets is an array of 3 (expected [begin, end])`],
    ['a negative offset', file(entry('U8', [1], [-1, 0]), [0]), RangeError, `${T('x')}: data_offsets [-1, 0] holds -1 (expected integers in [0, 2^53 - 1])`],
    ['a string offset', file(entry('U8', [1], ['0', 1]), [0]), TypeError, `${T('x')}: data_offsets ["0", 1] holds "0" (expected non-negative integers)`],
    ['begin > end', file(entry('U8', [0], [1, 0]), [0]), RangeError, `${T('x')}: data_offsets [1, 0] end before they begin (expected begin <= end)`],
    ['end past the data', file(entry('U8', [4], [0, 4]), [0, 0]), RangeError, `${T('x')}: data_offsets [0, 4] end past the data section (expected end <= 2)`],
    ['span != numel x itemsize', file(entry('F32', [2], [0, 4]), [0, 0, 0, 0]), RangeError,
      `${T('x')}: data_offsets [0, 4] span 4 bytes (expected 8: shape [2] of F32 is 2 elements of 4 bytes)`],
    ['overlapping tensors', file('{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}', [0, 0, 0]),
      RangeError, `${W}: tensor "b" [1, 3] overlaps tensor "a" [0, 2] (expected disjoint byte ranges)`],
    ['a gap', file('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}}', [0, 0, 0]),
      RangeError, `${W}: 1 unused bytes at 1 before tensor "b" (expected tensors packed without gaps, as the reference implementation requires)`],
    ['trailing bytes', file(entry('U8', [1], [0, 1]), [0, 0]), RangeError,
      `${W}: the tensors cover 1 of the 2 data bytes (expected them to cover the data section exactly, with no trailing bytes)`],
    ['a duplicate tensor name', file('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', [0]),
      Error, `${W}: header has the key "a" twice in one object (expected unique keys)`],
    ['a duplicate spelled with an escape', file('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"\\u0061":{}}', [0]),
      Error, `${W}: header has the key "a" twice in one object (expected unique keys)`],
    ['a duplicate field', file('{"a":{"dtype":"F32","dtype":"U8","shape":[1],"data_offsets":[0,1]}}', [0]),
      Error, `${W}: header has the key "dtype" twice in one object (expected unique keys)`],
  ];
  it.each(cases)('rejects %s', (_, bytes, cls, message) => {
    const before = R.memory().tensors;
    const e = caught(() => parseSafetensors(bytes));
    expect(e).toBeInstanceOf(cls);
    expect(e.message).toBe(message);
    expect(R.memory().tensors).toBe(before);
  });

  it('accepts what the rules allow: equal keys in different objects, escaped quotes, zero-size tensors anywhere in order', () => {
    const ok = parseSafetensors(file('{"__metadata__":{"a":"\\"a\\\\"},"a":{"dtype":"U8","shape":[0],"data_offsets":[1,1]},' +
      '"b\\"":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"c":{"dtype":"F64","shape":[0,1099511627776],"data_offsets":[1,1]}}', [5]));
    expect([...ok.tensors.keys()]).toEqual(['b"', 'a', 'c']);
    expect(ok.metadata).toEqual({ a: '"a\\' });
    disposeAll(ok.tensors);
  });

  it('names the file and the argument', async () => {
    const short = join(dir, 'short.safetensors');
    writeFileSync(short, new Uint8Array(3));
    await expect(loadSafetensors(short)).rejects.toThrow(`loadSafetensors: file '${short}' is 3 bytes (expected at least 8: a little-endian u64 header length, then the header)`);
    const missing = join(dir, 'missing.safetensors');
    const e = caught(() => loadSafetensorsSync(missing)) as Error & { code?: string };
    expect([e.message, e.code]).toEqual([`loadSafetensorsSync: ENOENT: no such file or directory, open '${missing}'`, 'ENOENT']);
    expect(() => parseSafetensors([1, 2] as unknown as Uint8Array)).toThrow(new TypeError("parseSafetensors: argument 'bytes' must be a Uint8Array or Buffer (got an array of 2)"));
    expect(() => parseSafetensors(new Uint8Array(8), { copy: 1 as unknown as boolean })).toThrow("parseSafetensors: option 'copy' must be a boolean (got 1)");
    expect(() => loadSafetensorsSync('')).toThrow("loadSafetensorsSync: argument 'path' must be a non-empty string (got \"\")");
  });
});

describe('safetensors fuzz', () => {
  it('3,600 seeded mutations of valid files give a clean error or in-bounds tensors', () => {
    const before = R.memory().tensors;
    const src = zoo();
    const small = { a: R.tensor([1, 2, 3], [3], 'float32'), m: R.tensor([true, false]) };
    const seeds = [serializeSafetensors(src, { framework: 'pt', note: 'x' }), serializeSafetensors(small), serializeSafetensors({})];
    for (const t of [...Object.values(src), ...Object.values(small)]) t.dispose();
    const r = prng(20240611);
    const int = (n: number) => Math.floor(r() * n);
    const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
    const hostile: unknown[] = [-1, -0, 1.5, 2 ** 53, 2 ** 64, 1e308, -1e308, '12', '', null, true, [], {}, [[1]], [1, 2, 3], [0, 2 ** 60],
      [2 ** 40, 2 ** 40], [2 ** 31, 2 ** 31, 2 ** 31], Array(17).fill(1), 'F8_E4M3', 'I16', 'U16', 'f32', 'BOOL', 'F64', 'I32', 'F16', 'U8', { dtype: 'U8' }];
    const hostileText = ['-1', '1e400', '99999999999999999999', '1.5', '"7"', '[]', '{}', 'null', '[[[[[[[[]]]]]]]]', '0x10', '"\\ud800"',
      '{"__proto__":{"x":1}}', '[' .repeat(5000) + ']'.repeat(5000)];
    const lengths = [0n, 1n, 7n, 8n, 2n ** 32n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n, 100_000_000n, 100_000_001n];
    const tally = { ok: 0, error: 0 };
    for (let iter = 0; iter < 3600; iter++) {
      const seed = pick(seeds);
      const n = Number(new DataView(seed.buffer).getBigUint64(0, true));
      const text = new TextDecoder().decode(seed.subarray(8, 8 + n));
      const data = seed.subarray(8 + n);
      let b: Uint8Array = seed.slice();
      switch (iter % 7) {
        case 0:  // bit flips anywhere, mostly in the prefix and header
          for (let k = 1 + int(4); k > 0; k--) b[r() < 0.8 ? int(8 + n) : int(b.length)] ^= 1 << int(8);
          break;
        case 1:  // byte overwrites in the header with JSON punctuation, digits or anything
          for (let k = 1 + int(4); k > 0; k--) b[8 + int(n)] = r() < 0.5 ? pick([...enc('{}[]",:-.0123456789eE \\')]) : int(256);
          break;
        case 2:  // the length prefix: hostile values, off by a little, or random bytes
          new DataView(b.buffer).setBigUint64(0, r() < 0.5 ? pick(lengths) : BigInt(Math.max(0, n + int(17) - 8)), true);
          if (r() < 0.3) b[int(8)] = int(256);
          break;
        case 3:  // truncation at a random point
          b = b.subarray(0, int(b.length));
          break;
        case 4: {  // structured edits: a field of a tensor (or the metadata) set to a hostile value
          const h = JSON.parse(text) as Record<string, Record<string, unknown>>;
          const keys = Object.keys(h);
          const key = keys.length && r() < 0.9 ? pick(keys) : `t${int(3)}`;
          const off = h[key]?.data_offsets;
          if (Array.isArray(off) && r() < 0.3) {  // shift a tensor's bytes: overlaps, gaps, out of bounds
            const d = pick([1, -1, 2, -4, 8, 2 ** 32, 2 ** 53]);
            h[key].data_offsets = r() < 0.7 ? off.map((x: number) => x + d) : [off[0], off[1] + d];
          } else if (r() < 0.15) (h as Record<string, unknown>)[key] = pick(hostile);
          else (h[key] ??= {})[pick(['dtype', 'shape', 'data_offsets', 'data_offsets', 'shape', 'extra'])] = pick(hostile);
          b = file(JSON.stringify(h), data);
          break;
        }
        case 5: {  // raw text edits: a number, string or bracket in the header replaced by hostile text
          const at = int(text.length);
          const m = /[-0-9.]+|"[^"]*"|\[|\{/.exec(text.slice(at));
          const s = m ? at + m.index : at;
          const edited = text.slice(0, s) + pick(hostileText) + text.slice(s + (m ? m[0].length : 0));
          b = file(edited, data, r() < 0.9 ? undefined : BigInt(int(edited.length + 16)));
          break;
        }
        default: {  // splices: duplicate a key's entry, insert garbage or cut a slice of the header
          const cut = int(text.length), len = int(24);
          const edited = r() < 0.3 && text.includes('"a":') ? text.replace('{"', `{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"`)
            : r() < 0.5 ? text.slice(0, cut) + text.slice(cut + len) : text.slice(0, cut) + String.fromCharCode(...Array.from({ length: len }, () => 32 + int(95))) + text.slice(cut);
          b = file(edited, data);
        }
      }
      let got: ReturnType<typeof parseSafetensors>;
      try {
        got = parseSafetensors(b, { copy: r() < 0.2 });
      } catch (e) {
        expect(e).toBeInstanceOf(Error);
        expect((e as Error).message.startsWith("parseSafetensors: argument 'bytes'")).toBe(true);
        tally.error++;
        continue;
      }
      // Success: the tensors, in data order, are exactly the data section (no gaps, in bounds).
      const hn = Number(new DataView(b.buffer, b.byteOffset).getBigUint64(0, true));
      const parts = [...got.tensors.values()].map((t) => t.bytes());
      for (const [i, t] of [...got.tensors.values()].entries()) expect(parts[i].length).toBe(t.numel() * R.ITEM_SIZE[t.dtype]);
      const joined = Buffer.concat(parts), section = b.subarray(8 + hn);
      expect(joined.length).toBe(section.length);
      const bools = [...got.tensors.values()].some((t) => t.dtype === 'bool');
      if (!bools) expect(joined.equals(section)).toBe(true);
      disposeAll(got.tensors);
      tally.ok++;
    }
    expect(tally.ok).toBeGreaterThan(150);
    expect(tally.error).toBeGreaterThan(2000);
    expect(R.memory().tensors).toBe(before);
  });
});

describe('safetensors atomic writes', () => {
  const listing = (d: string) => readdirSync(d).sort();

  it('a failing save leaves no file and no temporary file; over an existing file it keeps the old one', async () => {
    const d = join(dir, 'atomic');
    mkdirSync(d);
    const path = join(d, 'w.safetensors');
    const good = R.tensor([1, 2, 3]), dead = R.tensor([4]);
    dead.dispose();
    for (const save of [saveSafetensorsSync, saveSafetensors]) {
      const op = save === saveSafetensors ? 'saveSafetensors' : 'saveSafetensorsSync';
      await expect(async () => save(path, { good, dead })).rejects.toThrow(`${op}: tensor "dead" is disposed (expected a live tensor)`);
      // A tensor that fails while its bytes are written, after the temp file exists.
      const failing = Object.create(good, { bytes: { value: () => { throw new Error('device lost'); } } }) as R.Tensor;
      await expect(async () => save(path, { good, z: failing })).rejects.toThrow(`${op}: tensor "z": device lost`);
      expect(listing(d)).toEqual([]);
      await save(path, { good });
      const first = readFileSync(path);
      await expect(async () => save(path, { good, z: failing })).rejects.toThrow('device lost');
      expect(readFileSync(path)).toEqual(first);
      expect(listing(d)).toEqual(['w.safetensors']);
      await save(path, { good, more: good });
      expect(readFileSync(path).length).toBeGreaterThan(first.length);
      expect(listing(d)).toEqual(['w.safetensors']);
      rmSync(path);
    }
    good.dispose();
  });

  it('an unwritable or missing directory fails cleanly', async () => {
    const t = R.tensor([1]);
    const missing = join(dir, 'no-such-dir', 'w.safetensors');
    const e = caught(() => saveSafetensorsSync(missing, { t })) as Error & { code?: string };
    expect(e.message).toMatch(/^saveSafetensorsSync: ENOENT: no such file or directory, open '.*no-such-dir/);
    expect(e.code).toBe('ENOENT');
    await expect(saveSafetensors(missing, { t })).rejects.toThrow(/^saveSafetensors: ENOENT/);
    if (process.getuid?.() !== 0) {  // root ignores directory permissions
      const ro = join(dir, 'readonly');
      mkdirSync(ro);
      chmodSync(ro, 0o555);
      await expect(saveSafetensors(join(ro, 'w.safetensors'), { t })).rejects.toThrow(/^saveSafetensors: EACCES/);
      chmodSync(ro, 0o755);
      expect(listing(ro)).toEqual([]);
    }
    expect(existsSync(missing)).toBe(false);
    expect(() => saveSafetensorsSync(join(dir, 'x.safetensors'), { __metadata__: t })).toThrow(
      'saveSafetensorsSync: argument \'tensors\' uses the reserved name "__metadata__" (expected another name)');
    expect(() => saveSafetensorsSync(join(dir, 'x.safetensors'), { t }, { k: 1 as unknown as string })).toThrow(
      'saveSafetensorsSync: argument \'metadata\' has 1 at "k" (expected a string)');
    expect(() => saveSafetensorsSync(join(dir, 'x.safetensors'), { t: [1] as unknown as R.Tensor })).toThrow(
      'saveSafetensorsSync: argument \'tensors\' has an array of 1 at "t" (expected a Tensor)');
    expect(existsSync(join(dir, 'x.safetensors'))).toBe(false);
    t.dispose();
  });
});
