// The DINOv2 student/teacher meta-architecture (Oquab et al. 2023; dinov2/train/ssl_meta_arch.py):
// a student {backbone, DINO head, iBOT head (the DINO head unless separate)} trained on global and
// local crops against an EMA teacher that sees the global crops only.
// Shapes: B images per crop, n_l local crops, D width, N patches per global crop, M masked
// patches, K prototypes.
import { noGrad } from '../autograd/engine.js';
import { DINOHead } from '../models/dino_head.js';
import { DinoVisionTransformer } from '../models/dinov2.js';
import { toDinov2Names } from '../models/keymap.js';
import { Module } from '../nn/module.js';
import { AdamW, ParamGroup } from '../optim/adamw.js';
import { clipGradNorm } from '../optim/clip.js';
import { applyOptimSchedule, fuseParamGroups, paramGroupsWithDecay } from '../optim/param_groups.js';
import { cat } from '../tensor/indexing.js';
import { Generator } from '../tensor/random.js';
import { withMatmulPrecision } from '../tensor/memory.js';
import { tidy } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';
import type { SSLBatch } from './batch.js';
import { backboneConfig, SSLConfig, validateConfig } from './config.js';
import { dinoLoss, ibotLoss, koleoLoss } from './losses.js';
import type { ScheduleValues } from './schedules.js';
import { CenterState, sinkhornKnopp, softmaxCenterTeacher } from './targets.js';
import { checkBatch } from './batch_check.js';
import { ema_ } from '../optim/ema.js';

/** The loss terms of one step as they enter the total (see SSLMetaArch.forwardBackward). */
export interface SSLLosses {
  dinoLocal: number;
  dinoGlobal: number;
  koleo: number;
  ibot: number;
  total: number;
}

/** The reference's nn.ModuleDict of one side: backbone, dino_head and (when separate) ibot_head. */
export class SSLModels extends Module {
  readonly backbone: DinoVisionTransformer;
  readonly dinoHead: DINOHead;
  /** The iBOT head: the DINO head itself unless the config asks for a separate one. */
  readonly ibotHead: DINOHead;
  constructor(backbone: DinoVisionTransformer, dinoHead: DINOHead, ibotHead: DINOHead | null) {
    super();
    this.backbone = this.module('backbone', backbone);
    this.dinoHead = this.module('dino_head', dinoHead);
    this.ibotHead = ibotHead ? this.module('ibot_head', ibotHead) : dinoHead;
  }
  /** The submodules by state-dict name (clipping and parameter groups act on each separately). */
  parts(): [string, Module][] {
    return this.children().map((m) => [m === this.backbone ? 'backbone' : m === this.dinoHead ? 'dino_head' : 'ibot_head', m]);
  }
}

export class SSLMetaArch {
  readonly cfg: SSLConfig;
  readonly student: SSLModels;
  /** A copy of the student in eval mode (no drop path), without gradients, updated by EMA. */
  readonly teacher: SSLModels;
  /** Centers of the teacher's cls logits (DINO) and masked-patch logits (iBOT), 'centering' mode. */
  readonly dinoCenter: CenterState;
  readonly ibotCenter: CenterState;

  constructor(cfg: SSLConfig, opts: { generator?: Generator } = {}) {
    validateConfig(cfg);
    this.cfg = structuredClone(cfg);
    const g = opts.generator;
    const build = (role: 'student' | 'teacher') => {
      const backbone = new DinoVisionTransformer(backboneConfig(this.cfg, role), { generator: g });
      const head = (h: SSLConfig['dino'] | SSLConfig['ibot']) => new DINOHead(backbone.config.embedDim, h.headNPrototypes, {
        hiddenDim: h.headHiddenDim, bottleneckDim: h.headBottleneckDim, nlayers: h.headNlayers, generator: g,
      });
      return new SSLModels(backbone, head(this.cfg.dino), this.doIbot && this.cfg.ibot.separateHead ? head(this.cfg.ibot) : null);
    };
    this.student = build('student');
    this.teacher = build('teacher');
    this.copyStudentToTeacher();
    for (const p of this.teacher.parameters()) p.requiresGrad = false;
    this.teacher.eval();
    this.dinoCenter = new CenterState(this.cfg.dino.headNPrototypes);
    this.ibotCenter = new CenterState(this.cfg.ibot.separateHead ? this.cfg.ibot.headNPrototypes : this.cfg.dino.headNPrototypes);
  }

