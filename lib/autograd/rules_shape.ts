// Gradient rules of views, joins and indexing ops.
import { arange, zeros } from '../tensor/creation.js';
import { indexAdd, scatterAdd } from '../tensor/indexing.js';
import type { Tensor } from '../tensor/tensor.js';
import { GradContext, registerGradient } from './engine.js';
import { sumTo } from './rules_math.js';

const inShape = (ctx: GradContext) => ctx.inputShapes[0] as number[];

/** A zero tensor of the input's shape with g copied into the region `view` selects. */
function embed(ctx: GradContext, g: Tensor, view: (z: Tensor) => Tensor): Tensor {
  const z = zeros(inShape(ctx), { dtype: g.dtype as Tensor['dtype'], device: g.device });
  z.copy_(g, view);
  return z;
}

registerGradient('reshape', { backward: (ctx, g) => [g.reshape(inShape(ctx))] });
registerGradient('expand', { backward: (ctx, g) => [sumTo(g, inShape(ctx))] });
registerGradient('permute', {
  backward: (ctx, g) => {
    const dims = (ctx.attrs.dims as number[]).map((d) => (d < 0 ? d + g.ndim : d));
    const inv = new Array<number>(dims.length);
    dims.forEach((d, i) => (inv[d] = i));
    return [g.permute(inv)];
  },
});
registerGradient('transpose', { backward: (ctx, g) => [g.transpose(ctx.attrs.dim0 as number, ctx.attrs.dim1 as number)] });
registerGradient('narrow', {
  backward: (ctx, g) => {
    const { dim, start, length } = ctx.attrs as { dim: number; start: number; length: number };
    return [embed(ctx, g, (z) => z.narrow(dim, start, length))];
  },
});
registerGradient('slice', {
  backward: (ctx, g) => {
    const { dim, start, end, step } = ctx.attrs as { dim: number; start: number; end: number; step: number };
    return [embed(ctx, g, (z) => z.slice(dim, start, end, step))];
  },
});
registerGradient('select', {
  backward: (ctx, g) => {
    const { dim, index } = ctx.attrs as { dim: number; index: number };
    return [embed(ctx, g, (z) => z.select(dim, index))];
  },
});
registerGradient('cat', {
  backward: (ctx, g) => {
    const { dim, sizes } = ctx.attrs as { dim: number; sizes: number[] };
    let at = 0;
    return sizes.map((n, i) => {
      const piece = ctx.needs[i] ? g.narrow(dim, at, n) : null;
      at += n;
      return piece;
    });
  },
});

// ---- indexing -------------------------------------------------------------------------------
registerGradient('index_select', {
  save: (ins) => [ins[1]],
  backward: (ctx, g) => {
    const [index] = ctx.saved;
    const dim = ctx.attrs.dim as number;
    return [indexAdd(zeros(inShape(ctx), { dtype: g.dtype as Tensor['dtype'] }), dim, index, g), null];
  },
});
registerGradient('gather', {
  save: (ins) => [ins[1]],
  backward: (ctx, g) => {
    const [index] = ctx.saved;
    return [scatterAdd(zeros(inShape(ctx), { dtype: g.dtype as Tensor['dtype'] }), ctx.attrs.dim as number, index, g), null];
  },
});
registerGradient('scatter_add', {
  save: (ins) => [ins[1]],
  backward: (ctx, g) => {
    const [index] = ctx.saved;
    const dim = ctx.attrs.dim as number;
    // src elements outside the index's extent do not reach the output
    let dsrc: Tensor | null = null;
    if (ctx.needs[2]) {
      const picked = g.gather(dim, index);
      dsrc = zeros(ctx.inputShapes[2] as number[], { dtype: g.dtype as Tensor['dtype'] });
      dsrc.copy_(picked, (z) => index.shape.reduce((v, s, d) => v.narrow(d, 0, s), z));
    }
    return [ctx.needs[0] ? g : null, null, dsrc];
  },
});
registerGradient('index_add', {
  save: (ins) => [ins[1]],
  backward: (ctx, g) => {
    const [index] = ctx.saved;
    const { dim, alpha } = ctx.attrs as { dim: number; alpha: number };
    return [ctx.needs[0] ? g : null, null, ctx.needs[2] ? g.indexSelect(dim, index).mul(alpha) : null];
  },
});
registerGradient('masked_fill', {
  save: (ins) => [ins[1]],
  backward: (ctx, g) => [g.maskedFill(ctx.saved[0], 0), null],
});
registerGradient('masked_select', {
  save: (ins) => [ins[0], ins[1]],
  backward: (ctx, g) => {
    const [x, mask] = ctx.saved;
    // Positions of the selected elements in the broadcast shape, then scatter g back there.
    const full = mask.expand(broadcast(x.shape, mask.shape));
    const n = full.numel();
    const where = arange(n).maskedSelect(full.reshape(n));
    const flat = indexAdd(zeros([n], { dtype: g.dtype as Tensor['dtype'] }), 0, where, g);
    return [sumTo(flat.reshape(full.shape as number[]), x.shape), null];
  },
});
registerGradient('topk', {
  save: (_ins, _out, attrs) => [attrs.indices as Tensor],
  backward: (ctx, g) => {
    const [indices] = ctx.saved;
    return [scatterAdd(zeros(inShape(ctx), { dtype: g.dtype as Tensor['dtype'] }), ctx.attrs.dim as number, indices, g)];
  },
});

function broadcast(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  return Array.from({ length: n }, (_, i) => {
    const x = a[a.length - n + i] ?? 1, y = b[b.length - n + i] ?? 1;
    return x === 1 ? y : x;
  });
}

