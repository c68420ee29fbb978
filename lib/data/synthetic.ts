// A procedural chest-X-ray-like image generator with labels kept aside, for the `pretrain --demo`
// job and for tests: body outline and soft tissue, two lungs, ribs, spine, clavicles, trachea, a
// heart shadow whose cardiothoracic ratio sets `cardiomegaly`, devices (endotracheal tube,
// central line, nasogastric tube), lung opacities (per side), pleural effusion (blunted
// costophrenic angle with a meniscus), exposure/contrast/gamma changes, noise, rotation, zoom
// and shift. Every image is a pure function of (seed, index).
//
// Geometry lives in "body space": x right, y down, both in [0, 1], midline x = 0.5; the view is
// PA, so the patient's right lung is on the image's left. Attenuation A is summed per pixel and
// mapped to brightness 1 - exp(-KAPPA A): air is black, bone and devices are bright.
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';

/** Label columns, in the order of labels.csv. All are 0/1 except habitus (0, 1, 2). */
export const SYNTHETIC_LABELS = ['cardiomegaly', 'device', 'opacity', 'opacity_left', 'opacity_right', 'effusion', 'habitus'] as const;
export type SyntheticLabel = (typeof SYNTHETIC_LABELS)[number];

export interface SyntheticImage {
  /** size*size grayscale values in [0, 1], row-major. */
  image: Float32Array;
  labels: Record<SyntheticLabel, number>;
}

export interface SyntheticOptions {
  /** Side in pixels (>= 16). */
  size: number;
  /** Data-set seed (a non-negative safe integer); images are indexed within it. */
  seed?: number;
  /**
   * Scale of the acquisition variability that carries no label (rotation, zoom, shift, exposure
   * window, gamma, heel-effect tilt, noise): 0 = none, 1 = default. Larger values make the labels
   * harder for pixel-level models; the anatomy and the labels of an index do not change with it.
   */
  nuisance?: number;
}

// ---- named constants: label rates and the shape of the anatomy ------------------------------
/** Per-image probabilities; `device` is "any of the three", opacity sides are independent. */
const P = { cardiomegaly: 0.4, ett: 0.2, cvc: 0.2, ngTube: 0.15, opacitySide: 0.29, effusion: 0.33 } as const;
/** Cardiothoracic ratio: normal hearts draw from [0.36, 0.47], enlarged from [0.53, 0.64]. */
const CTR = { normal: [0.36, 0.47], enlarged: [0.53, 0.64] } as const;
const KAPPA = 2.2;        // brightness = 1 - exp(-KAPPA * attenuation)
const EDGE = 0.012;       // soft edge width of organs (body-space units)
const MAX_NUISANCE = 4;   // beyond it the exposure window can invert

// ---- seeded numbers ---------------------------------------------------------------------------
/** 32-bit hash of (seed, index) for the per-image stream (murmur3 finaliser). */
function mix(seed: number, index: number): number {
  let h = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul((seed / 4294967296) >>> 0, 0x85ebca6b) ^ Math.imul(index >>> 0, 0xc2b2ae35)) >>> 0;
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b); h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35); h ^= h >>> 16;
  return h >>> 0;
}