  /**
   * Moves student, teacher and centers to `device` (e.g. 'cuda') in place; create the optimizer
   * after the move (AdamW's moments are made where the parameters are) and give trainStep batches
   * on the same device (`toDeviceBatch`). Returns this.
   */
  to(device: string): this {
    this.student.to(device);
    this.teacher.to(device);
    this.dinoCenter.to(device);
    this.ibotCenter.to(device);
    return this;
  }

  /** Where the parameters are. */
  get device(): string {
    return this.student.device;
  }

  get doDino(): boolean { return this.cfg.dino.lossWeight > 0; }
  get doKoleo(): boolean { return this.cfg.dino.koleoLossWeight > 0; }
  get doIbot(): boolean { return this.cfg.ibot.lossWeight > 0; }

  /** Student in training mode (or eval with false); the teacher always stays in eval mode. */
  train(mode = true): this {
    this.student.train(mode);
    this.teacher.eval();
    return this;
  }

  zeroGrad(): void {
    this.student.zeroGrad();
  }

  /** AdamW parameter groups: per student submodule, fused by (lr mult, wd mult, last layer). */
  paramGroups(): ParamGroup[] {
    const o = this.cfg.optim;
    return this.student.parts().flatMap(([name, m]) => fuseParamGroups(paramGroupsWithDecay(m, { lrDecayRate: o.layerwiseDecay, patchEmbedLrMult: o.patchEmbedLrMult }))
      .map((grp) => ({ ...grp, name: `${name}:${grp.name}` })));
  }

  /** AdamW over paramGroups() with the configured betas (lr and weight decay come from the schedules). */
  createOptimizer(): AdamW {
    return new AdamW(this.paramGroups(), { betas: [this.cfg.optim.adamwBeta1, this.cfg.optim.adamwBeta2] });
  }

  /** Clips the gradient norm of each student submodule separately; returns the norms before clipping (none when maxNorm is 0). */
  clipGradients(maxNorm = this.cfg.optim.clipGrad): Record<string, number> {
    const norms: Record<string, number> = {};
    if (!(maxNorm > 0)) return norms;
    for (const [name, m] of this.student.parts()) norms[name] = clipGradNorm(m.parameters(), maxNorm);
    return norms;
  }

