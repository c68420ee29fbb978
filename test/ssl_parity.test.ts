// DINOv2/iBOT objective parity with the PyTorch reference (test/scripts/ssl_reference.py): the DINO
// head, both teacher-target modes (Sinkhorn-Knopp also where torch overflows), the DINO, iBOT and
// KoLeo losses and their gradients, the schedules, the parameter groups, and two full training
// steps of a small ViT (2 global + 3 local crops, masks) in both centering modes: every loss term,
// every student gradient, the clipped gradients, the AdamW update, the EMA teacher, the centers.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as R from '../lib/index.js';
import { DINOHead, SSLBatch, SSLConfig, SSLMetaArch, Tensor } from '../lib/index.js';
import { vals, lcg } from './helpers.js';

const DIR = join(import.meta.dirname, 'fixtures', 'ssl');
const cases = JSON.parse(readFileSync(join(DIR, 'cases.json'), 'utf8'));
const expected = R.loadSafetensorsSync(join(DIR, 'expected.safetensors')).tensors;
const E = (k: string): Tensor => {
  const t = expected.get(k);
  if (!t) throw new Error(`fixture ${k} is missing`);
  return t;
};
const TOL = Number(process.env.SSL_TOL ?? 1e-5);

const lcgT = (shape: number[], seed: number) => R.tensor(lcg(shape.reduce((a, b) => a * b, 1), seed), shape);

/** Whole-tensor relative error: max |ours - torch| <= tol * max |torch| (as test/vit_parity.test.ts). */
function expectRel(actual: Tensor | number[], expectedT: Tensor | number[], what: string, tol = TOL): void {
  const a = Array.isArray(actual) ? actual : vals(actual), e = Array.isArray(expectedT) ? expectedT : vals(expectedT);
  if (!Array.isArray(actual) && !Array.isArray(expectedT)) expect(actual.shape, what).toEqual(expectedT.shape);
  expect(a.length, what).toBe(e.length);
  let err = 0, scale = 0, at = -1;
  for (let i = 0; i < e.length; i++) {
    scale = Math.max(scale, Math.abs(e[i]));
    const d = Math.abs(a[i] - e[i]);
    if (!(d <= err)) { err = d; at = i; }
  }
  expect(err / scale, `${what}: max error ${err} at ${at} (ours ${a[at]}, torch ${e[at]}), scale ${scale}`).toBeLessThanOrEqual(tol);
}
const expectNum = (a: number, e: number, what: string, tol = TOL) =>
  expect(Math.abs(a - e) / Math.max(Math.abs(e), 1e-30), `${what}: ours ${a}, torch ${e}`).toBeLessThanOrEqual(tol);

interface Summary { n: number; s: number; d: number; i?: number[]; v?: number[] }
/** Compares a tensor's norm, sum, LCG dot and sampled entries with the reference's summary (times `scale`). */
function checkSummary(g: ArrayLike<number>, ref: Summary, seed: number, what: string, scale = 1): void {
  const n = g.length, probe = lcg(n, seed);
  let norm = 0, sum = 0, dot = 0;
  for (let i = 0; i < n; i++) {
    norm += g[i] * g[i];
    sum += g[i];
    dot += g[i] * probe[i];
  }
  const s = ref.n * scale + 1e-30;
  expect(Math.abs(Math.sqrt(norm) - ref.n * scale) / s, `${what} norm (ours ${Math.sqrt(norm)}, torch ${ref.n * scale})`).toBeLessThan(TOL);
  expect(Math.abs(sum - ref.s * scale) / (s * Math.sqrt(n)), `${what} sum`).toBeLessThan(TOL);
  expect(Math.abs(dot - ref.d * scale) / (s * Math.sqrt(n)), `${what} dot`).toBeLessThan(TOL);
  ref.i?.forEach((k, j) => {
    const e = ref.v![j] * scale;
    expect(Math.abs(g[k] - e), `${what}[${k}] (ours ${g[k]}, torch ${e})`).toBeLessThanOrEqual(TOL * Math.abs(e) + 1e-6 * s);
  });
}

