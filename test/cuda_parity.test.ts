// The op suite on CUDA, checked against the CPU backend on the same inputs: odd shapes, permuted
// and sliced views made on each device, broadcasting. Each case runs only where
// supports(op, dtype, 'cuda') says the backend implements it (never a list of names), so the
// file passes on machines without a GPU. The reference is the CPU op on the same values in
// float64 where the CPU has that kernel (rounded back to the GPU output's dtype).
// Tolerances: TOL in test/helpers.ts.
import { describe, expect, it } from 'vitest';
import { cudaAvailable, opNames, supports } from '../lib/index.js';
import { native, type NativeTensor } from '../lib/tensor/native.js';
import { TOL, prng, hostValues } from './helpers.js';

type H = NativeTensor;
type Layout = 'contiguous' | 'permuted' | 'sliced';
type Kind = 'float' | 'positive' | 'small';

interface Input {
  shape: number[];
  layout?: Layout;
  kind?: Kind;
  dtype?: string;  // defaults to the case's dtype
}
interface Case {
  name: string;
  inputs: Input[];
  // Runs the op on prepared inputs (all on one device); returns the tensors to compare.
  run: (xs: H[], dtype: string) => H[];
}

const CUDA = cudaAvailable();
const DTYPES = ['float32', 'bfloat16', 'float16'];

// Base data for an input: the values of the stored (base) tensor, so both devices see the same.
function baseShape(inp: Input): number[] {
  const s = inp.shape;
  if (inp.layout === 'permuted') return [...s].reverse();
  if (inp.layout === 'sliced') return [...s.slice(0, -1), 2 * s[s.length - 1]];
  return s;
}

function makeInput(inp: Input, dtype: string, seed: number, device: string): H {
  const bs = baseShape(inp);
  const n = bs.reduce((a, b) => a * b, 1);
  const r = prng(seed);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = r();
    v[i] = inp.kind === 'positive' ? 0.5 + 2.5 * u : inp.kind === 'small' ? -1 + 2 * u : -2 + 4 * u;
  }
  const f = native.fromBuffer(v, bs, 'float32', true);
  const typed = native.cast(f, inp.dtype ?? dtype);
  const placed = native.toDevice(typed, device);
  let out = placed;
  if (inp.layout === 'permuted') out = native.permute(placed, [...bs.keys()].reverse());
  if (inp.layout === 'sliced') out = native.slice(placed, bs.length - 1, 0, bs[bs.length - 1], 2);
  for (const t of [f, typed, placed]) if (t !== out && t !== placed) t.dispose();
  return out;
}


function expectClose(name: string, got: H, want: H, dtype: string): void {
  expect(got.shape, `${name}: shape`).toEqual(want.shape);
  expect(got.dtype, `${name}: dtype`).toBe(want.dtype);
  const g = hostValues(got), w = hostValues(want);
  const tol = ['bool', 'int32', 'int64', 'uint8'].includes(got.dtype) ? TOL.exact : TOL[dtype];
  let worst = 0, at = -1;
  for (let i = 0; i < w.length; i++) {
    const err = Math.abs(g[i] - w[i]) - (tol.atol + tol.rtol * Math.abs(w[i]));
    const bad = Number.isNaN(g[i]) !== Number.isNaN(w[i]) || (!Number.isNaN(w[i]) && (err > 0 || Number.isNaN(err)));
    if (bad && (at < 0 || err > worst)) {
      worst = err;
      at = i;
    }
  }
  if (at >= 0) expect.fail(`${name}: element ${at} is ${g[at]}, CPU reference ${w[at]} (${dtype}, tolerance ${JSON.stringify(tol)})`);
}

const UNARY_POSITIVE = new Set(['log', 'log1p', 'sqrt', 'rsqrt', 'reciprocal']);
const cases = new Map<string, Case[]>();
function add(op: string, c: Case): void {
  if (!cases.has(op)) cases.set(op, []);
  cases.get(op)!.push(c);
}

for (const op of opNames()) {
  const kind = op;
  if (['neg', 'abs', 'sign', 'square', 'reciprocal', 'exp', 'expm1', 'log', 'log1p', 'sqrt', 'rsqrt', 'sin', 'cos', 'tanh',
    'erf', 'sigmoid', 'relu', 'gelu', 'gelu_tanh', 'silu', 'floor', 'ceil', 'round', 'logical_not'].includes(kind)) {
    for (const layout of ['contiguous', 'permuted', 'sliced'] as Layout[]) {
      add(op, {
        name: `${op} [5, 7, 11] ${layout}`,
        inputs: [{ shape: [5, 7, 11], layout, kind: UNARY_POSITIVE.has(op) ? 'positive' : 'float' }],
        run: ([x]) => [native.unary(op, x)],
      });
    }
  }
}
add('clamp', { name: 'clamp [5, 7, 11] sliced', inputs: [{ shape: [5, 7, 11], layout: 'sliced' }], run: ([x]) => [native.clamp(x, -0.5, 1.25)] });
add('clamp', { name: 'clamp min only', inputs: [{ shape: [13, 3] }], run: ([x]) => [native.clamp(x, 0.1, null)] });

