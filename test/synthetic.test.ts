// The synthetic chest-X-ray data set: deterministic pixels, label balance, labels a linear model
// can learn from pixels (which also runs the probe end to end), and the PNG/CSV/JSONL writer read
// back through sharp.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import * as R from '../lib/index.js';

const BINARY = R.SYNTHETIC_LABELS.filter((k) => k !== 'habitus');

/** size x size image average-pooled to (size/pool)^2 features. */
function pooled(image: Float32Array, size: number, pool: number): Float64Array {
  const g = size / pool, f = new Float64Array(g * g);
  for (let r = 0; r < size; r++) for (let c = 0; c < size; c++) f[Math.floor(r / pool) * g + Math.floor(c / pool)] += image[r * size + c] / (pool * pool);
  return f;
}

describe('generateSyntheticCXR', () => {
  it('is a pure function of (seed, index): same pixels and labels, other index or seed differ', () => {
    const a = R.generateSyntheticCXR(7, { size: 48, seed: 3 });
    const b = R.generateSyntheticCXR(7, { size: 48, seed: 3 });
    expect(a.image).toEqual(b.image);
    expect(a.labels).toEqual(b.labels);
    expect(a.image.length).toBe(48 * 48);
    expect(Math.min(...a.image)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...a.image)).toBeLessThanOrEqual(1);
    const diff = (x: Float32Array, y: Float32Array) => x.reduce((s, v, i) => s + Math.abs(v - y[i]), 0) / x.length;
    expect(diff(a.image, R.generateSyntheticCXR(8, { size: 48, seed: 3 }).image)).toBeGreaterThan(0.01);
    expect(diff(a.image, R.generateSyntheticCXR(7, { size: 48, seed: 4 }).image)).toBeGreaterThan(0.01);
    // the labels of an index do not depend on the image size or the nuisance level
    expect(R.generateSyntheticCXR(7, { size: 96, seed: 3, nuisance: 2 }).labels).toEqual(a.labels);
  });

  it('has the anatomy where it belongs: dark air outside, dark lungs, a bright spine and abdomen', () => {
    const size = 64;
    const mean = (im: Float32Array, r0: number, r1: number, c0: number, c1: number) => {
      let s = 0;
      for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) s += im[r * size + c];
      return s / ((r1 - r0) * (c1 - c0));
    };
    for (let i = 0; i < 20; i++) {
      const { image } = R.generateSyntheticCXR(i, { size, seed: 1, nuisance: 0 });
      const corner = mean(image, 0, 4, 0, 4), lung = mean(image, 22, 30, 14, 20), spine = mean(image, 22, 30, 31, 33), abdomen = mean(image, 58, 64, 24, 40);
      expect(corner).toBeLessThan(0.1);
      expect(lung).toBeLessThan(spine - 0.15);
      expect(lung).toBeLessThan(abdomen - 0.15);
    }
  });

  it('keeps every label between 20% and 60% positive over 200 images, habitus in thirds', () => {
    const n = 200, counts: Record<string, number> = {}, habitus = [0, 0, 0];
    for (let i = 0; i < n; i++) {
      const { labels } = R.generateSyntheticCXR(i, { size: 16, seed: 11 });
      for (const k of BINARY) {
        expect([0, 1]).toContain(labels[k]);
        counts[k] = (counts[k] ?? 0) + labels[k];
      }
      expect(labels.opacity).toBe(labels.opacity_left | labels.opacity_right);
      habitus[labels.habitus]++;
    }
    for (const k of BINARY) {
      expect(counts[k] / n, k).toBeGreaterThan(0.2);
      expect(counts[k] / n, k).toBeLessThan(0.6);
    }
    for (const c of habitus) expect(c / n).toBeGreaterThan(0.25);
  });

  it('has labels a linear probe learns from 16x16 pooled pixels (test AUROC well above 0.5)', () => {
    const size = 64, N = 500, nTrain = 320;
    const X: Float64Array[] = [];
    const Y: Record<string, number[]> = Object.fromEntries(R.SYNTHETIC_LABELS.map((k) => [k, []]));
    for (let i = 0; i < N; i++) {
      const { image, labels } = R.generateSyntheticCXR(i, { size, seed: 5 });
      X.push(pooled(image, size, 4));
      for (const k of R.SYNTHETIC_LABELS) Y[k].push(labels[k]);
    }
    const cols = (a: number, b: number) => Object.fromEntries(BINARY.map((k) => [k, Y[k].slice(a, b)]));
    const r = R.linearProbe({ trainX: X.slice(0, nTrain), trainY: cols(0, nTrain), testX: X.slice(nTrain), testY: cols(nTrain, N), l2: 1e-2, bootstrap: { n: 300, seed: 1 } });
    for (const k of ['opacity', 'device', 'cardiomegaly'] as const) {
      expect(r.labels[k].auroc.value, k).toBeGreaterThan(0.7);
      expect(r.labels[k].auroc.ci[0], k).toBeGreaterThan(0.6);  // the whole interval clears chance
    }
    expect(r.mean.auroc.ci[0]).toBeGreaterThan(0.75);
    // habitus (3 classes, soft-tissue thickness): 5-fold accuracy well above chance (1/3)
    expect(R.kFoldCV(X, Y.habitus, 5, 0, { l2: 1e-2 }).accuracy).toBeGreaterThan(0.55);
    // with acquisition variability removed the same features do better (the nuisance knob works)
    const Xc = Array.from({ length: N }, (_, i) => pooled(R.generateSyntheticCXR(i, { size, seed: 5, nuisance: 0 }).image, size, 4));
    const clean = R.linearProbe({ trainX: Xc.slice(0, nTrain), trainY: cols(0, nTrain), testX: Xc.slice(nTrain), testY: cols(nTrain, N), l2: 1e-2, bootstrap: { n: 100 } });
    expect(clean.mean.auroc.value).toBeGreaterThan(r.mean.auroc.value);
  });

  it('takes a few ms per 224x224 image', () => {
    for (let i = 0; i < 5; i++) R.generateSyntheticCXR(i, { size: 224, seed: 2 });
    const t0 = performance.now();
    for (let i = 0; i < 20; i++) R.generateSyntheticCXR(i, { size: 224, seed: 2 });
    expect((performance.now() - t0) / 20).toBeLessThan(30);  // ~4 ms on one core; loose for a shared machine
  });

  it('rejects bad arguments with the name of the argument', () => {
    expect(() => R.generateSyntheticCXR(0, { size: 8 })).toThrow(/generateSyntheticCXR: argument 'size' is 8/);
    expect(() => R.generateSyntheticCXR(-1, { size: 32 })).toThrow(/argument 'index' is -1/);
    expect(() => R.generateSyntheticCXR(0, { size: 32, seed: 1.5 })).toThrow(/argument 'seed' is 1.5/);
    expect(() => R.generateSyntheticCXR(0, { size: 32, nuisance: 9 })).toThrow(/option 'nuisance' is 9/);
  });
});

