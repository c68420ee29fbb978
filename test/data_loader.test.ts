// Datasets (folder, CSV, JSONL, empty) and the worker-thread loader: the same batches for 0, 1
// and 3 workers, exact resumption mid-epoch, corrupt files skipped and counted, worker errors as
// rejected promises naming the file.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataLoader, disposeBatch, epochOrder, FolderDataset, ListDataset, openDataset, type LoadedBatch, type SkippedFile } from '../lib/data/index.js';
import { imageElements, tempDir, TS, writeDicom } from './data_helpers.js';

const root = tempDir();
const images = join(root, 'images');
let truncatedPath = '';

async function png(path: string, w: number, h: number, seed: number): Promise<void> {
  const px = Uint8Array.from({ length: w * h }, (_, i) => ((i % w) * 7 + Math.floor(i / w) * 3 + seed * 29) % 256);
  writeFileSync(path, await sharp(px, { raw: { width: w, height: h, channels: 1 } }).toColourspace('b-w').png().toBuffer());
}

beforeAll(async () => {
  mkdirSync(join(images, 'sub', 'deeper'), { recursive: true });
  for (let i = 0; i < 9; i++) await png(join(images, i < 4 ? '' : i < 7 ? 'sub' : 'sub/deeper', `img${i}.png`), 30 + i, 26 + 2 * i, i);
  writeFileSync(join(images, 'sub', 'scan.dcm'), writeDicom(TS.explicitLE, imageElements({ rows: 20, cols: 24, pixels: Array.from({ length: 480 }, (_, i) => i * 3) })));
  writeFileSync(join(images, 'notes.txt'), 'not an image');
  writeFileSync(join(images, '.hidden.png'), 'hidden');
  const full = await sharp(Uint8Array.from({ length: 48 * 48 }, (_, i) => i % 256), { raw: { width: 48, height: 48, channels: 1 } }).png({ compressionLevel: 0 }).toBuffer();
  truncatedPath = join(images, 'sub', 'truncated.png');
  writeFileSync(truncatedPath, full.subarray(0, full.length >> 1));
});

describe('datasets', () => {
  it('FolderDataset: recursive, sorted, image extensions only, hidden files left out', () => {
    const ds = new FolderDataset(images);
    const rel = ds.items.map((it) => it.path.slice(images.length + 1));
    expect(rel).toEqual(['img0.png', 'img1.png', 'img2.png', 'img3.png', 'sub/deeper/img7.png', 'sub/deeper/img8.png',
      'sub/img4.png', 'sub/img5.png', 'sub/img6.png', 'sub/scan.dcm', 'sub/truncated.png']);
    expect(new FolderDataset(images, { recursive: false }).length).toBe(4);
    expect(new FolderDataset(images, { recursive: false, extensions: null }).length).toBe(5); // + notes.txt
  });

  it('an empty folder or list is a clear error', () => {
    const empty = join(root, 'empty');
    mkdirSync(join(empty, 'nothing-here'), { recursive: true });
    expect(() => new FolderDataset(empty)).toThrow(/FolderDataset: no files with extension .* in .*empty.*\(empty data set\)/);
    writeFileSync(join(root, 'empty.csv'), 'path,label\n');
    expect(() => new ListDataset(join(root, 'empty.csv'))).toThrow(/lists no images \(empty data set\)/);
    expect(() => new FolderDataset(join(root, 'absent'))).toThrow(/cannot read folder/);
  });

  it('CSV: a path column, labels, quoting, paths relative to the list file', () => {
    const list = join(root, 'lists', 'train.csv');
    mkdirSync(join(root, 'lists'), { recursive: true });
    writeFileSync(list, `label,path,note\r\n1,../images/img0.png,"a, quoted ""note"""\r\n0,${join(images, 'img1.png')},\r\n`);
    const ds = new ListDataset(list);
    expect(ds.items).toEqual([
      { path: join(images, 'img0.png'), labels: { label: 1, note: 'a, quoted "note"' } },
      { path: join(images, 'img1.png'), labels: { label: 0, note: null } },
    ]);
    writeFileSync(join(root, 'lists', 'bad.csv'), 'file,label\na.png,1\n');
    expect(() => new ListDataset(join(root, 'lists', 'bad.csv'))).toThrow(/no 'path' column \(header: file, label\)/);
    writeFileSync(join(root, 'lists', 'ragged.csv'), 'path,label\na.png\n');
    expect(() => new ListDataset(join(root, 'lists', 'ragged.csv'))).toThrow(/line 2 has 1 fields \(expected 2/);
  });

  it('JSONL: one object per line with a path; openDataset picks folder or list', () => {
    const list = join(root, 'lists', 'train.jsonl');
    writeFileSync(list, `{"path": "../images/img2.png", "finding": "effusion", "y": 1}\n\n{"path": "${join(images, 'img3.png')}"}\n`);
    const ds = openDataset(list);
    expect(ds.items).toEqual([
      { path: join(images, 'img2.png'), labels: { finding: 'effusion', y: 1 } },
      { path: join(images, 'img3.png'), labels: {} },
    ]);
    expect(openDataset(images).length).toBe(11);
    writeFileSync(join(root, 'lists', 'bad.jsonl'), '{"path": "a.png"}\n{"file": "b.png"}\n');
    expect(() => new ListDataset(join(root, 'lists', 'bad.jsonl'))).toThrow(/line 2 has no "path" string/);
  });
});

/** A comparable digest of a batch (all arrays as plain numbers). */
function digest(b: LoadedBatch): unknown {
  return {
    pos: [b.epoch, b.step],
    indices: b.indices,
    global: Array.from(b.globalCrops.dataSync() as Float32Array),
    local: Array.from(b.localCrops!.dataSync() as Float32Array),
    masks: Array.from(b.masks.dataSync() as Uint8Array),
    idx: Array.from(b.maskIndices.dataSync() as BigInt64Array, Number),
    w: Array.from(b.masksWeight.dataSync() as Float32Array),
  };
}

const AUG = { globalCropsSize: 28, localCropsSize: 14, localCropsNumber: 2, patchSize: 14 };

async function take(loader: DataLoader, n: number): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const b of loader) {
    out.push(digest(b));
    disposeBatch(b);
    if (out.length === n) break;
  }
  return out;
}

