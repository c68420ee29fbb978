// Development and benchmark driver for raddino::cpu::sgemm_bf16w (native/cpu/gemm_bf16*.cc):
// float32 activations x bfloat16 weights, float32 accumulation.
//
// Build (from the repository root):
//   g++ -O3 -std=c++17 -pthread -I native bench/native/bf16_harness.cc native/cpu/gemm*.cc
//       native/cpu/cpu_features.cc native/cpu/threadpool.cc native/core/dtype.cc -o /tmp/bf16_harness
// Run:
//   /tmp/bf16_harness            correctness for the native path and the portable one (each in a
//                                child process, RADDINO_ISA unset / =avx2 / =generic), then the
//                                benchmark
//   /tmp/bf16_harness check      correctness for the path selected by RADDINO_ISA (or the CPU)
//   /tmp/bf16_harness bench [filter]   benchmark only (shapes whose name contains filter)
// Environment: BF16_PEAK_1T / BF16_PEAK_2T (bf16 dot-product peak in GFLOP/s of 1 and 2 threads
// for "% of peak"; default 229 and 450, measured with vdpbf16ps on the 2-core Zen 4 development
// machine), BF16_BENCH_SECONDS (time per measurement round, default 0.4), BF16_THREADS (1 or 2:
// measure that thread count only).
//
// Correctness: odd shapes (M, N, K not multiples of the tile, odd K, K above the K block), every
// stride layout of A (row-major, padded rows, column-major, general strides) and B (row-major,
// W^T with W [N x K] or with padded rows, general strides), beta 0 (C pre-filled with NaN), 1 and
// 0.5, with and without bias, 1 and 2 threads; checked against a float64 reference of the
// bf16-rounded A and B with the float32-accumulation bound (K + 3) * 2^-23 * sum |products|. Also
// checks that 1 and 2 threads give bitwise identical results, that columns of C past N are
// untouched, that the pre-packed variant gives the same bits as the plain call, that A is
// rounded to nearest even (ties, overflow to infinity) and that NaN propagates.
//
// Benchmark: the ViT-B Linear shapes x * W^T, 1 and 2 threads: sgemm_bf16w (packing W each call),
// sgemm_bf16w_packed (W packed once) and our float32 sgemm on the same shape (W widened to
// float32), rounds of the three alternating; median ms per call, GFLOP/s, % of the bf16 peak,
// ratios to float32. "other" is the share of the machine's CPU time used by other processes
// during the measurement (a row above 5% is measured again, up to 4 tries, least disturbed kept).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "cpu/gemm.h"
#include "cpu/gemm_bf16.h"
#include "cpu/threadpool.h"
#include "harness_util.h"

