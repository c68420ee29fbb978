// safetensors weight files: a little-endian u64 header length N, N bytes of UTF-8 JSON mapping
// names to { dtype, shape, data_offsets } (and an optional "__metadata__" string map), then the
// raw row-major tensor bytes. Reading validates the header before allocating anything and shares
// one read buffer between the tensors; writing is atomic (temp file, fsync, rename).
import { constants as bufferConstants } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, fsyncSync, openSync, readSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fromTypedArray, ITEM_SIZE, Tensor } from '../tensor/index.js';
import { FROM_DTYPE, LONE_SURROGATE, RANK, SAFETENSORS_MAX_HEADER_BYTES, describe, headerLength, isObject, parseHeader, quote } from './safetensors_format.js';
import type { Entry, Header, LoadOptions, ParseOptions, SafetensorsData, TensorDict } from './safetensors_format.js';

/** Tensors over per-entry byte views (shared unless copy or misaligned; disposed on failure). */
function materialize(entries: Entry[], views: Uint8Array[], copy: boolean): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  try {
    entries.forEach((e, i) => {
      let bytes = views[i];
      // BOOL bytes other than 0/1 read as true; normalising them costs a copy of that tensor.
      if (e.dtype === 'bool' && bytes.some((b) => b > 1)) bytes = Uint8Array.from(bytes, (b) => (b ? 1 : 0));
      out.set(e.name, fromTypedArray(bytes, e.shape, { dtype: e.dtype, copy }));
    });
  } catch (err) {
    for (const t of out.values()) t.dispose();
    throw err;
  }
  return out;
}

// ---- reading ------------------------------------------------------------------------------------

/**
 * Tensors from the bytes of a safetensors file. Without { copy: true } the tensors share `bytes`
 * (each falls back to a copy where its view is misaligned for its dtype): do not modify, transfer
 * or detach its buffer while they live.
 */
export function parseSafetensors(bytes: Uint8Array, opts: ParseOptions = {}): SafetensorsData {
  const op = 'parseSafetensors';
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`${op}: argument 'bytes' must be a Uint8Array or Buffer (got ${describe(bytes)})`);
  checkOpts(op, opts);
  const where = `${op}: argument 'bytes'`;
  const n = headerLength(where, bytes, bytes.length);
  const h = parseHeader(where, bytes.subarray(8, 8 + n), bytes.length - 8 - n);
  const data = bytes.subarray(8 + n);
  return { tensors: materialize(h.entries, h.entries.map((e) => data.subarray(e.begin, e.end)), opts.copy === true), metadata: h.metadata };
}

function checkOpts(op: string, opts: LoadOptions): void {
  if (!isObject(opts)) throw new TypeError(`${op}: argument 'opts' must be an object (got ${describe(opts)})`);
  if (opts.copy !== undefined && typeof opts.copy !== 'boolean') throw new TypeError(`${op}: option 'copy' must be a boolean (got ${describe(opts.copy)})`);
  const m = opts.maxBufferBytes;
  if (m !== undefined && !(Number.isSafeInteger(m) && (m as number) > 0)) throw new TypeError(`${op}: option 'maxBufferBytes' must be a positive integer (got ${describe(m)})`);
}

function checkPath(op: string, path: unknown): string {
  if (typeof path !== 'string' || path === '') throw new TypeError(`${op}: argument 'path' must be a non-empty string (got ${describe(path)})`);
  return path;
}

/** Node's file-system errors, prefixed with the op (their message names the path; code kept). */
function ioError(op: string, e: unknown): unknown {
  if (!(e instanceof Error) || !('code' in e) || e.message.startsWith(`${op}:`)) return e;
  return Object.assign(new Error(`${op}: ${e.message}`, { cause: e }), { code: e.code });
}

/** Byte ranges of the data section to read: all of it at once, or one per tensor when too large. */
function segments(where: string, h: Header, opts: LoadOptions): [number, number][] {
  const limit = opts.maxBufferBytes ?? bufferConstants.MAX_LENGTH;
  if (h.dataBytes <= limit) return [[0, h.dataBytes]];
  for (const e of h.entries) {
    if (e.end - e.begin > limit) {
      throw new RangeError(`${where}: tensor ${quote(e.name)} has ${e.end - e.begin} bytes (expected at most ${limit}, the largest buffer available)`);
    }
  }
  return h.entries.map((e) => [e.begin, e.end]);
}
const entryViews = (h: Header, bufs: Uint8Array[]): Uint8Array[] =>
  bufs.length === 1 && h.entries.length !== 1 ? h.entries.map((e) => bufs[0].subarray(e.begin, e.end)) : bufs;

/** A fresh, unpooled buffer (so its start is aligned) of `len` bytes. */
const alloc = (len: number) => new Uint8Array(Buffer.allocUnsafeSlow(len).buffer, 0, len);
const shortRead = (where: string, pos: number, len: number) =>
  new Error(`${where} ended at byte ${pos} (expected ${len} more bytes; did it change while being read?)`);

