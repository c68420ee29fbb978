// Decoding: PNG (8/16-bit) and JPEG through sharp, DICOM through dicom-parser (files written by
// the tiny writer in data_helpers.ts), and clear errors for truncated, garbage or unsupported files.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeDicom, decodeImage, detectImageFormat, ImageDecodeError, voiFunction } from '../lib/data/index.js';
import { encapsulated, imageElements, tempDir, TS, writeDicom, type ImageSpec } from './data_helpers.js';

const dir = tempDir();
const f32 = (x: number): number => Math.fround(x);

describe('PNG and JPEG', () => {
  it('8-bit grayscale and RGB PNG round trip exactly (value / 255), planar CHW', async () => {
    const w = 5;
    const h = 3;
    const gray = Uint8Array.from({ length: w * h }, (_, i) => (i * 37) % 256);
    const png = await sharp(gray, { raw: { width: w, height: h, channels: 1 } }).toColourspace('b-w').png().toBuffer();
    const g = await decodeImage(png);
    expect([g.width, g.height, g.channels]).toEqual([w, h, 1]);
    expect(Array.from(g.data)).toEqual(Array.from(gray, (v) => f32(v / 255)));

    const rgb = Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 53 + 11) % 256);
    const path = join(dir, 'rgb.png');
    writeFileSync(path, await sharp(rgb, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer());
    const c = await decodeImage(path);
    expect([c.width, c.height, c.channels]).toEqual([w, h, 3]);
    for (let ch = 0; ch < 3; ch++) {
      for (let p = 0; p < w * h; p++) expect(c.data[ch * w * h + p]).toBe(f32(rgb[p * 3 + ch]! / 255));
    }
  });

  it('16-bit grayscale PNG keeps its precision (value / 65535); RGBA drops alpha', async () => {
    const w = 4;
    const h = 4;
    const u16 = Uint16Array.from({ length: w * h }, (_, i) => i * 4099 + 1); // low bits all differ
    const png = await sharp(u16, { raw: { width: w, height: h, channels: 1 } }).toColourspace('grey16').png().toBuffer();
    const g = await decodeImage(png);
    expect(g.channels).toBe(1);
    expect(Array.from(g.data)).toEqual(Array.from(u16, (v) => f32(v / 65535)));

    const rgba = Uint8Array.from({ length: w * h * 4 }, (_, i) => (i % 4 === 3 ? 128 : i * 3));
    const c = await decodeImage(await sharp(rgba, { raw: { width: w, height: h, channels: 4 } }).png().toBuffer());
    expect(c.channels).toBe(3);
    expect(c.data[1]).toBe(f32(rgba[4]! / 255));
  });

  it('JPEG decodes (grayscale stays one channel) close to the encoded values', async () => {
    const w = 16;
    const h = 16;
    const smooth = Uint8Array.from({ length: w * h }, (_, i) => 40 + (i % w) * 8 + Math.floor(i / w) * 2);
    const jpg = await sharp(smooth, { raw: { width: w, height: h, channels: 1 } }).toColourspace('b-w').jpeg({ quality: 100 }).toBuffer();
    expect(detectImageFormat(jpg)).toBe('jpeg');
    const g = await decodeImage(jpg);
    expect([g.width, g.height, g.channels]).toEqual([w, h, 1]);
    for (let i = 0; i < w * h; i++) expect(Math.abs(g.data[i]! - smooth[i]! / 255)).toBeLessThan(3 / 255);
  });

  it('truncated and garbage files are ImageDecodeErrors naming the file', async () => {
    const img = Uint8Array.from({ length: 64 * 64 }, (_, i) => i % 251);
    const png = await sharp(img, { raw: { width: 64, height: 64, channels: 1 } }).png({ compressionLevel: 0 }).toBuffer();
    const truncated = join(dir, 'truncated.png');
    writeFileSync(truncated, png.subarray(0, Math.floor(png.length / 2)));
    await expect(decodeImage(truncated)).rejects.toThrow(ImageDecodeError);
    await expect(decodeImage(truncated)).rejects.toThrow(truncated);
    const garbage = join(dir, 'garbage.png');
    writeFileSync(garbage, Buffer.from('this is not an image at all'.repeat(10)));
    await expect(decodeImage(garbage)).rejects.toThrow(/garbage\.png: unrecognised image format/);
    await expect(decodeImage(join(dir, 'missing.png'))).rejects.toThrow(/missing\.png: cannot read the file/);
  });
});

/** Decodes an image written with the DICOM writer; returns the float values. */
function dicom(spec: ImageSpec, ts: string = TS.explicitLE): { data: number[]; channels: number } {
  const img = decodeDicom(writeDicom(ts, imageElements(spec, ts === TS.explicitBE)), 'test.dcm');
  expect([img.width, img.height]).toEqual([spec.cols, spec.rows]);
  return { data: Array.from(img.data), channels: img.channels };
}