namespace {

using namespace harness;  // harness_util.h: timing, "other" CPU share, check_in_child
using raddino::bf16_to_f32;
using raddino::f32_to_bf16;
using raddino::cpu::sgemm_bf16w;

// ---------------------------------------------------------------------------------------------
// Correctness

enum class Layout { kRowMajor, kRowPadded, kColMajor, kColPadded, kStrided };
const char* layout_name(Layout l) {
  switch (l) {
    case Layout::kRowMajor: return "row";
    case Layout::kRowPadded: return "rowpad";
    case Layout::kColMajor: return "col";
    case Layout::kColPadded: return "colpad";
    default: return "strided";
  }
}

template <typename T>
struct Strided {
  std::vector<T> buf;
  int64_t rs = 0, cs = 0;
  const T* data() const { return buf.data(); }
  T at(int64_t r, int64_t c) const { return buf[r * rs + c * cs]; }
};

void set_strides(int64_t rows, int64_t cols, Layout l, int64_t& rs, int64_t& cs) {
  switch (l) {
    case Layout::kRowMajor: rs = cols, cs = 1; break;
    case Layout::kRowPadded: rs = cols + 3, cs = 1; break;
    case Layout::kColMajor: rs = 1, cs = rows; break;
    case Layout::kColPadded: rs = 1, cs = rows + 3; break;
    default: cs = 3, rs = cols * 3 + 2; break;
  }
}

Strided<float> make_a(int64_t rows, int64_t cols, Layout l, std::mt19937& rng) {
  Strided<float> m;
  set_strides(rows, cols, l, m.rs, m.cs);
  m.buf.resize(std::max<int64_t>(1, (rows - 1) * m.rs + (cols - 1) * m.cs + 1));
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (auto& v : m.buf) v = dist(rng);  // generally not bf16-exact: rounding is exercised
  return m;
}

Strided<uint16_t> make_b(int64_t rows, int64_t cols, Layout l, std::mt19937& rng) {
  Strided<uint16_t> m;
  set_strides(rows, cols, l, m.rs, m.cs);
  m.buf.resize(std::max<int64_t>(1, (rows - 1) * m.rs + (cols - 1) * m.cs + 1));
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (auto& v : m.buf) v = f32_to_bf16(dist(rng));
  return m;
}

double round_bf16(float x) { return bf16_to_f32(f32_to_bf16(x)); }

int g_failures = 0;
int g_checks = 0;

void fail(const char* what, int64_t M, int64_t N, int64_t K, const char* la, const char* lb, float beta, bool bias) {
  ++g_failures;
  std::printf("FAIL M=%lld N=%lld K=%lld A=%s B=%s beta=%g bias=%d: %s\n", (long long)M, (long long)N,
              (long long)K, la, lb, (double)beta, (int)bias, what);
}

void check_case(int64_t M, int64_t N, int64_t K, Layout la, Layout lb, float beta, bool with_bias, std::mt19937& rng) {
  const Strided<float> A = make_a(M, K, la, rng);
  const Strided<uint16_t> B = make_b(K, N, lb, rng);
  const int64_t ldc = N + 5;
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> bias(std::max<int64_t>(N, 1));
  for (auto& v : bias) v = dist(rng);
  std::vector<float> c0(std::max<int64_t>(1, M * ldc));
  for (auto& v : c0) v = beta == 0.0f ? std::numeric_limits<float>::quiet_NaN() : dist(rng);
  const float* bias_ptr = with_bias ? bias.data() : nullptr;

  std::vector<float> results[2];
  for (int threads = 1; threads <= 2; ++threads) {
    raddino::cpu::set_num_threads(threads);
    results[threads - 1] = c0;
    sgemm_bf16w(M, N, K, A.data(), A.rs, A.cs, B.data(), B.rs, B.cs, results[threads - 1].data(), ldc, beta, bias_ptr);
  }
  ++g_checks;
  bool ok = true;
  for (int64_t i = 0; i < M && ok; ++i) {
    for (int64_t j = 0; j < ldc && ok; ++j) {
      const float got = results[0][i * ldc + j];
      if (j >= N) {  // padding past N must be untouched
        const float orig = c0[i * ldc + j];
        if (!(std::isnan(orig) ? std::isnan(got) : got == orig)) ok = false;
        continue;
      }
      double ref = 0, mag = 0;
      for (int64_t k = 0; k < K; ++k) {
        const double p = round_bf16(A.at(i, k)) * static_cast<double>(bf16_to_f32(B.at(k, j)));
        ref += p;
        mag += std::fabs(p);
      }
      if (beta != 0.0f) {
        ref += static_cast<double>(beta) * c0[i * ldc + j];
        mag += std::fabs(static_cast<double>(beta) * c0[i * ldc + j]);
      }
      if (with_bias) {
        ref += bias[j];
        mag += std::fabs(bias[j]);
      }
      const double err = std::fabs(got - ref);
      const double bound = (K + 3) * 1.2e-7 * mag + 1e-300;
      if (!(err <= bound)) ok = false;
    }
  }
  const char* las = layout_name(la);
  const char* lbs = layout_name(lb);
  if (!ok) fail("wrong result", M, N, K, las, lbs, beta, with_bias);
  if (std::memcmp(results[0].data(), results[1].data(), results[0].size() * sizeof(float)) != 0) {
    fail("1 and 2 threads differ", M, N, K, las, lbs, beta, with_bias);
  }
  // The pre-packed variant takes row-major A (any row stride) and W [N x K] row-major.
  if (A.cs == 1 && lb == Layout::kColMajor) {
    auto packed = raddino::cpu::pack_bf16_weight(N, K, B.data());
    for (int threads = 1; threads <= 2; ++threads) {
      raddino::cpu::set_num_threads(threads);
      std::vector<float> c = c0;
      raddino::cpu::sgemm_bf16w_packed(M, A.data(), A.rs, *packed, c.data(), ldc, beta, bias_ptr);
      if (std::memcmp(c.data(), results[0].data(), c.size() * sizeof(float)) != 0) {
        fail(threads == 1 ? "packed differs from plain (1 thread)" : "packed differs from plain (2 threads)", M,
             N, K, las, lbs, beta, with_bias);
      }
    }
  }
}

// Rounding of A to nearest even, overflow to infinity, NaN propagation (K = 1 or 2, B = 1).
void check_special_values() {
  const uint16_t one = f32_to_bf16(1.0f);
  struct Case {
    float a, expect;
  };
  const float inf = std::numeric_limits<float>::infinity();
  const Case cases[] = {
      {1.00390625f, 1.0f},                          // 1 + 2^-8: tie, to even (down)
      {1.01171875f, 1.015625f},                     // 1 + 3 * 2^-8: tie, to even (up)
      {raddino::bits_f32(0x3F808001u), 1.0078125f},  // one float ulp above the tie: up
      {-2.0078125f, -2.0f},                         // -(2 + 2^-7): tie, to even
      {raddino::bits_f32(0x7F7F8000u), inf},         // largest bf16 + half an ulp: tie, to infinity
      {raddino::bits_f32(0x7F7F7FFFu), raddino::bits_f32(0x7F7F0000u)},  // just below: largest bf16
      {-inf, -inf},
  };
  for (const Case& t : cases) {
    float c = 0;
    sgemm_bf16w(1, 1, 1, &t.a, 1, 1, &one, 1, 1, &c, 1, 0.0f);
    ++g_checks;
    if (!(c == t.expect)) {
      ++g_failures;
      std::printf("FAIL rounding of A = %.9g: got %.9g, expected %.9g\n", t.a, c, t.expect);
    }
  }
  // A NaN in row 3 of A makes row 3 of C NaN (and no other row).
  const int64_t M = 13, N = 40, K = 70;
  std::vector<float> a(M * K, 0.5f);
  std::vector<uint16_t> w(N * K, one);
  std::vector<float> c(M * N, 0.0f);
  a[3 * K + 17] = std::numeric_limits<float>::quiet_NaN();
  sgemm_bf16w(M, N, K, a.data(), K, 1, w.data(), 1, K, c.data(), N, 0.0f);
  ++g_checks;
  bool ok = true;
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) ok &= (i == 3) == std::isnan(c[i * N + j]);
  }
  if (!ok) {
    ++g_failures;
    std::printf("FAIL NaN propagation\n");
  }
}