  /**
   * One forward and backward pass (gradients accumulate into the student's .grad; no update):
   * - the teacher sees the 2 global crops; its cls logits are swapped (crop 1 first) so that
   *   student global crop A meets teacher crop B; targets by centering or Sinkhorn-Knopp;
   * - with n_terms = 2 + max(2 n_l, 1): dinoLocal = DINO(local cls, both teacher crops) / n_terms,
   *   dinoGlobal = 2 DINO(global cls, swapped teacher) / n_terms;
   * - koleo = koleo_w Σ over the 2 global crops of KoLeo(student backbone cls);
   * - ibot = iBOT over the masked patches of the global crops;
   * - total = dino_w (dinoLocal + dinoGlobal) + koleo + ibot_w ibot.
   * Returns the terms as plain numbers (the reference's log shows koleo / 2 and ibot / 2).
   * Every intermediate is freed.
   */
  forwardBackward(batch: SSLBatch, opts: { teacherTemp: number }): SSLLosses {
    const { B, nLocal, M } = checkBatch(batch, this.student.backbone.config.patchSize, this.device);
    const temp = opts?.teacherTemp;
    if (typeof temp !== 'number' || !(temp > 0)) throw new RangeError(`forwardBackward: option 'teacherTemp' is ${temp} (expected a positive number)`);
    if (this.doDino && this.doKoleo && B < 2) {
      throw new RangeError(`forwardBackward: batchSize is ${B} but KoLeo needs at least 2 images per crop (set dino.koleoLossWeight to 0 for batches of 1)`);
    }
    const doIbot = this.doIbot && M > 0, separate = this.student.ibotHead !== this.student.dinoHead;
    const result: SSLLosses = { dinoLocal: 0, dinoGlobal: 0, koleo: 0, ibot: 0, total: 0 };
    tidy(() => {
      const targets = this.teacherTargets(batch, temp, doIbot);  // (2B, K), (M, K)
      const sb = this.student.backbone;
      // only the tokens the losses read leave the last block (forwardTokens)
      const g = sb.forwardTokens(batch.globalCrops, { masks: batch.masks, patchIndices: doIbot ? batch.maskIndices : null });
      const gCls = g.cls;  // (2B, D)
      const lCls = nLocal > 0 ? sb.forwardTokens(batch.localCrops!).cls : null;  // (n_l B, D)
      const patches = g.patches;  // (M, D)
      // one pass of the DINO head over [local cls, global cls, masked patches (shared head)]
      const rows: Tensor[] = [...(lCls ? [lCls] : []), gCls, ...(patches && !separate ? [patches] : [])];
      const out = this.student.dinoHead.forward(rows.length > 1 ? cat(rows, 0) : gCls);
      const nl = lCls ? lCls.shape[0] : 0;
      const localOut = lCls ? out.narrow(0, 0, nl) : null;
      const globalOut = out.narrow(0, nl, 2 * B);
      const patchOut = patches ? (separate ? this.student.ibotHead.forward(patches) : out.narrow(0, nl + 2 * B, M)) : null;

      const nTerms = 2 + Math.max(2 * nLocal, 1);
      const terms: Tensor[] = [];
      const dinoW = this.cfg.dino.lossWeight;
      if (this.doDino) {
        if (localOut) {
          const local = dinoLoss(localOut.chunk(nLocal, 0), targets.dino.chunk(2, 0)).div(nTerms);
          result.dinoLocal = local.item();
          terms.push(local.mul(dinoW));
        }
        const global = dinoLoss([globalOut], [targets.dino]).mul(2).div(nTerms);
        result.dinoGlobal = global.item();
        terms.push(global.mul(dinoW));
        if (this.doKoleo) {
          const koleo = koleoLoss(gCls.narrow(0, 0, B)).add(koleoLoss(gCls.narrow(0, B, B))).mul(this.cfg.dino.koleoLossWeight);
          result.koleo = koleo.item();
          terms.push(koleo);
        }
      }
      if (patchOut) {
        // × 2 (both global crops at once) × 1/2 (ibot_loss_scale): the reference's factors cancel
        const ibot = ibotLoss(patchOut, targets.ibot!, batch.masks, { masksWeight: batch.masksWeight, nMaskedPatches: M });
        result.ibot = ibot.item();
        terms.push(ibot.mul(this.cfg.ibot.lossWeight));
      }
      if (terms.length === 0) throw new Error('forwardBackward: no loss term is enabled (dino.lossWeight and ibot.lossWeight are 0, or no patch is masked)');
      const total = terms.reduce((a, b) => a.add(b));
      result.total = total.item();
      total.backward();
    });
    return result;
  }

