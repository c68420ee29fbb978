// Multi-crop augmentation of DINOv2 (dinov2/data/augmentations.py) and the RAD-DINO chest X-ray
// preset. Each crop draws from its own stream rng.derive(k) (k = 0, 1 for the global crops,
// 2.. for the local ones), so a sample's crops depend only on its Rng.
import { checkImage, type FloatImage } from './image.js';
import type { Rng } from './rng.js';
import {
  colorJitter, gaussianBlur, hflip, IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, type JitterOptions, normalize,
  randomResizedCropParams, randomSideCropParams, resizedCrop, solarize, toGrayscale, type CropBox,
} from './transforms.js';

/**
 * How a crop box is drawn: 'area' is torchvision's RandomResizedCrop (area fraction `scale`,
 * aspect `ratio`); 'side' is a square whose side is a fraction of the image's shorter side.
 */
export type CropSpec =
  | { mode: 'area'; scale: [number, number]; ratio?: [number, number] }
  | { mode: 'side'; side: [number, number] };

/**
 * Gaussian-blur probabilities for (global crop 1, global crop 2, local crops).
 * 'documented': 1.0 / 0.1 / 0.5, as the DINOv2 paper (and BYOL before it) states.
 * 'reference': 0.0 / 0.9 / 0.5, what the dinov2 code actually does: its GaussianBlur passes
 *   1 - p to torchvision's RandomApply, which inverts the first two probabilities.
 */
export type BlurProbabilities = 'documented' | 'reference' | readonly [number, number, number];

export const BLUR_DOCUMENTED = [1.0, 0.1, 0.5] as const;
export const BLUR_REFERENCE = [0.0, 0.9, 0.5] as const;
/** RAD-DINO: less blur on the global (teacher) crops. The paper gives no numbers; this is ours. */
export const BLUR_RADDINO = [0.5, 0.1, 0.5] as const;

export interface AugmentationOptions {
  /** 'dinov2' (default) or 'raddino'; every other option overrides the preset's value. */
  preset?: 'dinov2' | 'raddino';
  /** The ViT patch size; crop sizes must be multiples of it (default 14). */
  patchSize?: number;
  globalCropsSize?: number;
  localCropsSize?: number;
  localCropsNumber?: number;
  globalCrop?: CropSpec;
  localCrop?: CropSpec;
  hflipProbability?: number;
  jitter?: JitterOptions;
  jitterProbability?: number;
  grayscaleProbability?: number;
  /** Default 'documented' (1.0 / 0.1 / 0.5) for 'dinov2'; BLUR_RADDINO for 'raddino'. */
  blurProbabilities?: BlurProbabilities;
  blurSigma?: [number, number];
  blurKernelSize?: number;
  /** Solarisation of global crop 2 only, as in the reference. */
  solarizeProbability?: number;
  solarizeThreshold?: number;
  /** Convert every input to one channel first (chest X-rays stored as RGB). */
  grayscaleInput?: boolean;
  mean?: [number, number, number];
  std?: [number, number, number];
}

/** Every option resolved; plain data, so it can be sent to worker threads. */
export type AugmentationConfig = Required<Omit<AugmentationOptions, 'preset' | 'blurProbabilities'>> & {
  preset: 'dinov2' | 'raddino';
  blurProbabilities: [number, number, number];
};

/** The dinov2 defaults (ViT/14: local crops of 98 instead of 96, a multiple of the patch). */
function dinov2Defaults(patchSize: number): Omit<AugmentationConfig, 'preset' | 'patchSize'> {
  return {
    globalCropsSize: 224,
    localCropsSize: patchSize === 14 ? 98 : 96,
    localCropsNumber: 8,
    globalCrop: { mode: 'area', scale: [0.32, 1.0], ratio: [3 / 4, 4 / 3] },
    localCrop: { mode: 'area', scale: [0.05, 0.32], ratio: [3 / 4, 4 / 3] },
    hflipProbability: 0.5,
    jitter: { brightness: 0.4, contrast: 0.4, saturation: 0.2, hue: 0.1 },
    jitterProbability: 0.8,
    grayscaleProbability: 0.2,
    blurProbabilities: [...BLUR_DOCUMENTED],
    blurSigma: [0.1, 2.0],
    blurKernelSize: 9,
    solarizeProbability: 0.2,
    solarizeThreshold: 0.5,
    grayscaleInput: false,
    mean: [...IMAGENET_DEFAULT_MEAN],
    std: [...IMAGENET_DEFAULT_STD],
  };
}

/**
 * RAD-DINO (paper, appendix C.1): on 518-pixel inputs, global crops of side U(259, 518) resized
 * to 518 and local crops of side U(104, 259) resized to 196, i.e. side fractions [0.5, 1] and
 * [104/518, 0.5] of the shorter side; grayscale inputs, so the jitter is brightness/contrast only;
 * less blur on the global (teacher) crops.
 */
function raddinoDefaults(patchSize: number): Omit<AugmentationConfig, 'preset' | 'patchSize'> {
  return {
    ...dinov2Defaults(patchSize),
    globalCropsSize: 518,
    localCropsSize: 196,
    globalCrop: { mode: 'side', side: [0.5, 1.0] },
    localCrop: { mode: 'side', side: [104 / 518, 0.5] },
    jitter: { brightness: 0.4, contrast: 0.4, saturation: 0, hue: 0 },
    blurProbabilities: [...BLUR_RADDINO],
    grayscaleInput: true,
  };
}

function probability(name: string, p: number): number {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`DataAugmentationDINO: option '${name}' is ${p} (expected a probability in [0, 1])`);
  return p;
}