int run_checks() {
  std::printf("checking the %s path\n", raddino::cpu::sgemm_bf16w_native() ? "AVX512-BF16" : "portable");
  std::mt19937 rng(42);
  const int64_t shapes[][3] = {
      {1, 1, 1},      {0, 5, 3},      {5, 0, 3},      {4, 7, 0},       {2, 3, 1},      {7, 5, 3},
      {13, 37, 19},   {12, 32, 16},   {25, 67, 385},  {33, 17, 64},    {6, 16, 257},   {100, 130, 800},
      {257, 97, 770}, {3, 1000, 17},  {1, 300, 100},  {300, 1, 100},   {129, 65, 33},  {64, 1100, 40},
      {1100, 48, 24}, {17, 45, 1700}, {40, 70, 1537}, {61, 200, 3073}, {24, 64, 2},    {11, 31, 31}};
  const Layout a_layouts[] = {Layout::kRowMajor, Layout::kRowPadded, Layout::kColMajor, Layout::kStrided};
  const Layout b_layouts[] = {Layout::kRowMajor, Layout::kColMajor, Layout::kColPadded, Layout::kStrided};
  for (const auto& s : shapes) {
    for (Layout la : a_layouts) {
      for (Layout lb : b_layouts) {
        for (int variant = 0; variant < 3; ++variant) {
          const bool bias = variant != 1;
          const float beta = variant == 2 ? 1.0f : 0.0f;
          check_case(s[0], s[1], s[2], la, lb, beta, bias, rng);
        }
      }
    }
  }
  // A general beta is accepted too (C is scaled first).
  check_case(37, 41, 29, Layout::kRowMajor, Layout::kColMajor, 0.5f, true, rng);
  raddino::cpu::set_num_threads(1);
  check_special_values();
  std::printf("%d passed, %d failed\n", g_checks - g_failures, g_failures);
  raddino::cpu::set_num_threads(0);
  return g_failures == 0 ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------
// Benchmark

struct Shape {
  std::string name;
  int64_t M, N, K;
};

void run_bench(const char* filter) {
  const double peak[2] = {env_or("BF16_PEAK_1T", 229.0), env_or("BF16_PEAK_2T", 450.0)};
  const double round_seconds = env_or("BF16_BENCH_SECONDS", 0.4);
  const int only_threads = static_cast<int>(env_or("BF16_THREADS", 0));
  const std::vector<Shape> shapes = {
      {"vit qkv", 2056, 2304, 768},
      {"vit fc1", 2056, 3072, 768},
      {"vit fc2", 2056, 768, 3072},
      {"vit qkv M=257", 257, 2304, 768},
  };
  std::printf("bf16 path: %s, float32 sgemm kernel: %s; peak %.0f / %.0f GFLOP/s (1 / 2 threads)\n",
              raddino::cpu::sgemm_bf16w_native() ? "AVX512-BF16" : "portable", raddino::cpu::sgemm_kernel_name(),
              peak[0], peak[1]);
  std::printf("%-14s %5s %5s %5s %2s | %8s %7s %6s | %8s %7s %6s | %8s %7s | %5s %6s | %5s\n", "shape", "M", "N", "K",
              "T", "bf16 ms", "GFLOP/s", "%peak", "pack ms", "GFLOP/s", "%peak", "f32 ms", "GFLOP/s", "x f32",
              "pack x", "other");
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (const Shape& s : shapes) {
    if (filter != nullptr && s.name.find(filter) == std::string::npos) continue;
    std::vector<float> a(s.M * s.K), wf(s.N * s.K), c(s.M * s.N), c_packed(s.M * s.N), c_f32(s.M * s.N);
    std::vector<uint16_t> w(s.N * s.K);
    for (auto& v : a) v = dist(rng);
    for (size_t i = 0; i < w.size(); ++i) {
      w[i] = f32_to_bf16(dist(rng));
      wf[i] = bf16_to_f32(w[i]);
    }
    const double t_pack0 = now_s();
    auto packed = raddino::cpu::pack_bf16_weight(s.N, s.K, w.data());
    const double t_pack = now_s() - t_pack0;
    const double flops = 2.0 * s.M * s.N * s.K;
    for (int threads = 1; threads <= 2; ++threads) {
      if (only_threads != 0 && threads != only_threads) continue;
      raddino::cpu::set_num_threads(threads);
      auto plain = [&] { sgemm_bf16w(s.M, s.N, s.K, a.data(), s.K, 1, w.data(), 1, s.K, c.data(), s.N, 0.0f); };
      auto prepacked = [&] { raddino::cpu::sgemm_bf16w_packed(s.M, a.data(), s.K, *packed, c_packed.data(), s.N, 0.0f); };
      auto f32 = [&] {
        raddino::cpu::sgemm(s.M, s.N, s.K, a.data(), s.K, 1, wf.data(), 1, s.K, c_f32.data(), s.N, 0.0f);
      };
      plain();
      prepacked();
      f32();
      const double t0 = now_s();
      plain();
      const double one = now_s() - t0;
      const int calls = std::clamp(static_cast<int>(round_seconds / std::max(one, 1e-6)), 3, 2000);
      std::vector<double> t[3];
      LeastDisturbed tries(4, 3.0);
      while (tries.next()) {
        std::vector<double> attempt[3];
        const OtherCpuShare load;
        for (int round = 0; round < 3; ++round) {
          int which = 0;
          for (const std::function<void()>& fn : {std::function<void()>(plain), std::function<void()>(prepacked),
                                                  std::function<void()>(f32)}) {
            fn();
            time_calls(fn, calls, attempt[which++]);
          }
        }
        if (tries.keep(load.share())) {
          for (int i = 0; i < 3; ++i) t[i] = attempt[i];
        }
      }
      const double other = tries.share();
      // bf16 vs float32 results: they differ by the rounding of A to bf16 only (W is bf16-exact).
      double max_diff = 0;
      for (size_t i = 0; i < c.size(); ++i) max_diff = std::max<double>(max_diff, std::fabs(c[i] - c_f32[i]));
      const bool same_packed = std::memcmp(c.data(), c_packed.data(), c.size() * sizeof(float)) == 0;
      const double mb = median(t[0]), mp = median(t[1]), mf = median(t[2]);
      const double pk = peak[threads - 1];
      std::printf("%-14s %5lld %5lld %5lld %2d | %8.3f %7.1f %5.1f%% | %8.3f %7.1f %5.1f%% | %8.3f %7.1f | %4.2fx %5.2fx | %4.0f%%%s%s\n",
                  s.name.c_str(), (long long)s.M, (long long)s.N, (long long)s.K, threads, mb * 1e3,
                  flops / mb * 1e-9, 100.0 * flops / mb * 1e-9 / pk, mp * 1e3, flops / mp * 1e-9,
                  100.0 * flops / mp * 1e-9 / pk, mf * 1e3, flops / mf * 1e-9, mf / mb, mf / mp, 100.0 * other,
                  max_diff > 2e-2 * std::sqrt(static_cast<double>(s.K)) ? "  MISMATCH vs float32" : "",
                  same_packed ? "" : "  PACKED DIFFERS");
      std::fflush(stdout);
    }
    std::printf("%-14s pack_bf16_weight: %.3f ms (%d threads)\n", s.name.c_str(), t_pack * 1e3,
                raddino::cpu::num_threads());
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
  for (const char* isa : {static_cast<const char*>(nullptr), "avx2", "generic"}) failed |= check_in_child("bf16_harness", isa);
  if (failed) {
    std::printf("correctness checks FAILED\n");
    return 1;
  }
  run_bench(nullptr);
  return 0;
}
