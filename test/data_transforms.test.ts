// Transforms and the multi-crop augmentation against naive references: the seeded Rng, crop box
// statistics, antialiased bicubic against the native interpolate (itself checked against
// PyTorch), flip, jitter, grayscale, blur against PyTorch (test/scripts/data_reference.py),
// solarize, normalisation, and the DINOv2 / RAD-DINO presets.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as R from '../lib/index.js';
import {
  adjustBrightness, adjustContrast, adjustHue, adjustSaturation, colorJitter, DataAugmentationDINO, gaussianBlur,
  gaussianKernel1d, hflip, IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, normalize, randomResizedCropParams, randomSideCropParams,
  resampleBicubic, resizedCrop, resolveAugmentation, Rng, roundHalfEven, solarize, toGrayscale, type FloatImage,
} from '../lib/data/index.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'data');

function randomImage(rng: Rng, width: number, height: number, channels: 1 | 3): FloatImage {
  return { width, height, channels, data: Float32Array.from({ length: channels * width * height }, () => rng.random()) };
}

describe('Rng', () => {
  it('is deterministic per key path, independent across keys, and derive does not advance the parent', () => {
    const a = new Rng(7, 1, 2);
    const b = new Rng(7, 1, 2);
    const xs = Array.from({ length: 5 }, () => a.uint32());
    expect(Array.from({ length: 5 }, () => b.uint32())).toEqual(xs);
    expect(new Rng(7, 1, 3).uint32()).not.toBe(xs[0]);
    expect(new Rng(7, 2 ** 40).uint32()).not.toBe(new Rng(7, 0).uint32()); // high word matters
    const p = new Rng(3);
    const child = p.derive(5).random();
    expect(new Rng(3, 5).random()).toBe(child);
    expect(p.uint32()).toBe(new Rng(3).uint32());
  });

  it('random() is uniform on [0, 1); int() covers both ends; permutation is a permutation', () => {
    const r = new Rng(11);
    let sum = 0;
    const counts = new Array(4).fill(0);
    const n = 20000;
    for (let i = 0; i < n; i++) {
      const u = r.random();
      expect(u >= 0 && u < 1).toBe(true);
      sum += u;
      counts[r.int(2, 5) - 2]++;
    }
    expect(Math.abs(sum / n - 0.5)).toBeLessThan(0.01);
    for (const c of counts) expect(Math.abs(c / n - 0.25)).toBeLessThan(0.02);
    const perm = r.permutation(50);
    expect([...perm].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(perm).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
  });
});

describe('crop parameters', () => {
  it('roundHalfEven is Python\'s round', () => {
    expect([0.5, 1.5, 2.5, -0.5, 2.4999, 2.5001, 3].map(roundHalfEven)).toEqual([0, 2, 2, -0, 2, 3, 3]);
  });

  it('RandomResizedCrop boxes lie inside, their area and aspect follow scale and ratio', () => {
    const rng = new Rng(1);
    const H = 120;
    const W = 160;
    const areas: number[] = [];
    const logAspects: number[] = [];
    for (let i = 0; i < 4000; i++) {
      const b = randomResizedCropParams(rng, H, W, [0.32, 1]);
      expect(b.top >= 0 && b.left >= 0 && b.top + b.height <= H && b.left + b.width <= W).toBe(true);
      const a = (b.height * b.width) / (H * W);
      expect(a).toBeGreaterThan(0.32 - 0.02);
      expect(a).toBeLessThanOrEqual(1);
      areas.push(a);
      logAspects.push(Math.log(b.width / b.height));
    }
    // Aspect: log-uniform on [log 3/4, log 4/3] before rounding and rejection.
    for (const l of logAspects) expect(Math.abs(l)).toBeLessThan(Math.log(4 / 3) + 0.03);
    // Rejections (boxes wider than the image) remove large areas, so the mean is a bit below 0.66.
    const mean = areas.reduce((x, y) => x + y, 0) / areas.length;
    expect(mean).toBeGreaterThan(0.55);
    expect(mean).toBeLessThan(0.67);
    // Positions are uniform: the left edge of full-width crops is 0, otherwise spread out.
    const lefts = Array.from({ length: 2000 }, () => randomResizedCropParams(rng, 100, 100, [0.05, 0.06]).left);
    expect(Math.min(...lefts)).toBe(0);
    expect(Math.max(...lefts)).toBeGreaterThan(70);
  });

  it('falls back to the centred box clamped to the ratio range (hand-computed)', () => {
    // A 10 x 100 strip: no box of area >= 0.9 and aspect <= 4/3 fits, so after 10 attempts
    // w = round(10 · 4/3) = 13, h = 10, left = (100 - 13) // 2 = 43.
    expect(randomResizedCropParams(new Rng(0), 10, 100, [0.9, 1])).toEqual({ top: 0, left: 43, height: 10, width: 13 });
    expect(randomResizedCropParams(new Rng(0), 100, 10, [0.9, 1])).toEqual({ top: 43, left: 0, height: 13, width: 10 }); // h = round(10 / (3/4)), top = 87 // 2
  });

  it('side crops are squares of side U(lo, hi) · shorter side (RAD-DINO: 259..518 of 518)', () => {
    const rng = new Rng(2);
    const sides = Array.from({ length: 3000 }, () => {
      const b = randomSideCropParams(rng, 518, 518, [0.5, 1]);
      expect(b.width).toBe(b.height);
      expect(b.top + b.height <= 518 && b.left + b.width <= 518).toBe(true);
      return b.width;
    });
    expect(Math.min(...sides)).toBeGreaterThanOrEqual(259);
    expect(Math.max(...sides)).toBeLessThanOrEqual(518);
    expect(Math.abs(sides.reduce((x, y) => x + y, 0) / sides.length - 388.5)).toBeLessThan(5);
  });
});

describe('resampling', () => {
  /** The native F.interpolate(bicubic, antialias=True) on the cropped image. */
  function nativeResize(img: FloatImage, box: { top: number; left: number; height: number; width: number }, oh: number, ow: number): Float32Array {
    const crop = new Float32Array(img.channels * box.height * box.width);
    for (let c = 0; c < img.channels; c++) {
      for (let y = 0; y < box.height; y++) {
        for (let x = 0; x < box.width; x++) {
          crop[(c * box.height + y) * box.width + x] = img.data[(c * img.height + box.top + y) * img.width + box.left + x]!;
        }
      }
    }
    return R.tidy(() => R.interpolateBicubic(R.tensor(crop, [1, img.channels, box.height, box.width]), { size: [oh, ow], antialias: true }).dataSync() as Float32Array);
  }

  it.each([
    ['downscale a crop', 3, 37, 41, { top: 3, left: 5, height: 30, width: 33 }, 11, 9],
    ['upscale a crop', 1, 20, 17, { top: 2, left: 1, height: 7, width: 9 }, 28, 28],
    ['mixed', 3, 16, 16, { top: 0, left: 0, height: 16, width: 16 }, 5, 29],
  ] as const)('bicubic %s equals the native antialiased interpolate', (_n, C, H, W, box, oh, ow) => {
    const img = randomImage(new Rng(9), W, H, C);
    const ours = resampleBicubic(img, oh, ow, box);
    const ref = nativeResize(img, box, oh, ow);
    expect(ours.data.length).toBe(ref.length);
    for (let i = 0; i < ref.length; i++) expect(Math.abs(ours.data[i]! - ref[i]!)).toBeLessThan(1e-5);
  });

  it('resizedCrop clamps to [0, 1]; a constant image stays constant', () => {
    const edge: FloatImage = { width: 8, height: 1, channels: 1, data: Float32Array.from([0, 0, 0, 0, 1, 1, 1, 1]) };
    const up = resampleBicubic(edge, 1, 32);
    expect(Math.min(...up.data)).toBeLessThan(0); // bicubic overshoot
    const clamped = resizedCrop(edge, { top: 0, left: 0, height: 1, width: 8 }, 32);
    expect(Math.min(...clamped.data)).toBe(0);
    expect(Math.max(...clamped.data)).toBe(1);
    const flat: FloatImage = { width: 9, height: 7, channels: 1, data: new Float32Array(63).fill(0.3) };
    for (const v of resizedCrop(flat, { top: 1, left: 2, height: 5, width: 6 }, 14).data) expect(v).toBeCloseTo(0.3, 6);
  });
});

describe('pixel transforms', () => {
  const rgb: FloatImage = { width: 2, height: 1, channels: 3, data: Float32Array.from([0.2, 0.9, 0.4, 0.1, 0.6, 0.7]) };

  it('hflip mirrors every row of every channel', () => {
    const img = randomImage(new Rng(3), 5, 4, 3);
    const f = hflip(img);
    for (let c = 0; c < 3; c++) for (let y = 0; y < 4; y++) for (let x = 0; x < 5; x++) {
      expect(f.data[(c * 4 + y) * 5 + x]).toBe(img.data[(c * 4 + y) * 5 + 4 - x]);
    }
    expect(hflip(f).data).toEqual(img.data);
  });

  it('brightness, contrast (mean luma), saturation (luma image), grayscale by hand', () => {
    expect(Array.from(adjustBrightness(rgb, 1.5).data)).toEqual(Array.from(rgb.data, (v) => Math.fround(Math.min(1, 1.5 * v))));
    const l0 = 0.299 * 0.2 + 0.587 * 0.4 + 0.114 * 0.6;
    const l1 = 0.299 * 0.9 + 0.587 * 0.1 + 0.114 * 0.7;
    const m = (l0 + l1) / 2;
    const c = adjustContrast(rgb, 0.5).data;
    [0.2, 0.9, 0.4, 0.1, 0.6, 0.7].forEach((v, i) => expect(c[i]).toBeCloseTo(0.5 * v + 0.5 * m, 6));
    const s = adjustSaturation(rgb, 0).data;
    [l0, l1, l0, l1, l0, l1].forEach((v, i) => expect(s[i]).toBeCloseTo(v, 6));
    expect(Array.from(toGrayscale(rgb, 3).data)).toEqual(Array.from(s));
    const gray: FloatImage = { width: 2, height: 1, channels: 1, data: Float32Array.from([0.2, 0.6]) };
    expect(Array.from(adjustContrast(gray, 0).data)).toEqual([0.4, 0.4].map(Math.fround));
    expect(adjustSaturation(gray, 0)).toBe(gray);
  });

  it('hue rotation: shift 0 is the identity, 1/3 turns red into green, grays are unchanged', () => {
    const img: FloatImage = { width: 3, height: 1, channels: 3, data: Float32Array.from([1, 0.5, 0.3, 0, 0.5, 0.6, 0, 0.5, 0.9]) };
    const same = adjustHue(img, 0).data;
    img.data.forEach((v, i) => expect(same[i]).toBeCloseTo(v, 6));
    const turned = adjustHue(img, 1 / 3).data;
    expect([turned[0], turned[3], turned[6]].map((v) => Math.round(v! * 1e6) / 1e6)).toEqual([0, 1, 0]); // red → green
    expect([turned[1], turned[4], turned[7]].map((v) => Math.round(v! * 1e6) / 1e6)).toEqual([0.5, 0.5, 0.5]); // gray
    const back = adjustHue(adjustHue(img, 0.1), -0.1).data;
    img.data.forEach((v, i) => expect(back[i]).toBeCloseTo(v, 5));
  });

  it('colorJitter on one channel uses only brightness and contrast', () => {
    const gray = randomImage(new Rng(4), 6, 5, 1);
    const out = colorJitter(new Rng(5), gray, { brightness: 0.4, contrast: 0.4, saturation: 0.2, hue: 0.1 });
    expect(out.channels).toBe(1);
    const r = new Rng(5); // the same draws by hand: b, c, then the order of the two
    const b = r.uniform(0.6, 1.4);
    const c = r.uniform(0.6, 1.4);
    const order = r.permutation(2);
    let ref = gray;
    for (const i of order) ref = i === 0 ? adjustBrightness(ref, b) : adjustContrast(ref, c);
    expect(out.data).toEqual(ref.data);
  });

  it('gaussian kernel and blur equal torchvision\'s (2-D reflect-padded convolution in PyTorch)', () => {
    const k = gaussianKernel1d(1, 9);
    expect(k[4]).toBeCloseTo(0.39894, 4);
    expect(k.reduce((x, y) => x + y, 0)).toBeCloseTo(1, 12);
    const cases = JSON.parse(readFileSync(join(FIXTURES, 'blur.json'), 'utf8')) as { shape: [1 | 3, number, number]; sigma: number; x: number[]; y: number[] }[];
    for (const c of cases) {
      const [C, H, W] = c.shape;
      const out = gaussianBlur({ width: W, height: H, channels: C, data: Float32Array.from(c.x) }, c.sigma);
      c.y.forEach((v, i) => expect(Math.abs(out.data[i]! - v)).toBeLessThan(1e-6));
    }
  });

  it('solarize inverts at or above the threshold; normalise replicates one channel', () => {
    const img: FloatImage = { width: 4, height: 1, channels: 1, data: Float32Array.from([0.1, 0.4999, 0.5, 0.9]) };
    expect(Array.from(solarize(img).data)).toEqual([img.data[0], img.data[1], 0.5, Math.fround(1 - img.data[3]!)]);
    const n = normalize(img);
    expect(n.length).toBe(12);
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < 4; p++) expect(n[c * 4 + p]).toBe(Math.fround((img.data[p]! - IMAGENET_DEFAULT_MEAN[c]!) / IMAGENET_DEFAULT_STD[c]!));
    }
    const n3 = normalize(rgb, [0.5, 0.5, 0.5], [0.25, 0.5, 1]);
    [-1.2, 1.6, -0.2, -0.8, 0.1, 0.2].forEach((v, i) => expect(n3[i]).toBeCloseTo(v, 6));
  });
});