for (const op of ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'logical_and', 'logical_or']) {
  const kind: Kind = op === 'pow' || op === 'div' ? 'positive' : 'float';
  add(op, { name: `${op} broadcast [5, 1, 11] x [7, 1]`, inputs: [{ shape: [5, 1, 11], kind }, { shape: [7, 1], kind }], run: ([a, b]) => [native.binary(op, a, b)] });
  add(op, { name: `${op} permuted x sliced [6, 9, 5]`, inputs: [{ shape: [6, 9, 5], layout: 'permuted', kind }, { shape: [6, 9, 5], layout: 'sliced', kind }], run: ([a, b]) => [native.binary(op, a, b)] });
  // equal values exercise eq/le/ge on ties
  add(op, { name: `${op} with itself`, inputs: [{ shape: [4, 33], kind }], run: ([a]) => [native.binary(op, a, a)] });
}
add('where', {
  name: 'where broadcast cond [5, 1] over [5, 9] and a sliced other',
  inputs: [{ shape: [5, 1] }, { shape: [5, 9] }, { shape: [5, 9], layout: 'sliced' }],
  run: ([c, a, b]) => {
    const z = native.full([], 0, c.dtype, c.device);
    const cond = native.binary('gt', c, z);
    return [native.where(cond, a, b)];
  },
});

for (const op of ['sum', 'mean', 'max', 'min', 'var', 'logsumexp', 'norm']) {
  const params = op === 'norm' ? [2, 1, 3, Infinity] : op === 'var' ? [1, 0] : [0];
  for (const p of params) {
    for (const [axes, keep] of [[[1], false], [[0, 2], true], [null, false], [[2], false], [[0], false]] as [number[] | null, boolean][]) {
      for (const layout of ['contiguous', 'permuted'] as Layout[]) {
        add(op, {
          name: `${op}(p=${p}) over ${JSON.stringify(axes)} keepdim=${keep} ${layout} [6, 37, 45]`,
          inputs: [{ shape: [6, 37, 45], layout }],
          run: ([x]) => [native.reduce(op, x, axes, keep, p)],
        });
      }
    }
  }
  add(op, { name: `${op} of 70000 elements (split reduction)`, inputs: [{ shape: [70000] }], run: ([x]) => [native.reduce(op, x, null, false, op === 'norm' ? 2 : op === 'var' ? 1 : 0)] });
  add(op, { name: `${op} over rows of [3000, 40] (column reduction)`, inputs: [{ shape: [3000, 40] }], run: ([x]) => [native.reduce(op, x, [0], false, op === 'norm' ? 2 : op === 'var' ? 1 : 0)] });
}

for (const op of ['softmax', 'log_softmax']) {
  for (const [shape, dim, layout] of [[[4, 9, 1370], 2, 'contiguous'], [[4, 9, 13], 1, 'permuted'], [[33, 5], 0, 'sliced'], [[7], 0, 'contiguous']] as [number[], number, Layout][]) {
    add(op, { name: `${op} dim ${dim} ${layout} ${JSON.stringify(shape)}`, inputs: [{ shape, layout }], run: ([x]) => [native.softmax(op, x, dim)] });
    const back = op === 'softmax' ? 'softmax_back' : 'log_softmax_back';
    add(back, {
      name: `${back} dim ${dim} ${JSON.stringify(shape)}`,
      inputs: [{ shape }, { shape, layout }],
      run: ([x, dy]) => {
        const y = native.softmax(op, x, dim);
        return [native.softmaxBackward(y, dy, dim, op === 'log_softmax')];
      },
    });
  }
}

