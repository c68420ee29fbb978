// Gradient rules of the element-wise ops, reductions, softmax and matmul. Each rule runs with
// grad mode off inside a tidy scope (engine.ts): temporaries are freed, returned tensors kept.
import * as M from '../tensor/math.js';
import { getMatmulPrecision, withMatmulPrecision } from '../tensor/memory.js';
import { native } from '../tensor/native.js';
import { Tensor, wrap } from '../tensor/tensor.js';
import { GradContext, registerGradient } from './engine.js';

const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((s, i) => s === b[i]);

/** Sums a broadcast gradient back to `shape` (the inverse of broadcasting). */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  if (same(g.shape, shape)) return g;
  const lead = g.ndim - shape.length;
  const dims: number[] = [];
  for (let i = 0; i < g.ndim; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) dims.push(i);
  }
  const r = dims.length ? g.sum(dims, true) : g;
  return r.reshape(shape as number[]);
}

/** The reduced dims of a reduction (all when none were given), normalised. */
function reducedDims(ctx: GradContext): number[] {
  const nd = ctx.inputShapes[0].length;
  const dims = ctx.attrs.dims as number[] | null;
  if (!dims || dims.length === 0) return [...Array(nd).keys()];
  return dims.map((d) => (d < 0 ? d + nd : d));
}

/** g reshaped to keepdim form so it broadcasts against the input. */
function keepShape(ctx: GradContext, g: Tensor): Tensor {
  if (ctx.attrs.keepdim) return g;
  const shape = [...ctx.inputShapes[0]];
  for (const d of reducedDims(ctx)) shape[d] = 1;
  return g.reshape(shape);
}

const count = (ctx: GradContext) => reducedDims(ctx).reduce((n, d) => n * ctx.inputShapes[0][d], 1);

// ---- element-wise ---------------------------------------------------------------------------
const unary = (op: string, save: 'in' | 'out' | 'both' | 'none', fn: (g: Tensor, s: Tensor[]) => Tensor | null) =>
  registerGradient(op, {
    save: (ins, out) => (save === 'in' ? [ins[0]] : save === 'out' ? [out] : save === 'both' ? [ins[0], out] : []),
    backward: (ctx, g) => [fn(g, ctx.saved)],
  });

unary('neg', 'none', (g) => g.neg());
unary('abs', 'in', (g, [x]) => g.mul(x.sign()));
unary('square', 'in', (g, [x]) => g.mul(x).mul(2));
unary('reciprocal', 'out', (g, [y]) => g.mul(y.square()).neg());
unary('exp', 'out', (g, [y]) => g.mul(y));
unary('expm1', 'out', (g, [y]) => g.mul(y.add(1)));
unary('log', 'in', (g, [x]) => g.div(x));
unary('log1p', 'in', (g, [x]) => g.div(x.add(1)));
unary('sqrt', 'out', (g, [y]) => g.div(y.mul(2)));
unary('rsqrt', 'out', (g, [y]) => g.mul(y.pow(3)).mul(-0.5));
unary('sin', 'in', (g, [x]) => g.mul(x.cos()));
unary('cos', 'in', (g, [x]) => g.mul(x.sin()).neg());
unary('tanh', 'out', (g, [y]) => g.mul(R1(y.square())));
unary('sigmoid', 'out', (g, [y]) => g.mul(y).mul(R1(y)));
unary('relu', 'out', (g, [y]) => g.mul(y.gt(0).to(y.dtype)));
unary('erf', 'in', (g, [x]) => g.mul(x.square().neg().exp().mul(2 / Math.sqrt(Math.PI))));
unary('silu', 'in', (g, [x]) => {
  const s = x.sigmoid();
  return g.mul(s.mul(x.mul(R1(s)).add(1)));
});
unary('gelu', 'in', (g, [x]) => M.geluBackward(g, x, 'none'));
unary('gelu_tanh', 'in', (g, [x]) => M.geluBackward(g, x, 'tanh'));
for (const op of ['sign', 'floor', 'ceil', 'round']) unary(op, 'none', () => null);

/** 1 - t */
function R1(t: Tensor): Tensor {
  return M.sub(1, t);
}