/** mulberry32: small, fast, good enough for procedural content. */
class Rng {
  private a: number;
  constructor(seed: number) { this.a = seed >>> 0; }
  next(): number {
    this.a = (this.a + 0x6d2b79f5) >>> 0;
    let t = this.a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** 32 random bits as an unsigned integer. */
  int(): number { return (this.next() * 4294967296) >>> 0; }
  uniform(lo: number, hi: number): number { return lo + (hi - lo) * this.next(); }
  bernoulli(p: number): boolean { return this.next() < p; }
}

// ---- the scene -------------------------------------------------------------------------------
interface Lung {
  side: -1 | 1;   // -1: image left (patient right), +1: image right (patient left)
  xm: number;     // medial edge, distance from the midline
  xl: number;     // lateral edge
  ya: number;     // apex
  yb: number;     // base (diaphragm level at the dome's foot)
  dome: number;   // diaphragm dome height
  fluid: { top: number; meniscus: number } | null;  // pleural effusion
}
interface Blob { x: number; y: number; sx: number; sy: number; amp: number }
interface Curve { pts: [number, number][]; width: number; density: number }

interface Scene {
  tissue: number; bodyHalf: number; neckHalf: number;
  lungs: [Lung, Lung]; air: number;
  heart: { cx: number; cy: number; a: number; b: number };
  ribs: { y0: number; spacing: number; count: number; thick: number };
  spine: { half: number; period: number; phase: number };
  clavicleY: number; tracheaX: number; carinaY: number;
  blobs: Blob[]; devices: Curve[];
  view: { cos: number; sin: number; scale: number; dx: number; dy: number };
  exposure: { lo: number; hi: number; gamma: number; noise: number; tiltX: number; tiltY: number };
}

const smooth = (s: number): number => (s <= 0 ? 0 : s >= 1 ? 1 : s * s * (3 - 2 * s));
/** Soft inside-indicator of a signed distance d (positive inside) with edge width e. */
const inside = (d: number, e: number): number => smooth(d / e + 0.5);

function makeScene(rng: Rng, nu: number): { scene: Scene; labels: Record<SyntheticLabel, number> } {
  // Habitus: soft-tissue thickness outside the rib cage (and a denser soft tissue with it).
  const fat = rng.next();
  const habitus = fat < 1 / 3 ? 0 : fat < 2 / 3 ? 1 : 2;
  const ribcage = rng.uniform(0.3, 0.37);
  const bodyHalf = ribcage + 0.025 + 0.07 * fat;
  const tissue = rng.uniform(0.4, 0.46) + 0.08 * fat;

  const ya = rng.uniform(0.1, 0.16), yb = rng.uniform(0.64, 0.72);
  const lung = (side: -1 | 1): Lung => ({
    side, xm: rng.uniform(0.05, 0.08), xl: ribcage - rng.uniform(0, 0.02), ya: ya + rng.uniform(-0.01, 0.02),
    yb: yb + (side < 0 ? -rng.uniform(0.01, 0.03) : 0), dome: rng.uniform(0.04, 0.07), fluid: null,
  });
  const lungs: [Lung, Lung] = [lung(-1), lung(1)];

  const cardiomegaly = rng.bernoulli(P.cardiomegaly);
  const range = cardiomegaly ? CTR.enlarged : CTR.normal;
  const ctr = rng.uniform(range[0], range[1]);
  const a = (ctr * (lungs[0].xl + lungs[1].xl)) / 2;
  const hb = rng.uniform(0.13, 0.17);
  const heart = { cx: 0.5 + a * rng.uniform(0.15, 0.35), cy: yb - rng.uniform(0.08, 0.12), a, b: hb };

  let effusion = false;
  if (rng.bernoulli(P.effusion)) {
    effusion = true;
    const which = rng.next();
    for (const [k, l] of lungs.entries()) {
      if (which < 0.2 || (which < 0.6 ? k === 0 : k === 1)) {
        const lateralFoot = l.yb + 0.44 * l.dome;
        l.fluid = { top: lateralFoot - rng.uniform(0.07, 0.15), meniscus: rng.uniform(0.02, 0.05) };
      }
    }
  }

  // Opacities: 1-3 soft blobs in the lateral two thirds of a lung, per patient side.
  const blobs: Blob[] = [];
  const opacityRight = rng.bernoulli(P.opacitySide), opacityLeft = rng.bernoulli(P.opacitySide);
  for (const [l, on] of [[lungs[0], opacityRight], [lungs[1], opacityLeft]] as const) {
    if (!on) continue;
    const u = rng.uniform(0.4, 0.85), t = rng.uniform(0.3, 0.8);
    const cx = 0.5 + l.side * (l.xm + u * (l.xl - l.xm)), cy = l.ya + t * (l.yb - l.ya);
    const nb = 1 + Math.floor(rng.next() * 3);
    for (let i = 0; i < nb; i++) {
      const s = rng.uniform(0.025, 0.05);
      blobs.push({ x: cx + rng.uniform(-0.03, 0.03), y: cy + rng.uniform(-0.03, 0.03), sx: s * rng.uniform(0.8, 1.3), sy: s * rng.uniform(0.8, 1.3), amp: rng.uniform(0.5, 0.85) });
    }
  }

  // Devices: bright thin curves (control points in body space).
  const devices: Curve[] = [];
  const carinaY = rng.uniform(0.27, 0.32);
  const tracheaX = 0.5 + rng.uniform(-0.01, 0.01);
  if (rng.bernoulli(P.ett)) {
    const tip = carinaY - rng.uniform(0.03, 0.1);
    devices.push({ pts: [[tracheaX + rng.uniform(-0.02, 0.02), -0.05], [tracheaX + rng.uniform(-0.01, 0.01), tip * 0.5], [tracheaX, tip]], width: 0.014, density: 0.45 });
  }
  if (rng.bernoulli(P.cvc)) {
    const s = rng.bernoulli(0.7) ? -1 : 1;
    devices.push({
      pts: [[0.5 + s * rng.uniform(0.2, 0.26), rng.uniform(0.06, 0.12)], [0.5 + s * rng.uniform(0.06, 0.1), rng.uniform(0.13, 0.17)], [0.5 - rng.uniform(0.02, 0.05), rng.uniform(0.3, 0.38)]],
      width: 0.007, density: 0.9,
    });
  }
  if (rng.bernoulli(P.ngTube)) {
    const bottom = yb + rng.uniform(0.1, 0.18);
    devices.push({
      pts: [[0.5 + rng.uniform(-0.01, 0.01), -0.05], [0.5 + rng.uniform(0, 0.02), 0.55], [0.5 + rng.uniform(0.02, 0.05), bottom], [0.5 + rng.uniform(0.1, 0.16), bottom - rng.uniform(0, 0.06)]],
      width: 0.008, density: 0.7,
    });
  }

  const jitter = (centre: number, half: number) => centre + nu * half * (2 * rng.next() - 1);
  const angle = (jitter(0, 6) * Math.PI) / 180;
  const scene: Scene = {
    tissue, bodyHalf, neckHalf: rng.uniform(0.08, 0.11), lungs, air: tissue * rng.uniform(0.68, 0.8), heart,
    ribs: { y0: ya - 0.02, spacing: (yb - ya) / rng.uniform(8.5, 9.5), count: 10, thick: rng.uniform(0.022, 0.03) },
    spine: { half: rng.uniform(0.03, 0.04), period: rng.uniform(0.045, 0.055), phase: rng.next() },
    clavicleY: rng.uniform(0.14, 0.19), tracheaX, carinaY, blobs, devices,
    view: { cos: Math.cos(angle), sin: Math.sin(angle), scale: jitter(0.975, 0.075), dx: jitter(0, 0.04), dy: jitter(0, 0.04) },
    exposure: {
      lo: jitter(0.035, 0.085), hi: jitter(0.965, 0.085), gamma: Math.exp(jitter(0, 0.22)), noise: 0.005 + nu * rng.uniform(0, 0.025),
      tiltX: jitter(0, 0.06), tiltY: jitter(0, 0.06),
    },
  };
  const labels: Record<SyntheticLabel, number> = {
    cardiomegaly: +cardiomegaly, device: +(devices.length > 0), opacity: +(opacityLeft || opacityRight),
    opacity_left: +opacityLeft, opacity_right: +opacityRight, effusion: +effusion, habitus,
  };
  return { scene, labels };
}

// ---- rendering ----------------------------------------------------------------------------
/** Devices drawn in output-pixel space (after the view transform): anti-aliased discs along each curve, max-combined. */
function drawDevices(scene: Scene, size: number): Float32Array | null {
  if (scene.devices.length === 0) return null;
  const buf = new Float32Array(size * size);
  const { cos, sin, scale, dx, dy } = scene.view;
  const toPx = (x: number, y: number): [number, number] => {
    const bx = (x - 0.5) * scale, by = (y - 0.5) * scale;
    return [(cos * bx - sin * by + 0.5 + dx) * size - 0.5, (sin * bx + cos * by + 0.5 + dy) * size - 0.5];
  };
  for (const dev of scene.devices) {
    const r = Math.max(0.7, (dev.width * scale * size) / 2);
    const p = dev.pts;
    const steps = Math.ceil(2 * size * 1.5);  // <= half a pixel per step for curves up to 1.5 image sides
    for (let s = 0; s <= steps; s++) {
      const t = s / steps, u = 1 - t;
      let x: number, y: number;
      if (p.length === 3) {
        x = u * u * p[0][0] + 2 * u * t * p[1][0] + t * t * p[2][0];
        y = u * u * p[0][1] + 2 * u * t * p[1][1] + t * t * p[2][1];
      } else {
        x = u * u * u * p[0][0] + 3 * u * u * t * p[1][0] + 3 * u * t * t * p[2][0] + t * t * t * p[3][0];
        y = u * u * u * p[0][1] + 3 * u * u * t * p[1][1] + 3 * u * t * t * p[2][1] + t * t * t * p[3][1];
      }
      const [cx, cy] = toPx(x, y);
      const i0 = Math.max(0, Math.floor(cy - r - 1)), i1 = Math.min(size - 1, Math.ceil(cy + r + 1));
      const j0 = Math.max(0, Math.floor(cx - r - 1)), j1 = Math.min(size - 1, Math.ceil(cx + r + 1));
      for (let i = i0; i <= i1; i++) {
        for (let j = j0; j <= j1; j++) {
          const d = Math.hypot(j - cx, i - cy);
          const v = dev.density * Math.min(1, Math.max(0, r + 0.5 - d));
          const k = i * size + j;
          if (v > buf[k]) buf[k] = v;
        }
      }
    }
  }
  return buf;
}

/** Soft inside-mask of one lung at body point (x, y); also leaves u (0 medial .. 1 lateral) in lungU. */
let lungU = 0;
function lungMask(l: Lung, x: number, y: number): number {
  const d = l.side * (x - 0.5);
  if (d <= 0 || y < l.ya - EDGE || y > l.yb + 0.44 * l.dome + EDGE) return 0;
  const t = (y - l.ya) / (l.yb - l.ya);
  const q = Math.sqrt(Math.min(1, Math.max(0, t / 0.35)));   // rounded apex
  const mid = (l.xm + l.xl) / 2, half = (l.xl - l.xm) / 2;
  const lat = mid + half * q, med = mid - half * q;
  const u = (lungU = Math.min(1, Math.max(0, (d - l.xm) / (l.xl - l.xm))));
  const w = 2 * u - 0.8;
  const bottom = l.yb - l.dome * (1 - w * w);                 // dome, lowest at the lateral recess
  return inside(lat - d, EDGE) * inside(d - med, EDGE) * inside(y - l.ya, EDGE) * inside(bottom - y, EDGE);
}

/** Brightness before tilt and noise as a function of attenuation, tabulated (exp and pow per pixel are the slow part). */
const LUT_MAX = 3, LUT_N = 4096;
function exposureTable(ex: Scene['exposure']): Float32Array {
  const lut = new Float32Array(LUT_N + 1);
  const norm = 1 - Math.exp(-KAPPA * 1.6), inv = 1 / (ex.hi - ex.lo);
  for (let i = 0; i <= LUT_N; i++) {
    const v = ((1 - Math.exp(-KAPPA * (i / LUT_N) * LUT_MAX)) / norm - ex.lo) * inv;  // log-like response, window
    lut[i] = v <= 0 ? 0 : Math.pow(v, ex.gamma);
  }
  return lut;
}

function render(scene: Scene, size: number, rng: Rng): Float32Array {
  const out = new Float32Array(size * size);
  const dev = drawDevices(scene, size);
  const { cos, sin, scale, dx, dy } = scene.view;
  const { heart: h, ribs, spine, exposure: ex } = scene;
  const lut = exposureTable(ex);
  const hMin = Math.min(h.a, h.b);
  for (let i = 0; i < size; i++) {
    const py = (i + 0.5) / size - 0.5 - dy;
    for (let j = 0; j < size; j++) {
      const px = (j + 0.5) / size - 0.5 - dx;
      // inverse view transform: output pixel -> body space
      const x = (cos * px + sin * py) / scale + 0.5;
      const y = (-sin * px + cos * py) / scale + 0.5;
      const ax = Math.abs(x - 0.5);
      let A = 0;
      // body: neck widening into the torso; elliptical cross-section (thicker at the midline)
      const half = scene.neckHalf + (scene.bodyHalf - scene.neckHalf) * smooth((y - 0.03) / 0.13);
      const body = inside(half - ax, 0.01);
      if (body > 0) {
        const r = Math.min(1, ax / half);
        A += scene.tissue * body * Math.sqrt(1 - 0.75 * r * r);
        // heart shadow
        const hx = (x - h.cx) / h.a, hy = (y - h.cy) / h.b;
        const hr2 = hx * hx + hy * hy;
        const heart = hr2 < 1.44 ? inside((1 - Math.sqrt(hr2)) * hMin, EDGE) : 0;
        // lungs (air), minus heart, fluid and opacities
        let air = 0;
        for (const l of scene.lungs) {
          let a = lungMask(l, x, y);
          if (a === 0) continue;
          if (l.fluid) a *= 1 - inside(y - (l.fluid.top - l.fluid.meniscus * lungU * lungU), 0.02);
          air += a;
        }
        if (air > 0) {
          let opac = 0;
          for (const b of scene.blobs) {
            const bx = (x - b.x) / b.sx, by = (y - b.y) / b.sy;
            const r2 = bx * bx + by * by;
            if (r2 < 9) opac += b.amp * Math.exp(-0.5 * r2);
          }
          A -= scene.air * air * (1 - heart) * (1 - Math.min(1, opac));
        }
        A += 0.08 * heart;
        // trachea (air column down to the carina)
        if (y < scene.carinaY) A -= 0.12 * inside(0.018 - Math.abs(x - scene.tracheaX), 0.008) * inside(scene.carinaY - y, 0.02);
        // spine: vertebral bodies with darker disc spaces
        if (ax < spine.half + 0.01) {
          const v = inside(spine.half - ax, 0.01);
          A += 0.16 * v * (0.75 + 0.25 * Math.cos(2 * Math.PI * (y / spine.period + spine.phase)));
        }
        // posterior ribs: one band per rib, found in O(1) from the rib spacing
        if (ax > 0.02 && ax < scene.bodyHalf - 0.01) {
          const curve = -0.3 * ax + 1.5 * ax * ax;
          const tr = (y - ribs.y0 - curve) / ribs.spacing;
          const k = Math.round(tr);
          if (k >= 0 && k < ribs.count) {
            const off = (2 * (tr - k) * ribs.spacing) / ribs.thick;
            if (off > -1 && off < 1) A += 0.15 * (1 - off * off) * (0.6 + 0.4 * Math.abs(off)) * smooth((scene.bodyHalf - 0.01 - ax) / 0.04);
          }
        }
        // clavicles
        if (ax > 0.03 && ax < 0.3) {
          const cy = scene.clavicleY - 0.12 * (ax - 0.03) + 0.4 * (ax - 0.15) * (ax - 0.15);
          const off = Math.abs(y - cy) / 0.011;
          if (off < 1) A += 0.2 * (1 - off * off);
        }
      }
      const k = i * size + j;
      if (dev) A += dev[k];
      // exposure (tabulated), heel-effect tilt, quantum noise (triangular, unit variance)
      const f = Math.min(LUT_N, Math.max(0, A) * (LUT_N / LUT_MAX));
      const f0 = Math.min(LUT_N - 1, f | 0);
      let v = lut[f0] + (f - f0) * (lut[f0 + 1] - lut[f0]);
      v *= 1 + ex.tiltX * (px * 2) + ex.tiltY * (py * 2);
      const r = rng.int();
      v += ex.noise * ((r & 0xffff) + (r >>> 16) - 65535) * (2.449 / 65536);
      out[k] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
  }
  return out;
}

function checkOptions(op: string, size: unknown, seed: unknown, nuisance: unknown): void {
  if (typeof nuisance !== 'number' || !(nuisance >= 0 && nuisance <= MAX_NUISANCE)) throw new RangeError(`${op}: option 'nuisance' is ${String(nuisance)} (expected a number in [0, ${MAX_NUISANCE}])`);
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 16) throw new RangeError(`${op}: argument 'size' is ${String(size)} (expected an integer >= 16)`);
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`${op}: argument 'seed' is ${String(seed)} (expected a non-negative safe integer)`);
}

