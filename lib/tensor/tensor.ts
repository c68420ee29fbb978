// The Tensor class: metadata, data access, disposal, views and dtype/device conversion.
// Math, reductions and indexing are attached by math.ts and indexing.ts (method augmentation),
// so every op lives in one place as a function and as a method.
import { backward, isGradEnabled, Node, record, setWrap } from '../autograd/engine.js';
import { DType, ITEM_SIZE, isDType, TypedArray, viewBuffer } from './dtype.js';
import { native, NativeTensor } from './native.js';
import { keep, track } from './scope.js';

export type Shape = readonly number[];
/** A nested array of numbers as returned by toArray(). */
export type NestedArray = number | NestedArray[];

export class Tensor {
  /** @internal The native tensor, null once disposed. */
  _h: NativeTensor | null;
  readonly shape: Shape;
  readonly dtype: DType;
  readonly device: string;
  /** @internal The autograd node that produced this tensor (null for leaves). */
  _node: Node | null = null;
  private _requiresGrad = false;
  private _grad: Tensor | null = null;

  /** @internal Tensors are made by the creation functions and ops, not by `new`. */
  constructor(h: NativeTensor) {
    this._h = h;
    this.shape = Object.freeze(h.shape);
    this.dtype = h.dtype as DType;
    this.device = h.device;
    track(this);
  }

  /** @internal The native handle; throws when disposed, naming the operation. */
  handle(op: string): NativeTensor {
    if (this._h === null) {
      throw new Error(`${op}: the tensor is disposed (expected a live tensor; it was freed by dispose() or a tidy() scope)`);
    }
    return this._h;
  }

  // ---- autograd ---------------------------------------------------------------------------
  /** Whether gradients flow to (a leaf) or through (an op output) this tensor. */
  get requiresGrad(): boolean {
    return this._requiresGrad || this._node !== null;
  }
  set requiresGrad(value: boolean) {
    if (this._node !== null) {
      throw new Error('requiresGrad: only leaf tensors can be marked (this one is an op output; use detach())');
    }
    if (value && this.dtype !== 'float32' && this.dtype !== 'float64' && this.dtype !== 'bfloat16' && this.dtype !== 'float16') {
      throw new TypeError(`requiresGrad: only floating tensors can require gradients (got ${this.dtype})`);
    }
    this._requiresGrad = value;
  }
  /** Marks this leaf as requiring gradients; returns this. */
  requiresGrad_(value = true): this {
    this.requiresGrad = value;
    return this;
  }
  get isLeaf(): boolean {
    return this._node === null;
  }
  /** The accumulated gradient of a leaf (owned by the tensor: setting it disposes the old one). */
  get grad(): Tensor | null {
    return this._grad;
  }
  set grad(g: Tensor | null) {
    if (g === this._grad) return;
    if (this._grad !== null) this._grad.dispose();
    this._grad = g === null ? null : keep(g);
  }
  /** A view sharing storage with no autograd history. */
  detach(): Tensor {
    return wrap(native.reshape(this.handle('detach'), this.shape as number[]));
  }
  /** Back-propagates from this tensor (a one-element tensor, or pass the output gradient). */
  backward(grad?: Tensor): void {
    backward(this, grad);
  }

  get isDisposed(): boolean {
    return this._h === null;
  }
  get ndim(): number {
    return this.shape.length;
  }
  dim(): number {
    return this.shape.length;
  }
  numel(): number {
    let n = 1;
    for (const s of this.shape) n *= s;
    return n;
  }
  /** Size of one dimension (negative counts from the end), or the whole shape. */
  size(): number[];
  size(dim: number): number;
  size(dim?: number): number | number[] {
    if (dim === undefined) return [...this.shape];
    return this.shape[normAxis('size', dim, this.ndim)];
  }
  /** Strides in elements. */
  stride(): number[] {
    return this.handle('stride').strides;
  }
  isContiguous(): boolean {
    return this.handle('isContiguous').isContiguous;
  }

  /**
   * Frees the native memory now (views keep their shared storage alive) and this tensor's
   * gradient. Idempotent. The autograd graph keeps what backward needs on its own.
   */
  dispose(): void {
    if (this._h !== null) {
      this._h.dispose();
      this._h = null;
    }
    if (this._grad !== null) {
      this._grad.dispose();
      this._grad = null;
    }
  }
  [Symbol.dispose](): void {
    this.dispose();
  }

