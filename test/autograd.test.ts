// Autograd: finite-difference checks in float64 for every differentiable op on odd shapes
// (with broadcasting and non-contiguous inputs), and the engine's behaviour.
import { describe, expect, it } from 'vitest';
import * as R from '../lib/index.js';
import { Tensor } from '../lib/index.js';
import { make, numel, values } from './helpers.js';

/** A float64 leaf with requiresGrad, in the given layout. */
function leaf(shape: number[], seed: number, layout: 'contiguous' | 'permuted' | 'sliced' = 'contiguous', lo = -2, hi = 2): Tensor {
  const t = make(values(numel(shape), seed, lo, hi), shape, 'float64', layout);
  t.requiresGrad = true;
  return t;
}

function check(name: string, f: (...xs: Tensor[]) => Tensor, inputs: Tensor[], opts: R.GradCheckOptions = {}): void {
  R.tidy(() => {
    try {
      R.gradCheck(f, inputs, opts);
    } catch (e) {
      throw new Error(`${name}: ${(e as Error).message}`);
    }
  });
  for (const x of inputs) x.dispose();
}

describe('gradient checks (float64, central differences)', () => {
  const S = [3, 4, 5];
  const unaries: [string, (x: Tensor) => Tensor, number, number][] = [
    ['neg', (x) => x.neg(), -2, 2], ['abs', (x) => x.abs(), 0.1, 2], ['square', (x) => x.square(), -2, 2],
    ['reciprocal', (x) => x.reciprocal(), 0.5, 2], ['exp', (x) => x.exp(), -2, 2], ['expm1', (x) => x.expm1(), -2, 2],
    ['log', (x) => x.log(), 0.2, 3], ['log1p', (x) => x.log1p(), -0.5, 2], ['sqrt', (x) => x.sqrt(), 0.2, 3],
    ['rsqrt', (x) => x.rsqrt(), 0.2, 3], ['sin', (x) => x.sin(), -3, 3], ['cos', (x) => x.cos(), -3, 3],
    ['tanh', (x) => x.tanh(), -2, 2], ['sigmoid', (x) => x.sigmoid(), -3, 3], ['relu', (x) => x.relu(), 0.1, 2],
    ['erf', (x) => x.erf(), -2, 2], ['silu', (x) => x.silu(), -3, 3], ['gelu', (x) => x.gelu(), -3, 3],
    ['gelu tanh', (x) => x.gelu('tanh'), -3, 3], ['clamp', (x) => x.clamp(-1, 1), -2, 2],
    ['pow scalar', (x) => x.pow(3), -2, 2], ['mul scalar', (x) => x.mul(2.5).add(1).div(3).sub(0.5), -2, 2],
  ];
  for (const [name, f, lo, hi] of unaries) {
    it(name, () => check(name, f, [leaf(S, 3, 'permuted', lo, hi)]));
  }

  it('binary ops with broadcasting', () => {
    const pairs: [number[], number[]][] = [[[3, 4, 5], [3, 4, 5]], [[3, 4, 5], [5]], [[3, 1, 5], [4, 1]], [[2, 3], []]];
    for (const [sa, sb] of pairs) {
      check(`add ${sa}|${sb}`, (a, b) => a.add(b), [leaf(sa, 1, 'sliced'), leaf(sb, 2)]);
      check(`sub ${sa}|${sb}`, (a, b) => a.sub(b, 2), [leaf(sa, 1), leaf(sb, 2)]);
      check(`mul ${sa}|${sb}`, (a, b) => a.mul(b), [leaf(sa, 1), leaf(sb, 2, 'permuted')]);
      check(`div ${sa}|${sb}`, (a, b) => a.div(b), [leaf(sa, 1), leaf(sb, 2, 'contiguous', 0.5, 2)]);
      check(`pow ${sa}|${sb}`, (a, b) => a.pow(b), [leaf(sa, 1, 'contiguous', 0.5, 2), leaf(sb, 2)]);
      check(`maximum ${sa}|${sb}`, (a, b) => a.maximum(b), [leaf(sa, 1), leaf(sb, 2)]);
      check(`minimum ${sa}|${sb}`, (a, b) => a.minimum(b), [leaf(sa, 1), leaf(sb, 2)]);
    }
    const cond = R.tensor(values(20, 9).map((x) => Number(x > 0)), [4, 5], 'bool');
    check('where', (a, b) => R.where(cond, a, b), [leaf([3, 4, 5], 1), leaf([5], 2)]);
    cond.dispose();
  });

  it('reductions over axes, keepdim', () => {
    for (const [dims, keep] of [[undefined, false], [[1], false], [[0, 2], true], [-1, true]] as [number[] | number | undefined, boolean][]) {
      check(`sum ${dims}`, (x) => x.sum(dims, keep), [leaf(S, 4, 'permuted')]);
      check(`mean ${dims}`, (x) => x.mean(dims, keep), [leaf(S, 4)]);
      check(`max ${dims}`, (x) => x.max(dims, keep), [leaf(S, 4)]);
      check(`min ${dims}`, (x) => x.min(dims, keep), [leaf(S, 4, 'sliced')]);
      check(`logsumexp ${dims}`, (x) => x.logsumexp(dims, keep), [leaf(S, 4)]);
      check(`var ${dims}`, (x) => x.var(dims, { keepdim: keep }), [leaf(S, 4)]);
      check(`std ${dims}`, (x) => x.std(dims, { keepdim: keep, correction: 0 }), [leaf(S, 4)]);
      check(`norm2 ${dims}`, (x) => x.norm(2, dims, keep), [leaf(S, 4)]);
      check(`norm1 ${dims}`, (x) => x.norm(1, dims, keep), [leaf(S, 4)]);
      check(`norm3 ${dims}`, (x) => x.norm(3, dims, keep), [leaf(S, 4)]);
      check(`norminf ${dims}`, (x) => x.norm(Infinity, dims, keep), [leaf(S, 4)]);
    }
    for (const dim of [0, 1, 2]) {
      check(`softmax ${dim}`, (x) => x.softmax(dim), [leaf(S, 5, 'permuted')]);
      check(`logSoftmax ${dim}`, (x) => x.logSoftmax(dim), [leaf(S, 5)]);
    }
  });

  it('matmul: shapes, transposes, broadcast batches, vectors', () => {
    const cases: [number[], number[], boolean, boolean][] = [
      [[3, 4], [4, 5], false, false], [[4, 3], [4, 5], true, false], [[3, 4], [5, 4], false, true],
      [[4, 3], [5, 4], true, true], [[2, 3, 4], [4, 5], false, false], [[2, 1, 3, 4], [3, 4, 2], false, false],
      [[4], [4, 5], false, false], [[3, 4], [4], false, false], [[4], [4], false, false], [[2, 3, 4], [2, 5, 4], false, true],
    ];
    for (const [sa, sb, ta, tb] of cases) {
      check(`matmul ${sa} ${sb} ${ta} ${tb}`, (a, b) => a.matmul(b, { transA: ta, transB: tb }), [leaf(sa, 6, 'sliced'), leaf(sb, 7, 'permuted')]);
    }
  });

  it('linear (fused bias) on 2-D and 3-D inputs', () => {
    check('linear 2d', (x, w, b) => R.linear(x, w, b), [leaf([5, 7], 1, 'sliced'), leaf([3, 7], 2), leaf([3], 3)]);
    check('linear 3d', (x, w, b) => R.linear(x, w, b), [leaf([2, 5, 7], 1, 'permuted'), leaf([3, 7], 2, 'permuted'), leaf([3], 3)]);
    check('linear no bias', (x, w) => R.linear(x, w), [leaf([4, 6], 1), leaf([2, 6], 2)]);
  });

  it('views, joins and indexing', () => {
    check('reshape', (x) => x.reshape(5, 12), [leaf(S, 1, 'permuted')]);
    check('permute', (x) => x.permute(2, 0, 1), [leaf(S, 1)]);
    check('transpose', (x) => x.transpose(0, 2), [leaf(S, 1)]);
    check('narrow', (x) => x.narrow(1, 1, 2), [leaf(S, 1)]);
    check('slice', (x) => x.slice(2, 0, 5, 2), [leaf(S, 1)]);
    check('select', (x) => x.select(1, -1), [leaf(S, 1)]);
    check('expand', (x) => x.expand(2, 3, 4, 5), [leaf([3, 1, 5], 1)]);
    check('squeeze/unsqueeze', (x) => x.unsqueeze(1).squeeze(), [leaf([3, 1, 5], 1)]);
    check('flatten', (x) => x.flatten(0, 1), [leaf(S, 1)]);
    check('contiguous/clone', (x) => x.t().contiguous().clone(), [leaf([4, 5], 1)]);
    check('cat', (a, b) => R.cat([a, b, a], 1), [leaf([3, 2, 5], 1), leaf([3, 4, 5], 2)]);
    check('stack', (a, b) => R.stack([a, b], -1), [leaf([3, 4], 1), leaf([3, 4], 2)]);
    check('split', (x) => x.split(2, 1)[1].mul(x.chunk(2, 2)[0].sum()), [leaf(S, 1)]);
    const idx = R.tensor([2, 0, 2, 1], undefined, 'int64');
    check('index_select', (x) => x.indexSelect(1, idx), [leaf(S, 2)]);
    const gidx = R.tensor([[[1, 0, 4], [2, 2, 0]], [[3, 3, 3], [0, 1, 2]]], undefined, 'int64');
    check('gather', (x) => x.gather(2, gidx), [leaf(S, 2)]);
    check('scatter_add', (x, s) => x.scatterAdd(2, gidx, s), [leaf(S, 2), leaf([2, 2, 4], 3)]);
    check('index_add', (x, s) => x.indexAdd(1, idx, s, 0.5), [leaf(S, 2), leaf([3, 4, 5], 3)]);
    const mask = R.tensor(values(20, 4).map((v) => Number(v > 0)), [4, 5], 'bool');
    check('masked_fill', (x) => x.maskedFill(mask, 0), [leaf(S, 2)]);
    check('masked_select', (x) => x.maskedSelect(mask), [leaf(S, 2)]);
    check('topk', (x) => x.topk(2, 1).values, [leaf(S, 2)]);
    check('cast', (x) => x.to('float32').to('float64'), [leaf(S, 2)], { eps: 1e-2, rtol: 1e-3, atol: 1e-4 });
    for (const t of [idx, gidx, mask]) t.dispose();
  });
});

