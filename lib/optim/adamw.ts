// AdamW with parameter groups, on the fused native kernel (one pass per parameter).
import { native } from '../tensor/native.js';
import { zerosLike } from '../tensor/creation.js';
import { keep } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';

export interface AdamWOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

export interface ParamGroup extends AdamWOptions {
  params: Tensor[];
  /** Free-form label (e.g. the group's role), kept for schedules and logs. */
  name?: string;
  /** Scheduling metadata read by applyOptimSchedule (param_groups.ts): lr and weight-decay factors, last-layer flag. */
  lrMultiplier?: number;
  wdMultiplier?: number;
  isLastLayer?: boolean;
}

type Group = Required<AdamWOptions> & Omit<ParamGroup, keyof AdamWOptions>;

interface State {
  step: number;
  expAvg: Tensor;
  expAvgSq: Tensor;
}

export class AdamW {
  readonly groups: Group[];
  private readonly state = new Map<Tensor, State>();

  constructor(params: Tensor[] | ParamGroup[], defaults: AdamWOptions = {}) {
    const d = { lr: 1e-3, betas: [0.9, 0.999] as [number, number], eps: 1e-8, weightDecay: 1e-2, ...defaults };
    const groups: ParamGroup[] = params.length > 0 && params[0] instanceof Tensor ? [{ params: params as Tensor[] }] : (params as ParamGroup[]);
    this.groups = groups.map((g) => ({ ...d, ...g }));
    for (const g of this.groups) {
      for (const p of g.params) {
        if (!(p instanceof Tensor)) throw new TypeError('AdamW: every parameter must be a Tensor');
        if (!p.requiresGrad) throw new Error('AdamW: a parameter does not require grad (mark it with requiresGrad_())');
      }
    }
  }

  /** One update of every parameter that has a gradient (PyTorch's AdamW). */
  step(): void {
    for (const g of this.groups) {
      for (const p of g.params) {
        if (!p.grad) continue;
        let s = this.state.get(p);
        if (!s) {
          s = { step: 0, expAvg: keep(zerosLike(p)), expAvgSq: keep(zerosLike(p)) };
          this.state.set(p, s);
        }
        s.step += 1;
        native.adamw(p.handle('AdamW.step'), p.grad.handle('AdamW.step'), s.expAvg.handle('AdamW.step'), s.expAvgSq.handle('AdamW.step'),
          g.lr, g.betas[0], g.betas[1], g.eps, g.weightDecay, s.step);
      }
    }
  }

  zeroGrad(): void {
    for (const g of this.groups) for (const p of g.params) p.grad = null;
  }

  /** The moments and step count of `param` (views the optimizer owns), or null before its first update. */
  getState(param: Tensor): { step: number; expAvg: Tensor; expAvgSq: Tensor } | null {
    const s = this.state.get(param);
    return s ? { step: s.step, expAvg: s.expAvg, expAvgSq: s.expAvgSq } : null;
  }

  /** Restores the state of `param` (e.g. from a checkpoint): the moments are copied, shapes checked. */
  setState(param: Tensor, state: { step: number; expAvg: Tensor; expAvgSq: Tensor }): void {
    if (!this.groups.some((g) => g.params.includes(param))) throw new Error('AdamW.setState: the tensor is not a parameter of this optimizer');
    if (!(Number.isInteger(state.step) && state.step >= 0)) throw new RangeError(`AdamW.setState: 'step' is ${state.step} (expected an integer >= 0)`);
    for (const k of ['expAvg', 'expAvgSq'] as const) {
      const t = state[k];
      if (t.shape.length !== param.shape.length || t.shape.some((d, i) => d !== param.shape[i])) {
        throw new RangeError(`AdamW.setState: '${k}' has shape [${t.shape.join(', ')}] (expected the parameter's [${param.shape.join(', ')}])`);
      }
    }
    let s = this.state.get(param);
    if (!s) {
      s = { step: 0, expAvg: keep(zerosLike(param)), expAvgSq: keep(zerosLike(param)) };
      this.state.set(param, s);
    }
    s.step = state.step;
    s.expAvg.copy_(state.expAvg);  // (from the CPU too, for parameters on 'cuda')
    s.expAvgSq.copy_(state.expAvgSq);
  }

  /** Frees the moment estimates. */
  dispose(): void {
    for (const s of this.state.values()) {
      s.expAvg.dispose();
      s.expAvgSq.dispose();
    }
    this.state.clear();
  }
}