describe('DataLoader', () => {
  const loaders: DataLoader[] = [];
  afterAll(async () => { await Promise.all(loaders.map((l) => l.close())); });
  const make = (numWorkers: number, onSkip?: (s: SkippedFile) => void): DataLoader => {
    const l = new DataLoader(new FolderDataset(images), { batchSize: 3, seed: 17, numWorkers, augmentation: AUG, onSkip: onSkip ?? (() => {}) });
    loaders.push(l);
    return l;
  };

  it('gives identical batches with 0, 1 and 3 workers across epochs, and resumes exactly mid-epoch', async () => {
    const skips: SkippedFile[] = [];
    const l0 = make(0, (s) => skips.push(s));
    expect(l0.stepsPerEpoch).toBe(3); // floor(11 / 3)
    const ref = await take(l0, 7); // epochs 0, 1 and the first batch of epoch 2
    expect(ref.map((d) => (d as { pos: number[] }).pos)).toEqual([[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2], [2, 0]]);
    expect(l0.position).toEqual({ epoch: 2, step: 1 });
    const l1 = make(1);
    const l3 = make(3);
    expect(await take(l1, 7)).toEqual(ref);
    expect(await take(l3, 7)).toEqual(ref);
    // A resumed run: a fresh loader started at (1, 1) yields the uninterrupted run's batches 4..6.
    const resumed = make(3).start({ epoch: 1, step: 1 });
    expect(await take(resumed, 3)).toEqual(ref.slice(4, 7));
    // Moving an existing loader back drops what it had prefetched.
    l3.start({ epoch: 0, step: 2 });
    expect(await take(l3, 2)).toEqual(ref.slice(2, 4));
    // The epoch order is a seeded permutation; the truncated PNG was skipped and reported once.
    expect(epochOrder(17, 0, 11, true)).not.toEqual(epochOrder(17, 1, 11, true));
    expect(skips.map((s) => s.path)).toEqual([truncatedPath]);
    expect(skips[0]!.reason.length).toBeGreaterThan(0);
    for (const l of [l0, l1, l3]) {
      expect(l.skippedCount).toBe(1);
      expect(l.skipped[0]!.path).toBe(truncatedPath);
    }
    const ds = new FolderDataset(images);
    for (const d of ref) expect((d as { indices: number[] }).indices).not.toContain(ds.items.findIndex((it) => it.path === truncatedPath));
  });

  it('batches have the SSLBatch layout; epoch() stops at the end of the epoch', async () => {
    const l = make(1);
    l.start({ epoch: 4, step: 1 });
    const seen: number[][] = [];
    for await (const b of l.epoch()) {
      expect(b.globalCrops.shape).toEqual([6, 3, 28, 28]);
      expect(b.localCrops!.shape).toEqual([6, 3, 14, 14]);
      expect(b.masks.shape).toEqual([6, 4]);
      expect(b.paths).toHaveLength(3);
      seen.push([b.epoch, b.step]);
      disposeBatch(b);
    }
    expect(seen).toEqual([[4, 1], [4, 2]]);
    expect(l.position).toEqual({ epoch: 5, step: 0 });
    expect(() => l.start({ epoch: 0, step: 3 })).toThrow(/step 3 \(expected an integer in \[0, 3\)\)/);
  });

  it('a batch whose files all fail is a rejected promise naming a file, not a crash', async () => {
    const bad = join(root, 'bad');
    mkdirSync(bad, { recursive: true });
    for (let i = 0; i < 3; i++) writeFileSync(join(bad, `broken${i}.png`), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]));
    const l = new DataLoader(new FolderDataset(bad), { batchSize: 2, numWorkers: 1, augmentation: AUG, onSkip: () => {} });
    loaders.push(l);
    await expect(l.next()).rejects.toThrow(/could not be decoded \(last: .*broken\d\.png\)/);
    expect(l.skippedCount).toBe(0); // nothing was delivered, so nothing was merged yet
    expect(() => new DataLoader(['a.png'], { batchSize: 2, numWorkers: 0 })).toThrow(/1 images, fewer than one batch of 2/);
  });
});
