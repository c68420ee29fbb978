// Image transforms on FloatImage ([0, 1], planar CHW), each driven by an explicit Rng where it is
// random. Semantics follow torchvision as the dinov2 reference uses it (PIL images), in float:
// results are not quantised to 8 bits between steps, and values are clamped to [0, 1] where an
// 8-bit PIL image would be.
import type { FloatImage } from './image.js';
import type { Rng } from './rng.js';

/** A crop rectangle in pixels (torchvision's (i, j, h, w)). */
export interface CropBox {
  top: number;
  left: number;
  height: number;
  width: number;
}

/** Python's round(): halves go to the even neighbour. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * torchvision's RandomResizedCrop.get_params: up to 10 attempts at a box of area
 * U(scale)·H·W and aspect exp(U(log ratio)) (w = round(sqrt(A·r)), h = round(sqrt(A/r))) that fits
 * in the image, at a uniform position; otherwise the centred box of the whole image clamped to
 * the ratio range.
 */
export function randomResizedCropParams(rng: Rng, height: number, width: number, scale: readonly [number, number],
  ratio: readonly [number, number] = [3 / 4, 4 / 3]): CropBox {
  if (!(scale[0] > 0 && scale[0] <= scale[1] && scale[1] <= 1)) throw new RangeError(`randomResizedCropParams: scale [${scale}] (expected 0 < lo <= hi <= 1)`);
  if (!(ratio[0] > 0 && ratio[0] <= ratio[1])) throw new RangeError(`randomResizedCropParams: ratio [${ratio}] (expected 0 < lo <= hi)`);
  const area = height * width;
  const logLo = Math.log(ratio[0]);
  const logHi = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(logLo, logHi));
    const w = roundHalfEven(Math.sqrt(target * aspect));
    const h = roundHalfEven(Math.sqrt(target / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      return { top: rng.int(0, height - h), left: rng.int(0, width - w), height: h, width: w };
    }
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < ratio[0]) h = roundHalfEven(w / ratio[0]);
  else if (inRatio > ratio[1]) w = roundHalfEven(h * ratio[1]);
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w };
}

/**
 * A square crop whose side is U(side)·min(H, W) (rounded half-to-even, at least 1) at a uniform
 * position: RAD-DINO's "crops of side U(259, 518)" on 518-pixel images is side = [0.5, 1].
 */
export function randomSideCropParams(rng: Rng, height: number, width: number, side: readonly [number, number]): CropBox {
  if (!(side[0] > 0 && side[0] <= side[1] && side[1] <= 1)) throw new RangeError(`randomSideCropParams: side [${side}] (expected 0 < lo <= hi <= 1)`);
  const s = Math.max(1, Math.min(Math.min(height, width), roundHalfEven(rng.uniform(side[0], side[1]) * Math.min(height, width))));
  return { top: rng.int(0, height - s), left: rng.int(0, width - s), height: s, width: s };
}

/** Keys cubic convolution with a = -0.5 (PIL's and PyTorch's antialiased bicubic). */
function cubicAA(x: number): number {
  const a = -0.5;
  x = Math.abs(x);
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

/** Per output index: first input index, tap count and normalised weights (stride `taps`). */
interface Taps { start: Int32Array; count: Int32Array; weights: Float64Array; taps: number }

function resampleTaps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const support = scale >= 1 ? 2 * scale : 2;
  const invscale = scale >= 1 ? 1 / scale : 1;
  const taps = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float64Array(outSize * taps);
  for (let i = 0; i < outSize; i++) {
    const center = scale * (i + 0.5);
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize);
    let total = 0;
    for (let j = 0; j < xmax - xmin; j++) {
      const w = cubicAA((j + xmin - center + 0.5) * invscale);
      weights[i * taps + j] = w;
      total += w;
    }
    if (total !== 0) for (let j = 0; j < xmax - xmin; j++) weights[i * taps + j]! /= total;
    start[i] = xmin;
    count[i] = xmax - xmin;
  }
  return { start, count, weights, taps };
}