registerGradient('clamp', {
  save: (ins) => [ins[0]],
  backward: (ctx, g) => {
    const [x] = ctx.saved;
    const lo = ctx.attrs.min as number | null, hi = ctx.attrs.max as number | null;
    let pass = lo !== null ? x.ge(lo) : null;
    if (hi !== null) pass = pass ? pass.logicalAnd(x.le(hi)) : x.le(hi);
    return [M.where(pass!, g, 0)];
  },
});

registerGradient('add', { backward: (ctx, g) => [ctx.needs[0] ? sumTo(g, ctx.inputShapes[0]) : null, ctx.needs[1] ? sumTo(g, ctx.inputShapes[1]) : null] });
registerGradient('sub', { backward: (ctx, g) => [ctx.needs[0] ? sumTo(g, ctx.inputShapes[0]) : null, ctx.needs[1] ? sumTo(g.neg(), ctx.inputShapes[1]) : null] });
registerGradient('mul', {
  save: (ins) => [ins[0], ins[1]],
  backward: (ctx, g) => {
    const [a, b] = ctx.saved;
    return [ctx.needs[0] ? sumTo(g.mul(b), ctx.inputShapes[0]) : null, ctx.needs[1] ? sumTo(g.mul(a), ctx.inputShapes[1]) : null];
  },
});
registerGradient('div', {
  save: (ins) => [ins[0], ins[1]],
  backward: (ctx, g) => {
    const [a, b] = ctx.saved;
    return [
      ctx.needs[0] ? sumTo(g.div(b), ctx.inputShapes[0]) : null,
      ctx.needs[1] ? sumTo(g.mul(a).div(b.square()).neg(), ctx.inputShapes[1]) : null,
    ];
  },
});
registerGradient('pow', {
  save: (ins, out) => [ins[0], ins[1], out],
  backward: (ctx, g) => {
    const [a, b, y] = ctx.saved;
    return [
      ctx.needs[0] ? sumTo(g.mul(b).mul(a.pow(b.sub(1))), ctx.inputShapes[0]) : null,
      ctx.needs[1] ? sumTo(g.mul(y).mul(a.log()), ctx.inputShapes[1]) : null,
    ];
  },
});
// maximum/minimum: the gradient goes to the larger (smaller) operand, split evenly on ties.
for (const [op, cmp] of [['maximum', 'gt'], ['minimum', 'lt']] as const) {
  registerGradient(op, {
    save: (ins) => [ins[0], ins[1]],
    backward: (ctx, g) => {
      const [a, b] = ctx.saved;
      const wa = a[cmp](b).to(g.dtype).add(a.eq(b).to(g.dtype).mul(0.5));
      return [ctx.needs[0] ? sumTo(g.mul(wa), ctx.inputShapes[0]) : null, ctx.needs[1] ? sumTo(g.mul(R1(wa)), ctx.inputShapes[1]) : null];
    },
  });
}
registerGradient('where', {
  save: (ins) => [ins[0]],
  backward: (ctx, g) => {
    const [cond] = ctx.saved;
    return [null, ctx.needs[1] ? sumTo(M.where(cond, g, 0), ctx.inputShapes[1]) : null, ctx.needs[2] ? sumTo(M.where(cond, 0, g), ctx.inputShapes[2]) : null];
  },
});
registerGradient('cast', { backward: (ctx, g) => [g.to(ctx.inputDtypes[0] as Tensor['dtype'])] });
registerGradient('identity', { backward: (_ctx, g) => [g] });
// A device move (with an optional cast): the gradient goes back to the input's device and dtype.
registerGradient('to_device', {
  backward: (ctx, g) => [g.to({ device: ctx.attrs.device as string, dtype: ctx.attrs.dtype as Tensor['dtype'] })],
});

// ---- reductions -----------------------------------------------------------------------------
const expandBack = (ctx: GradContext, g: Tensor) => keepShape(ctx, g).expand(ctx.inputShapes[0] as number[]);

