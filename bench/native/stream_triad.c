/* STREAM-style triad a[i] = b[i] + s * c[i] over float arrays far larger than the caches: the
 * memory-bandwidth ceiling the element-wise benchmarks quote.
 *
 * Build: gcc -O2 -pthread bench/native/stream_triad.c -o stream_triad
 * Usage: stream_triad threads [MiB per array = 256] -> {"threads":n,"gbps":...}
 *   Bytes counted as STREAM does: 3 arrays x 4 bytes per element per pass (no write-allocate
 *   traffic); best of 10 passes after first touching the arrays on their threads.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long n;
static float *a, *b, *c;
static int threads;
static pthread_barrier_t barrier;
static double best = 1e30;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void* worker(void* arg) {
  long t = (long)arg, lo = n * t / threads, hi = n * (t + 1) / threads;
  for (long i = lo; i < hi; i++) { a[i] = 0; b[i] = 1; c[i] = 2; }
  for (int rep = 0; rep < 10; rep++) {
    pthread_barrier_wait(&barrier);
    double t0 = now_s();
    const float s = 3.0f;
    for (long i = lo; i < hi; i++) a[i] = b[i] + s * c[i];
    pthread_barrier_wait(&barrier);
    if (t == 0) {
      double dt = now_s() - t0;
      if (dt < best) best = dt;
    }
  }
  return NULL;
}

int main(int argc, char** argv) {
  threads = argc > 1 ? atoi(argv[1]) : 1;
  long mib = argc > 2 ? atol(argv[2]) : 256;
  if (threads < 1 || threads > 256 || mib < 1) return 2;
  n = mib * 1024 * 1024 / 4;
  a = malloc(n * 4);
  b = malloc(n * 4);
  c = malloc(n * 4);
  pthread_barrier_init(&barrier, NULL, threads);
  pthread_t* tid = malloc(sizeof(pthread_t) * threads);
  for (long t = 0; t < threads; t++) pthread_create(&tid[t], NULL, worker, (void*)t);
  for (int t = 0; t < threads; t++) pthread_join(tid[t], NULL);
  printf("{\"threads\":%d,\"gbps\":%.2f}\n", threads, 3.0 * 4 * n / best * 1e-9);
  return a[n / 2] == 7.0f ? 0 : 1;
}
