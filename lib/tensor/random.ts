// Seeded generators. Numbers come from the counter-based Philox stream of the native core:
// a draw of n values uses counters [offset, offset + n) under the key `seed`, so the same seed
// gives the same numbers on every backend and thread count. A Generator only holds
// (seed, offset) and advances offset by each draw's size.

export class Generator {
  private seed_: bigint;
  private offset_ = 0n;

  constructor(seed: number | bigint = 0) {
    this.seed_ = checkSeed('Generator', seed);
  }

  /** Restarts the stream at offset 0 under a new seed; returns this. */
  manualSeed(seed: number | bigint): this {
    this.seed_ = checkSeed('manualSeed', seed);
    this.offset_ = 0n;
    return this;
  }
  get seed(): bigint {
    return this.seed_;
  }
  get offset(): bigint {
    return this.offset_;
  }
  /** State for checkpoints; restore with setState. */
  getState(): { seed: string; offset: string } {
    return { seed: this.seed_.toString(), offset: this.offset_.toString() };
  }
  setState(state: { seed: string | number | bigint; offset: string | number | bigint }): this {
    this.seed_ = checkSeed('setState', BigInt(state.seed));
    const off = BigInt(state.offset);
    if (off < 0n) throw new RangeError(`setState: argument 'offset' is ${off} (expected >= 0)`);
    this.offset_ = off;
    return this;
  }
  /** @internal Reserves n counters and returns the (seed, offset) of the draw. */
  take(n: number): [bigint, bigint] {
    const start = this.offset_;
    this.offset_ += BigInt(n);
    return [this.seed_, start];
  }
}

function checkSeed(op: string, seed: number | bigint): bigint {
  if (typeof seed === 'number') {
    if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`${op}: argument 'seed' is ${seed} (expected a non-negative safe integer or a bigint)`);
    return BigInt(seed);
  }
  if (typeof seed !== 'bigint') throw new TypeError(`${op}: argument 'seed' must be a number or bigint (got ${typeof seed})`);
  if (seed < 0n || seed >= 1n << 64n) throw new RangeError(`${op}: argument 'seed' is ${seed} (expected 0 <= seed < 2^64)`);
  return seed;
}

/** The generator used when an op is given none. */
export const defaultGenerator = new Generator(0);

/** Seeds the default generator (like torch.manual_seed). */
export function manualSeed(seed: number | bigint): Generator {
  return defaultGenerator.manualSeed(seed);
}