/** Fills in a preset's defaults and validates every option. */
export function resolveAugmentation(opts: AugmentationOptions = {}): AugmentationConfig {
  const preset = opts.preset ?? 'dinov2';
  if (preset !== 'dinov2' && preset !== 'raddino') throw new RangeError(`DataAugmentationDINO: option 'preset' is ${JSON.stringify(preset)} (expected 'dinov2' or 'raddino')`);
  const patchSize = opts.patchSize ?? 14;
  if (!(Number.isInteger(patchSize) && patchSize > 0)) throw new RangeError(`DataAugmentationDINO: option 'patchSize' is ${patchSize} (expected a positive integer)`);
  const base = preset === 'raddino' ? raddinoDefaults(patchSize) : dinov2Defaults(patchSize);
  const defined = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) as AugmentationOptions;
  const blur = defined.blurProbabilities ?? base.blurProbabilities;
  const cfg: AugmentationConfig = {
    ...base,
    ...defined,
    preset,
    patchSize,
    blurProbabilities: blur === 'documented' ? [...BLUR_DOCUMENTED] : blur === 'reference' ? [...BLUR_REFERENCE] : [...blur] as [number, number, number],
  };
  for (const key of ['globalCropsSize', 'localCropsSize'] as const) {
    const s = cfg[key];
    if (!(Number.isInteger(s) && s > 0 && s % patchSize === 0)) {
      throw new RangeError(`DataAugmentationDINO: option '${key}' is ${s} (expected a positive multiple of the patch size ${patchSize})`);
    }
  }
  if (!(Number.isInteger(cfg.localCropsNumber) && cfg.localCropsNumber >= 0)) throw new RangeError(`DataAugmentationDINO: option 'localCropsNumber' is ${cfg.localCropsNumber} (expected an integer >= 0)`);
  if (cfg.blurProbabilities.length !== 3) throw new RangeError(`DataAugmentationDINO: option 'blurProbabilities' has ${cfg.blurProbabilities.length} values (expected 'documented', 'reference' or 3 probabilities)`);
  cfg.blurProbabilities.forEach((p, i) => probability(`blurProbabilities[${i}]`, p));
  for (const key of ['hflipProbability', 'jitterProbability', 'grayscaleProbability', 'solarizeProbability'] as const) probability(key, cfg[key]);
  if (!(cfg.blurSigma[0] > 0 && cfg.blurSigma[0] <= cfg.blurSigma[1])) throw new RangeError(`DataAugmentationDINO: option 'blurSigma' is [${cfg.blurSigma}] (expected 0 < lo <= hi)`);
  return cfg;
}

/** One image's crops: normalised 3-channel CHW arrays (3·S·S values each). */
export interface AugmentedSample {
  globalCrops: Float32Array[];
  localCrops: Float32Array[];
  globalSize: number;
  localSize: number;
}

/** The crop box for `spec` on an H x W image. */
export function drawCrop(rng: Rng, spec: CropSpec, height: number, width: number): CropBox {
  return spec.mode === 'side'
    ? randomSideCropParams(rng, height, width, spec.side)
    : randomResizedCropParams(rng, height, width, spec.scale, spec.ratio ?? [3 / 4, 4 / 3]);
}

/**
 * The DINOv2 multi-crop augmentation. Per crop, in the reference's order: random resized crop
 * (bicubic, antialiased) and horizontal flip; colour jitter with probability jitterProbability;
 * random grayscale; Gaussian blur (sigma ~ U(blurSigma), kernel 9) with the crop's blur
 * probability; solarisation on global crop 2 only; normalisation.
 */
export class DataAugmentationDINO {
  readonly config: AugmentationConfig;

  constructor(opts: AugmentationOptions | AugmentationConfig = {}) {
    this.config = resolveAugmentation(opts as AugmentationOptions);
  }

  /** The crops of one image; all randomness comes from `rng` (derived per crop). */
  apply(image: FloatImage, rng: Rng): AugmentedSample {
    checkImage('DataAugmentationDINO.apply', image);
    const c = this.config;
    const src = c.grayscaleInput && image.channels === 3 ? toGrayscale(image, 1) : image;
    const globalCrops = [0, 1].map((k) => this.crop(src, rng.derive(k), c.globalCropsSize, c.globalCrop, c.blurProbabilities[k]!, k === 1));
    const localCrops = Array.from({ length: c.localCropsNumber }, (_, l) =>
      this.crop(src, rng.derive(2 + l), c.localCropsSize, c.localCrop, c.blurProbabilities[2], false));
    return { globalCrops, localCrops, globalSize: c.globalCropsSize, localSize: c.localCropsSize };
  }

  private crop(src: FloatImage, rng: Rng, size: number, spec: CropSpec, blurP: number, maySolarize: boolean): Float32Array {
    const c = this.config;
    let img = resizedCrop(src, drawCrop(rng, spec, src.height, src.width), size);
    if (rng.bernoulli(c.hflipProbability)) img = hflip(img);
    if (rng.bernoulli(c.jitterProbability)) img = colorJitter(rng, img, c.jitter);
    if (rng.bernoulli(c.grayscaleProbability) && img.channels === 3) img = toGrayscale(img, 3);
    if (rng.bernoulli(blurP)) img = gaussianBlur(img, rng.uniform(c.blurSigma[0], c.blurSigma[1]), c.blurKernelSize);
    if (maySolarize && rng.bernoulli(c.solarizeProbability)) img = solarize(img, c.solarizeThreshold);
    return normalize(img, c.mean, c.std);
  }
}
