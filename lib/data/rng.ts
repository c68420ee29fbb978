// A small seedable, splittable PRNG for the data pipeline. Every random decision of a sample
// comes from a stream named by a key path such as (seed, epoch, index, crop), so the numbers do
// not depend on which worker handles the sample or in which order samples are processed.
//
// Algorithm: the key path (non-negative integers < 2^53, each absorbed as two 32-bit words) is
// hashed into four independent 32-bit lanes with the murmur3 finaliser (fmix32); the 128-bit
// result seeds xoshiro128** (Blackman & Vigna, 2018). Doubles take 53 bits from two outputs, as
// Python's random.random() does. Deriving a child stream (`derive`) extends the key path and
// never consumes numbers from the parent.

const LANE_SEEDS = [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344] as const; // digits of pi
const GOLDEN = 0x9e3779b9;

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

function checkKey(k: number): number {
  if (!Number.isSafeInteger(k) || k < 0) throw new RangeError(`Rng: key ${k} is not a non-negative safe integer`);
  return k;
}

export class Rng {
  /** The key path that names this stream. */
  readonly key: readonly number[];
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** The stream named by `key` (e.g. `new Rng(seed, epoch, index)`). */
  constructor(...key: number[]) {
    this.key = key.map(checkKey);
    const lanes: number[] = [...LANE_SEEDS];
    for (const k of this.key) {
      const lo = k >>> 0;
      const hi = Math.floor(k / 2 ** 32) >>> 0;
      for (let l = 0; l < 4; l++) {
        lanes[l] = fmix32((lanes[l]! ^ lo) + Math.imul(l + 1, GOLDEN));
        lanes[l] = fmix32((lanes[l]! ^ hi) + Math.imul(l + 5, GOLDEN));
      }
    }
    [this.s0, this.s1, this.s2, this.s3] = lanes as [number, number, number, number];
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // xoshiro's forbidden state
  }

  /** A child stream named by this key path extended with `more`; the parent is not advanced. */
  derive(...more: number[]): Rng {
    return new Rng(...this.key, ...more);
  }

  /** The next 32-bit unsigned output of xoshiro128**. */
  uint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ this.s1) >>> 0;
    this.s1 = (this.s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** A double uniform in [0, 1) with 53 random bits. */
  random(): number {
    const a = this.uint32() >>> 5; // 27 bits
    const b = this.uint32() >>> 6; // 26 bits
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** a + (b - a) * U[0, 1) (Python's random.uniform; b < a is allowed). */
  uniform(a: number, b: number): number {
    return a + (b - a) * this.random();
  }

  /** An integer uniform in [lo, hi], both ends included (Python's random.randint). */
  int(lo: number, hi: number): number {
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || hi < lo) throw new RangeError(`Rng.int: empty range [${lo}, ${hi}]`);
    return lo + Math.floor(this.random() * (hi - lo + 1));
  }

  /** true with probability p. */
  bernoulli(p: number): boolean {
    return this.random() < p;
  }

  /** Shuffles `a` in place (Fisher-Yates) and returns it. */
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      const t = a[i]!;
      a[i] = a[j]!;
      a[j] = t;
    }
    return a;
  }

  /** A uniformly random permutation of 0..n-1. */
  permutation(n: number): number[] {
    return this.shuffle(Array.from({ length: n }, (_, i) => i));
  }
}
