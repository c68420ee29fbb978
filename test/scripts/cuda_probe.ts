// Child process for cuda_loader.test.ts: points the addon at the library paths given in argv,
// asks for a CUDA tensor and prints what happened as JSON (the process must survive).
import { cudaInfo, zeros } from '../../lib/index.js';
import { native } from '../../lib/tensor/native.js';

native.setCudaLibraryPaths(process.argv.slice(2));
const info = cudaInfo();
let thrown: { name: string; code?: string; message: string } | null = null;
let sum: number | null = null;
try {
  const t = zeros([4], { device: 'cuda' });
  sum = t.add(1).sum().item();
} catch (e) {
  const err = e as Error & { code?: string };
  thrown = { name: err.constructor.name, code: err.code, message: err.message };
}
console.log(JSON.stringify({ info, thrown, sum }));