describe('DICOM', () => {
  it('is detected by DICM at byte 128, not by extension', async () => {
    const bytes = writeDicom(TS.explicitLE, imageElements({ rows: 1, cols: 2, pixels: [0, 10] }));
    expect(detectImageFormat(bytes)).toBe('dicom');
    const path = join(dir, 'image.png'); // wrong extension on purpose
    writeFileSync(path, bytes);
    expect(Array.from((await decodeImage(path)).data)).toEqual([0, 1]);
  });

  it('without a window, min-max over the modality values; the same in every uncompressed syntax', () => {
    const spec: ImageSpec = { rows: 2, cols: 3, pixels: [100, 200, 300, 400, 500, 600] };
    const expected = [0, 0.2, 0.4, 0.6, 0.8, 1].map(f32);
    for (const ts of [TS.explicitLE, TS.implicitLE, TS.explicitBE]) expect(dicom(spec, ts).data).toEqual(expected);
    expect(dicom({ ...spec, bitsAllocated: 8, pixels: [0, 51, 102, 153, 204, 255] }).data).toEqual(expected);
  });

  it('MONOCHROME1 is inverted', () => {
    expect(dicom({ rows: 1, cols: 3, pixels: [0, 50, 200], photometric: 'MONOCHROME1' }).data).toEqual([1, 0.75, 0].map(f32));
  });

  it('rescale slope/intercept apply before the window (linear VOI of the DICOM standard)', () => {
    // modality = 2·v - 1000; window c = 100, w = 51: 0 at or below 74.5, 1 above 124.5,
    // (x - 99.5) / 50 + 0.5 between.
    const pixels = [537, 540, 550, 556, 600];
    const modality = pixels.map((v) => 2 * v - 1000); // 74, 80, 100, 112, 200
    expect(modality).toEqual([74, 80, 100, 112, 200]);
    const out = dicom({ rows: 1, cols: 5, pixels, slope: 2, intercept: -1000, window: { center: 100, width: 51 } }).data;
    expect(out).toEqual([0, 0.11, 0.51, 0.75, 1].map(f32));
  });

  it('multi-valued WindowCenter/Width use the first value; LINEAR_EXACT and SIGMOID', () => {
    const base: ImageSpec = { rows: 1, cols: 3, pixels: [0, 40, 100], window: { center: '40\\500', width: '80\\1000' } };
    expect(dicom(base).data).toEqual([0, (40 - 39.5) / 79 + 0.5, 1].map(f32));
    expect(dicom({ ...base, voiFunction: 'LINEAR_EXACT' }).data).toEqual([0, 0.5, 1].map(f32));
    const sig = dicom({ ...base, voiFunction: 'SIGMOID' }).data;
    expect(sig[1]).toBe(0.5);
    expect(sig[0]).toBeCloseTo(1 / (1 + Math.exp(2)), 6);
    expect(() => voiFunction('LINEAR', 0, 0.5)).toThrow(/WindowWidth 0.5/);
  });

  it('signed 16-bit pixels (two\'s complement, masked to BitsStored) and 12-bit stored', () => {
    const neg = dicom({ rows: 1, cols: 3, pixels: [0xfc18, 0, 1000], signed: true }).data; // -1000, 0, 1000
    expect(neg).toEqual([0, 0.5, 1]);
    // 12 bits stored in 16: the high nibble is not pixel data; 0x0800 is -2048 when signed.
    expect(dicom({ rows: 1, cols: 3, pixels: [0xf800, 0xa000, 0x07ff], bitsStored: 12, signed: true }).data).toEqual([0, 2048 / 4095, 1].map(f32));
    // The same signed values through the window c = 0, w = 2001: the linear ramp spans
    // (-1000.5, 999.5], so -1000 is just inside it and 1000 above it.
    const win = dicom({ rows: 1, cols: 3, pixels: [0xfc18, 0, 1000], signed: true, window: { center: 0, width: 2001 } }).data;
    expect(win).toEqual([(-1000 + 0.5) / 2000 + 0.5, (0 + 0.5) / 2000 + 0.5, 1].map(f32));
  });

  it('RGB (interleaved) is three planes', () => {
    const out = decodeDicom(writeDicom(TS.explicitLE, imageElements({ rows: 1, cols: 2, pixels: [255, 0, 51, 0, 255, 102], bitsAllocated: 8, photometric: 'RGB', samplesPerPixel: 3 })));
    expect(out.channels).toBe(3);
    expect(Array.from(out.data)).toEqual([1, 0, 0, 1, 0.2, 0.4].map(f32));
  });

  it('a compressed transfer syntax is an error naming its UID', () => {
    const els = imageElements({ rows: 1, cols: 2, pixels: [0, 1], bitsAllocated: 8 });
    const px = els.find((e) => e.group === 0x7fe0)!;
    px.vr = 'OB';
    px.value = encapsulated(new Uint8Array([0xff, 0xd8, 0xff, 0xd9]));
    const bytes = writeDicom(TS.jpegBaseline, els);
    expect(() => decodeDicom(bytes, 'ct.dcm')).toThrow(/ct\.dcm: DICOM: transfer syntax 1\.2\.840\.10008\.1\.2\.4\.50 \(JPEG Baseline\) is compressed/);
  });

  it('garbage after the DICM magic, truncated pixel data and a missing PixelData are clear errors', async () => {
    const garbage = new Uint8Array(400);
    for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 7919) % 256;
    garbage.set([0x44, 0x49, 0x43, 0x4d], 128);
    const path = join(dir, 'garbage.dcm');
    writeFileSync(path, garbage);
    await expect(decodeImage(path)).rejects.toThrow(/garbage\.dcm: DICOM: cannot parse/);

    const full = writeDicom(TS.explicitLE, imageElements({ rows: 8, cols: 8, pixels: Array.from({ length: 64 }, (_, i) => i) }));
    const cut = full.subarray(0, full.length - 40);
    expect(() => decodeDicom(cut, 'cut.dcm')).toThrow(/cut\.dcm: DICOM: .*truncated/);

    const noPixels = imageElements({ rows: 1, cols: 1, pixels: [0] }).filter((e) => e.group !== 0x7fe0);
    expect(() => decodeDicom(writeDicom(TS.explicitLE, noPixels), 'np.dcm')).toThrow(/np\.dcm: DICOM: no PixelData/);
  });
});
