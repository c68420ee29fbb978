// Reverse-mode autograd: a tape of nodes built as ops run, walked in reverse topological order
// by backward(). Gradient rules are registered once per op (rules_*.ts) and shared by every
// backend; a rule says what the node must save and how to turn the output gradient into input
// gradients. Parameters (leaf tensors with requiresGrad) accumulate into .grad; activations do
// not. Saved tensors are views owned by the node (they survive the user disposing the
// originals) and are freed when backward() has used them.
import { native } from '../tensor/native.js';
import { keep, tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';

export interface GradContext {
  /** The tensors the rule's save() chose (views owned by the node). */
  saved: Tensor[];
  /** Op attributes given to record(). */
  attrs: Record<string, unknown>;
  /** Shapes and dtypes of the inputs and of the output. */
  inputShapes: (readonly number[])[];
  inputDtypes: string[];
  outShape: readonly number[];
  /** Whether input i needs a gradient (rules may skip work for the others). */
  needs: boolean[];
}

export interface GradRule {
  /** The tensors to keep for backward, from the op's inputs and output. */
  save?: (inputs: (Tensor | null)[], out: Tensor, attrs: Record<string, unknown>) => (Tensor | null)[];
  /** Gradients with respect to each input (null where none flows or none is needed). */
  backward: (ctx: GradContext, grad: Tensor) => (Tensor | null)[];
}

const rules = new Map<string, GradRule>();

export function registerGradient(op: string, rule: GradRule): void {
  if (rules.has(op)) throw new Error(`registerGradient: a rule for '${op}' already exists`);
  rules.set(op, rule);
}

export function hasGradient(op: string): boolean {
  return rules.has(op);
}

interface Edge {
  node: Node | null;  // the op that produced a non-leaf input
  leaf: Tensor | null;  // a leaf input that requires grad
}

export class Node {
  freed = false;
  constructor(
    readonly op: string,
    readonly rule: GradRule,
    readonly edges: (Edge | null)[],
    readonly ctx: GradContext,
  ) {}
  free(): void {
    for (const t of this.ctx.saved) t?.dispose();
    this.ctx.saved = [];
    this.freed = true;
  }
}

// ---- grad mode ------------------------------------------------------------------------------
let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn without recording the tape (inference, optimizer updates). */
export function noGrad<R>(fn: () => R): R {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Runs fn with recording on (inside a noGrad region). */
export function enableGrad<R>(fn: () => R): R {
  const prev = gradEnabled;
  gradEnabled = true;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

// ---- recording ------------------------------------------------------------------------------
let wrapFn: ((h: import('../tensor/native.js').NativeTensor) => Tensor) | null = null;
/** @internal Set by tensor.ts to break the import cycle. */
export function setWrap(fn: (h: import('../tensor/native.js').NativeTensor) => Tensor): void {
  wrapFn = fn;
}

/** A view of t that the node owns: untracked by tidy scopes, freed with the node. */
function ownView(t: Tensor): Tensor {
  return keep(wrapFn!(native.reshape(t.handle('autograd: save'), t.shape as number[])));
}

/**
 * Attaches a node for `op` to `out` when grad mode is on and an input requires grad; returns
 * out. `inputs` are the op's tensor operands in the rule's order (null for non-tensor operands).
 */
export function record(op: string, out: Tensor, inputs: (Tensor | null)[], attrs: Record<string, unknown> = {}): Tensor {
  if (!gradEnabled) return out;
  let any = false;
  for (const t of inputs) if (t !== null && t.requiresGrad) any = true;
  if (!any) return out;
  const rule = rules.get(op);
  if (rule === undefined) {
    throw new Error(`${op}: this op has no gradient rule (wrap the call in noGrad() or detach() its inputs)`);
  }
  const saved = (rule.save ? rule.save(inputs, out, attrs) : []).map((t) => (t ? ownView(t) : (null as unknown as Tensor)));
  const ctx: GradContext = {
    saved,
    attrs,
    inputShapes: inputs.map((t) => (t ? t.shape : [])),
    inputDtypes: inputs.map((t) => (t ? t.dtype : '')),
    outShape: out.shape,
    needs: inputs.map((t) => t !== null && t.requiresGrad),
  };
  const edges = inputs.map((t): Edge | null => {
    if (t === null || !t.requiresGrad) return null;
    return t._node ? { node: t._node, leaf: null } : { node: null, leaf: t };
  });
  out._node = new Node(op, rule, edges, ctx);
  return out;
}

// ---- backward -------------------------------------------------------------------------------
function addInto(a: Tensor, b: Tensor): Tensor {
  return wrapFn!(native.binary('add', a.handle('backward: accumulate'), b.handle('backward: accumulate')));
}

function materialise(g: Tensor, shape: readonly number[], dtype: string): Tensor {
  // Leaf gradients are stored contiguous, in the leaf's dtype.
  let h = native.contiguous(g.handle('backward'));
  if (h.dtype !== dtype) {
    const c = native.cast(h, dtype);
    h.dispose();
    h = c;
  }
  const out = wrapFn!(h);
  if (out.shape.length !== shape.length || out.shape.some((s, i) => s !== shape[i])) {
    out.dispose();
    throw new Error(`backward: a gradient of shape [${g.shape.join(', ')}] reached a tensor of shape [${shape.join(', ')}] (a gradient rule is inconsistent)`);
  }
  return out;
}

/**
 * Back-propagates from `root`: grad defaults to 1 for a one-element root. Gradients of leaf
 * tensors with requiresGrad are added into their .grad; the graph is freed afterwards.
 */
export function backward(root: Tensor, grad?: Tensor): void {
  if (!root.requiresGrad) throw new Error('backward: the tensor does not require grad (no op on its path had an input with requiresGrad)');
  if (grad === undefined && root.numel() !== 1) {
    throw new Error(`backward: argument 'grad' is required for a non-scalar output of shape [${root.shape.join(', ')}]`);
  }
  if (grad !== undefined && (grad.shape.length !== root.shape.length || grad.shape.some((s, i) => s !== root.shape[i]))) {
    throw new RangeError(`backward: argument 'grad' has shape [${grad.shape.join(', ')}] (expected [${root.shape.join(', ')}], the output's)`);
  }
  const seed = grad ? wrapFn!(native.reshape(grad.handle('backward'), grad.shape as number[]))
    : wrapFn!(native.full(root.shape as number[], 1, root.dtype, root.device));
  keep(seed);
  const prev = gradEnabled;
  gradEnabled = false;  // no higher-order graphs
  try {
    if (root._node === null) {  // a leaf: its own gradient
      accumulateLeaf(root, seed);
      return;
    }
    if (root._node.freed) {
      throw new Error('backward: the graph was already freed by an earlier backward() (build the forward again)');
    }
    const order = topoOrder(root._node);
    const grads = new Map<Node, Tensor>();
    grads.set(root._node, seed);
    for (const node of order) {
      const g = grads.get(node);
      grads.delete(node);
      if (g === undefined) {
        node.free();
        continue;
      }
      let inGrads: (Tensor | null)[];
      try {
        // The rule's temporaries die with this scope; what it returns survives.
        inGrads = tidy(() => node.rule.backward(node.ctx, g));
        // A rule may pass g through or return one tensor for two inputs: give each its own view.
        const seen = new Set<Tensor>([g]);
        inGrads = inGrads.map((t) => {
          if (!t) return t;
          const own = seen.has(t) ? wrapFn!(native.reshape(t.handle('backward'), t.shape as number[])) : t;
          seen.add(t);
          return own;
        });
      } finally {
        g.dispose();
        node.free();
      }
      node.edges.forEach((edge, i) => {
        const gi = inGrads[i];
        if (!gi) return;
        if (!edge) {
          gi.dispose();
          return;
        }
        keep(gi);
        if (edge.leaf) {
          accumulateLeaf(edge.leaf, gi);
          return;
        }
        const prevG = grads.get(edge.node!);
        if (prevG) {
          grads.set(edge.node!, keep(addInto(prevG, gi)));
          prevG.dispose();
          gi.dispose();
        } else {
          grads.set(edge.node!, gi);
        }
      });
    }
    for (const g of grads.values()) g.dispose();
  } finally {
    gradEnabled = prev;
  }
}

function accumulateLeaf(leaf: Tensor, g: Tensor): void {
  const m = keep(materialise(g, leaf.shape, leaf.dtype));
  g.dispose();
  if (leaf.grad && !leaf.grad.isDisposed) {
    const sum = keep(addInto(leaf.grad, m));
    leaf.grad.dispose();
    m.dispose();
    leaf.grad = sum;
  } else {
    leaf.grad = m;
  }
}

/** Nodes reachable from root, each after every node that consumes its output. */
function topoOrder(root: Node): Node[] {
  const order: Node[] = [];
  const state = new Map<Node, number>();  // 1 = visiting, 2 = done
  const stack: [Node, number][] = [[root, 0]];
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [node, i] = top;
    if (i === 0) {
      if (state.get(node) === 2) { stack.pop(); continue; }
      state.set(node, 1);
    }
    if (i < node.edges.length) {
      top[1] = i + 1;
      const e = node.edges[i];
      if (e && e.node && !state.has(e.node)) {
        if (e.node.freed) throw new Error('backward: part of the graph was already freed by an earlier backward()');
        stack.push([e.node, 0]);
      }
    } else {
      state.set(node, 2);
      order.push(node);
      stack.pop();
    }
  }
  return order.reverse();
}