function readSyncAt(where: string, fd: number, pos: number, len: number): Uint8Array {
  const buf = alloc(len);
  for (let done = 0; done < len;) {
    const k = readSync(fd, buf, done, Math.min(len - done, 1 << 30), pos + done);
    if (k === 0) throw shortRead(where, pos + done, len - done);
    done += k;
  }
  return buf;
}

/** The reading steps as a generator of [position, length] reads, driven synchronously or not. */
function* reader(where: string, size: number, opts: LoadOptions): Generator<[number, number], SafetensorsData, Uint8Array> {
  const n = headerLength(where, yield [0, Math.min(size, 8)], size);
  const h = parseHeader(where, yield [8, n], size - 8 - n);
  const bufs: Uint8Array[] = [];
  for (const [b, e] of segments(where, h, opts)) bufs.push(yield [8 + n + b, e - b]);
  return { tensors: materialize(h.entries, entryViews(h, bufs), opts.copy === true), metadata: h.metadata };
}

/** loadSafetensors, synchronously. */
export function loadSafetensorsSync(path: string, opts: LoadOptions = {}): SafetensorsData {
  const op = 'loadSafetensorsSync';
  const where = `${op}: file '${checkPath(op, path)}'`;
  checkOpts(op, opts);
  try {
    const fd = openSync(path, 'r');
    try {
      const steps = reader(where, fstatSync(fd).size, opts);
      for (let r = steps.next(); ; r = steps.next(readSyncAt(where, fd, ...r.value))) if (r.done) return r.value;
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    throw ioError(op, e);
  }
}

/**
 * The tensors and metadata of a safetensors file. The header is read and validated first; then
 * the data section is read into one buffer that the tensors share (a tensor whose offset is
 * misaligned for its dtype, or every tensor with { copy: true }, gets its own copy). The buffer
 * stays alive while any tensor uses it: clone() the few you keep, or pass { copy: true }.
 */
export async function loadSafetensors(path: string, opts: LoadOptions = {}): Promise<SafetensorsData> {
  const op = 'loadSafetensors';
  const where = `${op}: file '${checkPath(op, path)}'`;
  checkOpts(op, opts);
  try {
    const fh = await open(path, 'r');
    try {
      const readAt = async (pos: number, len: number) => {
        const buf = alloc(len);
        for (let done = 0; done < len;) {
          const { bytesRead } = await fh.read(buf, done, Math.min(len - done, 1 << 30), pos + done);
          if (bytesRead === 0) throw shortRead(where, pos + done, len - done);
          done += bytesRead;
        }
        return buf;
      };
      const steps = reader(where, (await fh.stat()).size, opts);
      for (let r = steps.next(); ; r = steps.next(await readAt(...r.value))) if (r.done) return r.value;
    } finally {
      await fh.close();
    }
  } catch (e) {
    throw ioError(op, e);
  }
}

// ---- writing ------------------------------------------------------------------------------------

interface Prepared { header: Uint8Array; items: { name: string; t: Tensor; nbytes: number }[] }

/** Validates the arguments and lays out the file: the 8-byte prefix and padded header. */
function prepare(op: string, tensors: TensorDict, metadata: Record<string, string> | undefined): Prepared {
  if (!isObject(tensors)) throw new TypeError(`${op}: argument 'tensors' must be a Map or an object of Tensors (got ${describe(tensors)})`);
  const pairs: [unknown, unknown][] = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const items = pairs.map(([name, t]) => {
    if (typeof name !== 'string') throw new TypeError(`${op}: argument 'tensors' has the key ${describe(name)} (expected string names)`);
    if (name === '__metadata__') throw new Error(`${op}: argument 'tensors' uses the reserved name "__metadata__" (expected another name)`);
    if (LONE_SURROGATE.test(name)) throw new TypeError(`${op}: tensor name ${quote(name)} has a lone surrogate (expected well-formed Unicode)`);
    if (!(t instanceof Tensor)) throw new TypeError(`${op}: argument 'tensors' has ${describe(t)} at ${quote(name)} (expected a Tensor)`);
    if (t.isDisposed) throw new Error(`${op}: tensor ${quote(name)} is disposed (expected a live tensor)`);
    return { name, t, nbytes: t.numel() * ITEM_SIZE[t.dtype], key: Buffer.from(name, 'utf8') };
  });
  items.sort((a, b) => RANK[b.t.dtype] - RANK[a.t.dtype] || Buffer.compare(a.key, b.key));
  const parts: string[] = [];
  if (metadata !== undefined) {
    if (!isObject(metadata)) throw new TypeError(`${op}: argument 'metadata' must be an object of strings (got ${describe(metadata)})`);
    const keys = Object.keys(metadata).map((k) => ({ k, key: Buffer.from(k, 'utf8') })).sort((a, b) => Buffer.compare(a.key, b.key));
    for (const { k } of keys) {
      const v = metadata[k];
      if (typeof v !== 'string') throw new TypeError(`${op}: argument 'metadata' has ${describe(v)} at ${quote(k)} (expected a string)`);
      if (LONE_SURROGATE.test(k + v)) throw new TypeError(`${op}: argument 'metadata' at ${quote(k)} has a lone surrogate (expected well-formed Unicode)`);
    }
    parts.push(`"__metadata__":{${keys.map(({ k }) => `${JSON.stringify(k)}:${JSON.stringify(metadata[k])}`).join(',')}}`);
  }
  let offset = 0;
  for (const { name, t, nbytes } of items) {
    parts.push(`${JSON.stringify(name)}:{"dtype":"${FROM_DTYPE[t.dtype]}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${offset + nbytes}]}`);
    offset += nbytes;
  }
  const json = Buffer.from(`{${parts.join(',')}}`, 'utf8');
  const n = json.length + ((8 - (json.length % 8)) % 8);  // spaces align the data section to 8 bytes
  if (n > SAFETENSORS_MAX_HEADER_BYTES) throw new RangeError(`${op}: the header would be ${n} bytes (expected at most ${SAFETENSORS_MAX_HEADER_BYTES})`);
  const header = new Uint8Array(8 + n).fill(0x20, 8 + json.length);
  new DataView(header.buffer).setBigUint64(0, BigInt(n), true);
  header.set(json, 8);
  return { header, items };
}

/** The file's pieces in order: prefix and header, then each tensor's row-major bytes. */
function* chunks(op: string, { header, items }: Prepared): Generator<Uint8Array> {
  yield header;
  for (const { name, t, nbytes } of items) {
    let b: Uint8Array;
    try {
      b = t.bytes();
    } catch (e) {
      throw new Error(`${op}: tensor ${quote(name)}: ${(e as Error).message}`, { cause: e });
    }
    if (b.length !== nbytes) throw new Error(`${op}: tensor ${quote(name)} gave ${b.length} bytes (expected ${nbytes})`);
    yield b;
  }
}

/** The whole file in memory (the bytes saveSafetensors writes). */
export function serializeSafetensors(tensors: TensorDict, metadata?: Record<string, string>): Uint8Array {
  const prep = prepare('serializeSafetensors', tensors, metadata);
  const out = new Uint8Array(prep.header.length + prep.items.reduce((s, i) => s + i.nbytes, 0));
  let pos = 0;
  for (const b of chunks('serializeSafetensors', prep)) {
    out.set(b, pos);
    pos += b.length;
  }
  return out;
}

/** A new file name next to `path`, so the final rename stays on one file system. */
const tempPath = (path: string) => join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);

