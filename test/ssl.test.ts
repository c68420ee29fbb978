// DINOv2 objective units: error cases, float64 gradient checks, the center's and the
// meta-architecture's state (exact restore), continual-pretraining init, both head-sharing modes,
// gradient clipping, schedules and config merging, and memory that stays flat over steps.
import { describe, expect, it } from 'vitest';
import * as R from '../lib/index.js';
import { SSLBatch, SSLMetaArch, Tensor } from '../lib/index.js';
import { values, vals } from './helpers.js';

/** A batch for the 'tiny' preset (42-px globals: 9 patches, 28-px locals) with masks on images 1 and 2. */
function tinyBatch(seed: number, B = 2, nLocal = 2): SSLBatch {
  const g = new R.Generator(seed), N = 9;
  const m = new Uint8Array(2 * B * N);
  const masked = [[1, [0, 4, 5]], [2, [1, 2, 3, 8]]] as const;
  const idx: bigint[] = [], w: number[] = [];
  for (const [i, ps] of masked) {
    if (i >= 2 * B) continue;
    for (const p of ps) { m[i * N + p] = 1; idx.push(BigInt(i * N + p)); w.push(1 / ps.length); }
  }
  return {
    globalCrops: R.randn([2 * B, 3, 42, 42], { generator: g }), localCrops: nLocal ? R.randn([nLocal * B, 3, 28, 28], { generator: g }) : null,
    masks: R.tidy(() => R.tensor(m, [2 * B, N]).to('bool')), maskIndices: R.tensor(BigInt64Array.from(idx)), masksWeight: R.tensor(w),
    nMaskedPatches: idx.length, upperbound: idx.length, batchSize: B, nGlobalCrops: 2, nLocalCrops: nLocal,
  };
}
const disposeBatch = (b: SSLBatch) => { for (const t of Object.values(b)) if (t instanceof Tensor) t.dispose(); };
const tiny = (patch: R.SSLConfigPatch = {}) => R.mergeConfig(R.sslPreset('tiny'), patch);

