// Element-wise ops against a float64 reference on odd shapes, broadcast and non-contiguous
// inputs, in float32 and float64 (and the integer/half dtypes where the op supports them).
import { describe, expect, it } from 'vitest';
import * as R from '../lib/index.js';
import { DType, Tensor } from '../lib/index.js';
import { broadcastIndex, broadcastShape, erf, expectClose, forEachIndex, LAYOUTS, make, numel, TOL, vals, values } from './helpers.js';

const SHAPE = [5, 7, 11, 13];
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const gelu = (x: number) => 0.5 * x * (1 + erf(x / Math.SQRT2));
const geluTanh = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
const roundEven = (x: number) => {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

// name -> [reference, input range]
const UNARY: Record<string, [(x: number) => number, number, number]> = {
  neg: [(x) => -x, -3, 3],
  abs: [Math.abs, -3, 3],
  sign: [Math.sign, -3, 3],
  square: [(x) => x * x, -3, 3],
  reciprocal: [(x) => 1 / x, 0.5, 3],
  exp: [Math.exp, -80, 80],
  expm1: [Math.expm1, -3, 3],
  log: [Math.log, 1e-30, 1e30],
  log1p: [Math.log1p, -0.5, 3],
  sqrt: [Math.sqrt, 0, 100],
  rsqrt: [(x) => 1 / Math.sqrt(x), 0.01, 100],
  sin: [Math.sin, -3, 3],
  cos: [Math.cos, -3, 3],
  tanh: [Math.tanh, -12, 12],
  erf: [erf, -5, 5],
  sigmoid: [sigmoid, -30, 30],
  relu: [(x) => Math.max(x, 0), -3, 3],
  silu: [(x) => x * sigmoid(x), -20, 20],
  gelu: [gelu, -6, 6],
  gelu_tanh: [geluTanh, -6, 6],
  floor: [Math.floor, -5, 5],
  ceil: [Math.ceil, -5, 5],
  round: [roundEven, -5, 5],
};

function applyUnary(name: string, x: Tensor): Tensor {
  if (name === 'gelu_tanh') return x.gelu('tanh');
  const method = (x as unknown as Record<string, () => Tensor>)[name];
  return method.call(x);
}

describe('unary ops match a float64 reference', () => {
  for (const [name, [ref, lo, hi]] of Object.entries(UNARY)) {
    for (const dtype of ['float32', 'float64'] as DType[]) {
      it(`${name} ${dtype} on ${SHAPE.join('x')} in every layout`, () => {
        const v = values(numel(SHAPE), 7, lo, hi);
        // relative accuracy is what matters for these; near zero an absolute floor applies
        const tol = dtype === 'float32' ? { rtol: 2e-6, atol: 1e-7 } : TOL.float64;
        const expected = Array.from(v, ref);
        for (const layout of LAYOUTS) {
          R.tidy(() => expectClose(applyUnary(name, make(v, SHAPE, dtype, layout)), expected, tol, `${name} ${dtype} ${layout}`));
        }
      });
    }
  }

  it('handles special values like the reference (NaN, +-inf, 0, subnormals)', () => {
    const special = [NaN, Infinity, -Infinity, 0, -0, 1e-40, -1e-40, 88.5, -88.5, 100, -100, 1e-7];
    R.tidy(() => {
      const x = R.tensor(special);
      for (const [name, [ref]] of Object.entries(UNARY)) {
        if (['reciprocal', 'rsqrt', 'log', 'sqrt', 'log1p'].includes(name)) continue;
        const expected = special.map((s) => Math.fround(ref(Math.fround(s))));
        expectClose(applyUnary(name, x), expected, { rtol: 2e-6, atol: 1e-30 }, `${name} special`);
      }
      expectClose(x.log(), special.map((s) => Math.log(Math.fround(s))), { rtol: 2e-6, atol: 0 }, 'log special');
      expectClose(x.sqrt(), special.map((s) => Math.sqrt(Math.fround(s))), { rtol: 2e-6, atol: 0 }, 'sqrt special');
    });
  });

  it('integer unary ops (neg, abs, sign, square, relu, clamp) are exact', () => {
    R.tidy(() => {
      const v = Float64Array.from(values(143, 3, -50, 50), Math.round);
      for (const dtype of ['int32', 'int64'] as DType[]) {
        const x = make(v, [11, 13], dtype, 'permuted');
        expectClose(x.neg(), Array.from(v, (a) => -a), TOL.exact, 'neg');
        expectClose(x.abs(), Array.from(v, Math.abs), TOL.exact, 'abs');
        expectClose(x.sign(), Array.from(v, Math.sign), TOL.exact, 'sign');
        expectClose(x.square(), Array.from(v, (a) => a * a), TOL.exact, 'square');
        expectClose(x.relu(), Array.from(v, (a) => Math.max(a, 0)), TOL.exact, 'relu');
        expectClose(x.clamp(-10, 20), Array.from(v, (a) => Math.min(Math.max(a, -10), 20)), TOL.exact, 'clamp');
      }
    });
  });

  it('bfloat16 and float16 compute in float32 and round the result', () => {
    R.tidy(() => {
      const v = values(5 * 7 * 11, 5, -3, 3);
      for (const dtype of ['bfloat16', 'float16'] as DType[]) {
        const x = make(v, [5, 7, 11], dtype, 'sliced');
        const xv = vals(x);
        expectClose(x.exp(), xv.map(Math.exp), TOL[dtype], `exp ${dtype}`);
        expectClose(x.gelu(), xv.map(gelu), TOL[dtype], `gelu ${dtype}`);
        expectClose(x.add(x), xv.map((a) => 2 * a), TOL[dtype], `add ${dtype}`);
      }
    });
  });

  it('clamp with one or both bounds; NaN passes through', () => {
    R.tidy(() => {
      const x = R.tensor([-3, -1, 0, 2, 5, NaN]);
      expectClose(x.clamp(-1, 2), [-1, -1, 0, 2, 2, NaN], TOL.exact, 'both');
      expectClose(x.clamp(0), [0, 0, 0, 2, 5, NaN], TOL.exact, 'min only');
      expectClose(x.clamp(null, 0), [-3, -1, 0, 0, 0, NaN], TOL.exact, 'max only');
      expect(() => x.clamp()).toThrow(/clamp: at least one of 'min' and 'max'/);
    });
  });
});

const BINARY: Record<string, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: (a, b) => Math.pow(Math.abs(a), b),
  maximum: Math.max,
  minimum: Math.min,
};
const COMPARE: Record<string, (a: number, b: number) => boolean> = {
  eq: (a, b) => a === b,
  ne: (a, b) => a !== b,
  lt: (a, b) => a < b,
  le: (a, b) => a <= b,
  gt: (a, b) => a > b,
  ge: (a, b) => a >= b,
  logicalAnd: (a, b) => a !== 0 && b !== 0,
  logicalOr: (a, b) => a !== 0 || b !== 0,
};