describe('DataAugmentationDINO', () => {
  it('dinov2 defaults: 224 / 98 for ViT-14, 8 local crops, documented blur 1.0 / 0.1 / 0.5', () => {
    const c = resolveAugmentation();
    expect([c.globalCropsSize, c.localCropsSize, c.localCropsNumber]).toEqual([224, 98, 8]);
    expect(c.blurProbabilities).toEqual([1, 0.1, 0.5]);
    expect(resolveAugmentation({ blurProbabilities: 'reference' }).blurProbabilities).toEqual([0, 0.9, 0.5]);
    expect(resolveAugmentation({ patchSize: 16 }).localCropsSize).toBe(96);
    const r = resolveAugmentation({ preset: 'raddino' });
    expect([r.globalCropsSize, r.localCropsSize, r.grayscaleInput, r.jitter.saturation, r.jitter.hue]).toEqual([518, 196, true, 0, 0]);
    expect(r.blurProbabilities[0]).toBeLessThan(1);
    expect(() => resolveAugmentation({ globalCropsSize: 100 })).toThrow(/globalCropsSize' is 100 \(expected a positive multiple of the patch size 14\)/);
    expect(() => resolveAugmentation({ blurProbabilities: [1, 2, 0] })).toThrow(/blurProbabilities\[1\]/);
  });

  it('produces normalised 3-channel crops of the configured sizes, reproducibly from the Rng', () => {
    const aug = new DataAugmentationDINO({ globalCropsSize: 28, localCropsSize: 14, localCropsNumber: 3 });
    const img = randomImage(new Rng(8), 40, 30, 3);
    const a = aug.apply(img, new Rng(1, 2, 3));
    expect(a.globalCrops.map((x) => x.length)).toEqual([3 * 28 * 28, 3 * 28 * 28]);
    expect(a.localCrops.map((x) => x.length)).toEqual([3 * 14 * 14, 3 * 14 * 14, 3 * 14 * 14]);
    const b = aug.apply(img, new Rng(1, 2, 3));
    expect(b.globalCrops).toEqual(a.globalCrops);
    expect(b.localCrops).toEqual(a.localCrops);
    expect(aug.apply(img, new Rng(1, 2, 4)).globalCrops[0]).not.toEqual(a.globalCrops[0]);
    // Every value is a normalised [0, 1] value.
    for (const crop of [...a.globalCrops, ...a.localCrops]) {
      for (let c = 0; c < 3; c++) {
        const plane = crop.subarray(c * crop.length / 3, (c + 1) * crop.length / 3);
        for (const v of plane) {
          expect(v).toBeGreaterThanOrEqual((0 - IMAGENET_DEFAULT_MEAN[c]!) / IMAGENET_DEFAULT_STD[c]! - 1e-5);
          expect(v).toBeLessThanOrEqual((1 - IMAGENET_DEFAULT_MEAN[c]!) / IMAGENET_DEFAULT_STD[c]! + 1e-5);
        }
      }
    }
  });

  it('the first global crop equals crop + flip + jitter + grayscale + blur drawn by hand from its stream', () => {
    const aug = new DataAugmentationDINO({ globalCropsSize: 28, localCropsSize: 14, localCropsNumber: 0 });
    const img = randomImage(new Rng(8), 40, 30, 3);
    const got = aug.apply(img, new Rng(5)).globalCrops[0]!;
    const r = new Rng(5).derive(0);
    const cfg = aug.config;
    const spec = cfg.globalCrop as { scale: [number, number] };
    let x = resizedCrop(img, randomResizedCropParams(r, 30, 40, spec.scale), 28);
    if (r.bernoulli(0.5)) x = hflip(x);
    if (r.bernoulli(0.8)) x = colorJitter(r, x, cfg.jitter);
    if (r.bernoulli(0.2)) x = toGrayscale(x, 3);
    if (r.bernoulli(1.0)) x = gaussianBlur(x, r.uniform(0.1, 2.0));
    expect(got).toEqual(normalize(x));
  });

  it('blur probabilities: documented blurs global crop 1 always, reference never', () => {
    const img = randomImage(new Rng(8), 20, 20, 1);
    // Without jitter, flip or blur the crop of a full-scale box is deterministic: compare with it.
    const opts = { globalCropsSize: 14, localCropsSize: 14, localCropsNumber: 0, jitterProbability: 0, hflipProbability: 0,
      globalCrop: { mode: 'area' as const, scale: [1, 1] as [number, number], ratio: [1, 1] as [number, number] } };
    const sharp = normalize(resizedCrop(img, { top: 0, left: 0, height: 20, width: 20 }, 14));
    for (let s = 0; s < 5; s++) {
      expect(new DataAugmentationDINO({ ...opts, blurProbabilities: 'reference' }).apply(img, new Rng(s)).globalCrops[0]).toEqual(sharp);
      expect(new DataAugmentationDINO({ ...opts, blurProbabilities: 'documented' }).apply(img, new Rng(s)).globalCrops[0]).not.toEqual(sharp);
    }
  });

  it('raddino preset: grayscale input, square crops, 518 / 196 outputs', () => {
    const aug = new DataAugmentationDINO({ preset: 'raddino', localCropsNumber: 1 });
    const img = randomImage(new Rng(6), 64, 64, 3);
    const out = aug.apply(img, new Rng(0));
    expect(out.globalCrops[0]!.length).toBe(3 * 518 * 518);
    expect(out.localCrops[0]!.length).toBe(3 * 196 * 196);
    // One channel replicated: the three normalised planes are the same image under each mean/std.
    const g = out.localCrops[0]!;
    const hw = 196 * 196;
    for (let p = 0; p < hw; p += 997) {
      const v0 = g[p]! * IMAGENET_DEFAULT_STD[0] + IMAGENET_DEFAULT_MEAN[0];
      expect(g[hw + p]! * IMAGENET_DEFAULT_STD[1] + IMAGENET_DEFAULT_MEAN[1]).toBeCloseTo(v0, 5);
    }
  });
});
