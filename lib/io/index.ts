// Weight-file I/O: safetensors reading and writing.
export {
  loadSafetensors, loadSafetensorsSync, parseSafetensors, saveSafetensors, saveSafetensorsSync, serializeSafetensors,
} from './safetensors.js';
export { SAFETENSORS_MAX_HEADER_BYTES } from './safetensors_format.js';
export type { LoadOptions, ParseOptions, SafetensorsData, TensorDict } from './safetensors_format.js';
export { loadCheckpoint, saveCheckpoint, writeFileAtomicSync } from './checkpoint.js';
export type { Checkpoint } from './checkpoint.js';
