// Building a DinoVisionTransformer from a Hugging Face `config.json` (Dinov2Model and
// Dinov2WithRegistersModel).
import { readFileSync } from 'node:fs';
import { DinoV2Config, DinoVisionTransformer } from './dinov2.js';

/** The fields of a Hugging Face Dinov2 config.json that shape the model. */
export interface HfDinov2Config {
  model_type?: string;
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  mlp_ratio?: number;
  image_size?: number;
  patch_size?: number;
  num_channels?: number;
  qkv_bias?: boolean;
  layerscale_value?: number;
  drop_path_rate?: number;
  use_swiglu_ffn?: boolean;
  layer_norm_eps?: number;
  hidden_act?: string;
  num_register_tokens?: number;
}

/** Our config for a Hugging Face Dinov2 config (errors name the unsupported field). */
export function configFromHf(hf: HfDinov2Config): Partial<DinoV2Config> {
  const need = (k: keyof HfDinov2Config) => {
    if (typeof hf[k] !== 'number') throw new TypeError(`configFromHf: field '${k}' must be a number (got ${JSON.stringify(hf[k])})`);
    return hf[k] as number;
  };
  if (hf.model_type && !['dinov2', 'dinov2_with_registers'].includes(hf.model_type)) {
    throw new TypeError(`configFromHf: model_type '${hf.model_type}' is not a DINOv2 model (expected dinov2 or dinov2_with_registers)`);
  }
  if (hf.hidden_act && hf.hidden_act !== 'gelu') {
    throw new TypeError(`configFromHf: hidden_act '${hf.hidden_act}' is not supported (expected 'gelu')`);
  }
  const withRegisters = hf.model_type === 'dinov2_with_registers';
  return {
    embedDim: need('hidden_size'),
    depth: need('num_hidden_layers'),
    numHeads: need('num_attention_heads'),
    mlpRatio: hf.mlp_ratio ?? 4,
    imgSize: hf.image_size ?? 518,
    patchSize: hf.patch_size ?? 14,
    inChans: hf.num_channels ?? 3,
    qkvBias: hf.qkv_bias ?? true,
    initValues: hf.layerscale_value ?? 1,
    dropPathRate: hf.drop_path_rate ?? 0,
    ffnLayer: hf.use_swiglu_ffn ? 'swiglufused' : 'mlp',
    layerNormEps: hf.layer_norm_eps ?? 1e-6,
    numRegisterTokens: hf.num_register_tokens ?? 0,
    // HF's Dinov2 resizes by scale factor with the 0.1 offset; the with-registers model resizes
    // by size with antialiasing, as the dinov2 register hub models do.
    interpolateOffset: withRegisters ? 0 : 0.1,
    interpolateAntialias: withRegisters,
  };
}

/** A model shaped by a config.json object or file path (weights are loaded separately). */
export function fromHfConfig(config: HfDinov2Config | string, overrides: Partial<DinoV2Config> = {}): DinoVisionTransformer {
  const hf = typeof config === 'string' ? (JSON.parse(readFileSync(config, 'utf8')) as HfDinov2Config) : config;
  return new DinoVisionTransformer({ ...configFromHf(hf), ...overrides });
}