  /** Teacher targets of the global crops' cls tokens (swapped) and masked patches; updates the centers. */
  private teacherTargets(batch: SSLBatch, temp: number, doIbot: boolean): { dino: Tensor; ibot: Tensor | null } {
    return noGrad(() => tidy(() => {
      const B = batch.batchSize, M = batch.nMaskedPatches;
      const out = this.teacher.backbone.forwardTokens(batch.globalCrops, { patchIndices: doIbot ? batch.maskIndices : null });
      const cls = out.cls;  // (2B, D)
      const swapped = cat([cls.narrow(0, B, B), cls.narrow(0, 0, B)], 0);
      let clsLogits: Tensor, patchLogits: Tensor | null = null;
      if (doIbot) {
        const patches = out.patches!;  // (M, D)
        if (this.teacher.ibotHead === this.teacher.dinoHead) {
          const all = this.teacher.dinoHead.forward(cat([swapped, patches], 0));
          clsLogits = all.narrow(0, 0, 2 * B);
          patchLogits = all.narrow(0, 2 * B, M);
        } else {
          clsLogits = this.teacher.dinoHead.forward(swapped);
          patchLogits = this.teacher.ibotHead.forward(patches);
        }
      } else {
        clsLogits = this.teacher.dinoHead.forward(swapped);
      }
      if (this.cfg.train.centering === 'centering') {
        const dino = softmaxCenterTeacher(clsLogits, this.dinoCenter, temp);
        this.dinoCenter.update(clsLogits);
        let ibot: Tensor | null = null;
        if (patchLogits) {
          ibot = softmaxCenterTeacher(patchLogits, this.ibotCenter, temp);
          this.ibotCenter.update(patchLogits);
        }
        return { dino, ibot };
      }
      return { dino: sinkhornKnopp(clsLogits, temp), ibot: patchLogits ? sinkhornKnopp(patchLogits, temp, { nSamples: M }) : null };
    }));
  }

  /** EMA of every teacher parameter: teacher = m · teacher + (1 - m) · student. */
  updateTeacher(momentum: number): void {
    if (typeof momentum !== 'number' || !(momentum >= 0 && momentum <= 1)) {
      throw new RangeError(`updateTeacher: argument 'momentum' is ${momentum} (expected a number in [0, 1])`);
    }
    const student = new Map(this.student.namedParameters());
    for (const [name, t] of this.teacher.namedParameters()) ema_(t, student.get(name)!, momentum);
  }

  /**
   * One DINOv2 iteration: apply the scheduled lr / wd, zero the gradients, forwardBackward, clip
   * each student submodule, AdamW step, EMA update of the teacher.
   */
  trainStep(batch: SSLBatch, optimizer: AdamW, values: ScheduleValues): SSLLosses & { gradNorms: Record<string, number> } {
    applyOptimSchedule(optimizer, values);
    optimizer.zeroGrad();
    this.zeroGrad();
    const losses = withMatmulPrecision(this.cfg.train.matmulPrecision ?? 'float32', () => this.forwardBackward(batch, { teacherTemp: values.teacherTemp }));
    const gradNorms = this.clipGradients();
    optimizer.step();
    this.updateTeacher(values.momentum);
    return { ...losses, gradNorms };
  }

  /**
   * Continual pretraining (RAD-DINO): loads released backbone weights (dinov2 or Hugging Face
   * names, see models/keymap.ts) into the student backbone and copies the whole student (fresh
   * heads included) into the teacher. With strict (default) every backbone weight but
   * `mask_token` (absent from some releases) must be present and nothing else may be.
   */
  initFromBackbone(dict: Map<string, Tensor> | Record<string, Tensor>, opts: { strict?: boolean } = {}): { missingKeys: string[]; unexpectedKeys: string[] } {
    const { dict: named, created } = toDinov2Names(dict);
    let missingKeys: string[], unexpectedKeys: string[];
    try {
      const own = new Set([...this.student.backbone.namedParameters()].map(([k]) => k));
      missingKeys = [...own].filter((k) => !named.has(k));
      unexpectedKeys = [...named.keys()].filter((k) => !own.has(k));
    } finally {
      for (const t of created) t.dispose();
    }
    const blocking = missingKeys.filter((k) => k !== 'mask_token');
    if ((opts.strict ?? true) && (blocking.length || unexpectedKeys.length)) {
      const list = (ks: string[]) => ks.slice(0, 8).join(', ') + (ks.length > 8 ? `, ... (${ks.length})` : '');
      throw new Error(`initFromBackbone: the weights do not match the student backbone.${blocking.length ? ` Missing: ${list(blocking)}.` : ''}${unexpectedKeys.length ? ` Unexpected: ${list(unexpectedKeys)}.` : ''}`);
    }
    this.student.backbone.loadStateDict(dict, { strict: false });
    this.copyStudentToTeacher();
    return { missingKeys, unexpectedKeys };
  }

