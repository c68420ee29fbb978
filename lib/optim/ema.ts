// The exponential moving average of parameters (DINOv2's teacher update) as one fused native
// pass per tensor: target = momentum * target + (1 - momentum) * source, in place.
import { native } from '../tensor/native.js';
import type { Tensor } from '../tensor/tensor.js';

/** In place: target = momentum · target + (1 − momentum) · source (same shape and dtype; target contiguous). */
export function ema_(target: Tensor, source: Tensor, momentum: number): void {
  native.ema(target.handle('ema_'), source.handle('ema_'), momentum);
}
