// Development and benchmark driver for raddino::cpu::sgemm / dgemm (native/cpu/gemm*.cc).
//
// Build (from the repository root; needs Debian's libopenblas-dev as a yardstick only):
//   g++ -O3 -std=c++17 -pthread -I native bench/native/gemm_harness.cc native/cpu/gemm*.cc
//       native/cpu/cpu_features.cc native/cpu/threadpool.cc -lopenblas -o /tmp/gemm_harness
// Run:
//   /tmp/gemm_harness            correctness for every ISA (generic, avx2, avx512; each one in
//                                a child process with RADDINO_ISA set), then the benchmark
//   /tmp/gemm_harness check      correctness for the ISA selected by RADDINO_ISA (or the CPU)
//   /tmp/gemm_harness bench [filter]   benchmark only (shapes whose name contains filter)
// Environment: GEMM_PEAK_GFLOPS (per-thread float32 FMA peak used for "% of peak"; default 115,
// measured on the 2-core Zen 4 development machine), GEMM_BENCH_SECONDS (time per
// library/shape/thread-count measurement round, default 0.4).
//
// Correctness: odd shapes, every stride layout of A and B (row-major, column-major, general
// strides on both axes), beta 0 (C pre-filled with NaN) and 1, with and without bias, 1 and 2
// threads, checked against a double-precision reference with a K-dependent error bound; also
// checks that 1 and 2 threads give bitwise identical results.
//
// Benchmark: ours vs OpenBLAS cblas_sgemm (row-major) in the same process, 1 and 2 threads.
// Each measurement alternates rounds of the two libraries (with a pause between them so that
// the other library's spinning threads have gone to sleep) and reports medians of all calls.
// The "other" column is the share of the machine's CPU time used by other processes (and
// stolen by the hypervisor) during the measurement; a row above 5% is measured again (up to 4
// tries, the least disturbed one is printed) since it compares libraries on a busy machine.
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cpu/gemm.h"
#include "cpu/threadpool.h"
#include "harness_util.h"

