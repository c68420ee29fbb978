// Image decoding to FloatImage ([0, 1], planar CHW): PNG (8/16-bit) and JPEG through sharp, DICOM
// through dicom-parser. The format is detected from the content (signatures), never from the
// file extension.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import sharp from 'sharp';
import type { FloatImage } from './image.js';

type DicomParser = typeof import('dicom-parser');
// dicom-parser ships a UMD bundle: load it through require so Node's ESM loader sees its exports.
const dicomParser = createRequire(import.meta.url)('dicom-parser') as DicomParser;

/** A file that cannot be decoded (unreadable, truncated, corrupt or unsupported); `path` names it. */
export class ImageDecodeError extends Error {
  constructor(readonly path: string, readonly reason: string) {
    super(`decodeImage: ${path}: ${reason}`);
    this.name = 'ImageDecodeError';
  }
}

export type ImageFormat = 'png' | 'jpeg' | 'dicom';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** The format of an encoded image from its first bytes, or null when none matches. */
export function detectImageFormat(bytes: Uint8Array): ImageFormat | null {
  if (bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (bytes.length >= 132 && bytes[128] === 0x44 && bytes[129] === 0x49 && bytes[130] === 0x43 && bytes[131] === 0x4d) return 'dicom';
  return null;
}

/**
 * Decodes a PNG, JPEG or DICOM file (a path, or the encoded bytes) to a float image in [0, 1].
 * 16-bit PNGs keep their precision (value / 65535); images with alpha lose the alpha channel;
 * grayscale stays one channel. See decodeDicom for the DICOM pixel pipeline. Throws
 * ImageDecodeError naming the file for unreadable, truncated, corrupt or unsupported input.
 */
export async function decodeImage(pathOrBuffer: string | Uint8Array, opts: { name?: string } = {}): Promise<FloatImage> {
  let bytes: Uint8Array;
  let name: string;
  if (typeof pathOrBuffer === 'string') {
    name = opts.name ?? pathOrBuffer;
    try {
      bytes = await readFile(pathOrBuffer);
    } catch (e) {
      throw new ImageDecodeError(name, `cannot read the file (${(e as Error).message})`);
    }
  } else if (pathOrBuffer instanceof Uint8Array) {
    name = opts.name ?? '<buffer>';
    bytes = pathOrBuffer;
  } else {
    throw new TypeError(`decodeImage: argument 'pathOrBuffer' must be a path or a Uint8Array (got ${typeof pathOrBuffer})`);
  }
  const format = detectImageFormat(bytes);
  if (format === null) {
    throw new ImageDecodeError(name, `unrecognised image format (${bytes.length} bytes; expected a PNG or JPEG signature, or DICM at byte 128)`);
  }
  return format === 'dicom' ? decodeDicom(bytes, name) : decodeRaster(bytes, name);
}

async function decodeRaster(bytes: Uint8Array, name: string): Promise<FloatImage> {
  try {
    const meta = await sharp(bytes).metadata();
    const gray = meta.channels !== undefined && meta.channels <= 2;
    const wide = meta.depth === 'ushort';
    let pipe = sharp(bytes);
    if (meta.hasAlpha) pipe = pipe.removeAlpha();
    pipe = pipe.toColourspace(gray ? (wide ? 'grey16' : 'b-w') : (wide ? 'rgb16' : 'srgb'));
    const { data, info } = await pipe.raw({ depth: wide ? 'ushort' : 'uchar' }).toBuffer({ resolveWithObject: true });
    const channels = info.channels;
    if (channels !== 1 && channels !== 3) throw new Error(`decoded to ${channels} channels (expected 1 or 3)`);
    const src = wide ? new Uint16Array(data.buffer, data.byteOffset, data.length / 2) : data;
    return interleavedToPlanar(src, info.width, info.height, channels, wide ? 1 / 65535 : 1 / 255);
  } catch (e) {
    throw new ImageDecodeError(name, (e as Error).message);
  }
}

function interleavedToPlanar(src: ArrayLike<number>, width: number, height: number, channels: 1 | 3, scale: number): FloatImage {
  const hw = width * height;
  const data = new Float32Array(channels * hw);
  for (let p = 0; p < hw; p++) {
    for (let c = 0; c < channels; c++) data[c * hw + p] = src[p * channels + c]! * scale;
  }
  return { width, height, channels, data };
}

// ---------------------------------------------------------------------------------------------
// DICOM

/** Transfer syntaxes whose pixel data is stored uncompressed (deflate covers the whole data set). */
const UNCOMPRESSED: Record<string, string> = {
  '1.2.840.10008.1.2': 'Implicit VR Little Endian',
  '1.2.840.10008.1.2.1': 'Explicit VR Little Endian',
  '1.2.840.10008.1.2.1.99': 'Deflated Explicit VR Little Endian',
  '1.2.840.10008.1.2.2': 'Explicit VR Big Endian',
};
const BIG_ENDIAN = '1.2.840.10008.1.2.2';

/** Names of common compressed transfer syntaxes, for the error message. */
const COMPRESSED_NAMES: Record<string, string> = {
  '1.2.840.10008.1.2.5': 'RLE Lossless',
  '1.2.840.10008.1.2.4.50': 'JPEG Baseline',
  '1.2.840.10008.1.2.4.51': 'JPEG Extended',
  '1.2.840.10008.1.2.4.57': 'JPEG Lossless',
  '1.2.840.10008.1.2.4.70': 'JPEG Lossless SV1',
  '1.2.840.10008.1.2.4.80': 'JPEG-LS Lossless',
  '1.2.840.10008.1.2.4.81': 'JPEG-LS Near-Lossless',
  '1.2.840.10008.1.2.4.90': 'JPEG 2000 Lossless',
  '1.2.840.10008.1.2.4.91': 'JPEG 2000',
  '1.2.840.10008.1.2.4.201': 'HTJ2K Lossless',
  '1.2.840.10008.1.2.4.203': 'HTJ2K',
};

/** The reason dicom-parser gives: it throws Errors, strings, or { exception, dataSet } objects. */
function parserMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (typeof e === 'string') return e;
  if (e !== null && typeof e === 'object' && 'exception' in e) return parserMessage((e as { exception: unknown }).exception);
  return String(e);
}