/** The reference's head_weights(): LCG values per parameter in state-dict order (g near 1). */
function headWeights(head: DINOHead, seed: number): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  [...head.namedParameters()].forEach(([k, p], i) => {
    const x = lcgT([...p.shape], seed + i);
    out.set(k, k.endsWith('weight_g') ? x.mul(0.5).add(1) : k.endsWith('bias') ? x.mul(0.1) : x.mul(1.7 / Math.sqrt(p.shape[1])));
  });
  return out;
}

describe('DINO head parity', () => {
  for (const nl of [3, 1]) {
    it(`nlayers ${nl}: state-dict names, output and every parameter gradient`, () => {
      const c = cases[`head${nl}`];
      const h = new DINOHead(24, 40, { hiddenDim: 32, bottleneckDim: 16, nlayers: nl });
      expect([...h.stateDict().keys()]).toEqual(c.names);
      for (const [k, p] of h.namedParameters()) expect([...p.shape], k).toEqual(c.shapes[k]);
      R.tidy(() => {
        h.loadStateDict(headWeights(h, 100 + nl));
        const y = h.forward(lcgT([5, 24], 90 + nl).mul(2));
        expectRel(y, E(`head${nl}.out`), 'head output');
        y.mul(lcgT([...y.shape], 95)).sum().backward();
      });
      for (const [k, p] of h.namedParameters()) checkSummary(vals(p.grad!), c.grads[k], 96, `head${nl} ${k}.grad`);
      h.dispose();
    });
  }
});

describe('teacher targets parity', () => {
  it('softmax centering with the lazily applied center EMA', () => {
    R.tidy(() => {
      const l1 = lcgT([6, 40], 11).mul(3), l2 = lcgT([6, 40], 12).mul(3);
      const c = new R.CenterState(40);
      expectRel(R.softmaxCenterTeacher(l1, c, 0.04), E('center.t1'), 'targets of batch 1 (center 0)');
      c.update(l1);
      expect(vals(c.center).every((x) => x === 0), 'the update waits for the next targets').toBe(true);
      expectRel(R.softmaxCenterTeacher(l2, c, 0.04), E('center.t2'), 'targets of batch 2 (center updated from batch 1)');
      expectRel(c.center, E('center.center'), 'center');
      c.update(l2);
      const sd = c.stateDict();
      expectRel(sd.get('pending')!, E('center.pending'), 'pending batch mean');
      c.dispose();
    });
  });

  for (const [name, k] of Object.entries(cases.sinkhorn) as [string, { temp: number; iterations: number; torchFloat32Finite: boolean; maxLogitOverTemp: number }][]) {
    it(`Sinkhorn-Knopp '${name}' (max t/T ${k.maxLogitOverTemp.toFixed(1)}, torch float32 ${k.torchFloat32Finite ? 'finite' : 'NaN'})`, () => {
      if (name === 'large') expect(k.torchFloat32Finite && k.maxLogitOverTemp > 70).toBe(true);  // equal to torch with large logits
      if (name === 'overflow') expect(k.torchFloat32Finite).toBe(false);  // torch overflows: compared with its float64 result
      R.tidy(() => {
        const q = R.sinkhornKnopp(E(`sinkhorn.${name}.in`), k.temp, { nIterations: k.iterations });
        expect(vals(q).every(Number.isFinite), 'finite').toBe(true);
        expectRel(q, E(`sinkhorn.${name}`), name);
        expectRel(q.sum(1), R.ones([6]), 'rows sum to 1', 1e-6);
      });
    });
  }
});

