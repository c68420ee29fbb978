// Bad input throws a JS error naming the op, the argument and what was expected; it never
// aborts the process or leaks.
import { describe, expect, it } from 'vitest';
import * as R from '../lib/index.js';
import { Tensor } from '../lib/index.js';

type Case = [string, () => unknown, ErrorConstructor | RangeErrorConstructor | TypeErrorConstructor, RegExp];

function cases(): Case[] {
  const x = R.zeros([2, 3]);
  const y = R.zeros([4, 5]);
  const i = R.tensor([0, 5], undefined, 'int64');
  const f64 = R.zeros([2, 3], { dtype: 'float64' });
  const ints = R.zeros([2, 3], { dtype: 'int32' });
  const dead = R.zeros([2]);
  dead.dispose();
  const anyFn = (f: unknown) => f as (...a: unknown[]) => Tensor;
  return [
    // shape mismatch
    ['add: broadcast', () => x.add(y), RangeError, /^add: arguments 'input' \[2, 3\] and 'other' \[4, 5\] cannot be broadcast .*expected equal sizes or 1/],
    ['matmul: inner sizes', () => x.matmul(x), RangeError, /^matmul: arguments 'input' \[2, 3\] and 'other' \[2, 3\] have inner sizes 3 and 2 \(expected equal\)/],
    ['cat: shapes', () => R.cat([x, y], 0), RangeError, /^cat: argument 'tensors\[1\]' has shape \[4, 5\] \(expected \[2, 3\] except in dimension 0\)/],
    ['reshape: count', () => x.reshape(7), RangeError, /^reshape: argument 'shape' \[7\] has 7 elements \(expected 6, the input's count\)/],
    ['expand: incompatible', () => x.expand(4, 3), RangeError, /^expand: argument 'shape' \[4, 3\] is incompatible with the input \[2, 3\]/],
    ['where: shapes', () => R.where(R.zeros([3, 2], { dtype: 'bool' }), x, x), RangeError, /^where: arguments 'condition' \[3, 2\] and 'input' \[2, 3\] cannot be broadcast/],
    ['masked_fill: mask grows input', () => x.maskedFill(R.zeros([4, 2, 3], { dtype: 'bool' }), 0), RangeError, /^masked_fill: argument 'mask' \[4, 2, 3\] cannot be broadcast to the input's shape \[2, 3\]/],
    ['stack: shapes', () => R.stack([x, y]), RangeError, /^stack: argument 'tensors\[1\]' has shape \[4, 5\] \(expected \[2, 3\]/],
    ['gather: index ndim', () => x.gather(0, i), RangeError, /^gather: argument 'index' has 1 dimensions \(expected 2, like 'input'\)/],
    // dtype mismatch
    ['add: dtypes', () => x.add(f64), TypeError, /^add: argument 'other' has dtype float64 but 'input' has float32 \(expected the same dtype; cast one of them\)/],
    ['matmul: int', () => ints.matmul(ints.t()), TypeError, /^matmul: argument 'input' has dtype int32 \(expected float32, float64 on cpu\)/],
    ['exp: int', () => ints.exp(), TypeError, /^exp: argument 'input' has dtype int32 \(expected float32, float64, bfloat16, float16 on cpu\)/],
    ['where: condition dtype', () => R.where(x, x, x), TypeError, /^where: argument 'condition' has dtype float32 \(expected bool\)/],
    ['index_select: index dtype', () => x.indexSelect(0, x), TypeError, /^index_select: argument 'index' has dtype float32 \(expected int32, int64\)/],
    ['masked_fill: mask dtype', () => x.maskedFill(x, 1), TypeError, /^masked_fill: argument 'mask' has dtype float32 \(expected bool\)/],
    ['mean: int', () => ints.mean(), TypeError, /^mean: argument 'input' has dtype int32/],
    // out-of-range index or axis
    ['sum: axis', () => x.sum(2), RangeError, /^sum: argument 'dim' is 2 \(expected an axis in \[-2, 1\] for a tensor with 2 dimensions\)/],
    ['softmax: axis', () => x.softmax(-3), RangeError, /^softmax: argument 'dim' is -3 \(expected an axis in \[-2, 1\]/],
    ['permute: repeat', () => x.permute(0, 0), RangeError, /^permute: argument 'dims' repeats dimension 0/],
    ['index_select: value', () => x.indexSelect(1, i), RangeError, /^index_select: argument 'index' holds 5, out of range for dimension 1 of size 3 \(expected 0 <= index < 3\)/],
    ['select: index', () => x.select(0, 2), RangeError, /^select: argument 'index' is 2 \(expected an index in \[-2, 1\] for dimension 0\)/],
    ['narrow: length', () => x.narrow(1, 1, 5), RangeError, /^narrow: argument 'length' is 5 \(expected 0 <= length <= 2\)/],
    ['topk: k', () => x.topk(4), RangeError, /^topk: argument 'k' is 4 \(expected 0 <= k <= 3, the size of dimension 1\)/],
    ['one_hot: class', () => R.oneHot(i, 3), RangeError, /^one_hot: argument 'input' holds 5, out of range for num_classes 3/],
    ['gather: value', () => x.gather(1, R.tensor([[3], [0]], undefined, 'int64')), RangeError, /^gather: argument 'index' holds 3, out of range for dimension 1 of size 3/],
    ['scatter_add: value', () => x.scatterAdd(0, R.tensor([[2, 0, 0]], undefined, 'int64'), x), RangeError, /^scatter_add: argument 'index' holds 2, out of range for dimension 0 of size 2/],
    ['unsqueeze: axis', () => x.unsqueeze(4), RangeError, /^unsqueeze: argument 'dim' is 4 \(expected an axis in \[-3, 2\]\)/],
    ['slice: step', () => x.slice(0, 0, 2, 0), RangeError, /^slice: argument 'step' is 0 \(expected a positive step\)/],
    ['item: many', () => x.item(), RangeError, /^item: the tensor has 6 elements \[2, 3\] \(expected exactly one\)/],
    // negative sizes
    ['zeros: negative', () => R.zeros([2, -1]), RangeError, /^full: argument 'shape' \[2, -1\] has a negative size \(expected sizes >= 0\)/],
    ['randn: negative', () => R.randn([-3]), RangeError, /^randn: argument 'shape' \[-3\] has a negative size/],
    ['reshape: two -1', () => x.reshape(-1, -1), RangeError, /^reshape: argument 'shape' \[-1, -1\] has more than one -1/],
    ['reshape: -2', () => x.reshape(-2, 3), RangeError, /^reshape: argument 'shape' \[-2, 3\] has a negative size/],
    ['empty: too many dims', () => R.empty(new Array(17).fill(1)), RangeError, /^empty: argument 'shape' has 17 dimensions \(expected at most 16\)/],
    ['full: huge', () => R.zeros([2 ** 40, 2 ** 40]), RangeError, /^full: shape \[1099511627776, 1099511627776\] has too many elements/],
    ['arange: step', () => R.arange(0, 5, 0), RangeError, /^arange: argument 'step' is 0 \(expected a finite, non-zero step\)/],
    ['randint: range', () => R.randint(5, 5, [2]), RangeError, /^randint: range \[5, 5\) is empty \(expected low < high\)/],
    ['randperm: negative', () => R.randperm(-1), RangeError, /^randperm: argument 'n' is -1 \(expected n >= 0\)/],
    // use after dispose
    ['add: disposed', () => dead.add(1), Error, /^add: the tensor is disposed \(expected a live tensor; it was freed by dispose\(\) or a tidy\(\) scope\)/],
    ['add other: disposed', () => x.add(dead), Error, /^add: the tensor is disposed/],
    ['dataSync: disposed', () => dead.dataSync(), Error, /^dataSync: the tensor is disposed/],
    ['reshape: disposed', () => dead.reshape(2), Error, /^reshape: the tensor is disposed/],
    ['cat: disposed', () => R.cat([x, dead]), Error, /^cat: tensors\[1\]: the tensor is disposed/],
    // wrong argument types
    ['add: string', () => anyFn(x.add).call(x, 'a'), TypeError, /^add: argument 'other' must be a Tensor, number or boolean \(got string\)/],
    ['matmul: number', () => anyFn(R.matmul)(x, 3), TypeError, /^matmul: argument 'other' must be a Tensor \(got number\)/],
    ['sum: string dim', () => anyFn(x.sum).call(x, 'x'), TypeError, /^sum: argument 'dim\[0\]' must be an integer \(got string\)/],
    ['sum: fractional dim', () => x.sum(0.5), RangeError, /^sum: argument 'dim\[0\]' is 0.5 \(expected a safe integer\)/],
    ['reshape: string', () => anyFn(x.reshape).call(x, ['a']), TypeError, /^reshape: argument 'shape\[0\]' must be an integer \(got string\)/],
    ['zeros: not array', () => anyFn(R.zeros)(5), TypeError, /^full: argument 'shape' must be an array of integers \(got number\)/],
    ['tensor: ragged', () => R.tensor([[1, 2], [3]]), TypeError, /^tensor: argument 'values' is ragged at depth 1 \(expected 2 elements, got 1\)/],
    ['tensor: string leaf', () => anyFn(R.tensor)([1, 'x']), TypeError, /^tensor: argument 'values' is ragged or holds a string at depth 1/],
    ['to: dtype', () => x.to('float8' as never), Error, /^to: argument 'device' is 'float8'/],
    ['cast: dtype name', () => R.zeros([1], { dtype: 'half' as never }), TypeError, /^full: argument 'dtype' is "half" \(expected one of float32, float64/],
    ['device', () => R.zeros([1], { device: 'tpu' }), TypeError, /^full: argument 'device' is 'tpu' \(expected 'cpu' or 'cuda'\)/],
    // Without a usable CUDA backend, asking for it says what is missing (cuda_loader.test.ts has each case).
    ...(R.cudaAvailable() ? [] : [['device cuda', () => R.zeros([1], { device: 'cuda' }), Error, /^device 'cuda': /] as Case]),
    ['tidy: promise', () => R.tidy((() => Promise.resolve(1)) as never), TypeError, /^tidy: argument 'fn' returned a Promise/],
    ['gelu: approximate', () => anyFn(x.gelu).call(x, 'fast'), TypeError, /^gelu: argument 'approximate' is "fast" \(expected 'none' or 'tanh'\)/],
    ['fromTypedArray: size', () => R.fromTypedArray(new Float32Array(5), [2, 3]), RangeError, /^fromTypedArray: argument 'data' has 20 bytes \(expected 24 for shape \[2, 3\] of float32\)/],
    ['setNumThreads: range', () => R.setNumThreads(-1), RangeError, /^setNumThreads: argument 'n' is -1 \(expected 1..256, or 0 for the default\)/],
    ['seed: negative', () => new R.Generator(-1), RangeError, /^Generator: argument 'seed' is -1/],
  ];
}

describe('bad input', () => {
  it('every case throws the expected error class with a message naming op, argument and expectation', () => {
    const before = R.memory().tensors;
    R.tidy(() => {
      for (const [name, fn, cls, re] of cases()) {
        let caught: unknown;
        try {
          fn();
        } catch (e) {
          caught = e;
        }
        expect(caught, name).toBeInstanceOf(cls);
        expect((caught as Error).message, name).toMatch(re);
      }
    });
    // failed ops leave nothing behind
    expect(R.memory().tensors).toBe(before);
  });

  it('a failing op inside tidy still frees the scope', () => {
    const before = R.memory();
    expect(() => R.tidy(() => {
      const a = R.ones([100, 100]);
      a.matmul(R.ones([3, 3]));
    })).toThrow(/matmul/);
    const after = R.memory();
    expect(after.tensors).toBe(before.tensors);
    expect(after.bytes).toBe(before.bytes);
  });

  it('many bad calls in a row keep the process and memory intact', () => {
    const before = R.memory();
    const x = R.zeros([3]), bad = R.zeros([4]);
    for (let k = 0; k < 2000; k++) {
      expect(() => x.add(bad)).toThrow(RangeError);
      expect(() => x.add(2, 1.5).matmul(bad)).toThrow(RangeError);  // the scalar temporaries are freed too
    }
    x.dispose();
    bad.dispose();
    expect(R.memory().tensors).toBe(before.tensors + 2000);  // the 2000 results of x.add(2, 1.5), never disposed
    expect(R.memory().bytes).toBe(before.bytes + 2000 * 12);
  });
});
