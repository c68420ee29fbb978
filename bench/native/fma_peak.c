/* Measures the machine's float32 FMA peak (the roofline ceiling the benchmarks quote).
 *
 * Build: gcc -O3 -mavx2 -mfma -pthread bench/native/fma_peak.c -o fma_peak
 * Usage: fma_peak threads   -> {"threads":n,"gflops":...}
 *   Each thread runs 12 independent chains of 8-wide FMAs (enough to cover FMA latency on
 *   current x86 cores) for a fixed count; GFLOP/s = 2 * 8 * FMAs / wall time, best of 5.
 *   On Zen 4, 256-bit and 512-bit FMAs have the same throughput (32 FLOP/cycle per core).
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

int main(int argc, char** argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 1;
  if (threads < 1 || threads > 256) return 2;
  pthread_t* tid = malloc(sizeof(pthread_t) * threads);
  float* sink = malloc(sizeof(float) * threads);
  double best = 1e30;
  for (int rep = 0; rep < 5; rep++) {
    double t0 = now_s();
    for (int t = 0; t < threads; t++) pthread_create(&tid[t], NULL, worker, &sink[t]);
    for (int t = 0; t < threads; t++) pthread_join(tid[t], NULL);
    double dt = now_s() - t0;
    if (dt < best) best = dt;
  }
  double flops = 2.0 * 8 * CHAINS * (double)ITERS * threads;
  printf("{\"threads\":%d,\"gflops\":%.1f}\n", threads, flops / best * 1e-9);
  free(tid);
  free(sink);
  return 0;
}