registerGradient('sum', { backward: (ctx, g) => [expandBack(ctx, g)] });
registerGradient('mean', { backward: (ctx, g) => [expandBack(ctx, g).div(count(ctx))] });
// max/min (amax/amin): the gradient is shared evenly among the tied extreme elements.
for (const op of ['max', 'min']) {
  registerGradient(op, {
    save: (ins, out) => [ins[0], out],
    backward: (ctx, g) => {
      const [x, y] = ctx.saved;
      const hit = x.eq(keepShape(ctx, y)).to(g.dtype);
      const ties = hit.sum(reducedDims(ctx), true);
      return [hit.mul(keepShape(ctx, g)).div(ties)];
    },
  });
}
registerGradient('logsumexp', {
  save: (ins, out) => [ins[0], out],
  backward: (ctx, g) => {
    const [x, y] = ctx.saved;
    return [x.sub(keepShape(ctx, y)).exp().mul(keepShape(ctx, g))];
  },
});
registerGradient('var', {
  save: (ins) => [ins[0]],
  backward: (ctx, g) => {
    const [x] = ctx.saved;
    const n = count(ctx), corr = ctx.attrs.param as number;
    const mean = x.mean(reducedDims(ctx), true);
    return [x.sub(mean).mul(keepShape(ctx, g)).mul(2 / Math.max(0, n - corr))];
  },
});
registerGradient('norm', {
  save: (ins, out) => [ins[0], out],
  backward: (ctx, g) => {
    const [x, y] = ctx.saved;
    const p = ctx.attrs.param as number;
    const gk = keepShape(ctx, g), yk = keepShape(ctx, y);
    if (p === 1) return [x.sign().mul(gk)];
    if (p === Infinity) {
      const hit = x.abs().eq(yk).to(g.dtype);
      return [x.sign().mul(hit).mul(gk).div(hit.sum(reducedDims(ctx), true))];
    }
    // d/dx ||x||_p = x |x|^(p-2) / ||x||^(p-1); zero where the norm is zero
    const safe = M.where(yk.eq(0), 1, yk);
    const scale = p === 2 ? gk.div(safe) : gk.div(safe.pow(p - 1));
    const dir = p === 2 ? x : x.mul(x.abs().pow(p - 2));
    return [M.where(yk.eq(0), 0, dir.mul(scale))];
  },
});
// softmax: dx = y (g - sum(g y)); log_softmax: dx = g - exp(y) sum(g) (fused native kernels)
for (const [op, log] of [['softmax', false], ['log_softmax', true]] as const) {
  registerGradient(op, {
    save: (_ins, out) => [out],
    backward: (ctx, g) => {
      const [y] = ctx.saved;
      return [wrap(native.softmaxBackward(y.handle(`${op} backward`), g.handle(`${op} backward`), ctx.attrs.dim as number, log))];
    },
  });
}

// ---- matmul ---------------------------------------------------------------------------------
// With A' = op(a), B' = op(b) (the requested transposes) and 1-D operands promoted as in the
// forward: dA' = g B'^T, dB' = A'^T g; batch dims broadcast in the forward are summed.
registerGradient('matmul', {
  save: (ins) => [ins[0], ins[1]],
  // the products in the precision of the forward (attrs.precision), wherever backward() runs
  backward: (ctx, g) => withMatmulPrecision((ctx.attrs.precision as 'float32' | 'bfloat16' | undefined) ?? getMatmulPrecision(), () => {
    let [a, b] = ctx.saved;
    const { transA, transB } = ctx.attrs as { transA: boolean; transB: boolean };
    const aVec = a.ndim === 1, bVec = b.ndim === 1;
    if (aVec) a = a.unsqueeze(0);
    if (bVec) b = b.unsqueeze(1);
    if (aVec && bVec) g = g.reshape(1, 1);
    else if (aVec) g = g.unsqueeze(-2);
    else if (bVec) g = g.unsqueeze(-1);
    const A = transA && !aVec ? a.mT : a, B = transB && !bVec ? b.mT : b;
    let da: Tensor | null = null, db: Tensor | null = null;
    if (ctx.needs[0]) {
      let d = M.matmul(g, B, { transB: true });
      if (transA && !aVec) d = d.mT;
      da = sumTo(d, a.shape).reshape(ctx.inputShapes[0] as number[]);
    }
    if (ctx.needs[1]) {
      let d = M.matmul(A, g, { transA: true });
      if (transB && !bVec) d = d.mT;
      db = sumTo(d, b.shape).reshape(ctx.inputShapes[1] as number[]);
    }
    return [da, db];
  }),
});