/**
 * Resamples the `box` region of `img` to outH x outW with the antialiased bicubic filter of PIL
 * and of PyTorch's interpolate(mode='bicubic', antialias=True): Keys a = -0.5, support widened
 * by the scale when downscaling, weights normalised, taps clipped to the box (as cropping first
 * and then resizing does). Horizontal pass, then vertical; float64 accumulation. No clamping.
 */
export function resampleBicubic(img: FloatImage, outH: number, outW: number, box: CropBox = { top: 0, left: 0, height: img.height, width: img.width }): FloatImage {
  if (!(Number.isInteger(outH) && Number.isInteger(outW) && outH > 0 && outW > 0)) throw new RangeError(`resampleBicubic: output size ${outH}x${outW} (expected positive integers)`);
  const { top, left, height: bh, width: bw } = box;
  if (top < 0 || left < 0 || bh < 1 || bw < 1 || top + bh > img.height || left + bw > img.width) {
    throw new RangeError(`resampleBicubic: box (${top}, ${left}, ${bh}, ${bw}) outside the ${img.height}x${img.width} image`);
  }
  const H = img.height;
  const W = img.width;
  const C = img.channels;
  const tx = resampleTaps(bw, outW);
  const ty = resampleTaps(bh, outH);
  const mid = new Float64Array(bh * outW); // one channel after the horizontal pass
  const out = new Float32Array(C * outH * outW);
  for (let c = 0; c < C; c++) {
    const plane = c * H * W;
    for (let y = 0; y < bh; y++) {
      const row = plane + (top + y) * W + left;
      for (let x = 0; x < outW; x++) {
        const s = tx.start[x]!;
        const k = tx.count[x]!;
        const wo = x * tx.taps;
        let acc = 0;
        for (let j = 0; j < k; j++) acc += tx.weights[wo + j]! * img.data[row + s + j]!;
        mid[y * outW + x] = acc;
      }
    }
    const dst = c * outH * outW;
    for (let y = 0; y < outH; y++) {
      const s = ty.start[y]!;
      const k = ty.count[y]!;
      const wo = y * ty.taps;
      for (let x = 0; x < outW; x++) {
        let acc = 0;
        for (let j = 0; j < k; j++) acc += ty.weights[wo + j]! * mid[(s + j) * outW + x]!;
        out[dst + y * outW + x] = acc;
      }
    }
  }
  return { width: outW, height: outH, channels: C, data: out };
}

/** Crops `box` and resizes it to size x size (bicubic, antialiased), clamped to [0, 1]. */
export function resizedCrop(img: FloatImage, box: CropBox, size: number): FloatImage {
  const out = resampleBicubic(img, size, size, box);
  clamp01(out.data);
  return out;
}

function clamp01(d: Float32Array): void {
  for (let i = 0; i < d.length; i++) d[i] = Math.min(1, Math.max(0, d[i]!));
}

/** Mirrors the image left-right. */
export function hflip(img: FloatImage): FloatImage {
  const { width: W, height: H, channels: C } = img;
  const out = new Float32Array(img.data.length);
  for (let r = 0; r < C * H; r++) {
    const o = r * W;
    for (let x = 0; x < W; x++) out[o + x] = img.data[o + W - 1 - x]!;
  }
  return { ...img, data: out };
}

const LUMA = [0.299, 0.587, 0.114] as const;

/** Luma (ITU-R 601: 0.299 R + 0.587 G + 0.114 B) as a one-channel plane; a 1-channel image's own plane. */
function luma(img: FloatImage): Float32Array {
  const hw = img.width * img.height;
  if (img.channels === 1) return img.data.slice();
  const g = new Float32Array(hw);
  for (let p = 0; p < hw; p++) g[p] = LUMA[0] * img.data[p]! + LUMA[1] * img.data[hw + p]! + LUMA[2] * img.data[2 * hw + p]!;
  return g;
}

/** torchvision's rgb_to_grayscale with `outChannels` copies of the luma plane. */
export function toGrayscale(img: FloatImage, outChannels: 1 | 3 = img.channels): FloatImage {
  const g = luma(img);
  if (outChannels === 1) return { width: img.width, height: img.height, channels: 1, data: g };
  const hw = g.length;
  const data = new Float32Array(3 * hw);
  for (let c = 0; c < 3; c++) data.set(g, c * hw);
  return { width: img.width, height: img.height, channels: 3, data };
}

