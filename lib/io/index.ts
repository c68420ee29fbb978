// Weight-file I/O: safetensors reading and writing.
export {
  loadSafetensors, loadSafetensorsSync, parseSafetensors, saveSafetensors, saveSafetensorsSync, serializeSafetensors,
  SAFETENSORS_MAX_HEADER_BYTES,
} from './safetensors.js';
export type { LoadOptions, ParseOptions, SafetensorsData, TensorDict } from './safetensors.js';