/**
 * Decodes a DICOM Part 10 file (bytes) to a float image in [0, 1]. Supported: the uncompressed
 * transfer syntaxes (implicit/explicit little endian, explicit big endian, deflated), 8/16/32
 * bits allocated, unsigned or two's-complement pixels (masked to BitsStored), MONOCHROME1/2 and
 * RGB; the first frame of multi-frame files. Grayscale pipeline, as in the DICOM standard:
 * stored value → modality LUT (RescaleSlope·v + RescaleIntercept) → VOI LUT: the first
 * WindowCenter/WindowWidth pair with VOILUTFunction LINEAR (default, PS3.3 C.11.2.1.2.1),
 * LINEAR_EXACT or SIGMOID; without a window, the min–max of the image maps to [0, 1] → MONOCHROME1
 * is inverted (1 - y). RGB pixels are divided by 2^BitsStored - 1. Compressed transfer syntaxes
 * (JPEG, JPEG-LS, JPEG 2000, RLE) are an ImageDecodeError naming the transfer syntax UID.
 */
export function decodeDicom(bytes: Uint8Array, name = '<buffer>'): FloatImage {
  const fail = (reason: string): never => { throw new ImageDecodeError(name, `DICOM: ${reason}`); };
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let ds: import('dicom-parser').DataSet;
  try {
    ds = dicomParser.parseDicom(buf);
  } catch (e) {
    return fail(`cannot parse the data set (${parserMessage(e)}); the file is truncated or corrupt`);
  }
  const ts = ds.string('x00020010') ?? '';
  if (!(ts in UNCOMPRESSED)) {
    const known = COMPRESSED_NAMES[ts];
    return fail(`transfer syntax ${ts || '(missing)'}${known ? ` (${known})` : ''} is compressed or unsupported; `
      + `only uncompressed syntaxes can be decoded (${Object.keys(UNCOMPRESSED).join(', ')}); convert the file, e.g. with dcmdjpeg/gdcmconv`);
  }
  const rows = ds.uint16('x00280010');
  const cols = ds.uint16('x00280011');
  const bitsAllocated = ds.uint16('x00280100');
  if (!rows || !cols) return fail(`Rows/Columns missing or zero (${rows}x${cols})`);
  if (bitsAllocated !== 8 && bitsAllocated !== 16 && bitsAllocated !== 32) return fail(`BitsAllocated ${bitsAllocated} (expected 8, 16 or 32)`);
  const bitsStored = ds.uint16('x00280101') ?? bitsAllocated;
  if (bitsStored < 1 || bitsStored > bitsAllocated) return fail(`BitsStored ${bitsStored} (expected 1..${bitsAllocated})`);
  const signed = (ds.uint16('x00280103') ?? 0) === 1;
  const spp = ds.uint16('x00280002') ?? 1;
  const photometric = (ds.string('x00280004') ?? 'MONOCHROME2').trim().toUpperCase();
  const pixel = ds.elements['x7fe00010'];
  if (pixel === undefined) return fail('no PixelData element (7FE0,0010)');
  if (pixel.encapsulatedPixelData) return fail(`PixelData is encapsulated (compressed) under transfer syntax ${ts}`);

  const bytesPer = bitsAllocated / 8;
  const n = rows * cols * spp;
  const need = n * bytesPer;
  const available = Math.min(pixel.length, ds.byteArray.length - pixel.dataOffset);
  if (available < need) return fail(`PixelData holds ${available} bytes (expected ${need} for ${rows}x${cols}x${spp} at ${bitsAllocated} bits); the file is truncated`);
  const values = readSamples(ds.byteArray, pixel.dataOffset, n, bitsAllocated, bitsStored, signed, ts === BIG_ENDIAN);

  if (photometric === 'RGB') {
    if (spp !== 3) return fail(`RGB with SamplesPerPixel ${spp} (expected 3)`);
    const planar = (ds.uint16('x00280006') ?? 0) === 1;
    const hw = rows * cols;
    const data = new Float32Array(3 * hw);
    const scale = 1 / (2 ** bitsStored - 1);
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < hw; p++) data[c * hw + p] = values[planar ? c * hw + p : p * 3 + c]! * scale;
    }
    return { width: cols, height: rows, channels: 3, data };
  }
  if (photometric !== 'MONOCHROME1' && photometric !== 'MONOCHROME2') {
    return fail(`PhotometricInterpretation ${photometric} (expected MONOCHROME1, MONOCHROME2 or RGB)`);
  }
  if (spp !== 1) return fail(`${photometric} with SamplesPerPixel ${spp} (expected 1)`);

  const slope = ds.floatString('x00281053') ?? 1;
  const intercept = ds.floatString('x00281052') ?? 0;
  const center = ds.floatString('x00281050', 0);
  const width = ds.floatString('x00281051', 0);
  const fn = (ds.string('x00281056') ?? 'LINEAR').trim().toUpperCase();
  const modality = new Float64Array(n);
  for (let i = 0; i < n; i++) modality[i] = values[i]! * slope + intercept;
  const data = new Float32Array(n);
  if (center !== undefined && width !== undefined && Number.isFinite(center) && Number.isFinite(width)) {
    const voi = voiFunction(fn, center, width, fail);
    for (let i = 0; i < n; i++) data[i] = voi(modality[i]!);
  } else {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < n; i++) {
      lo = Math.min(lo, modality[i]!);
      hi = Math.max(hi, modality[i]!);
    }
    const range = hi - lo;
    for (let i = 0; i < n; i++) data[i] = range > 0 ? (modality[i]! - lo) / range : 0;
  }
  if (photometric === 'MONOCHROME1') for (let i = 0; i < n; i++) data[i] = 1 - data[i]!;
  return { width: cols, height: rows, channels: 1, data };
}

