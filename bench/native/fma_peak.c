/* Measures the machine's float32 FMA peak (the roofline ceiling the benchmarks quote).
 *
 * Build: gcc -O3 -mavx2 -mfma -pthread bench/native/fma_peak.c -o fma_peak
 * Usage: fma_peak threads [bf16]   -> {"threads":n,"gflops":...}
 *   Each thread runs 12 independent chains of 8-wide FMAs (enough to cover FMA latency on
 *   current x86 cores) for a fixed count; GFLOP/s = 2 * 8 * FMAs / wall time, best of 5.
 *   On Zen 4, 256-bit and 512-bit FMAs have the same throughput (32 FLOP/cycle per core).
 *   With "bf16": the same with vdpbf16ps (AVX512-BF16: 16 lanes x 2 bf16 products, 64 FLOP per
 *   instruction), the ceiling of bf16 GEMMs; {"gflops":0} where the CPU lacks it.
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CHAINS 12
#define ITERS 20000000L

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void* worker(void* out) {
  __m256 acc[CHAINS];
  const __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f);
  for (int c = 0; c < CHAINS; c++) acc[c] = _mm256_set1_ps((float)c);
  for (long i = 0; i < ITERS; i++) {
#pragma GCC unroll 12
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm256_fmadd_ps(acc[c], m, a);
  }
  float sum = 0;
  for (int c = 0; c < CHAINS; c++) sum += _mm256_cvtss_f32(acc[c]);
  *(float*)out = sum;  /* keep the result alive */
  return NULL;
}

__attribute__((target("avx512f,avx512bf16"))) static void* worker_bf16(void* out) {
  __m512 acc[CHAINS];
  const __m512bh m = (__m512bh)_mm512_set1_epi32(0x3f803f80), a = (__m512bh)_mm512_set1_epi32(0x33d633d6);
  for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_set1_ps((float)c);
  for (long i = 0; i < ITERS; i++) {
#pragma GCC unroll 12
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_dpbf16_ps(acc[c], m, a);
  }
  float sum = 0;
  for (int c = 0; c < CHAINS; c++) sum += _mm512_reduce_add_ps(acc[c]);
  *(float*)out = sum;
  return NULL;
}

int main(int argc, char** argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 1;
  int bf16 = argc > 2 && argv[2][0] == 'b';
  if (bf16 && !__builtin_cpu_supports("avx512bf16")) {
    printf("{\"threads\":%d,\"gflops\":0}\n", threads);
    return 0;
  }
  if (threads < 1 || threads > 256) return 2;
  pthread_t* tid = malloc(sizeof(pthread_t) * threads);
  float* sink = malloc(sizeof(float) * threads);
  double best = 1e30;
  for (int rep = 0; rep < 5; rep++) {
    double t0 = now_s();
    for (int t = 0; t < threads; t++) pthread_create(&tid[t], NULL, bf16 ? worker_bf16 : worker, &sink[t]);
    for (int t = 0; t < threads; t++) pthread_join(tid[t], NULL);
    double dt = now_s() - t0;
    if (dt < best) best = dt;
  }
  double flops = (bf16 ? 64.0 : 16.0) * CHAINS * (double)ITERS * threads;
  printf("{\"threads\":%d,\"gflops\":%.1f}\n", threads, flops / best * 1e-9);
  free(tid);
  free(sink);
  return 0;
}
