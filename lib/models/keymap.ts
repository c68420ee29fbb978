// State-dict names: the original dinov2 names (ours, including chunked `blocks.{chunk}.{i}.*`)
// and the Hugging Face `Dinov2Model` names (separate q/k/v, `embeddings.*`, `encoder.layer.*`).
import { cat } from '../tensor/indexing.js';
import { Tensor } from '../tensor/tensor.js';

export type StateDict = Map<string, Tensor>;
export type NameFormat = 'dinov2' | 'hf';

const asMap = (d: StateDict | Record<string, Tensor>): StateDict => (d instanceof Map ? d : new Map(Object.entries(d)));

/** Which naming a state dict uses (HF when any key starts with embeddings./encoder./layernorm.). */
export function detectFormat(dict: StateDict | Record<string, Tensor>): NameFormat {
  for (const k of asMap(dict).keys()) {
    const s = k.replace(/^dinov2\./, '');
    if (s.startsWith('embeddings.') || s.startsWith('encoder.') || s.startsWith('layernorm.')) return 'hf';
  }
  return 'dinov2';
}

// HF per-layer suffix -> dinov2 per-block suffix (q/k/v are handled apart: they fuse into qkv)
const HF_LAYER: [string, string][] = [
  ['norm1.weight', 'norm1.weight'], ['norm1.bias', 'norm1.bias'],
  ['attention.output.dense.weight', 'attn.proj.weight'], ['attention.output.dense.bias', 'attn.proj.bias'],
  ['layer_scale1.lambda1', 'ls1.gamma'], ['norm2.weight', 'norm2.weight'], ['norm2.bias', 'norm2.bias'],
  ['mlp.fc1.weight', 'mlp.fc1.weight'], ['mlp.fc1.bias', 'mlp.fc1.bias'],
  ['mlp.fc2.weight', 'mlp.fc2.weight'], ['mlp.fc2.bias', 'mlp.fc2.bias'],
  ['mlp.weights_in.weight', 'mlp.w12.weight'], ['mlp.weights_in.bias', 'mlp.w12.bias'],
  ['mlp.weights_out.weight', 'mlp.w3.weight'], ['mlp.weights_out.bias', 'mlp.w3.bias'],
  ['layer_scale2.lambda1', 'ls2.gamma'],
];
const HF_TOP: [string, string][] = [
  ['embeddings.cls_token', 'cls_token'], ['embeddings.mask_token', 'mask_token'],
  ['embeddings.position_embeddings', 'pos_embed'], ['embeddings.register_tokens', 'register_tokens'],
  ['embeddings.patch_embeddings.projection.weight', 'patch_embed.proj.weight'],
  ['embeddings.patch_embeddings.projection.bias', 'patch_embed.proj.bias'],
  ['layernorm.weight', 'norm.weight'], ['layernorm.bias', 'norm.bias'],
];

/**
 * Converts any accepted naming to dinov2 names: HF names (fusing query/key/value into qkv;
 * the fused tensors are new and owned by the caller — see `created`), the `dinov2.` prefix, and
 * chunked blocks. Tensors are not copied except for the fused qkv.
 */
export function toDinov2Names(dict: StateDict | Record<string, Tensor>): { dict: StateDict; created: Tensor[] } {
  const src = asMap(dict);
  const out: StateDict = new Map();
  const created: Tensor[] = [];
  const qkv = new Map<string, Partial<Record<'query' | 'key' | 'value', Tensor>>>();
  const format = detectFormat(src);
  for (const [key, t] of src) {
    if (format === 'dinov2') {
      out.set(key.replace(/^blocks\.\d+\.(\d+)\./, 'blocks.$1.'), t);  // blocks.{chunk}.{i} -> blocks.{i}
      continue;
    }
    const k = key.replace(/^dinov2\./, '');
    const top = HF_TOP.find(([h]) => h === k);
    if (top) {
      out.set(top[1], t);
      continue;
    }
    const m = /^encoder\.layer\.(\d+)\.(.+)$/.exec(k);
    const qm = m && /^attention\.attention\.(query|key|value)\.(weight|bias)$/.exec(m[2]);
    if (m && qm) {
      const id = `blocks.${m[1]}.attn.qkv.${qm[2]}`;
      const parts = qkv.get(id) ?? {};
      parts[qm[1] as 'query' | 'key' | 'value'] = t;
      qkv.set(id, parts);
      continue;
    }
    const layer = m && HF_LAYER.find(([h]) => h === m[2]);
    out.set(layer ? `blocks.${m![1]}.${layer[1]}` : k, t);  // unknown keys pass through (reported by loadStateDict)
  }
  for (const [id, parts] of qkv) {
    if (!parts.query || !parts.key || !parts.value) {
      throw new Error(`loadStateDict: ${id.replace('qkv', 'attention.attention')} needs query, key and value (got ${Object.keys(parts).join(', ')})`);
    }
    const fused = cat([parts.query, parts.key, parts.value], 0);
    created.push(fused);
    out.set(id, fused);
  }
  return { dict: out, created };
}

/** Converts a dinov2-named state dict to HF names (qkv is split into query/key/value views). */
export function toHfNames(dict: StateDict): StateDict {
  const out: StateDict = new Map();
  for (const [k, t] of dict) {
    const top = HF_TOP.find(([, d]) => d === k);
    if (top) {
      out.set(top[0], t);
      continue;
    }
    const m = /^blocks\.(\d+)\.(.+)$/.exec(k);
    if (!m) {
      out.set(k, t);
      continue;
    }
    const qm = /^attn\.qkv\.(weight|bias)$/.exec(m[2]);
    if (qm) {
      const parts = t.chunk(3, 0);
      (['query', 'key', 'value'] as const).forEach((name, i) => {
        out.set(`encoder.layer.${m[1]}.attention.attention.${name}.${qm[1]}`, parts[i]);
      });
      continue;
    }
    const layer = HF_LAYER.find(([, d]) => d === m[2]);
    out.set(layer ? `encoder.layer.${m[1]}.${layer[0]}` : k, t);
  }
  return out;
}