/** clamp(f·img + (1 - f)·other, 0, 1), `other` one value or a plane per channel. */
function blend(img: FloatImage, f: number, other: number | Float32Array): FloatImage {
  const hw = img.width * img.height;
  const out = new Float32Array(img.data.length);
  for (let i = 0; i < out.length; i++) {
    const o = typeof other === 'number' ? other : other[i % hw]!;
    out[i] = Math.min(1, Math.max(0, f * img.data[i]! + (1 - f) * o));
  }
  return { ...img, data: out };
}

export function adjustBrightness(img: FloatImage, factor: number): FloatImage {
  return blend(img, factor, 0);
}

/** Blends with the mean luma of the whole image. */
export function adjustContrast(img: FloatImage, factor: number): FloatImage {
  const g = luma(img);
  let sum = 0;
  for (let i = 0; i < g.length; i++) sum += g[i]!;
  return blend(img, factor, sum / g.length);
}

/** Blends with the luma image; identity on 1-channel images. */
export function adjustSaturation(img: FloatImage, factor: number): FloatImage {
  return img.channels === 1 ? img : blend(img, factor, luma(img));
}

/** Rotates the hue by `shift` (in turns, |shift| <= 0.5) through HSV; identity on 1-channel images. */
export function adjustHue(img: FloatImage, shift: number): FloatImage {
  if (img.channels === 1) return img;
  const hw = img.width * img.height;
  const d = img.data;
  const out = new Float32Array(d.length);
  for (let p = 0; p < hw; p++) {
    const r = d[p]!;
    const g = d[hw + p]!;
    const b = d[2 * hw + p]!;
    const maxc = Math.max(r, g, b);
    const minc = Math.min(r, g, b);
    const cr = maxc - minc;
    const eq = cr === 0;
    const s = cr / (eq ? 1 : maxc);
    const div = eq ? 1 : cr;
    const rc = (maxc - r) / div;
    const gc = (maxc - g) / div;
    const bc = (maxc - b) / div;
    let h = maxc === r ? bc - gc : maxc === g ? 2 + rc - bc : 4 + gc - rc;
    h = (((h / 6 + 1) % 1) + shift) % 1;
    if (h < 0) h += 1;
    const v = maxc;
    const h6 = h * 6;
    const i = Math.floor(h6);
    const f = h6 - i;
    const pp = Math.min(1, Math.max(0, v * (1 - s)));
    const q = Math.min(1, Math.max(0, v * (1 - s * f)));
    const t = Math.min(1, Math.max(0, v * (1 - s * (1 - f))));
    const [ro, go, bo] = [[v, t, pp], [q, v, pp], [pp, v, t], [pp, q, v], [t, pp, v], [v, pp, q]][i % 6]!;
    out[p] = ro!;
    out[hw + p] = go!;
    out[2 * hw + p] = bo!;
  }
  return { ...img, data: out };
}

/** Colour jitter strengths (torchvision's ColorJitter arguments). */
export interface JitterOptions {
  brightness: number;
  contrast: number;
  saturation: number;
  hue: number;
}

/**
 * torchvision's ColorJitter: factors b ~ U(1 ± brightness), c ~ U(1 ± contrast),
 * s ~ U(1 ± saturation), h ~ U(±hue), applied in a random order. On 1-channel images only
 * brightness and contrast exist (saturation and hue are identities there and are not drawn).
 */
export function colorJitter(rng: Rng, img: FloatImage, o: JitterOptions): FloatImage {
  const ops: ((x: FloatImage) => FloatImage)[] = [];
  const factor = (strength: number): number => rng.uniform(Math.max(0, 1 - strength), 1 + strength);
  if (o.brightness > 0) { const f = factor(o.brightness); ops.push((x) => adjustBrightness(x, f)); }
  if (o.contrast > 0) { const f = factor(o.contrast); ops.push((x) => adjustContrast(x, f)); }
  if (img.channels === 3) {
    if (o.saturation > 0) { const f = factor(o.saturation); ops.push((x) => adjustSaturation(x, f)); }
    if (o.hue > 0) { const f = rng.uniform(-o.hue, o.hue); ops.push((x) => adjustHue(x, f)); }
  }
  for (const i of rng.permutation(ops.length)) img = ops[i]!(img);
  return img;
}

