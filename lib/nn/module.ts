// Module: named parameters, buffers and submodules with PyTorch's state-dict semantics.
// Parameters mean gradients: importing nn registers every gradient rule, so code that imports a
// model module directly (not through the package index) can call backward().
import '../autograd/index.js';
import { noGrad } from '../autograd/engine.js';
import { keep } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';

/**
 * A trainable tensor: a leaf view of `data` with requiresGrad, not tracked by tidy() scopes (like
 * torch.nn.Parameter). Modules register theirs with `param()`.
 */
export function Parameter(data: Tensor): Tensor {
  return keep(data.detach()).requiresGrad_();
}

export interface LoadResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

export abstract class Module {
  training = true;
  private readonly params = new Map<string, Tensor | null>();
  private readonly buffers = new Map<string, Tensor | null>();
  private readonly modules = new Map<string, Module | null>();

  /** Registers a trainable tensor: it becomes a leaf with requiresGrad, owned by the module. */
  protected param(name: string, t: Tensor | null): Tensor {
    if (t) {
      keep(t);
      if (t.isLeaf) t.requiresGrad = true;
    }
    this.params.set(name, t);
    return t as Tensor;
  }
  /** Registers a non-trainable tensor saved in the state dict (e.g. a running statistic). */
  protected buffer(name: string, t: Tensor | null): Tensor {
    if (t) keep(t);
    this.buffers.set(name, t);
    return t as Tensor;
  }
  protected module<M extends Module | null>(name: string, m: M): M {
    this.modules.set(name, m);
    return m;
  }

  *namedParameters(prefix = ''): Generator<[string, Tensor]> {
    for (const [n, p] of this.params) if (p) yield [prefix + n, p];
    for (const [n, m] of this.modules) if (m) yield* m.namedParameters(`${prefix}${n}.`);
  }
  parameters(): Tensor[] {
    return [...this.namedParameters()].map(([, p]) => p);
  }
  *namedBuffers(prefix = ''): Generator<[string, Tensor]> {
    for (const [n, b] of this.buffers) if (b) yield [prefix + n, b];
    for (const [n, m] of this.modules) if (m) yield* m.namedBuffers(`${prefix}${n}.`);
  }
  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix.replace(/\.$/, ''), this];
    for (const [n, m] of this.modules) if (m) yield* m.namedModules(`${prefix}${n}.`);
  }
  children(): Module[] {
    return [...this.modules.values()].filter((m): m is Module => m !== null);
  }
  numParameters(): number {
    return this.parameters().reduce((n, p) => n + p.numel(), 0);
  }

  /** The module's own parameters and buffers by dotted name. */
  protected ownTensors(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [n, p] of this.namedParameters()) out.set(n, p);
    for (const [n, b] of this.namedBuffers()) out.set(n, b);
    return out;
  }

  /**
   * Parameters and buffers by dotted name, as detached views sharing the module's storage: the
   * caller owns them (dispose them, or create them inside tidy()); they see later updates.
   */
  stateDict(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [n, t] of this.ownTensors()) out.set(n, t.detach());
    return out;
  }

  /**
   * Copies tensors into the module's parameters and buffers (by name, converting dtype).
   * With strict (default) any missing or unexpected key, or any shape mismatch, is an error;
   * otherwise the keys are reported. Shape mismatches are always errors.
   */
  loadStateDict(dict: Map<string, Tensor> | Record<string, Tensor>, opts: { strict?: boolean } = {}): LoadResult {
    const src = dict instanceof Map ? dict : new Map(Object.entries(dict));
    const own = this.ownTensors();
    const missingKeys = [...own.keys()].filter((k) => !src.has(k));
    const unexpectedKeys = [...src.keys()].filter((k) => !own.has(k));
    if ((opts.strict ?? true) && (missingKeys.length || unexpectedKeys.length)) {
      const part = (name: string, ks: string[]) => (ks.length ? ` ${name} keys: ${ks.slice(0, 8).join(', ')}${ks.length > 8 ? `, ... (${ks.length})` : ''}.` : '');
      throw new Error(`loadStateDict: the state dict does not match the module.${part('missing', missingKeys)}${part('unexpected', unexpectedKeys)}`);
    }
    for (const [k, t] of own) {
      const v = src.get(k);
      if (!v) continue;
      if (v.shape.length !== t.shape.length || v.shape.some((s, i) => s !== t.shape[i])) {
        throw new RangeError(`loadStateDict: '${k}' has shape [${v.shape.join(', ')}] (expected [${t.shape.join(', ')}])`);
      }
    }
    noGrad(() => {
      for (const [k, t] of own) {
        const v = src.get(k);
        if (v) t.copy_(v);  // (also from another device: a checkpoint read on the CPU into a model on 'cuda')
      }
    });
    return { missingKeys, unexpectedKeys };
  }

  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }
  eval(): this {
    return this.train(false);
  }
  /** Calls fn on every module, children first (like torch's apply). */
  apply(fn: (m: Module) => void): this {
    for (const c of this.children()) c.apply(fn);
    fn(this);
    return this;
  }
  /**
   * Moves every parameter and buffer (and their gradients) to `device` in place — the tensor
   * objects stay the same, so fields and optimizers that hold them keep working; optimizer state
   * made before the move stays where it was, so move the model first. Returns this.
   */
  to(device: string): this {
    for (const [, m] of this.namedModules()) m.moveOwnTensors(device);
    return this;
  }

  /** Moves this module's own parameters and buffers (not its children's); subclasses holding other tensors move them too. */
  protected moveOwnTensors(device: string): void {
    for (const t of this.params.values()) t?._moveTo(device);
    for (const t of this.buffers.values()) t?._moveTo(device);
  }

  /** The device of the first parameter ('cpu' for a module without parameters). */
  get device(): string {
    for (const [, t] of this.namedParameters()) return t.device;
    return 'cpu';
  }

  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }
  /** Frees every parameter, buffer and gradient. */
  dispose(): void {
    for (const p of this.parameters()) p.dispose();
    for (const [, b] of this.namedBuffers()) b.dispose();
  }
}