function writeAllSync(fd: number, buf: Uint8Array): void {
  for (let done = 0; done < buf.length;) done += writeSync(fd, buf, done, buf.length - done);
}

/** saveSafetensors, synchronously. */
export function saveSafetensorsSync(path: string, tensors: TensorDict, metadata?: Record<string, string>): void {
  const op = 'saveSafetensorsSync';
  const tmp = tempPath(checkPath(op, path));
  const prep = prepare(op, tensors, metadata);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx');
    for (const b of chunks(op, prep)) writeAllSync(fd, b);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) try { closeSync(fd); } catch { /* already failing */ }
    try { unlinkSync(tmp); } catch { /* never created, or already renamed */ }
    throw ioError(op, e);
  }
  try {  // make the rename durable; best effort (directories cannot be opened everywhere)
    const dfd = openSync(dirname(path), 'r');
    try { fsyncSync(dfd); } finally { closeSync(dfd); }
  } catch { /* ignore */ }
}

/**
 * Writes tensors (and an optional string map of metadata) as a safetensors file, atomically: to a
 * temporary file in the same directory, fsync'd, then renamed over `path`. On any error the
 * temporary file is removed and `path` is untouched. The layout is the reference writer's:
 * tensors ordered by dtype width (widest first, so each is aligned) then by name, header keys in
 * that order, metadata keys sorted, the header padded with spaces to a multiple of 8 bytes.
 * Non-contiguous tensors are written in row-major order.
 */
export async function saveSafetensors(path: string, tensors: TensorDict, metadata?: Record<string, string>): Promise<void> {
  const op = 'saveSafetensors';
  const tmp = tempPath(checkPath(op, path));
  const prep = prepare(op, tensors, metadata);
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    fh = await open(tmp, 'wx');
    for (const b of chunks(op, prep)) {
      for (let done = 0; done < b.length;) done += (await fh.write(b, done, b.length - done)).bytesWritten;
    }
    await fh.sync();
    await fh.close();
    fh = undefined;
    await rename(tmp, path);
  } catch (e) {
    if (fh !== undefined) await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw ioError(op, e);
  }
  try {
    const dir = await open(dirname(path), 'r');
    try { await dir.sync(); } finally { await dir.close(); }
  } catch { /* ignore */ }
}