describe('SSL error cases', () => {
  it('KoLeo on a batch of 1 is an error, not inf; bad shapes name the argument', () => {
    R.tidy(() => {
      expect(() => R.koleoLoss(R.randn([1, 8]))).toThrow(/koleoLoss: argument 'x' has 1 row \(expected at least 2/);
      expect(() => R.koleoLoss(R.randn([8]))).toThrow(/koleoLoss: argument 'x' has shape \[8\] \(expected \[B, D\]\)/);
      expect(() => R.dinoLoss([R.randn([2, 5])], [R.randn([3, 5])])).toThrow(/dinoLoss: argument 'teacherTargets\[0\]' has shape \[3, 5\]/);
      expect(() => R.dinoLoss([], [R.randn([3, 5])])).toThrow(/dinoLoss: argument 'studentOutputs' must be a non-empty array/);
      const masks = R.tensor([[true, false], [false, true]]);
      expect(() => R.ibotLoss(R.randn([2, 4]), R.randn([2, 4]), masks, { masksWeight: R.ones([3]) })).toThrow(/ibotLoss: option 'masksWeight' has shape \[3\]/);
      expect(() => R.ibotLoss(R.randn([1, 4]), R.randn([2, 4]), masks)).toThrow(/ibotLoss: argument 'studentMasked' has shape \[1, 4\] \(expected \[>= 2, 4\]\)/);
      expect(() => R.ibotLoss(R.randn([2, 4]), R.randn([2, 4]), masks.to('float32'))).toThrow(/ibotLoss: argument 'masks' is float32/);
      expect(() => R.sinkhornKnopp(R.randn([4]), 0.05)).toThrow(/sinkhornKnopp: argument 'teacherLogits' has shape \[4\]/);
      expect(() => R.sinkhornKnopp(R.randn([2, 4]), 0)).toThrow(/sinkhornKnopp: argument 'teacherTemp' is 0/);
      const c = new R.CenterState(4);
      expect(() => R.softmaxCenterTeacher(R.randn([2, 5]), c, 0.04)).toThrow(/softmaxCenterTeacher: argument 'logits' has shape \[2, 5\] \(expected \[B, 4\]\)/);
      expect(() => c.loadStateDict({ center: R.zeros([5]) })).toThrow(/CenterState.loadStateDict: 'center' has shape \[5\]/);
      c.dispose();
      const h = new R.DINOHead(6, 4, { hiddenDim: 8, bottleneckDim: 4 });
      expect(() => h.forward(R.randn([2, 5]))).toThrow(/DINOHead.forward: argument 'x' has shape \[2, 5\] \(expected a last dim of 6\)/);
      expect(() => new R.DINOHead(6, 0)).toThrow(/DINOHead: argument 'outDim' is 0/);
      h.dispose();
      expect(() => new R.CosineScheduler({ baseValue: 1, finalValue: 0, totalIters: 5, warmupIters: 4, freezeIters: 2 })).toThrow(/exceed totalIters \(5\)/);
    });
  });

  it('a bad batch is rejected before anything changes; KoLeo needs 2 images per crop', () => {
    const arch = new SSLMetaArch(R.sslPreset('tiny'), { generator: new R.Generator(1) });
    const b = tinyBatch(3);
    const bad = (patch: Partial<SSLBatch>) => () => arch.forwardBackward({ ...b, ...patch }, { teacherTemp: 0.04 });
    R.tidy(() => {
      expect(bad({ nGlobalCrops: 3 })).toThrow(/SSLBatch: 'nGlobalCrops' is 3 \(expected 2/);
      expect(bad({ masks: R.zeros([4, 8]).to('bool') })).toThrow(/SSLBatch: 'masks' is bool \[4, 8\] \(expected bool \[4, 9\]\)/);
      expect(bad({ nMaskedPatches: 6 })).toThrow(/SSLBatch: 'maskIndices' is int64 \[7\] \(expected int64 \[6\]/);
      expect(bad({ masksWeight: R.ones([7]), maskIndices: R.zeros([7], { dtype: 'int64' }), nMaskedPatches: 7, masks: R.zeros([4, 9]).to('bool') }))
        .toThrow(/SSLBatch: 'nMaskedPatches' is 7 \(expected 0, the number of set entries of 'masks'\)/);
      expect(bad({ localCrops: null })).toThrow(/SSLBatch: 'localCrops' must be a Tensor/);
      expect(bad({ globalCrops: R.zeros([4, 3, 40, 42]) })).toThrow(/multiples of the patch size 14/);
      expect(() => arch.forwardBackward(b, { teacherTemp: -1 })).toThrow(/forwardBackward: option 'teacherTemp' is -1/);
    });
    const one = tinyBatch(4, 1);
    expect(() => arch.forwardBackward(one, { teacherTemp: 0.04 })).toThrow(/batchSize is 1 but KoLeo needs at least 2 images per crop/);
    expect(arch.dinoCenter.hasPending).toBe(false);  // nothing ran
    expect(arch.student.parameters().every((p) => p.grad === null)).toBe(true);
    disposeBatch(b);
    disposeBatch(one);
    arch.dispose();
  });

  it('unknown config keys, wrong types and enum values are errors naming the key path', () => {
    expect(() => tiny({ dino: { headNPrototypez: 3 } as never })).toThrow(/mergeConfig: unknown key 'dino.headNPrototypez' \(expected one of: lossWeight, headNPrototypes/);
    expect(() => R.mergeConfig(R.DEFAULT_SSL_CONFIG, { optim: { base_lr: 0.1, warmup_epoch: 1 } })).toThrow(/unknown key 'optim.warmup_epoch'/);
    expect(() => R.mergeConfig(R.DEFAULT_SSL_CONFIG, { evaluation: {} })).toThrow(/unknown key 'evaluation' \(expected one of: student, teacher/);
    expect(() => tiny({ optim: { baseLr: '0.1' as never } })).toThrow(/mergeConfig: 'optim.baseLr' must be a finite number \(got "0.1"\)/);
    expect(() => tiny({ train: { centering: 'sinkhorn' as never } })).toThrow(/'train.centering' is "sinkhorn" \(expected one of: centering, sinkhorn_knopp\)/);
    expect(() => tiny({ crops: { globalCropsScale: [0.3] as never } })).toThrow(/'crops.globalCropsScale' must be an array of 2 finite numbers/);
    expect(() => tiny({ crops: { globalCropsSize: 50 } })).toThrow(/validateConfig: 'crops.globalCropsSize' is 50 \(expected a multiple of student.patchSize \(14\)\)/);
    expect(() => tiny({ optim: { clipGrad: null as never } })).toThrow(/'optim.clipGrad' cannot be null/);
    expect(() => R.sslPreset('huge' as never)).toThrow(/sslPreset: unknown preset "huge"/);
    // snake_case (the reference's YAML keys) and nullable overrides are accepted; the defaults stay untouched
    const cfg = R.mergeConfig(R.DEFAULT_SSL_CONFIG, { dino: { head_n_prototypes: 1024 }, student: { layerscale: null, embed_dim: 64 } });
    expect([cfg.dino.headNPrototypes, cfg.student.layerscale, cfg.student.embedDim]).toEqual([1024, null, 64]);
    cfg.dino.lossWeight = 5;
    expect(R.DEFAULT_SSL_CONFIG.dino.lossWeight).toBe(1);
    expect(Object.isFrozen(R.DEFAULT_SSL_CONFIG.dino)).toBe(true);
  });
});

describe('SSL presets, schedules and clipping', () => {
  it('raddino preset: ViT-B/14 at 518 without registers, 196-px locals, lr scaled by sqrt(640 / 1024)', () => {
    const cfg = R.sslPreset('raddino');
    const bb = R.backboneConfig(cfg, 'student');
    expect([bb.embedDim, bb.depth, bb.numHeads, bb.patchSize, bb.imgSize, bb.numRegisterTokens]).toEqual([768, 12, 12, 14, 518, 0]);
    expect([cfg.crops.globalCropsSize, cfg.crops.localCropsSize]).toEqual([518, 196]);
    expect(R.scaledLr(cfg)).toBeCloseTo(0.001 * Math.sqrt(640 / 1024), 15);
    expect(R.backboneConfig(cfg, 'teacher').dropPathRate).toBe(0);
    const sch = R.buildSchedules(R.sslPreset('tiny'));  // 4 epochs of 10: warmup 10, teacher temp 20, frozen last layer 10
    expect([sch.lr.at(0), sch.lastLayerLr.at(9), sch.lastLayerLr.at(10) > 0, sch.teacherTemp.at(19), sch.teacherTemp.at(1000)]).toEqual([0, 0, true, 0.07, 0.07]);
    expect(sch.momentum.at(40)).toBe(1);
  });

  it('clipGradNorm scales every gradient by min(max / (total + 1e-6), 1) and returns the total', () => {
    R.tidy(() => {
      const xs = [values(7, 1), values(13, 2), values(3, 3)];
      const ps = xs.map((v) => R.tensor(v).requiresGrad_());
      const total = Math.sqrt(xs.flat().reduce((a, v) => a + [...v].reduce((s, x) => s + x * x, 0), 0));
      ps.forEach((p, i) => { p.grad = R.tensor(xs[i]); });
      expect(R.clipGradNorm(ps, 100)).toBeCloseTo(total, 5);  // below the max: unchanged
      ps.forEach((p, i) => expect(vals(p.grad!)).toEqual(Array.from(xs[i], Math.fround)));
      const none = R.tensor([1, 2]).requiresGrad_();
      expect(R.clipGradNorm([...ps, none], 1)).toBeCloseTo(total, 5);
      ps.forEach((p, i) => vals(p.grad!).forEach((g, j) => expect(g).toBeCloseTo(xs[i][j] / (total + 1e-6), 6)));
      expect(none.grad).toBeNull();
      expect(R.clipGradNorm([none], 1)).toBe(0);
    });
  });
});

describe('SSL objectives in float64', () => {
  it('finite-difference gradients of the DINO, iBOT and KoLeo losses and of the DINO head', () => {
    R.tidy(() => {
      const x = (n: number, m: number, seed: number) => R.tensor(values(n * m, seed), [n, m], 'float64').requiresGrad_();
      const t = (n: number, m: number, seed: number) => R.tensor(values(n * m, seed), [n, m], 'float64').div(0.3).softmax(-1);
      const t0 = t(3, 5, 10), t1 = t(3, 5, 11);
      R.gradCheck((a, b) => R.dinoLoss([a, b], [t0, t1]), [x(3, 5, 1), x(3, 5, 2)]);
      const masks = R.tensor([[true, false, true], [false, false, false], [false, true, false]]);
      const tm = t(4, 5, 12);
      R.gradCheck((s) => R.ibotLoss(s, tm, masks, { nMaskedPatches: 3 }), [x(4, 5, 3)]);
      R.gradCheck((a) => R.koleoLoss(a), [x(5, 4, 4)]);
      const h = new R.DINOHead(4, 6, { hiddenDim: 5, bottleneckDim: 3, dtype: 'float64', generator: new R.Generator(2) });
      R.gradCheck((xi) => h.forward(xi), [x(3, 4, 5)]);  // the parameter gradients are checked against PyTorch (ssl_parity)
      h.dispose();
    });
  });

  it('Sinkhorn-Knopp stays finite for huge logits and gives doubly-normalised targets', () => {
    R.tidy(() => {
      const q = R.sinkhornKnopp(R.tensor(values(8 * 16, 9, -1, 1), [8, 16]).mul(500), 0.04);  // t/T up to 12500
      const v = vals(q);
      expect(v.every(Number.isFinite)).toBe(true);
      vals(q.sum(1)).forEach((s) => expect(s).toBeCloseTo(1, 5));
      const q0 = R.sinkhornKnopp(R.tensor([[1, 2], [3, 4]]), 1, { nIterations: 0 });
      const e = [1, 2, 3, 4].map((a) => Math.exp(a)), z = e.reduce((a, b) => a + b);
      expect(vals(q0).map((a) => a / 2)).toEqual(e.map((a) => Math.fround(a / z)).map((a) => expect.closeTo(a, 6)));
    });
  });
});

describe('SSLMetaArch', () => {
  it('both head modes: shared (no ibot_head) and separate (own parameters, groups, clipping and gradients)', () => {
    for (const separate of [false, true]) {
      const cfg = tiny({ ibot: { separateHead: separate, headNPrototypes: 24, headHiddenDim: 40, headBottleneckDim: 8, headNlayers: 2 } });
      const arch = new SSLMetaArch(cfg, { generator: new R.Generator(7) });
      const keys = R.tidy(() => {
        const sd = arch.stateDict();
        const ks = [...sd.keys()];
        for (const t of sd.values()) t.dispose();
        return ks;
      });
      expect(arch.student.ibotHead === arch.student.dinoHead).toBe(!separate);
      expect(keys.some((k) => k.startsWith('student.ibot_head.'))).toBe(separate);
      expect(keys.some((k) => k.startsWith('teacher.ibot_head.'))).toBe(separate);
      expect(keys).toContain('ibot_patch_loss.center');
      expect(arch.student.parts().map(([n]) => n)).toEqual(separate ? ['backbone', 'dino_head', 'ibot_head'] : ['backbone', 'dino_head']);
      if (separate) expect(arch.student.ibotHead.outDim).toBe(24);
      const b = tinyBatch(5);
      const l = arch.forwardBackward(b, { teacherTemp: 0.04 });
      expect(Object.values(l).every(Number.isFinite)).toBe(true);
      expect(l.total).toBeCloseTo(l.dinoLocal + l.dinoGlobal + l.koleo + l.ibot, 5);
      for (const [name, p] of arch.student.namedParameters()) expect(p.grad, name).not.toBeNull();
      expect(arch.teacher.parameters().every((p) => p.grad === null && !p.requiresGrad)).toBe(true);
      expect(Object.keys(arch.clipGradients(1))).toEqual(arch.student.parts().map(([n]) => n));
      const groups = arch.paramGroups();
      expect(groups.filter((g) => g.name!.startsWith('ibot_head:')).length > 0).toBe(separate);
      expect(groups.reduce((n, g) => n + g.params.length, 0)).toBe(arch.student.parameters().length);
      disposeBatch(b);
      arch.dispose();
    }
  });

  it('without local crops: n_terms = 3 as the reference (2 + max(2 n_l, 1)), no local term', () => {
    const arch = new SSLMetaArch(tiny({ crops: { localCropsNumber: 0 } }), { generator: new R.Generator(14) });
    const b = tinyBatch(6, 2, 0);
    const l = arch.forwardBackward(b, { teacherTemp: 0.04 });
    expect(l.dinoLocal).toBe(0);
    // the global term is 2 / n_terms times the DINO loss of the swapped teacher targets
    const direct = R.tidy(() => R.noGrad(() => {
      arch.dinoCenter.loadStateDict({ center: R.zeros([1, 32]) });  // as before the step
      const t = arch.teacher, cls = t.backbone.forwardFeatures(b.globalCrops).xNormClstoken;
      const targets = R.softmaxCenterTeacher(t.dinoHead.forward(R.cat([cls.narrow(0, 2, 2), cls.narrow(0, 0, 2)])), arch.dinoCenter, 0.04);
      const s = arch.student.dinoHead.forward(arch.student.backbone.forwardFeatures(b.globalCrops, { masks: b.masks }).xNormClstoken);
      return R.dinoLoss([s], [targets]).item();
    }));
    expect(l.dinoGlobal).toBeCloseTo((2 * direct) / 3, 6);
    disposeBatch(b);
    arch.dispose();
  });

  it('the teacher is an eval-mode copy without drop path; updateTeacher is the EMA of every parameter', () => {
    const arch = new SSLMetaArch(tiny({ student: { dropPathRate: 0.2 } }), { generator: new R.Generator(8) });
    expect(arch.teacher.backbone.config.dropPathRate).toBe(0);
    expect(arch.student.backbone.config.dropPathRate).toBe(0.2);
    arch.train();
    expect([arch.student.training, arch.teacher.training, arch.teacher.backbone.blocks[0].training]).toEqual([true, false, false]);
    const s = new Map([...arch.student.namedParameters()].map(([k, p]) => [k, vals(p)]));
    for (const [k, p] of arch.teacher.namedParameters()) expect(vals(p), k).toEqual(s.get(k));
    R.noGrad(() => { for (const p of arch.student.parameters()) p.copy_(R.tidy(() => p.add(1))); });
    const t0 = new Map([...arch.teacher.namedParameters()].map(([k, p]) => [k, vals(p)]));
    arch.updateTeacher(0.75);
    for (const [k, p] of arch.teacher.namedParameters()) {
      const sv = s.get(k)!, tv = t0.get(k)!;
      const err = vals(p).reduce((e, v, i) => Math.max(e, Math.abs(v - (0.75 * tv[i] + 0.25 * (sv[i] + 1)))), 0);
      expect(err, k).toBeLessThan(1e-6);
    }
    expect(() => arch.updateTeacher(1.5)).toThrow(/updateTeacher: argument 'momentum' is 1.5/);
    arch.dispose();
  });

  it('stateDict / loadStateDict restore student, teacher and centers (with the pending update) exactly', () => {
    for (const centering of ['centering', 'sinkhorn_knopp'] as const) {
      const cfg = tiny({ train: { centering } });
      const a = new SSLMetaArch(cfg, { generator: new R.Generator(9) });
      const opt = a.createOptimizer();
      const sch = R.buildSchedules(cfg);
      for (let it = 10; it < 12; it++) {
        const b = tinyBatch(it);
        a.trainStep(b, opt, sch.at(it));
        disposeBatch(b);
      }
      const sd = a.stateDict();
      expect(sd.has('dino_loss.center_pending')).toBe(centering === 'centering');
      const c = new SSLMetaArch(cfg, { generator: new R.Generator(10) });
      c.loadStateDict(sd);
      for (const t of sd.values()) t.dispose();
      const b = tinyBatch(99);
      a.zeroGrad();
      const la = a.forwardBackward(b, { teacherTemp: 0.05 }), lc = c.forwardBackward(b, { teacherTemp: 0.05 });
      expect(lc).toEqual(la);
      R.tidy(() => {
        const ga = a.student.parameters().map((p) => vals(p.grad!)), gc = c.student.parameters().map((p) => vals(p.grad!));
        expect(ga.every((g, i) => g.every((v, j) => v === gc[i][j])), 'identical gradients').toBe(true);
      });
      const bad = a.stateDict();
      const k = 'student.dino_head.last_layer.weight_g';
      bad.get(k)!.dispose();
      bad.delete(k);
      bad.set('student.extra', R.zeros([1]));
      const before = vals(c.teacher.backbone.clsToken);
      expect(() => c.loadStateDict(bad)).toThrow(/SSLMetaArch.loadStateDict: the state dict does not match. Missing: student.dino_head.last_layer.weight_g. Unexpected: student.extra/);
      expect(vals(c.teacher.backbone.clsToken)).toEqual(before);
      for (const t of bad.values()) t.dispose();
      disposeBatch(b);
      opt.dispose();
      a.dispose();
      c.dispose();
    }
  });

  it('initFromBackbone: student from HF- or dinov2-named weights, teacher a copy; strict about foreign keys', () => {
    const cfg = tiny();
    const src = new R.DinoVisionTransformer(R.backboneConfig(cfg, 'teacher'), { generator: new R.Generator(11) });
    const arch = new SSLMetaArch(cfg, { generator: new R.Generator(12) });
    const headBefore = vals(arch.student.dinoHead.lastLayer.weightV);
    R.tidy(() => {
      const hf = src.stateDict({ format: 'hf' });
      hf.get('embeddings.mask_token')!.dispose();
      hf.delete('embeddings.mask_token');  // some releases lack it: allowed
      const r = arch.initFromBackbone(hf);
      expect(r.missingKeys).toEqual(['mask_token']);
      for (const [k, p] of src.namedParameters()) {
        if (k === 'mask_token') continue;
        expect(vals(arch.student.backbone.stateDict().get(k)!), k).toEqual(vals(p));
      }
      for (const [k, p] of arch.student.namedParameters()) expect(vals(arch.teacher.stateDict().get(k)!), k).toEqual(vals(p));
      expect(vals(arch.student.dinoHead.lastLayer.weightV)).toEqual(headBefore);  // heads stay fresh
      const extra = src.stateDict();
      extra.set('head.weight', R.zeros([2]));
      expect(() => arch.initFromBackbone(extra)).toThrow(/initFromBackbone: the weights do not match the student backbone. Unexpected: head.weight/);
      extra.delete('pos_embed');
      expect(() => arch.initFromBackbone(extra, { strict: true })).toThrow(/Missing: pos_embed/);
      expect(arch.initFromBackbone(extra, { strict: false }).unexpectedKeys).toEqual(['head.weight']);
    });
    src.dispose();
    arch.dispose();
  });

  it("train.matmulPrecision 'bfloat16': the step in mixed precision stays within 2e-2 of float32 (losses, gradients); the setting is scoped to the step", () => {
    expect(() => tiny({ train: { matmulPrecision: 'float16' as 'float32' } })).toThrow(/mergeConfig: 'train.matmulPrecision' is "float16" \(expected one of: float32, bfloat16\)/);
    const run = (matmulPrecision: 'float32' | 'bfloat16') => {
      const cfg = tiny({ train: { matmulPrecision } });
      const arch = new SSLMetaArch(cfg, { generator: new R.Generator(21) });
      const opt = arch.createOptimizer();
      const b = tinyBatch(5);
      const losses = arch.trainStep(b, opt, R.buildSchedules(cfg).at(3));
      disposeBatch(b);
      const grads = R.tidy(() => [...arch.student.namedParameters()].filter(([, p]) => p.grad).map(([k, p]) => [k, vals(p.grad!)] as const));
      opt.dispose();
      arch.dispose();
      return { losses, grads: new Map(grads) };
    };
    const f32 = run('float32'), b16 = run('bfloat16');
    expect(R.getMatmulPrecision()).toBe('float32');
    for (const k of ['dinoLocal', 'dinoGlobal', 'ibot', 'koleo', 'total'] as const) {
      const a = f32.losses[k] as number, b = b16.losses[k] as number;
      expect(Math.abs(b - a), k).toBeLessThanOrEqual(2e-2 * Math.abs(a) + 1e-6);
    }
    // Per parameter, relative to its gradient's norm, for those that matter (LayerScale 1e-5 leaves
    // some gradients 1e-9 small, where cancellation makes relative errors meaningless); and the
    // whole gradient vector. The ~1e-2 typical error comes from the head: bf16-rounded logits
    // divided by the 0.1 student temperature.
    let differs = false, dAll = 0, nAll = 0;
    const norms = [...f32.grads.values()].map((g) => Math.sqrt(g.reduce((s, v) => s + v * v, 0)));
    const biggest = Math.max(...norms);
    [...f32.grads].forEach(([k, g], pi) => {
      const h = b16.grads.get(k)!;
      let d = 0;
      for (let i = 0; i < g.length; i++) d += (h[i]! - g[i]!) ** 2;
      dAll += d;
      nAll += norms[pi]! ** 2;
      if (norms[pi]! >= 1e-3 * biggest) expect(Math.sqrt(d) / norms[pi]!, k).toBeLessThan(3e-2);
      differs ||= d > 0;
    });
    expect(Math.sqrt(dAll / nAll)).toBeLessThan(2e-2);
    expect(differs, 'bfloat16 products were used').toBe(true);
  });

  it.each(['float32', 'bfloat16'] as const)('memory() stays flat over training steps (every intermediate is freed), %s matmuls', (matmulPrecision) => {
    const cfg = tiny({ student: { dropPathRate: 0.3, dropPathUniform: true }, train: { matmulPrecision } });
    const arch = new SSLMetaArch(cfg, { generator: new R.Generator(13) });
    const opt = arch.createOptimizer();
    const sch = R.buildSchedules(cfg);
    const seen: { tensors: number; bytes: number }[] = [];
    for (let it = 0; it < 5; it++) {
      const b = tinyBatch(100 + it);
      const r = arch.trainStep(b, opt, sch.at(12 + it));
      expect(Number.isFinite(r.total)).toBe(true);
      disposeBatch(b);
      const m = R.memory();
      seen.push({ tensors: m.tensors, bytes: m.bytes });
    }
    // after the first step (AdamW moments, gradients and the pending centers exist) nothing grows
    for (const s of seen.slice(2)) expect(s).toEqual(seen[1]);
    opt.dispose();
    arch.dispose();
  });
});