/** The VOI LUT function mapping a modality value x to [0, 1] (PS3.3 C.11.2.1.2). */
export function voiFunction(fn: string, c: number, w: number, fail: (reason: string) => never = (r) => { throw new RangeError(`voiFunction: ${r}`); }): (x: number) => number {
  switch (fn) {
    case 'LINEAR':
      if (w < 1) return fail(`WindowWidth ${w} (expected >= 1 for LINEAR)`);
      return (x) => {
        if (x <= c - 0.5 - (w - 1) / 2) return 0;
        if (x > c - 0.5 + (w - 1) / 2) return 1;
        return (x - (c - 0.5)) / (w - 1) + 0.5;
      };
    case 'LINEAR_EXACT':
      if (w <= 0) return fail(`WindowWidth ${w} (expected > 0 for LINEAR_EXACT)`);
      return (x) => (x <= c - w / 2 ? 0 : x > c + w / 2 ? 1 : (x - c) / w + 0.5);
    case 'SIGMOID':
      if (w <= 0) return fail(`WindowWidth ${w} (expected > 0 for SIGMOID)`);
      return (x) => 1 / (1 + Math.exp((-4 * (x - c)) / w));
    default:
      return fail(`VOILUTFunction ${fn} (expected LINEAR, LINEAR_EXACT or SIGMOID)`);
  }
}

/** n stored samples as numbers: masked to bitsStored and sign-extended when signed. */
function readSamples(bytes: Uint8Array, offset: number, n: number, bitsAllocated: number, bitsStored: number,
  signed: boolean, bigEndian: boolean): Float64Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, n * (bitsAllocated / 8));
  const out = new Float64Array(n);
  const range = 2 ** bitsStored;
  const half = 2 ** (bitsStored - 1);
  for (let i = 0; i < n; i++) {
    let v = bitsAllocated === 8 ? view.getUint8(i)
      : bitsAllocated === 16 ? view.getUint16(2 * i, !bigEndian)
        : view.getUint32(4 * i, !bigEndian);
    v %= range; // keep the low bitsStored bits (exact in float64 for up to 32 bits)
    if (signed && v >= half) v -= range;
    out[i] = v;
  }
  return out;
}