for (const [shape, layout] of [[[6, 17, 768], 'contiguous'], [[5, 7, 33], 'permuted'], [[300, 19], 'contiguous']] as [number[], Layout][]) {
  const C = shape[shape.length - 1];
  add('layer_norm', {
    name: `layer_norm ${JSON.stringify(shape)} ${layout} with weight and bias`,
    inputs: [{ shape, layout }, { shape: [C] }, { shape: [C], layout: 'sliced' }],
    run: ([x, w, b]) => native.layerNorm(native.contiguous(x), w, b, 1e-5),
  });
  add('layer_norm', {
    name: `layer_norm ${JSON.stringify(shape)} without affine`,
    inputs: [{ shape, layout: layout === 'permuted' ? 'sliced' : layout }],
    run: ([x]) => native.layerNorm(x, null, null, 1e-6),
  });
  for (const affine of [true, false]) {
    add('layer_norm_back', {
      name: `layer_norm_back ${JSON.stringify(shape)} affine=${affine}`,
      inputs: [{ shape }, { shape: [C] }, { shape: [C] }, { shape }],
      run: ([x, w, b, dy]) => {
        const [, mean, rstd] = native.layerNorm(x, affine ? w : null, affine ? b : null, 1e-5);
        const [dx, dw, db] = native.layerNormBackward(dy, x, mean, rstd, affine ? w : null, affine);
        return [dx, ...(affine ? [dw!, db!] : [])];
      },
    });
  }
}
for (const op of ['gelu_back', 'gelu_tanh_back']) {
  add(op, {
    name: `${op} [9, 31] sliced`,
    inputs: [{ shape: [9, 31] }, { shape: [9, 31], layout: 'sliced' }],
    run: ([dy, x]) => [native.geluBackward(dy, x, op === 'gelu_tanh_back')],
  });
}

for (const [m, k, n, ta, tb, batch, bias] of [
  [37, 40, 29, false, false, [], false], [37, 40, 29, false, true, [], true], [19, 33, 21, true, false, [3], false],
  [19, 33, 21, true, true, [2, 3], true], [64, 64, 64, false, true, [4], false], [1, 17, 9, false, false, [], true],
] as [number, number, number, boolean, boolean, number[], boolean][]) {
  add('matmul', {
    name: `matmul ${JSON.stringify(batch)} [${m}, ${k}] x [${k}, ${n}] transA=${ta} transB=${tb} bias=${bias}`,
    inputs: [{ shape: [...batch, ...(ta ? [k, m] : [m, k])], kind: 'small' }, { shape: [...batch, ...(tb ? [n, k] : [k, n])], kind: 'small' }, { shape: [n], kind: 'small' }],
    run: ([a, b, c]) => [native.matmul(a, b, ta, tb, bias ? c : null)],
  });
}
add('matmul', {
  name: 'matmul broadcast batch [3, 1] x [4] and a sliced operand',
  inputs: [{ shape: [3, 1, 9, 12], kind: 'small' }, { shape: [4, 12, 7], kind: 'small', layout: 'sliced' }],
  run: ([a, b]) => [native.matmul(a, b, false, false, null)],
});

add('adamw', {
  name: 'adamw [37, 41], step 3',
  inputs: [{ shape: [37, 41] }, { shape: [37, 41] }, { shape: [37, 41] }, { shape: [37, 41], kind: 'positive' }],
  run: ([p, g, m, v]) => {
    native.adamw(p, g, m, v, 1e-2, 0.9, 0.999, 1e-8, 0.05, 3);
    return [p, m, v];
  },
});

add('ema', {
  name: 'ema [37, 41] (target contiguous, source a permuted view), momentum 0.996',
  inputs: [{ shape: [37, 41] }, { shape: [37, 41], layout: 'permuted' }],
  run: ([t, s]) => {
    native.ema(t, s, 0.996);
    return [t];
  },
});

add('copy', { name: 'copy: contiguous() of a permuted view', inputs: [{ shape: [5, 6, 7], layout: 'permuted' }], run: ([x]) => [native.contiguous(x)] });
add('copy', { name: 'copy: contiguous() of a sliced view', inputs: [{ shape: [5, 6, 7], layout: 'sliced' }], run: ([x]) => [native.contiguous(x)] });
add('copy', {
  name: 'copy: copyInto a strided destination with broadcasting',
  inputs: [{ shape: [4, 6], layout: 'permuted' }, { shape: [6] }],
  run: ([dst, src]) => {
    native.copyInto(dst, src);
    return [dst];
  },
});
for (const to of ['float32', 'bfloat16', 'float16', 'float64', 'int32', 'int64', 'uint8', 'bool']) {
  add('cast', { name: `cast to ${to} from a permuted view`, inputs: [{ shape: [5, 9], layout: 'permuted' }], run: ([x]) => [native.cast(x, to)] });
}
add('fill', { name: 'full [3, 5] = 2.5', inputs: [{ shape: [1] }], run: ([x], d) => [native.full([3, 5], 2.5, d, x.device)] });
add('arange', { name: 'arange(-3, 7, 0.5)', inputs: [{ shape: [1] }], run: ([x], d) => [native.arange(-3, 7, 0.5, d, x.device)] });
add('linspace', { name: 'linspace(-1, 2, 17)', inputs: [{ shape: [1] }], run: ([x], d) => [native.linspace(-1, 2, 17, d, x.device)] });

