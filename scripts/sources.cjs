// The one source manifest of the native addon: binding.gyp and CMakeLists.txt both ask this
// script for their file lists, so the two builds cannot drift apart.
//   node scripts/sources.cjs cpu [--cmake]   sources of the CPU addon (core + cpu + napi)
//   node scripts/sources.cjs cuda [--cmake]  sources of the CUDA backend library (cuda + the pure core files)
'use strict';

const core = ['dtype', 'error', 'storage', 'tensor', 'backend', 'cuda_loader', 'ops', 'ops_index', 'ops_nn', 'ops_random', 'ops_util'];
const cpu = [
  'threadpool', 'cpu_features', 'allocator', 'stream', 'backend', 'copy', 'elementwise', 'elementwise_avx2', 'elementwise_avx512',
  'reduce', 'softmax', 'layernorm', 'attention', 'attention_avx2', 'attention_avx512', 'interpolate', 'index', 'sort', 'random', 'optim', 'matmul', 'gemm', 'gemm_generic', 'gemm_avx2', 'gemm_avx512', 'gemm_bf16', 'gemm_bf16_avx512',
];
const cuda = ['runtime', 'copy', 'elementwise', 'reduce', 'softmax', 'layernorm', 'matmul', 'optim', 'attention', 'random', 'index', 'argreduce'];
const napi = ['addon', 'convert', 'tensor_wrap', 'ops'];

const lists = {
  cpu: [
    ...core.map((f) => `native/core/${f}.cc`),
    ...cpu.map((f) => `native/cpu/${f}.cc`),
    ...napi.map((f) => `native/napi/${f}.cc`),
  ],
  // The core files here are pure functions (no registry, no allocator): the library may not use
  // anything else of the core (core/cuda_abi.h).
  cuda: [
    ...['dtype', 'error'].map((f) => `native/core/${f}.cc`),
    ...cuda.map((f) => `native/cuda/${f}.cu`),
  ],
};

const which = process.argv[2] || 'cpu';
if (!(which in lists)) {
  console.error(`sources.cjs: unknown list '${which}' (expected one of ${Object.keys(lists).join(', ')})`);
  process.exit(1);
}
// CMake reads a ';'-separated list, gyp a whitespace-separated one.
process.stdout.write(lists[which].join(process.argv[3] === '--cmake' ? ';' : ' '));
