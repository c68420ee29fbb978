/* OpenBLAS sgemm yardstick for the library's benchmarks.
 *
 * Build: gcc -O2 bench/native/openblas_gemm.c -lopenblas -o openblas_gemm
 *        (Debian: apt-get install -y libopenblas-dev)
 * Usage: openblas_gemm M N K transA transB threads reps
 *   Row-major C[M x N] = A * B with cblas_sgemm. transA = 1: A is given as [K x M];
 *   transB = 1: B is given as [N x K] (C = A * W^T with W = [N x K]).
 *   Runs 3 warm-up calls, then `reps` timed calls, and prints one JSON line:
 *   {"median_ms":..., "min_ms":..., "gflops":...}   (gflops from the median time)
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int cmp_double(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

int main(int argc, char** argv) {
  if (argc != 8) {
    fprintf(stderr, "usage: %s M N K transA transB threads reps\n", argv[0]);
    return 2;
  }
  const int M = atoi(argv[1]), N = atoi(argv[2]), K = atoi(argv[3]);
  const int trans_a = atoi(argv[4]) != 0, trans_b = atoi(argv[5]) != 0;
  const int threads = atoi(argv[6]), reps = atoi(argv[7]);
  if (M <= 0 || N <= 0 || K <= 0 || threads <= 0 || reps <= 0) {
    fprintf(stderr, "M, N, K, threads and reps must be positive\n");
    return 2;
  }
  float* a = malloc(sizeof(float) * (size_t)M * K);
  float* b = malloc(sizeof(float) * (size_t)K * N);
  float* c = malloc(sizeof(float) * (size_t)M * N);
  double* times = malloc(sizeof(double) * reps);
  if (!a || !b || !c || !times) {
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  srand(1);
  for (size_t i = 0; i < (size_t)M * K; ++i) a[i] = (float)rand() / RAND_MAX - 0.5f;
  for (size_t i = 0; i < (size_t)K * N; ++i) b[i] = (float)rand() / RAND_MAX - 0.5f;

  openblas_set_num_threads(threads);
  const int lda = trans_a ? M : K, ldb = trans_b ? K : N;
  const enum CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
  const enum CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
  for (int i = 0; i < 3; ++i) {
    cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, 1.0f, a, lda, b, ldb, 0.0f, c, N);
  }
  for (int i = 0; i < reps; ++i) {
    const double t0 = now_ms();
    cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, 1.0f, a, lda, b, ldb, 0.0f, c, N);
    times[i] = now_ms() - t0;
  }
  qsort(times, reps, sizeof(double), cmp_double);
  const double median = reps % 2 ? times[reps / 2] : 0.5 * (times[reps / 2 - 1] + times[reps / 2]);
  const double gflops = 2.0 * M * N * K / (median * 1e-3) * 1e-9;
  printf("{\"median_ms\":%.4f, \"min_ms\":%.4f, \"gflops\":%.2f}\n", median, times[0], gflops);
  free(a);
  free(b);
  free(c);
  free(times);
  return 0;
}