for (const op of ['argmax', 'argmin']) {
  for (const [dim, keep, layout] of [[1, false, 'contiguous'], [0, true, 'permuted'], [2, false, 'sliced'], [null, false, 'permuted']] as [number | null, boolean, Layout][]) {
    add(op, {
      name: `${op} dim ${dim} keepdim=${keep} ${layout} [6, 37, 45] (ties of rounded values)`,
      inputs: [{ shape: [6, 37, 45], layout }],
      run: ([x]) => [native.argReduce(op, x, dim, keep)],
    });
  }
  add(op, {
    name: `${op} over rows of [3, 5000] with NaNs (the first NaN wins)`,
    inputs: [{ shape: [3, 5000] }],
    run: ([x]) => {
      const z = native.full([], 1.99, x.dtype, x.device);
      const m = native.binary('gt', x, z);
      const y = native.maskedFill(x, m, Number.NaN);
      return [native.argReduce(op, y, 1, false), native.argReduce(op, x, 1, false)];
    },
  });
}

// Indexing: index tensors built on the inputs' device (int64 or int32), with repeated entries.
function ints(vals: number[], shape: number[], device: string, dtype = 'int64'): H {
  const f = native.fromBuffer(new Float32Array(vals), shape, 'float32', true);
  const c = native.cast(f, dtype);
  const d = native.toDevice(c, device);
  for (const t of [f, c]) if (t !== d) t.dispose();
  return d;
}
// Multiples of 1/8: sums of a few of them are exact in every dtype, so the order in which CUDA's
// atomics accumulate duplicates cannot matter against the serial CPU reference.
function eighths(t: H): H {
  const k = native.full([], 8, t.dtype, t.device), r = native.full([], 0.125, t.dtype, t.device);
  const a = native.binary('mul', t, k), b = native.unary('round', a), out = native.binary('mul', b, r);
  for (const x of [k, r, a, b]) x.dispose();
  return out;
}
// The same values in a non-contiguous (dims-reversed) layout.
function strided(t: H): H {
  const rev = [...t.shape.keys()].reverse();
  const p = native.permute(t, rev), c = native.contiguous(p), out = native.permute(c, rev);
  for (const x of [p, c]) if (x !== out) x.dispose();
  return out;
}
for (const [layout, dim, idt] of [['contiguous', 1, 'int64'], ['permuted', 0, 'int32'], ['sliced', 2, 'int64']] as [Layout, number, string][]) {
  const shape = [7, 9, 5];
  const idxVals = [0, shape[dim] - 1, 3, 3, 2, 1];
  add('index_select', {
    name: `index_select dim ${dim} ${layout} [7, 9, 5] (${idt} index, repeats)`,
    inputs: [{ shape, layout }],
    run: ([x]) => [native.indexSelect(x, dim, ints(idxVals, [idxVals.length], x.device, idt))],
  });
  add('index_add', {
    name: `index_add dim ${dim} ${layout} [7, 9, 5] alpha -1.5 (${idt} index, repeats)`,
    inputs: [{ shape, layout }, { shape: shape.map((v, i) => (i === dim ? idxVals.length : v)), layout: layout === 'sliced' ? 'permuted' : 'sliced' }],
    run: ([x, src]) => [native.indexAdd(eighths(x), dim, ints(idxVals, [idxVals.length], x.device, idt), strided(eighths(src)), -1.5)],
  });
  // gather / scatter_add: index smaller than the input in the other dims
  const ishape = shape.map((v, i) => (i === dim ? 4 : v - 1));
  const n = ishape.reduce((a, b) => a * b, 1);
  const gv = Array.from({ length: n }, (_, i) => (i * 7 + 3) % shape[dim]);
  add('gather', {
    name: `gather dim ${dim} ${layout} [7, 9, 5] with ${JSON.stringify(ishape)} ${idt} index`,
    inputs: [{ shape, layout }],
    run: ([x]) => [native.gather(x, dim, ints(gv, ishape, x.device, idt))],
  });
  add('scatter_add', {
    name: `scatter_add dim ${dim} ${layout} [7, 9, 5] with ${JSON.stringify(ishape)} ${idt} index (collisions)`,
    inputs: [{ shape, layout }, { shape, kind: 'small' }],
    run: ([x, src]) => [native.scatterAdd(eighths(x), dim, ints(gv, ishape, x.device, idt), strided(eighths(src)))],
  });
}
add('masked_fill', {
  name: 'masked_fill [6, 1, 9] mask broadcast over a permuted [6, 4, 9]',
  inputs: [{ shape: [6, 4, 9], layout: 'permuted' }, { shape: [6, 1, 9] }],
  run: ([x, m]) => {
    const z = native.full([], 0.3, m.dtype, m.device);
    const mask = native.binary('gt', m, z);
    return [native.maskedFill(x, mask, -7.25)];
  },
});
add('cat', {
  name: 'cat of a permuted, a sliced and a contiguous tensor along dim 1',
  inputs: [{ shape: [4, 3, 5], layout: 'permuted' }, { shape: [4, 1, 5], layout: 'sliced' }, { shape: [4, 6, 5] }],
  run: (xs) => [native.cat(xs, 1)],
});