describe('loss parity', () => {
  it('DINO loss over 3 student x 2 teacher crops, and its gradient', () => {
    R.tidy(() => {
      const ss = [0, 1, 2].map((i) => E(`dino.s${i}`).clone().requiresGrad_());
      const loss = R.dinoLoss(ss, [E('dino.t0'), E('dino.t1')]);
      expectRel(loss.reshape(1), E('dino.loss'), 'loss');
      loss.backward();
      ss.forEach((s, i) => expectRel(s.grad!, E(`dino.grad${i}`), `grad ${i}`));
    });
  });

  it('iBOT masked-patch loss (padded rows, masksWeight given and derived), and its gradient', () => {
    R.tidy(() => {
      const masks = E('ibot.masks').gt(0.5);
      const counts = (R.tidy(() => masks.to('float32').sum(1)).toArray() as number[]);
      const m = vals(masks), N = masks.shape[1];
      const w: number[] = [];
      m.forEach((v, i) => { if (v) w.push(1 / Math.max(counts[Math.floor(i / N)], 1)); });
      const M = w.length;
      const s = E('ibot.s').clone().requiresGrad_(), t = E('ibot.t');
      expect(s.shape[0]).toBe(M + 2);
      const loss = R.ibotLoss(s, t, masks, { masksWeight: R.tensor(w), nMaskedPatches: M });
      expectRel(loss.reshape(1), E('ibot.loss'), 'loss');
      loss.backward();
      expectRel(s.grad!, E('ibot.grad'), 'grad (zero on the padded rows)');
      const s2 = E('ibot.s').narrow(0, 0, M).clone().requiresGrad_();
      const loss2 = R.ibotLoss(s2, t.narrow(0, 0, M), masks);
      expectRel(loss2.reshape(1), E('ibot.loss_noweight'), 'loss, weights from the masks');
      loss2.backward();
      expectRel(s2.grad!, E('ibot.grad_noweight'), 'grad, weights from the masks');
    });
  });

  for (const name of ['koleo6', 'koleo2']) {
    it(`KoLeo ${name}, and its gradient`, () => {
      R.tidy(() => {
        const x = E(`${name}.x`).clone().requiresGrad_();
        const loss = R.koleoLoss(x);
        expectRel(loss.reshape(1), E(`${name}.loss`), 'loss');
        loss.backward();
        expectRel(x.grad!, E(`${name}.grad`), 'grad');
      });
    });
  }
});

/** An SSLConfig from the reference script's flat config dict. */
function configOf(c: Record<string, number | string | boolean>): SSLConfig {
  return R.mergeConfig(R.sslPreset('tiny'), {
    student: { arch: 'vit_small', patchSize: 14, embedDim: 192, depth: 3, numHeads: 3, layerscale: 1e-5, dropPathRate: 0, numRegisterTokens: 0 },
    dino: { lossWeight: c.dino_w, koleoLossWeight: c.koleo_w, headNPrototypes: c.K, headHiddenDim: c.hidden, headBottleneckDim: c.bottleneck, headNlayers: c.nlayers },
    ibot: c.separate
      ? { lossWeight: c.ibot_w, separateHead: true, headNPrototypes: c.ibot_K, headHiddenDim: c.ibot_hidden, headBottleneckDim: c.ibot_bottleneck, headNlayers: c.ibot_nlayers }
      : { lossWeight: c.ibot_w, separateHead: false },
    train: { batchSizePerGpu: c.B ?? c.batch_size, worldSize: 1, centering: c.centering ?? 'centering', officialEpochLength: c.epoch_length ?? 1250 },
    optim: {
      baseLr: c.base_lr, minLr: c.min_lr, epochs: c.epochs, warmupEpochs: c.warmup_epochs, weightDecay: c.weight_decay, weightDecayEnd: c.weight_decay_end,
      freezeLastLayerEpochs: c.freeze_last_layer_epochs, clipGrad: c.clip ?? 3, layerwiseDecay: c.layerwise_decay ?? 0.9, patchEmbedLrMult: c.patch_embed_lr_mult ?? 0.2,
    },
    teacher: {
      momentumTeacher: c.momentum_teacher, finalMomentumTeacher: c.final_momentum_teacher, teacherTemp: c.teacher_temp,
      warmupTeacherTemp: c.warmup_teacher_temp, warmupTeacherTempEpochs: c.warmup_teacher_temp_epochs,
    },
    crops: { globalCropsSize: (c.size as number) ?? 56, localCropsSize: (c.local_size as number) ?? 28, localCropsNumber: (c.n_local as number) ?? 3 },
  });
}

