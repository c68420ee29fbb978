// Gradient rules of the fused network kernels; each calls the backward kernel that sits next to
// its forward in the native op table.
import { getMatmulPrecision, withMatmulPrecision } from '../tensor/memory.js';
import { native } from '../tensor/native.js';
import { Tensor, wrap } from '../tensor/tensor.js';
import { registerGradient } from './engine.js';

// y = x Wᵀ + b: dx = g W, dW = gᵀ x (over all leading dims), db = sum of g over leading dims.
registerGradient('linear', {
  // attrs.inputBf16: x rounded to bfloat16 (bf16 matmul precision, see nn/functional.ts linear)
  save: (ins, _out, attrs) => [(attrs.inputBf16 as Tensor | undefined) ?? ins[0], ins[1]],
  // the products in the precision of the forward (attrs.precision), wherever backward() runs
  backward: (ctx, g) => withMatmulPrecision((ctx.attrs.precision as 'float32' | 'bfloat16' | undefined) ?? getMatmulPrecision(), () => {
    const [x, w] = ctx.saved;
    const out = g.shape[g.ndim - 1], inF = x.shape[x.ndim - 1];
    const g2 = g.reshape(-1, out);
    let dw: Tensor | null = null;
    if (ctx.needs[1]) {
      const x2 = x.reshape(-1, inF);
      // dW = bf16(g)ᵀ x: the bf16 GEMM with the saved bfloat16 x as its bfloat16 operand
      dw = x.dtype === 'bfloat16' && g.dtype === 'float32'
        ? wrap(native.linearBf16(g2.mT.handle('linear backward'), x2.mT.handle('linear backward'), null))
        : g2.matmul(x2, { transA: true });
    }
    return [ctx.needs[0] ? g.matmul(w) : null, dw, ctx.needs[2] ? g2.sum(0) : null];
  }),
});

registerGradient('layer_norm', {
  save: (ins, _out, attrs) => [ins[0], ins[1], attrs.mean as Tensor, attrs.rstd as Tensor],
  backward: (ctx, g) => {
    const [x, w, mean, rstd] = ctx.saved;
    const h = (t: Tensor) => t.handle('layer_norm backward');
    const hasBias = ctx.inputDtypes[2] !== '';
    const [dx, dw, db] = native.layerNormBackward(h(g), h(x), h(mean), h(rstd), w ? h(w) : null, hasBias);
    return [wrap(dx), dw ? wrap(dw) : null, db ? wrap(db) : null];
  },
});

registerGradient('attention', {
  save: (ins, out, attrs) => [ins[0], ins[1], ins[2], out, attrs.lse as Tensor],
  backward: (ctx, g) => {
    const [q, k, v, o, lse] = ctx.saved;
    const h = (t: Tensor) => t.handle('attention backward');
    const [dq, dk, dv] = native.attentionBackward(h(q), h(k), h(v), h(o), h(lse), h(g), ctx.attrs.scale as number);
    return [wrap(dq), wrap(dk), wrap(dv)];
  },
});

registerGradient('attention_qkv', {
  save: (ins, out, attrs) => [ins[0], out, attrs.lse as Tensor],
  backward: (ctx, g) => {
    const [qkv, out, lse] = ctx.saved;
    const [B, N, C3] = qkv.shape;
    const H = ctx.attrs.heads as number, hd = C3 / 3 / H;
    const q5 = qkv.reshape(B, N, 3, H, hd).permute(2, 0, 3, 1, 4);
    const h = (t: Tensor) => t.handle('attention backward');
    const o = out.reshape(B, N, H, hd).transpose(1, 2), dout = g.reshape(B, N, H, hd).transpose(1, 2);
    // dq, dk, dv written by the kernel straight into one [B, N, 3 H hd] gradient
    return [wrap(native.attentionBackwardQkv(h(q5.select(0, 0)), h(q5.select(0, 1)), h(q5.select(0, 2)), h(o), h(lse), h(dout),
      ctx.attrs.scale as number))];
  },
});

registerGradient('bicubic', {
  backward: (ctx, g) => {
    const [, , H, W] = ctx.inputShapes[0];
    const { stepH, stepW, antialias } = ctx.attrs as { stepH: number; stepW: number; antialias: boolean };
    return [wrap(native.bicubicBackward(g.handle('interpolate backward'), H, W, stepH, stepW, antialias))];
  },
});