namespace {

using namespace harness;  // harness_util.h: timing, "other" CPU share, check_in_child
using raddino::cpu::dgemm;
using raddino::cpu::sgemm;

// ---------------------------------------------------------------------------------------------
// Correctness

// A matrix view stored in a buffer with arbitrary strides.
enum class Layout { kRowMajor, kColMajor, kStrided };
const char* layout_name(Layout l) {
  return l == Layout::kRowMajor ? "row" : l == Layout::kColMajor ? "col" : "strided";
}

template <typename T>
struct Strided {
  std::vector<T> buf;
  int64_t rs = 0, cs = 0;
  const T* data() const { return buf.data(); }
  T at(int64_t r, int64_t c) const { return buf[r * rs + c * cs]; }
};

template <typename T>
Strided<T> make_matrix(int64_t rows, int64_t cols, Layout l, std::mt19937& rng) {
  Strided<T> m;
  if (l == Layout::kRowMajor) {
    m.rs = cols;
    m.cs = 1;
  } else if (l == Layout::kColMajor) {
    m.rs = 1;
    m.cs = rows;
  } else {
    m.cs = 3;
    m.rs = cols * 3 + 2;
  }
  const int64_t size = std::max<int64_t>(1, (rows - 1) * m.rs + (cols - 1) * m.cs + 1);
  m.buf.resize(size);
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  for (auto& v : m.buf) v = static_cast<T>(dist(rng));
  return m;
}

template <typename T>
struct Gemm;
template <>
struct Gemm<float> {
  static constexpr const char* name = "sgemm";
  static constexpr double eps = 1.2e-7;
  template <typename... A>
  static void run(A... a) {
    sgemm(a...);
  }
};
template <>
struct Gemm<double> {
  static constexpr const char* name = "dgemm";
  static constexpr double eps = 2.3e-16;
  template <typename... A>
  static void run(A... a) {
    dgemm(a...);
  }
};

int g_failures = 0;
int g_checks = 0;

template <typename T>
void check_case(int64_t M, int64_t N, int64_t K, Layout la, Layout lb, T beta, bool with_bias,
                std::mt19937& rng) {
  const Strided<T> A = make_matrix<T>(M, K, la, rng);
  const Strided<T> B = make_matrix<T>(K, N, lb, rng);
  const int64_t ldc = N + 5;
  std::vector<T> bias(std::max<int64_t>(N, 1));
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  for (auto& v : bias) v = static_cast<T>(dist(rng));
  std::vector<T> c0(std::max<int64_t>(1, M * ldc));
  for (auto& v : c0) v = beta == T(0) ? std::numeric_limits<T>::quiet_NaN() : static_cast<T>(dist(rng));
  const T* bias_ptr = with_bias ? bias.data() : nullptr;

  std::vector<T> results[2];
  for (int threads = 1; threads <= 2; ++threads) {
    raddino::cpu::set_num_threads(threads);
    results[threads - 1] = c0;
    Gemm<T>::run(M, N, K, A.data(), A.rs, A.cs, B.data(), B.rs, B.cs, results[threads - 1].data(),
                 ldc, beta, bias_ptr);
  }
  ++g_checks;
  double worst = 0;
  bool ok = true;
  for (int64_t i = 0; i < M && ok; ++i) {
    for (int64_t j = 0; j < ldc && ok; ++j) {
      const T got = results[0][i * ldc + j];
      if (j >= N) {  // padding past N must be untouched
        const T orig = c0[i * ldc + j];
        if (!(std::isnan(orig) ? std::isnan(got) : got == orig)) ok = false;
        continue;
      }
      double ref = 0, mag = 0;
      for (int64_t k = 0; k < K; ++k) {
        const double p = static_cast<double>(A.at(i, k)) * B.at(k, j);
        ref += p;
        mag += std::fabs(p);
      }
      if (beta != T(0)) {
        ref += static_cast<double>(beta) * c0[i * ldc + j];
        mag += std::fabs(static_cast<double>(beta) * c0[i * ldc + j]);
      }
      if (with_bias) {
        ref += bias[j];
        mag += std::fabs(bias[j]);
      }
      const double err = std::fabs(got - ref);
      const double bound = (K + 3) * Gemm<T>::eps * mag + 1e-300;
      worst = std::max(worst, err / bound);
      if (!(err <= bound)) ok = false;
    }
  }
  const bool same = std::memcmp(results[0].data(), results[1].data(), results[0].size() * sizeof(T)) == 0;
  if (!ok || !same) {
    ++g_failures;
    std::printf("FAIL %s M=%lld N=%lld K=%lld A=%s B=%s beta=%g bias=%d: %s\n", Gemm<T>::name,
                (long long)M, (long long)N, (long long)K, layout_name(la), layout_name(lb),
                (double)beta, (int)with_bias,
                !ok ? "wrong result" : "1 and 2 threads differ");
  }
}

int run_checks() {
  std::printf("checking %s kernels\n", raddino::cpu::sgemm_kernel_name());
  std::mt19937 rng(42);
  const int64_t shapes[][3] = {
      {1, 1, 1},     {0, 5, 3},    {5, 0, 3},      {4, 7, 0},     {2, 3, 1},      {7, 5, 3},
      {13, 37, 19},  {12, 32, 16}, {25, 67, 385},  {33, 17, 64},  {6, 16, 257},   {100, 130, 800},
      {257, 97, 770}, {3, 1000, 17}, {1, 300, 100}, {300, 1, 100}, {129, 65, 33},  {64, 1100, 40},
      {1100, 48, 24}, {17, 45, 1700}, {40, 70, 1600}};
  const Layout layouts[] = {Layout::kRowMajor, Layout::kColMajor, Layout::kStrided};
  for (const auto& s : shapes) {
    for (Layout la : layouts) {
      for (Layout lb : layouts) {
        for (int variant = 0; variant < 3; ++variant) {
          const bool bias = variant != 1;
          const float beta = variant == 2 ? 1.0f : 0.0f;
          check_case<float>(s[0], s[1], s[2], la, lb, beta, bias, rng);
          check_case<double>(s[0], s[1], s[2], la, lb, static_cast<double>(beta), bias, rng);
        }
      }
    }
  }
  // A general beta is accepted too (C is scaled first).
  check_case<float>(37, 41, 29, Layout::kRowMajor, Layout::kRowMajor, 0.5f, true, rng);
  std::printf("%d passed, %d failed\n", g_checks - g_failures, g_failures);
  raddino::cpu::set_num_threads(0);
  return g_failures == 0 ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------
// Benchmark

struct Shape {
  std::string name;
  int64_t M, N, K;
  bool trans_a;  // A given as its transpose [K x M] row-major
  bool trans_b;  // B given as W [N x K] row-major (C = A * W^T)
};

void run_bench(const char* filter) {
  const double peak_per_thread = env_or("GEMM_PEAK_GFLOPS", 115.0);
  const double round_seconds = env_or("GEMM_BENCH_SECONDS", 0.4);
  std::vector<Shape> shapes = {
      {"vit qkv", 2056, 2304, 768, false, true},   {"vit fc1", 2056, 3072, 768, false, true},
      {"vit fc2", 2056, 768, 3072, false, true},   {"vit qkv M=257", 257, 2304, 768, false, true},
  };
  for (int64_t n : {256, 512, 1024, 2048}) {
    const std::string s = std::to_string(n);
    shapes.push_back({"sq " + s + " NN", n, n, n, false, false});
    shapes.push_back({"sq " + s + " TN", n, n, n, true, false});
    shapes.push_back({"sq " + s + " NT", n, n, n, false, true});
  }
  std::printf("sgemm kernel: %s, peak %.0f GFLOP/s per thread\n", raddino::cpu::sgemm_kernel_name(), peak_per_thread);
  std::printf("%-16s %5s %5s %5s %2s | %9s %8s %6s | %9s %8s | %6s | %5s\n", "shape", "M", "N", "K",
              "T", "ours ms", "GFLOP/s", "%peak", "oblas ms", "GFLOP/s", "ratio", "other");
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (const Shape& s : shapes) {
    if (filter != nullptr && s.name.find(filter) == std::string::npos) continue;
    std::vector<float> a(s.M * s.K), b(s.K * s.N), c(s.M * s.N), c_ref(s.M * s.N);
    for (auto& v : a) v = dist(rng);
    for (auto& v : b) v = dist(rng);
    // A: [M x K] row-major, or its transpose [K x M]; B: [K x N] row-major, or W = [N x K].
    const int64_t rsa = s.trans_a ? 1 : s.K, csa = s.trans_a ? s.M : 1;
    const int64_t rsb = s.trans_b ? 1 : s.N, csb = s.trans_b ? s.K : 1;
    const int lda = s.trans_a ? s.M : s.K, ldb = s.trans_b ? s.K : s.N;
    const double flops = 2.0 * s.M * s.N * s.K;
    for (int threads = 1; threads <= 2; ++threads) {
      raddino::cpu::set_num_threads(threads);
      openblas_set_num_threads(threads);
      auto ours = [&] {
        sgemm(s.M, s.N, s.K, a.data(), rsa, csa, b.data(), rsb, csb, c.data(), s.N, 0.0f);
      };
      auto theirs = [&] {
        cblas_sgemm(CblasRowMajor, s.trans_a ? CblasTrans : CblasNoTrans,
                    s.trans_b ? CblasTrans : CblasNoTrans, s.M, s.N, s.K, 1.0f, a.data(), lda,
                    b.data(), ldb, 0.0f, c_ref.data(), s.N);
      };
      // Warm-up, and an estimate of how many calls fill a round.
      ours();
      theirs();
      const double t0 = now_s();
      ours();
      const double one = now_s() - t0;
      const int calls = std::clamp(static_cast<int>(round_seconds / std::max(one, 1e-6)), 3, 2000);
      std::vector<double> t_ours, t_theirs;
      LeastDisturbed tries(4, 3.0);
      while (tries.next()) {
        std::vector<double> try_ours, try_theirs;
        const OtherCpuShare load;
        for (int round = 0; round < 3; ++round) {
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
          ours();
          time_calls(ours, calls, try_ours);
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
          theirs();
          time_calls(theirs, calls, try_theirs);
        }
        if (tries.keep(load.share())) {
          t_ours = try_ours;
          t_theirs = try_theirs;
        }
      }
      const double other = tries.share();
      double max_diff = 0;
      for (size_t i = 0; i < c.size(); ++i) max_diff = std::max<double>(max_diff, std::fabs(c[i] - c_ref[i]));
      const double mo = median(t_ours), mt = median(t_theirs);
      std::printf("%-16s %5lld %5lld %5lld %2d | %9.3f %8.1f %5.1f%% | %9.3f %8.1f | %5.2fx | %4.0f%%%s\n",
                  s.name.c_str(), (long long)s.M, (long long)s.N, (long long)s.K, threads, mo * 1e3,
                  flops / mo * 1e-9, 100.0 * flops / mo * 1e-9 / (peak_per_thread * threads),
                  mt * 1e3, flops / mt * 1e-9, mt / mo, 100.0 * other,
                  max_diff > 1e-3 * std::sqrt(static_cast<double>(s.K)) ? "  MISMATCH vs OpenBLAS" : "");
      std::fflush(stdout);
    }
  }
  raddino::cpu::set_num_threads(0);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "all";
  if (mode == "check") return run_checks();
  if (mode == "bench") {
    run_bench(argc > 2 ? argv[2] : nullptr);
    return 0;
  }
  int failed = 0;
  for (const char* isa : {"generic", "avx2", "avx512"}) failed |= check_in_child(argv[0], isa);
  if (failed) {
    std::printf("correctness checks FAILED\n");
    return 1;
  }
  run_bench(nullptr);
  return 0;
}