// Flash attention (bf16/f16 on CUDA): small parity cases here; shapes, layouts and norm-based
// tolerances in test/cuda_attention.test.ts.
for (const [B, Hh, N, M, D] of [[2, 3, 41, 41, 64], [1, 2, 19, 70, 128]] as number[][]) {
  const scale = 1 / Math.sqrt(D);
  add('attention', {
    name: `attention [${B}, ${Hh}, ${N}, ${D}] x ${M} keys`,
    inputs: [{ shape: [B, Hh, N, D], kind: 'small' }, { shape: [B, Hh, M, D], kind: 'small' }, { shape: [B, Hh, M, D], kind: 'small' }],
    run: ([q, k, v]) => native.attention(q, k, v, scale),
  });
  add('attention_back', {
    name: `attention_back [${B}, ${Hh}, ${N}, ${D}] x ${M} keys`,
    inputs: [{ shape: [B, Hh, N, D], kind: 'small' }, { shape: [B, Hh, M, D], kind: 'small' }, { shape: [B, Hh, M, D], kind: 'small' }, { shape: [B, Hh, N, D], kind: 'small' }],
    run: ([q, k, v, g]) => {
      const [o, l] = native.attention(q, k, v, scale);
      return native.attentionBackward(q, k, v, o, l, g, scale);
    },
  });
}

function runCase(op: string, c: Case, dtype: string, seed: number): void {
  const dev = c.inputs.map((inp, i) => makeInput(inp, dtype, seed + i, 'cuda'));
  const got = c.run(dev, dtype);
  // Reference: the same op on the CPU on the same values upcast to float64 where the CPU has a
  // float64 kernel (so the reference's own float32 rounding does not count against the GPU: seen
  // in layer_norm_back's dweight), else in the dtype itself, else through float32.
  const refDtype = supports(op, 'float64', 'cpu') ? 'float64' : supports(op, dtype, 'cpu') ? dtype : 'float32';
  const host = c.inputs.map((inp, i) => {
    const t = makeInput(inp, dtype, seed + i, 'cpu');
    if (refDtype === dtype || inp.dtype !== undefined) return t;
    return native.cast(t, refDtype);
  });
  const want = c.run(host, refDtype);
  expect(got.length).toBe(want.length);
  for (let i = 0; i < got.length; i++) {
    // The reference's outputs come back in the GPU output's dtype (rounded once).
    const w = refDtype !== dtype && want[i].dtype === refDtype && got[i].dtype !== refDtype ? native.cast(want[i], got[i].dtype) : want[i];
    expectClose(`${c.name} (output ${i})`, got[i], w, dtype);
  }
}

describe('CUDA backend against the CPU backend', () => {
  it('has a parity case for every op it registers', () => {
    if (!CUDA) return;
    // The random ops are compared bit for bit with the CPU in test/cuda_random.test.ts (a float64
    // reference means nothing for them: the dtype picks the transform).
    const elsewhere = new Set(['rand', 'randn', 'trunc_normal', 'randint', 'randperm', 'bernoulli']);
    const missing = opNames().filter((op) => [...DTYPES, 'bool', 'float64', 'int64', 'int32'].some((d) => supports(op, d, 'cuda')) && !cases.has(op) && !elsewhere.has(op));
    expect(missing).toEqual([]);
  });
  for (const [op, list] of cases) {
    for (const dtype of DTYPES) {
      const on = CUDA && supports(op, dtype, 'cuda');
      describe.skipIf(!on)(`${op} ${dtype}`, () => {
        list.forEach((c, i) => it(c.name, () => runCase(op, c, dtype, 1000 + 17 * i)));
      });
    }
  }
});