describe('schedules and parameter groups parity', () => {
  for (const [name, s] of Object.entries(cases.schedules) as [string, { config: Record<string, number>; epochLength: number; its: number[]; values: number[][] }][]) {
    it(`schedules '${name}' at ${s.its.length} iterations (warmup, freeze and end boundaries)`, () => {
      const sch = R.buildSchedules(configOf(s.config), { epochLength: s.epochLength });
      s.its.forEach((it, j) => {
        const v = sch.at(it);
        [v.lr, v.wd, v.momentum, v.teacherTemp, v.lastLayerLr].forEach((x, k) => {
          const e = s.values[j][k];
          expect(Math.abs(x - e), `it ${it} value ${['lr', 'wd', 'momentum', 'teacherTemp', 'lastLayerLr'][k]}: ${x} vs ${e}`).toBeLessThanOrEqual(1e-12 * Math.abs(e) + 1e-18);
        });
      });
    });
  }

  it('CosineScheduler with freeze, warmup and cosine parts, and past its end', () => {
    const { options: o, values: ref } = cases.cosine;
    const cs = new R.CosineScheduler({ baseValue: o.base_value, finalValue: o.final_value, totalIters: o.total_iters, warmupIters: o.warmup_iters,
      startWarmupValue: o.start_warmup_value, freezeIters: o.freeze_iters });
    ref.forEach((e: number, i: number) => expect(Math.abs(cs.at(i) - e), `it ${i}: ${cs.at(i)} vs ${e}`).toBeLessThanOrEqual(1e-15));
  });

  it('parameter groups of a backbone with registers and of a head: multipliers, last layer, fusion', () => {
    const vit = new R.DinoVisionTransformer({ imgSize: 28, embedDim: 8, depth: 3, numHeads: 2, numRegisterTokens: 1 });
    const head = new DINOHead(8, 6, { hiddenDim: 4, bottleneckDim: 4 });
    for (const [part, m] of [['backbone', vit], ['head', head]] as const) {
      const ref = cases.paramGroups[part];
      const ours = R.paramGroupsWithDecay(m, { lrDecayRate: 0.9, patchEmbedLrMult: 0.2 });
      expect(ours.map((p) => p.name).sort()).toEqual(ref.params.map((p: { name: string }) => p.name).sort());
      const byName = new Map(ours.map((p) => [p.name, p]));
      for (const r of ref.params) {
        const p = byName.get(r.name)!;
        expect(Math.abs(p.lrMultiplier - r.lr_multiplier), `${r.name} lr`).toBeLessThanOrEqual(1e-15);
        expect(p.wdMultiplier, `${r.name} wd`).toBe(r.wd_multiplier);
        expect(p.isLastLayer, `${r.name} last layer`).toBe(r.is_last_layer);
      }
      const nameOf = new Map(ours.map((p) => [p.param, p.name]));
      const fused = R.fuseParamGroups(ours).map((g) => ({ names: g.params.map((t) => nameOf.get(t)!).sort(), lr: g.lrMultiplier, wd: g.wdMultiplier, last: g.isLastLayer }));
      const refFused = ref.fused.map((g: { names: string[]; lr_multiplier: number; wd_multiplier: number; is_last_layer: boolean }) =>
        ({ names: [...g.names].sort(), lr: g.lr_multiplier, wd: g.wd_multiplier, last: g.is_last_layer }));
      const key = (g: { names: string[] }) => g.names.join(',');
      expect(fused.map(key).sort()).toEqual(refFused.map(key).sort());
      for (const g of fused) {
        const r = refFused.find((x: { names: string[] }) => key(x) === key(g));
        expect(Math.abs(g.lr! - r.lr)).toBeLessThanOrEqual(1e-15);
        expect([g.wd, g.last]).toEqual([r.wd, r.last]);
      }
    }
    vit.dispose();
    head.dispose();
  });
});