describe('writeSyntheticDataset', () => {
  it('writes grayscale PNGs, labels.csv and labels.jsonl that read back exactly, with no temporary files left', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'raddino-syn-'));
    try {
      const ds = await R.writeSyntheticDataset(dir, { n: 5, size: 32, seed: 9 });
      expect(ds.paths).toEqual(['images/000000.png', 'images/000001.png', 'images/000002.png', 'images/000003.png', 'images/000004.png']);
      expect(readdirSync(dir).sort()).toEqual(['images', 'labels.csv', 'labels.jsonl']);
      expect(readdirSync(join(dir, 'images')).filter((f) => !f.endsWith('.png'))).toEqual([]);
      const csv = readFileSync(join(dir, 'labels.csv'), 'utf8').trimEnd().split('\n');
      expect(csv[0]).toBe(['path', ...R.SYNTHETIC_LABELS].join(','));
      const jsonl = readFileSync(join(dir, 'labels.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
      expect(csv.length - 1).toBe(5);
      expect(jsonl.length).toBe(5);
      for (let i = 0; i < 5; i++) {
        const { image, labels } = R.generateSyntheticCXR(i, { size: 32, seed: 9 });
        const row = csv[i + 1].split(',');
        expect(row[0]).toBe(ds.paths[i]);
        expect(Object.fromEntries(R.SYNTHETIC_LABELS.map((k, j) => [k, Number(row[j + 1])]))).toEqual(labels);
        expect(jsonl[i]).toEqual({ path: ds.paths[i], ...labels });
        const png = sharp(join(dir, ds.paths[i]));
        const meta = await png.metadata();
        expect([meta.width, meta.height, meta.channels, meta.depth]).toEqual([32, 32, 1, 'uchar']);
        const { data, info } = await png.toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
        expect(info.channels).toBe(1);
        expect(Array.from(data)).toEqual(Array.from(image, (v) => Math.round(v * 255)));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writes 16-bit PNGs that keep 16 bits', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'raddino-syn16-'));
    try {
      const ds = await R.writeSyntheticDataset(dir, { n: 2, size: 20, seed: 4, bitDepth: 16, concurrency: 1 });
      const png = sharp(join(dir, ds.paths[1]));
      expect((await png.metadata()).depth).toBe('ushort');
      const { data } = await png.toColourspace('grey16').raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
      const got = new Uint16Array(data.buffer, data.byteOffset, data.length / 2);
      const { image } = R.generateSyntheticCXR(1, { size: 20, seed: 4 });
      expect(Array.from(got)).toEqual(Array.from(image, (v) => Math.round(v * 65535)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects bad options before writing anything', async () => {
    const dir = join(tmpdir(), `raddino-syn-bad-${process.pid}`);
    await expect(R.writeSyntheticDataset(dir, { n: 0, size: 32 })).rejects.toThrow(/writeSyntheticDataset: argument 'n' is 0/);
    await expect(R.writeSyntheticDataset(dir, { n: 2, size: 32, bitDepth: 12 as 8 })).rejects.toThrow(/argument 'bitDepth' is 12/);
    expect(() => readdirSync(dir)).toThrow();
  });
});