// Pairs of shapes that broadcast, including scalars, leading dims and middle 1s.
const PAIRS: [number[], number[]][] = [
  [[5, 7, 11, 13], [5, 7, 11, 13]],
  [[5, 7, 11, 13], [13]],
  [[5, 7, 11, 13], [7, 1, 13]],
  [[5, 1, 11, 1], [1, 7, 1, 13]],
  [[11, 13], []],
  [[], [3, 5]],
];

describe('binary ops with broadcasting match a float64 reference', () => {
  for (const [name, ref] of Object.entries({ ...BINARY, ...COMPARE })) {
    it(`${name} over broadcast shapes and layouts`, () => {
      for (const [sa, sb] of PAIRS) {
        const out = broadcastShape(sa, sb);
        let va = values(numel(sa), 11, -3, 3), vb = values(numel(sb), 12, -3, 3);
        if (name === 'pow') va = va.map(Math.abs);
        if (name in COMPARE) {  // make ties likely
          va = va.map((x) => Math.round(x));
          vb = vb.map((x) => Math.round(x));
        }
        const expected: number[] = [];
        forEachIndex(out, (idx) => {
          const r = ref(va[broadcastIndex(idx, sa)], vb[broadcastIndex(idx, sb)]);
          expected.push(typeof r === 'boolean' ? Number(r) : r);
        });
        for (const dtype of ['float32', 'float64'] as DType[]) {
          for (const layout of LAYOUTS) {
            R.tidy(() => {
              const a = make(va, sa, dtype, layout), b = make(vb, sb, dtype, layout === 'permuted' ? 'sliced' : layout);
              const method = (a as unknown as Record<string, (o: Tensor) => Tensor>)[name];
              const r = method.call(a, b);
              expect(r.shape).toEqual(out);
              expect(r.dtype).toBe(name in COMPARE ? 'bool' : dtype);
              const tol = dtype === 'float32' ? { rtol: 2e-6, atol: 1e-6 } : TOL.float64;
              expectClose(r, expected, tol, `${name} ${dtype} ${layout} ${JSON.stringify([sa, sb])}`);
            });
          }
        }
      }
    });
  }

  it('integer arithmetic and comparisons are exact', () => {
    R.tidy(() => {
      const va = Float64Array.from(values(77, 2, -100, 100), Math.round), vb = Float64Array.from(values(7, 3, -100, 100), Math.round);
      for (const dtype of ['int32', 'int64', 'uint8'] as DType[]) {
        const fix = (x: number) => (dtype === 'uint8' ? Math.abs(x) % 16 : x);
        const a = make(va.map(fix), [11, 7], dtype, 'permuted'), b = make(vb.map(fix), [7], dtype);
        const A = Array.from(va.map(fix)), B = Array.from(vb.map(fix));
        expectClose(a.add(b), A.map((x, i) => x + B[i % 7]), TOL.exact, `add ${dtype}`);
        expectClose(a.mul(b), A.map((x, i) => x * B[i % 7]), TOL.exact, `mul ${dtype}`);
        expectClose(a.maximum(b), A.map((x, i) => Math.max(x, B[i % 7])), TOL.exact, `maximum ${dtype}`);
        expectClose(a.lt(b), A.map((x, i) => Number(x < B[i % 7])), TOL.exact, `lt ${dtype}`);
      }
    });
  });

  it('numbers act as scalars of the tensor\'s dtype, on either side', () => {
    R.tidy(() => {
      const x = R.tensor([1, 2, 3]);
      expectClose(x.add(2), [3, 4, 5], TOL.exact, 'x + 2');
      expectClose(R.sub(10, x), [9, 8, 7], TOL.exact, '10 - x');
      expectClose(R.div(1, x), [1, 0.5, 1 / 3], TOL.float32, '1 / x');
      expectClose(x.add(x, 0.5), [1.5, 3, 4.5], TOL.exact, 'alpha');
      expectClose(x.gt(1.5), [0, 1, 1], TOL.exact, 'x > 1.5');
      expect(x.gt(1.5).dtype).toBe('bool');
    });
  });

  it('maximum/minimum propagate NaN', () => {
    R.tidy(() => {
      const a = R.tensor([NaN, 1, 2]), b = R.tensor([0, NaN, 1]);
      expectClose(a.maximum(b), [NaN, NaN, 2], TOL.exact, 'maximum');
      expectClose(a.minimum(b), [NaN, NaN, 1], TOL.exact, 'minimum');
    });
  });

  it('logicalNot and where over broadcast shapes', () => {
    R.tidy(() => {
      const cv = values(5 * 7, 4).map((x) => Number(x > 0)), av = values(7 * 3, 5), bv = values(5 * 1 * 3, 6);
      const cond = make(cv, [5, 7, 1], 'bool'), a = make(av, [7, 3], 'float32', 'permuted'), b = make(bv, [5, 1, 3], 'float32');
      const expected: number[] = [];
      forEachIndex([5, 7, 3], (idx) => {
        expected.push(cv[broadcastIndex(idx, [5, 7, 1])] ? av[broadcastIndex(idx, [7, 3])] : bv[broadcastIndex(idx, [5, 1, 3])]);
      });
      expectClose(R.where(cond, a, b), expected, TOL.exact, 'where');
      expectClose(a.where(cond, 0), (() => { const e: number[] = []; forEachIndex([5, 7, 3], (idx) => e.push(cv[broadcastIndex(idx, [5, 7, 1])] ? av[broadcastIndex(idx, [7, 3])] : 0)); return e; })(), TOL.exact, 'method where');
      expectClose(cond.logicalNot(), Array.from(cv, (x) => 1 - x), TOL.exact, 'logical_not');
    });
  });
});

describe('large element-wise ops split across threads give the same result as one thread', () => {
  it('gelu, exp and add on 3M elements, 1 vs 2 threads', () => {
    R.tidy(() => {
      const n = 3_000_017;
      const x = R.randn([n], { generator: new R.Generator(9) });
      const y = R.randn([n], { generator: new R.Generator(10) });
      R.setNumThreads(1);
      const one = [x.gelu(), x.exp(), x.add(y)].map((t) => t.dataSync());
      R.setNumThreads(2);
      const two = [x.gelu(), x.exp(), x.add(y)].map((t) => t.dataSync());
      R.setNumThreads(0);
      for (let k = 0; k < 3; k++) expect(Buffer.compare(Buffer.from(one[k].buffer), Buffer.from(two[k].buffer))).toBe(0);
    });
  });
});