/** The reference's make_batch(): LCG images, masks on the listed global-crop images. */
function makeBatch(c: Record<string, number>, seed: number, maskedImages: number[]): SSLBatch {
  const B = c.B, G = c.size / 14, N = G * G;
  const m = new Uint8Array(2 * B * N);
  maskedImages.forEach((i, j) => {
    const r = lcg(N, seed + 10 + j);
    for (let p = 0; p < N; p++) m[i * N + p] = r[p] > (j % 2 ? 0.0 : 0.3) ? 1 : 0;
  });
  const idx: bigint[] = [], w: number[] = [];
  for (let i = 0; i < 2 * B; i++) {
    const count = m.subarray(i * N, (i + 1) * N).reduce((a, b) => a + b, 0);
    for (let p = 0; p < N; p++) if (m[i * N + p]) { idx.push(BigInt(i * N + p)); w.push(1 / Math.max(count, 1)); }
  }
  return {
    globalCrops: lcgT([2 * B, 3, c.size, c.size], seed), localCrops: lcgT([c.n_local * B, 3, c.local_size, c.local_size], seed + 1),
    masks: R.tidy(() => R.tensor(m, [2 * B, N]).to('bool')), maskIndices: R.tensor(BigInt64Array.from(idx)), masksWeight: R.tensor(w),
    nMaskedPatches: idx.length, upperbound: idx.length + 3, batchSize: B, nGlobalCrops: 2, nLocalCrops: c.n_local,
  };
}

/** The reference's starting point: the ViT fixture's weights, LCG heads, the teacher offset by 0.01 LCG. */
function buildArch(c: Record<string, number>): SSLMetaArch {
  const arch = new SSLMetaArch(configOf(c));
  R.tidy(() => {
    const { tensors } = R.loadSafetensorsSync(join(import.meta.dirname, 'fixtures', 'vit', 'weights_mlp.safetensors'));
    tensors.delete('register_tokens');
    arch.student.backbone.loadStateDict(tensors);
    arch.student.dinoHead.loadStateDict(headWeights(arch.student.dinoHead, 300));
    if (arch.student.ibotHead !== arch.student.dinoHead) arch.student.ibotHead.loadStateDict(headWeights(arch.student.ibotHead, 400));
    const names = [...arch.student.namedParameters()].map(([k]) => k).sort();
    const teacher = new Map<string, Tensor>();
    for (const [k, p] of arch.student.namedParameters()) teacher.set(k, p.add(lcgT([...p.shape], 5000 + names.indexOf(k)).mul(0.01)));
    arch.teacher.loadStateDict(teacher);
  });
  return arch;
}

/**
 * Values with the key third of a qkv bias zeroed (as the reference's without_key_bias): its exact
 * gradient is 0 (softmax ignores a shift of the keys), so AdamW turns float32 rounding noise
 * there into full-size updates of either sign, in PyTorch as here.
 */
function withoutKeyBias(name: string, v: number[]): number[] {
  if (!name.endsWith('attn.qkv.bias')) return v;
  const n = v.length / 3;
  return v.map((x, i) => (i >= n && i < 2 * n ? 0 : x));
}

const paramValues = (m: R.Module) => new Map([...m.namedParameters()].map(([k, p]) => [k, Float64Array.from(vals(p))]));