  private copyStudentToTeacher(): void {
    tidy(() => { this.teacher.loadStateDict(this.student.stateDict()); });
  }

  /**
   * Everything a checkpoint needs besides the optimizer: `student.*`, `teacher.*` (dinov2 names,
   * views the caller owns), `dino_loss.center` (1, K), `ibot_patch_loss.center` (1, 1, K), and
   * their pending updates `*.center_pending` while one waits (copies the caller owns).
   */
  stateDict(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [side, m] of [['student', this.student], ['teacher', this.teacher]] as const) {
      for (const [k, t] of m.stateDict()) out.set(`${side}.${k}`, t);
    }
    for (const [prefix, c, shape] of this.centers()) {
      for (const [k, t] of c.stateDict()) {
        out.set(`${prefix}.${k === 'center' ? 'center' : 'center_pending'}`, t.reshape(shape));
        t.dispose();
      }
    }
    return out;
  }

  /** Restores stateDict(); every key is checked (names and shapes) before anything is written. */
  loadStateDict(dict: Map<string, Tensor> | Record<string, Tensor>): void {
    const src = dict instanceof Map ? dict : new Map(Object.entries(dict));
    const own = this.stateDict();
    try {
      const optional = (k: string) => k.endsWith('.center_pending');
      const missing = [...own.keys()].filter((k) => !src.has(k) && !optional(k));
      const unexpected = [...src.keys()].filter((k) => !own.has(k) && !(optional(k) && own.has(k.replace(/_pending$/, ''))));
      if (missing.length || unexpected.length) {
        throw new Error(`SSLMetaArch.loadStateDict: the state dict does not match.${missing.length ? ` Missing: ${missing.slice(0, 8).join(', ')}.` : ''}${unexpected.length ? ` Unexpected: ${unexpected.slice(0, 8).join(', ')}.` : ''}`);
      }
      for (const [k, t] of src) {
        const mine = own.get(k) ?? own.get(k.replace(/_pending$/, ''))!;
        if (!(t instanceof Tensor) || t.shape.length !== mine.shape.length || t.shape.some((s, i) => s !== mine.shape[i])) {
          throw new RangeError(`SSLMetaArch.loadStateDict: '${k}' has shape [${t instanceof Tensor ? t.shape.join(', ') : typeof t}] (expected [${mine.shape.join(', ')}])`);
        }
      }
    } finally {
      for (const t of own.values()) t.dispose();
    }
    for (const [side, m] of [['student', this.student], ['teacher', this.teacher]] as const) {
      const sub = new Map<string, Tensor>();
      for (const [k, t] of src) if (k.startsWith(`${side}.`)) sub.set(k.slice(side.length + 1), t);
      m.loadStateDict(sub);
    }
    for (const [prefix, c] of this.centers()) {
      const sub = new Map<string, Tensor>([['center', src.get(`${prefix}.center`)!]]);
      const pending = src.get(`${prefix}.center_pending`);
      if (pending) sub.set('pending', pending);
      c.loadStateDict(sub);
    }
  }

  private centers(): [string, CenterState, number[]][] {
    return [['dino_loss', this.dinoCenter, [1, this.dinoCenter.K]], ['ibot_patch_loss', this.ibotCenter, [1, 1, this.ibotCenter.K]]];
  }

  /** Frees every parameter, gradient and center. */
  dispose(): void {
    this.student.dispose();
    this.teacher.dispose();
    this.dinoCenter.dispose();
    this.ibotCenter.dispose();
  }
}
