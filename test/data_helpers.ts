// Test helpers for the data pipeline: a tiny DICOM Part 10 writer (meta group in explicit VR
// little endian, the data set in the chosen transfer syntax) and small image writers.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const TS = {
  implicitLE: '1.2.840.10008.1.2',
  explicitLE: '1.2.840.10008.1.2.1',
  explicitBE: '1.2.840.10008.1.2.2',
  jpegBaseline: '1.2.840.10008.1.2.4.50',
} as const;

export interface DicomElement {
  group: number;
  element: number;
  vr: string;
  /** Strings are padded to even length; numbers are written as US (uint16) values; bytes as is. */
  value: string | number[] | Uint8Array;
}

const LONG_VRS = new Set(['OB', 'OW', 'OF', 'SQ', 'UT', 'UN']);

function encodeValue(e: DicomElement, bigEndian: boolean): Uint8Array {
  if (typeof e.value === 'string') {
    const pad = e.vr === 'UI' ? '\0' : ' ';
    const s = e.value.length % 2 ? e.value + pad : e.value;
    return new Uint8Array(Buffer.from(s, 'latin1'));
  }
  if (Array.isArray(e.value)) {
    const b = new Uint8Array(2 * e.value.length);
    const v = new DataView(b.buffer);
    e.value.forEach((x, i) => v.setUint16(2 * i, x, !bigEndian));
    return b;
  }
  return e.value;
}

function encodeElement(e: DicomElement, explicit: boolean, bigEndian: boolean): Uint8Array {
  const value = encodeValue(e, bigEndian);
  const undefinedLength = e.group === 0x7fe0 && e.vr === 'OB' && value.length > 0 && (value as Uint8Array & { encapsulated?: boolean }).encapsulated === true;
  const long = LONG_VRS.has(e.vr);
  const headerLen = explicit ? (long ? 12 : 8) : 8;
  const out = new Uint8Array(headerLen + value.length);
  const v = new DataView(out.buffer);
  const le = !bigEndian;
  v.setUint16(0, e.group, le);
  v.setUint16(2, e.element, le);
  const len = undefinedLength ? 0xffffffff : value.length;
  if (explicit) {
    out[4] = e.vr.charCodeAt(0);
    out[5] = e.vr.charCodeAt(1);
    if (long) v.setUint32(8, len, le);
    else v.setUint16(6, len, le);
  } else {
    v.setUint32(4, len, le);
  }
  out.set(value, headerLen);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** A DICOM file: 128-byte preamble, DICM, meta group, then `elements` (sorted) in syntax `ts`. */
export function writeDicom(ts: string, elements: DicomElement[]): Uint8Array {
  const meta = [
    { group: 2, element: 1, vr: 'OB', value: new Uint8Array([0, 1]) },
    { group: 2, element: 2, vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.1' },
    { group: 2, element: 3, vr: 'UI', value: '1.2.3.4.5.6.7' },
    { group: 2, element: 0x10, vr: 'UI', value: ts },
  ].map((e) => encodeElement(e, true, false));
  const metaLen = meta.reduce((n, p) => n + p.length, 0);
  const groupLength = new Uint8Array(12);
  const gv = new DataView(groupLength.buffer);
  gv.setUint16(0, 2, true);
  gv.setUint16(2, 0, true);
  groupLength[4] = 0x55; // 'U'
  groupLength[5] = 0x4c; // 'L'
  gv.setUint16(6, 4, true);
  gv.setUint32(8, metaLen, true);
  const explicit = ts !== TS.implicitLE;
  const bigEndian = ts === TS.explicitBE;
  const sorted = [...elements].sort((a, b) => a.group - b.group || a.element - b.element);
  const body = sorted.map((e) => encodeElement(e, explicit, bigEndian));
  const preamble = new Uint8Array(132);
  preamble.set([0x44, 0x49, 0x43, 0x4d], 128);
  return concat([preamble, groupLength, ...meta, ...body]);
}

export interface ImageSpec {
  rows: number;
  cols: number;
  /** Stored values, row-major (interleaved for RGB). */
  pixels: number[];
  bitsAllocated?: 8 | 16;
  bitsStored?: number;
  signed?: boolean;
  photometric?: string;
  samplesPerPixel?: number;
  slope?: number;
  intercept?: number;
  window?: { center: number | string; width: number | string };
  voiFunction?: string;
}

/** The elements of an image with the given attributes and pixel values. */
export function imageElements(s: ImageSpec, bigEndian = false): DicomElement[] {
  const bits = s.bitsAllocated ?? 16;
  const n = s.pixels.length;
  const px = new Uint8Array(((n * bits) / 8 + 1) & ~1);
  const v = new DataView(px.buffer);
  s.pixels.forEach((x, i) => {
    if (bits === 8) v.setUint8(i, x & 0xff);
    else v.setUint16(2 * i, x & 0xffff, !bigEndian);
  });
  const els: DicomElement[] = [
    { group: 0x28, element: 0x02, vr: 'US', value: [s.samplesPerPixel ?? 1] },
    { group: 0x28, element: 0x04, vr: 'CS', value: s.photometric ?? 'MONOCHROME2' },
    { group: 0x28, element: 0x10, vr: 'US', value: [s.rows] },
    { group: 0x28, element: 0x11, vr: 'US', value: [s.cols] },
    { group: 0x28, element: 0x100, vr: 'US', value: [bits] },
    { group: 0x28, element: 0x101, vr: 'US', value: [s.bitsStored ?? bits] },
    { group: 0x28, element: 0x102, vr: 'US', value: [(s.bitsStored ?? bits) - 1] },
    { group: 0x28, element: 0x103, vr: 'US', value: [s.signed ? 1 : 0] },
    { group: 0x7fe0, element: 0x10, vr: bits === 8 ? 'OB' : 'OW', value: px },
  ];
  if (s.window) {
    els.push({ group: 0x28, element: 0x1050, vr: 'DS', value: String(s.window.center) });
    els.push({ group: 0x28, element: 0x1051, vr: 'DS', value: String(s.window.width) });
  }
  if (s.intercept !== undefined) els.push({ group: 0x28, element: 0x1052, vr: 'DS', value: String(s.intercept) });
  if (s.slope !== undefined) els.push({ group: 0x28, element: 0x1053, vr: 'DS', value: String(s.slope) });
  if (s.voiFunction) els.push({ group: 0x28, element: 0x1056, vr: 'CS', value: s.voiFunction });
  return els;
}

/** Encapsulated pixel data (an empty offset table, one fragment, the sequence delimiter). */
export function encapsulated(fragment: Uint8Array): Uint8Array {
  const frag = fragment.length % 2 ? concat([fragment, new Uint8Array(1)]) : fragment;
  const out = new Uint8Array(8 + 8 + frag.length + 8);
  const v = new DataView(out.buffer);
  const item = (o: number, tagElem: number, len: number): void => { v.setUint16(o, 0xfffe, true); v.setUint16(o + 2, tagElem, true); v.setUint32(o + 4, len, true); };
  item(0, 0xe000, 0);
  item(8, 0xe000, frag.length);
  out.set(frag, 16);
  item(16 + frag.length, 0xe0dd, 0);
  return Object.assign(out, { encapsulated: true });
}

/** A fresh temporary folder. */
export function tempDir(prefix = 'raddino-data-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
