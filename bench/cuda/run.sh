#!/usr/bin/env bash
# One call on the GPU machine: build the CUDA backend, run the CUDA tests, bench bf16 GEMMs
# against torch.matmul and flash attention against SDPA's flash backend, print the tables last.
# BENCH=gemm|attention|all (default all) picks the benches; CUDA_ARCHS (default the CMakeLists'
# sm_80 + sm_90 + PTX) may narrow the build to save device time, e.g. CUDA_ARCHS=90-real. Run from the repository root. Expects node on
# PATH (or .device/node.xz), node_modules, and the CPU addon in build/Release (built here when
# missing). Logs go to $OUT when set.
set -uo pipefail
OUT=${OUT:-/tmp/raddino-cuda-out}; mkdir -p "$OUT"
if ! command -v node >/dev/null && [ -f .device/node.xz ]; then
  mkdir -p /tmp/nodebin && xz -dc .device/node.xz > /tmp/nodebin/node && chmod +x /tmp/nodebin/node
  export PATH=/tmp/nodebin:$PATH
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
date -u +%Y-%m-%dT%H:%MZ | tee -a "$OUT/gpu.txt"
[ -f build/Release/raddino.node ] || node node_modules/.bin/cmake-js compile >"$OUT/addon_build.log" 2>&1 || { tail -30 "$OUT/addon_build.log"; exit 1; }
# cmake directly (same CMakeLists as npm run build:cuda, which wraps it in cmake-js)
cmake -S . -B build-cuda -G Ninja -DRADDINO_CUDA=ON -DCMAKE_BUILD_TYPE=Release ${CUDA_ARCHS:+-DCMAKE_CUDA_ARCHITECTURES=$CUDA_ARCHS} >"$OUT/cuda_build.log" 2>&1 &&
  cmake --build build-cuda -j 16 >>"$OUT/cuda_build.log" 2>&1 || { tail -40 "$OUT/cuda_build.log"; exit 1; }
grep "raddino CUDA" "$OUT/cuda_build.log"
ls -la build-cuda/Release/libraddino_cuda.so
node_modules/.bin/vitest run ${TESTS:-test/cuda_loader.test.ts test/cuda_runtime.test.ts test/cuda_parity.test.ts test/cuda_attention.test.ts test/cuda_random.test.ts test/errors.test.ts test/autograd.test.ts} >"$OUT/tests.log" 2>&1; trc=$?
grep -E "✗|×|FAIL|AssertionError|Error:" "$OUT/tests.log" | head -40
grep -E "Test Files|Tests " "$OUT/tests.log"
grep -E "^attention .*relative errors" "$OUT/tests.log" | sed 's/^/  /' | head -40
BENCH=${BENCH:-all}
# Interleaved, two runs of each (clocks drift over a run); the tables take each one's best.
if [ "$BENCH" = all ] || [ "$BENCH" = gemm ]; then
  { python3 bench/cuda/gemm_torch.py; node --import tsx bench/cuda/gemm.ts; python3 bench/cuda/gemm_torch.py; node --import tsx bench/cuda/gemm.ts; } 2>&1 | tee "$OUT/bench.jsonl"
fi
if [ "$BENCH" = all ] || [ "$BENCH" = attention ]; then
  { python3 bench/cuda/attention_torch.py; node --import tsx bench/cuda/attention.ts; python3 bench/cuda/attention_torch.py; node --import tsx bench/cuda/attention.ts; } 2>&1 | tee "$OUT/bench_attention.jsonl"
fi
echo; cat "$OUT/gpu.txt"
[ -f "$OUT/bench.jsonl" ] && node bench/cuda/table.cjs < "$OUT/bench.jsonl" | tee "$OUT/table.md"
[ -f "$OUT/bench_attention.jsonl" ] && node bench/cuda/attention_table.cjs < "$OUT/bench_attention.jsonl" | tee "$OUT/table_attention.md"
exit $trc