describe('autograd engine', () => {
  it('accumulates into leaves across backward calls and frees the graph', () => {
    const before = R.memory();
    const w = R.tensor([1, 2, 3]).requiresGrad_();
    for (let k = 0; k < 2; k++) R.tidy(() => w.mul(w).sum().backward());
    expect(w.grad!.toArray()).toEqual([4, 8, 12]);
    w.grad = null;
    w.dispose();
    const after = R.memory();
    expect(after.tensors).toBe(before.tensors);
    expect(after.bytes).toBe(before.bytes);
  });

  it('activations get no .grad; a leaf used twice sums both paths', () => {
    R.tidy(() => {
      const x = R.tensor([2, 3]).requiresGrad_();
      const h = x.mul(3);
      const y = h.mul(x).add(x).sum();
      y.backward();
      expect(h.grad).toBe(null);
      expect(x.grad!.toArray()).toEqual([13, 19]);  // d/dx (3x^2 + x) = 6x + 1
      x.grad = null;
    });
  });

  it('noGrad, detach, requiresGrad rules, and errors', () => {
    R.tidy(() => {
      const x = R.tensor([1, 2]).requiresGrad_();
      const y = R.noGrad(() => x.mul(2));
      expect(y.requiresGrad).toBe(false);
      expect(x.mul(2).detach().requiresGrad).toBe(false);
      const z = x.mul(2);
      expect(z.isLeaf).toBe(false);
      expect(() => { z.requiresGrad = false; }).toThrow(/only leaf tensors/);
      expect(() => R.tensor([1], undefined, 'int64').requiresGrad_()).toThrow(/only floating tensors/);
      expect(() => z.backward()).toThrow(/argument 'grad' is required for a non-scalar output/);
      const s = z.sum();
      s.backward();
      expect(() => s.backward()).toThrow(/already freed/);
      expect(() => R.tensor([1, 2]).sum().backward()).toThrow(/does not require grad/);
      expect(() => x.exp().argmax().sum()).not.toThrow();
      expect(() => x.copy_(R.tensor([3, 4]))).toThrow(/copy_: in-place copy into a tensor that requires grad/);
      x.grad = null;
    });
  });

  it('backward through a tidy that disposed the intermediates, with an explicit output grad', () => {
    const x = R.tensor([[1, 2], [3, 4]]).requiresGrad_();
    const y = R.tidy(() => x.exp().softmax(1).mul(2));
    const g = R.tensor([[1, 0], [0, 1]]);
    y.backward(g);
    expect(x.grad!.shape).toEqual([2, 2]);
    for (const t of [x, y, g]) t.dispose();
  });

  it('float32 gradients through the same rules', () => {
    R.tidy(() => {
      const w = R.randn([7, 5]).requiresGrad_();
      const x = R.randn([3, 7]);
      x.matmul(w).gelu().logSoftmax(-1).mean().backward();
      expect(w.grad!.dtype).toBe('float32');
      expect(w.grad!.shape).toEqual([7, 5]);
      w.grad = null;
    });
  });
});