/** torchvision's Gaussian kernel: exp(-x²/(2σ²)) at x = -(k-1)/2 .. (k-1)/2, normalised. */
export function gaussianKernel1d(sigma: number, size = 9): Float64Array {
  if (!(sigma > 0)) throw new RangeError(`gaussianKernel1d: sigma ${sigma} (expected > 0)`);
  if (!(Number.isInteger(size) && size > 0 && size % 2 === 1)) throw new RangeError(`gaussianKernel1d: size ${size} (expected a positive odd integer)`);
  const k = new Float64Array(size);
  const half = (size - 1) / 2;
  let total = 0;
  for (let i = 0; i < size; i++) {
    const x = i - half;
    k[i] = Math.exp(-0.5 * (x / sigma) ** 2);
    total += k[i]!;
  }
  for (let i = 0; i < size; i++) k[i]! /= total;
  return k;
}

/** Index into [0, n) with reflection about the edges (numpy/torch 'reflect': -1 → 1). */
function reflect(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  i = ((i % period) + period) % period;
  return i < n ? i : period - i;
}

/** Separable Gaussian blur with torchvision's kernel (size 9) and reflect padding. */
export function gaussianBlur(img: FloatImage, sigma: number, kernelSize = 9): FloatImage {
  const k = gaussianKernel1d(sigma, kernelSize);
  const half = (kernelSize - 1) / 2;
  const { width: W, height: H, channels: C } = img;
  const tmp = new Float64Array(H * W);
  const out = new Float32Array(img.data.length);
  const xi = Int32Array.from({ length: W + 2 * half }, (_, i) => reflect(i - half, W));
  const yi = Int32Array.from({ length: H + 2 * half }, (_, i) => reflect(i - half, H));
  for (let c = 0; c < C; c++) {
    const plane = c * H * W;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        let acc = 0;
        for (let j = 0; j < kernelSize; j++) acc += k[j]! * img.data[plane + y * W + xi[x + j]!]!;
        tmp[y * W + x] = acc;
      }
    }
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        let acc = 0;
        for (let j = 0; j < kernelSize; j++) acc += k[j]! * tmp[yi[y + j]! * W + x]!;
        out[plane + y * W + x] = acc;
      }
    }
  }
  return { ...img, data: out };
}

/** Inverts every value at or above `threshold` (x → 1 - x); PIL's solarize at 128/255 ≈ 0.5. */
export function solarize(img: FloatImage, threshold = 0.5): FloatImage {
  const out = new Float32Array(img.data.length);
  for (let i = 0; i < out.length; i++) out[i] = img.data[i]! >= threshold ? 1 - img.data[i]! : img.data[i]!;
  return { ...img, data: out };
}

/** ImageNet statistics under timm's names, as dinov2/data/transforms.py uses them. */
export const IMAGENET_DEFAULT_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_DEFAULT_STD = [0.229, 0.224, 0.225] as const;

/**
 * (x - mean[c]) / std[c] into a 3-channel CHW array (written at `out[offset...]` when given);
 * a 1-channel image is replicated to the 3 channels the ViT expects.
 */
export function normalize(img: FloatImage, mean: readonly number[] = IMAGENET_DEFAULT_MEAN, std: readonly number[] = IMAGENET_DEFAULT_STD,
  out?: Float32Array, offset = 0): Float32Array {
  const hw = img.width * img.height;
  const dst = out ?? new Float32Array(3 * hw);
  if (dst.length < offset + 3 * hw) throw new RangeError(`normalize: output holds ${dst.length - offset} values after offset (expected ${3 * hw})`);
  for (let c = 0; c < 3; c++) {
    const src = img.channels === 1 ? 0 : c * hw;
    const m = mean[c]!;
    const s = std[c]!;
    for (let p = 0; p < hw; p++) dst[offset + c * hw + p] = (img.data[src + p]! - m) / s;
  }
  return dst;
}
