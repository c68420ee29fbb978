// The exponential moving average of parameters (DINOv2's teacher update) as one fused native
// pass per tensor: target = momentum * target + (1 - momentum) * source, in place. Where the
// backend has no fused kernel for the dtype (e.g. bfloat16 parameters), the same update is made
// of element-wise ops.
import { noGrad } from '../autograd/engine.js';
import { supports, useFused } from '../tensor/memory.js';
import { native } from '../tensor/native.js';
import type { Tensor } from '../tensor/tensor.js';

/** In place: target = momentum · target + (1 − momentum) · source (same shape and dtype; target contiguous). */
export function ema_(target: Tensor, source: Tensor, momentum: number): void {
  const floating = target.dtype === 'bfloat16' || target.dtype === 'float16' || target.dtype === 'float32' || target.dtype === 'float64';
  if (useFused('ema', target.dtype, target.device) || !floating || !supports('mul', 'float32', target.device)) {
    native.ema(target.handle('ema_'), source.handle('ema_'), momentum);  // (the native op names what is wrong)
    return;
  }
  if (source.dtype !== target.dtype || source.device !== target.device || source.shape.join() !== target.shape.join()) {
    throw new TypeError(`ema: argument 'source' is ${source.dtype} [${source.shape.join(', ')}] on ${source.device} (expected ${target.dtype} [${target.shape.join(', ')}] on ${target.device}, the target's)`);
  }
  if (!(momentum >= 0 && momentum <= 1)) throw new RangeError(`ema: argument 'momentum' is ${momentum} (expected a number in [0, 1])`);
  // Half types in float32, rounded to the target's dtype once; float32 and float64 in their own.
  const wide = target.dtype === 'float64' ? 'float64' : 'float32';
  noGrad(() => {
    const t32 = target.to(wide), s32 = source.to(wide);
    const a = t32.mul(momentum), b = s32.mul(1 - momentum), s = a.add(b);
    target.copy_(s);
    for (const t of [t32, s32, a, b, s]) t.dispose();
  });
}