  // ---- reading ----------------------------------------------------------------------------
  /** A copy of the elements in row-major order (bfloat16/float16 widened to Float32Array). */
  dataSync(): TypedArray {
    const src = this.dtype === 'bfloat16' || this.dtype === 'float16' ? native.cast(this.handle('dataSync'), 'float32') : this.handle('dataSync');
    try {
      return viewBuffer(native.toBuffer(src), this.dtype);
    } finally {
      if (src !== this._h) src.dispose();
    }
  }
  /** A copy of the raw element bytes in row-major order (bfloat16/float16 as 16-bit patterns). */
  bytes(): Uint8Array {
    return new Uint8Array(native.toBuffer(this.handle('bytes')));
  }
  /** dataSync() as a Promise, for code written against asynchronous backends. */
  async data(): Promise<TypedArray> {
    return this.dataSync();
  }
  /** The value of a one-element tensor (bool gives 0 or 1). */
  item(): number {
    return native.item(this.handle('item'));
  }
  /** Nested arrays of numbers (int64 values beyond 2^53 lose precision). */
  toArray(): NestedArray {
    const flat = this.dataSync();
    const get = flat instanceof BigInt64Array ? (i: number) => Number(flat[i]) : (i: number) => (flat as Float32Array)[i];
    const build = (d: number, off: number): NestedArray => {
      if (d === this.ndim) return get(off);
      const n = this.shape[d];
      let step = 1;
      for (let k = d + 1; k < this.ndim; k++) step *= this.shape[k];
      const out: NestedArray[] = new Array(n);
      for (let i = 0; i < n; i++) out[i] = build(d + 1, off + i * step);
      return out;
    };
    return build(0, 0);
  }
  toString(): string {
    if (this._h === null) return `Tensor(disposed, shape=[${this.shape.join(', ')}], dtype=${this.dtype})`;
    const n = this.numel();
    const body = n <= 64 ? JSON.stringify(this.toArray()) : `<${n} elements>`;
    return `Tensor(${body}, shape=[${this.shape.join(', ')}], dtype=${this.dtype}, device=${this.device})`;
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }

  // ---- views (share storage) --------------------------------------------------------------
  reshape(...shape: ShapeArg): Tensor {
    return record('reshape', wrap(native.reshape(this.handle('reshape'), shapeOf('reshape', shape))), [this]);
  }
  /** Like reshape but never copies: an error when the strides do not allow a view. */
  view(...shape: ShapeArg): Tensor {
    return record('reshape', wrap(native.view(this.handle('view'), shapeOf('view', shape))), [this]);
  }
  permute(...dims: ShapeArg): Tensor {
    const d = shapeOf('permute', dims);
    return record('permute', wrap(native.permute(this.handle('permute'), d)), [this], { dims: d });
  }
  transpose(dim0: number, dim1: number): Tensor {
    return record('transpose', wrap(native.transpose(this.handle('transpose'), dim0, dim1)), [this], { dim0, dim1 });
  }
  /** Transpose of a matrix (a vector or scalar is returned as a view of itself). */
  t(): Tensor {
    return this.ndim < 2 ? this.reshape(this.shape) : this.transpose(0, 1);
  }
  /** The transpose of the last two dims. */
  get mT(): Tensor {
    return this.transpose(-2, -1);
  }
  narrow(dim: number, start: number, length: number): Tensor {
    return record('narrow', wrap(native.narrow(this.handle('narrow'), dim, start, length)), [this], { dim, start, length });
  }
  /** Python-style slice along dim: start/end may be negative and are clamped; step > 0. */
  slice(dim: number, start = 0, end = Number.MAX_SAFE_INTEGER, step = 1): Tensor {
    return record('slice', wrap(native.slice(this.handle('slice'), dim, start, end, step)), [this], { dim, start, end, step });
  }
  /** Indexes one position of dim, removing the dim. */
  select(dim: number, index: number): Tensor {
    return record('select', wrap(native.select(this.handle('select'), dim, index)), [this], { dim, index });
  }
  expand(...shape: ShapeArg): Tensor {
    return record('expand', wrap(native.expand(this.handle('expand'), shapeOf('expand', shape))), [this]);
  }
  expandAs(other: Tensor): Tensor {
    return this.expand(other.shape);
  }
  broadcastTo(shape: Shape): Tensor {
    return this.expand(shape);
  }
  /** Removes size-1 dims (all, or the given ones). */
  squeeze(dim?: number | number[]): Tensor {
    const dims = dim === undefined ? [] : Array.isArray(dim) ? dim : [dim];
    return record('reshape', wrap(native.squeeze(this.handle('squeeze'), dims)), [this]);
  }
  unsqueeze(dim: number): Tensor {
    return record('reshape', wrap(native.unsqueeze(this.handle('unsqueeze'), dim)), [this]);
  }
  flatten(startDim = 0, endDim = -1): Tensor {
    if (this.ndim === 0) return this.reshape([1]);
    const s = normAxis('flatten', startDim, this.ndim), e = normAxis('flatten', endDim, this.ndim);
    if (s > e) throw new RangeError(`flatten: argument 'startDim' (${startDim}) comes after 'endDim' (${endDim})`);
    const shape = [...this.shape.slice(0, s), this.shape.slice(s, e + 1).reduce((a, b) => a * b, 1), ...this.shape.slice(e + 1)];
    return this.reshape(shape);
  }
  unflatten(dim: number, sizes: Shape): Tensor {
    const d = normAxis('unflatten', dim, this.ndim);
    return this.reshape([...this.shape.slice(0, d), ...sizes, ...this.shape.slice(d + 1)]);
  }
  /** This tensor when already contiguous (a new view object of it), else a contiguous copy. */
  contiguous(): Tensor {
    return record('identity', wrap(native.contiguous(this.handle('contiguous'))), [this]);
  }
  clone(): Tensor {
    return record('identity', wrap(native.clone(this.handle('clone'))), [this]);
  }