describe('full training steps parity (ViT D 192, depth 3, 2 x 56 px + 3 x 28 px crops, batch 2, masks)', () => {
  for (const [name, tc] of Object.entries(cases.train) as [string, { config: Record<string, number>; steps: any[]; centers: any; pending: any }][]) {
    it(`${name}: losses, gradients, clipping, AdamW with param groups and schedules, EMA teacher, second step`, () => {
      const c = tc.config;
      const arch = buildArch(c);
      const cfg = arch.cfg;
      const opt = arch.createOptimizer();
      const sched = R.buildSchedules(cfg, { epochLength: c.epoch_length });
      tc.steps.forEach((rec, step) => {
        const v = sched.at(rec.it);
        for (const [k, e] of Object.entries(rec.schedule) as [keyof typeof v, number][]) expectNum(v[k], e, `schedule ${k}`, 1e-12);
        const batch = makeBatch(c, rec.imageSeed, rec.maskedImages);
        const before = paramValues(arch.student);
        let losses: R.SSLLosses, gradNorms: Record<string, number>;
        const names = [...arch.student.namedParameters()].map(([k]) => k);
        expect(names.sort()).toEqual(Object.keys(rec.grads).sort());
        if (step === 0) {
          // the pieces one by one: gradients before clipping, then the clipped ones
          R.applyOptimSchedule(opt, v);
          opt.zeroGrad();
          losses = arch.forwardBackward(batch, { teacherTemp: v.teacherTemp });
          for (const [k, p] of arch.student.namedParameters()) checkSummary(vals(p.grad!), rec.grads[k], 700, `step ${step} ${k}.grad`);
          gradNorms = arch.clipGradients();
          for (const [k, p] of arch.student.namedParameters()) checkSummary(vals(p.grad!), rec.clipped[k], 710, `step ${step} ${k}.grad clipped`);
          opt.step();
          arch.updateTeacher(v.momentum);
        } else {
          // the whole iteration through trainStep: its clipped gradients are the reference's times the clip factor
          ({ gradNorms, ...losses } = arch.trainStep(batch, opt, v));
          for (const [part, m] of arch.student.parts()) {
            const coef = Math.min(c.clip / (rec.gradNorms[part] + 1e-6), 1);
            for (const [k, p] of m.namedParameters()) checkSummary(vals(p.grad!), rec.grads[`${part}.${k}`], 700, `step ${step} ${part}.${k}.grad clipped`, coef);
          }
        }
        for (const k of ['dinoLocal', 'dinoGlobal', 'koleo', 'ibot', 'total'] as const) expectNum(losses[k], rec.losses[k], `step ${step} ${k}`);
        for (const [part, n] of Object.entries(rec.gradNorms) as [string, number][]) expectNum(gradNorms[part], n, `step ${step} ${part} grad norm`);
        for (const [k, p] of arch.student.namedParameters()) {
          const now = vals(p), b = before.get(k)!;
          checkSummary(withoutKeyBias(k, now.map((x, i) => x - b[i])), rec.delta[k], 720, `step ${step} ${k} AdamW update`);
        }
        for (const [k, p] of arch.teacher.namedParameters()) checkSummary(withoutKeyBias(k, vals(p)), rec.teacher[k], 730, `step ${step} teacher ${k}`);
        for (const t of Object.values(batch)) if (t instanceof Tensor) t.dispose();
      });
      if (tc.centers) {
        R.tidy(() => {
          const sd = arch.stateDict();
          expectRel(vals(sd.get('dino_loss.center')!), tc.centers.dino, 'DINO center after 2 steps');
          expectRel(vals(sd.get('ibot_patch_loss.center')!), tc.centers.ibot, 'iBOT center after 2 steps');
          expectRel(vals(sd.get('dino_loss.center_pending')!), tc.pending.dino, 'DINO pending mean');
          expectRel(vals(sd.get('ibot_patch_loss.center_pending')!), tc.pending.ibot, 'iBOT pending mean');
          for (const t of sd.values()) t.dispose();
        });
      }
      opt.dispose();
      arch.dispose();
    });
  }
});