/** The image and labels number `index` of the data set `seed`: the same (seed, index) always gives the same pixels. */
export function generateSyntheticCXR(index: number, opts: SyntheticOptions): SyntheticImage {
  const seed = opts.seed ?? 0;
  checkOptions('generateSyntheticCXR', opts.size, seed, opts.nuisance ?? 1);
  if (!Number.isSafeInteger(index) || index < 0) throw new RangeError(`generateSyntheticCXR: argument 'index' is ${index} (expected a non-negative integer)`);
  const rng = new Rng(mix(seed, index));
  const { scene, labels } = makeScene(rng, opts.nuisance ?? 1);
  return { image: render(scene, opts.size, rng), labels };
}

// ---- writing a data set ----------------------------------------------------------------------
export interface WriteSyntheticOptions extends SyntheticOptions {
  n: number;
  /** 8 (default) or 16-bit grayscale PNGs. */
  bitDepth?: 8 | 16;
  /** Images encoded at once (default 4). */
  concurrency?: number;
}

export interface SyntheticDataset {
  dir: string;
  /** Image paths relative to dir, in index order (as written in the label files). */
  paths: string[];
  labels: Record<SyntheticLabel, number>[];
  csv: string;
  jsonl: string;
}

/** Writes data to path through a temporary file and a rename, so an interruption never leaves a partial file under that name. */
async function writeAtomic(path: string, data: Buffer | string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** One grayscale PNG (8- or 16-bit) of a [0, 1] image. */
export async function encodeGrayPng(image: Float32Array, size: number, bitDepth: 8 | 16 = 8): Promise<Buffer> {
  if (image.length !== size * size) throw new RangeError(`encodeGrayPng: argument 'image' has ${image.length} values (expected ${size}x${size})`);
  const max = bitDepth === 16 ? 65535 : 255;
  const px = bitDepth === 16 ? new Uint16Array(image.length) : new Uint8Array(image.length);
  for (let i = 0; i < image.length; i++) px[i] = Math.round(Math.min(1, Math.max(0, image[i])) * max);
  return sharp(px, { raw: { width: size, height: size, channels: 1 } }).toColourspace(bitDepth === 16 ? 'grey16' : 'b-w').png().toBuffer();
}

/**
 * Writes n images as dir/images/NNNNNN.png plus dir/labels.csv (`path,<label columns>`) and
 * dir/labels.jsonl (`{"path": ..., <labels>}` per line). Every file goes through a temporary
 * name and a rename; the label files are written last, so they exist only for a complete set.
 */
export async function writeSyntheticDataset(dir: string, opts: WriteSyntheticOptions): Promise<SyntheticDataset> {
  const seed = opts.seed ?? 0, bitDepth = opts.bitDepth ?? 8, concurrency = opts.concurrency ?? 4;
  checkOptions('writeSyntheticDataset', opts.size, seed, opts.nuisance ?? 1);
  if (!Number.isInteger(opts.n) || opts.n < 1) throw new RangeError(`writeSyntheticDataset: argument 'n' is ${opts.n} (expected an integer >= 1)`);
  if (bitDepth !== 8 && bitDepth !== 16) throw new RangeError(`writeSyntheticDataset: argument 'bitDepth' is ${String(bitDepth)} (expected 8 or 16)`);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`writeSyntheticDataset: argument 'concurrency' is ${concurrency} (expected an integer >= 1)`);
  await mkdir(join(dir, 'images'), { recursive: true });
  const digits = Math.max(6, String(opts.n - 1).length);
  const paths: string[] = [];
  const labels: Record<SyntheticLabel, number>[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < opts.n) {
      const i = next++;
      const { image, labels: l } = generateSyntheticCXR(i, { size: opts.size, seed, nuisance: opts.nuisance });
      const rel = `images/${String(i).padStart(digits, '0')}.png`;
      paths[i] = rel;
      labels[i] = l;
      await writeAtomic(join(dir, rel), await encodeGrayPng(image, opts.size, bitDepth));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, opts.n) }, worker));
  const header = ['path', ...SYNTHETIC_LABELS].join(',');
  const rows = paths.map((p, i) => [p, ...SYNTHETIC_LABELS.map((k) => labels[i][k])].join(','));
  const csv = join(dir, 'labels.csv'), jsonl = join(dir, 'labels.jsonl');
  await writeAtomic(csv, [header, ...rows].join('\n') + '\n');
  await writeAtomic(jsonl, paths.map((p, i) => JSON.stringify({ path: p, ...labels[i] })).join('\n') + '\n');
  return { dir, paths, labels, csv, jsonl };
}