  /**
   * In place: copies src (broadcast, converted to this dtype, brought over from another device)
   * into this tensor, or into the region of it that `region(this)` views. Not recorded by
   * autograd; returns this.
   */
  copy_(src: Tensor, region?: (self: Tensor) => Tensor): this {
    if (this.requiresGrad && isGradEnabled()) {
      throw new Error('copy_: in-place copy into a tensor that requires grad (use noGrad() for parameter updates)');
    }
    const dst = region ? region(this) : this;
    const from = src.device === this.device ? src.handle('copy_') : native.toDevice(src.handle('copy_'), this.device);
    try {
      native.copyInto(dst.handle('copy_'), from);
    } finally {
      if (dst !== this) dst.dispose();
      if (from !== src._h) from.dispose();
    }
    return this;
  }

  // ---- dtype and device -------------------------------------------------------------------
  /** Converts to a dtype and/or device; always returns a new Tensor object. */
  to(target: DType | string | { dtype?: DType; device?: string }): Tensor {
    const opts = typeof target === 'string' ? (isDType(target) ? { dtype: target } : { device: target }) : target;
    const h = this.handle('to');
    if (opts.device !== undefined && opts.device !== this.device) {
      // Cast where the data is smaller: before leaving a device or after arriving, never twice.
      const attrs = { device: this.device, dtype: this.dtype };
      const moved = wrap(native.toDevice(h, opts.device));
      if (opts.dtype === undefined || opts.dtype === this.dtype) return record('to_device', moved, [this], attrs);
      try { return record('to_device', wrap(native.cast(moved.handle('to'), opts.dtype)), [this], attrs); } finally { moved.dispose(); }
    }
    if (opts.dtype === undefined || opts.dtype === this.dtype) return record('identity', wrap(native.reshape(h, this.shape as number[])), [this]);
    return record('cast', wrap(native.cast(h, opts.dtype)), [this]);
  }
  /**
   * @internal Moves this tensor's data to `device` in place, keeping the object (modules and
   * optimizers hold parameters by reference): what Module.to() uses. Leaves only; a gradient moves
   * with it. No-op when it is there already.
   */
  _moveTo(device: string): void {
    if (this._node !== null) throw new Error('to: only leaf tensors can be moved in place (this one is an op output)');
    const h = native.toDevice(this.handle('to'), device);
    if (h.device === this.device) {
      h.dispose();
      return;
    }
    this._h!.dispose();
    this._h = h;
    (this as { device: string }).device = h.device;
    this._grad?._moveTo(device);
  }
  /** A copy on the (first) CUDA device; throws with a code when CUDA is not available. */
  cuda(): Tensor { return this.to({ device: 'cuda' }); }
  /** A copy in host memory (this tensor's own data when it is on the CPU already). */
  cpu(): Tensor { return this.to({ device: 'cpu' }); }
  float(): Tensor { return this.to('float32'); }
  double(): Tensor { return this.to('float64'); }
  half(): Tensor { return this.to('float16'); }
  bfloat16(): Tensor { return this.to('bfloat16'); }
  int(): Tensor { return this.to('int32'); }
  long(): Tensor { return this.to('int64'); }
  bool(): Tensor { return this.to('bool'); }
  byte(): Tensor { return this.to('uint8'); }
}

/** Shapes and dim lists may be passed as one array or as separate numbers. */
export type ShapeArg = [Shape] | number[];

export function shapeOf(op: string, args: ShapeArg): number[] {
  const s = args.length === 1 && Array.isArray(args[0]) ? args[0] : args;
  if (!Array.isArray(s)) throw new TypeError(`${op}: argument 'shape' must be an array of integers`);
  return s as number[];
}

/** Wraps a native tensor in a Tensor registered with the current scope. @internal */
export function wrap(h: NativeTensor): Tensor {
  return new Tensor(h);
}
setWrap(wrap);

export function normAxis(op: string, dim: number, ndim: number): number {
  if (!Number.isInteger(dim)) throw new TypeError(`${op}: argument 'dim' must be an integer (got ${String(dim)})`);
  const lo = ndim === 0 ? -1 : -ndim, hi = ndim === 0 ? 0 : ndim - 1;
  if (dim < lo || dim > hi) {
    throw new RangeError(`${op}: argument 'dim' is ${dim} (expected an axis in [${lo}, ${hi}] for a tensor with ${ndim} dimensions)`);
  }
  return dim < 0 ? dim + Math.max(ndim, 1) : dim;
}

export function isTensor(x: unknown): x is Tensor {
  return x instanceof Tensor;
}

export { ITEM_SIZE };
