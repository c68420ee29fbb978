// Development and benchmark driver for the fused attention kernels (native/cpu/attention*.cc).
//
// Build (from the repository root):
//   g++ -O3 -std=c++17 -fno-math-errno -pthread -I native bench/native/attention_harness.cc
//       native/cpu/attention.cc native/cpu/attention_avx512.cc native/cpu/attention_avx2.cc
//       native/cpu/threadpool.cc native/cpu/cpu_features.cc native/core/backend.cc
//       native/core/storage.cc native/core/tensor.cc native/core/error.cc native/core/dtype.cc
//       -o /tmp/attention_harness
// Run:
//   /tmp/attention_harness            correctness for every ISA (generic, avx2, avx512; each in
//                                     a child process with RADDINO_ISA set), then the benchmark
//   /tmp/attention_harness check      correctness for the ISA selected by RADDINO_ISA (or the CPU)
//   /tmp/attention_harness bench [filter]   benchmark only (shapes whose name contains filter)
// Environment: ATTN_PEAK_GFLOPS (per-thread float32 FMA peak for "% of peak"; default 114, the
// 2-core Zen 4 development machine), ATTN_BENCH_SECONDS (time per measurement, default 0.5),
// ATTN_CPU_TIME=1 (time by the calling thread's CPU time: for single-thread rows on a busy
// machine), ATTN_BEST=1 (report the fastest call, not the median), ATTN_LAYOUT (fused,
// contig or strided q/k/v for the benchmark; default fused), ATTN_SHAPE=B,H,N,D (benchmark that
// shape instead of the list), ATTN_THREADS (thread counts to run, default "12" = 1 and 2).
//
// Correctness: forward and backward against a naive float64 reference that materialises the
// scores, on odd shapes (N, M = 1, 7, 12, 257, 1374, ...; D = 1, 16, 17, 24, ..., 256), q/k/v
// given as strided views of one fused [B, N, 3, H, D] buffer, as separate contiguous tensors, or
// with padded rows and permuted batch and head axes (plus an offset); out as the [B, H, N, D]
// view of a [B, N, H, D] buffer (like the dispatcher); dout strided; peaky softmaxes (q, k std
// 2-3) and a negative scale. float32 and float64, 1 and 2 threads (with one head, 2 threads take
// the backward's key-chunk split path); the two thread counts must give bitwise identical
// results. The backward's outputs are filled with NaN first (every element must be written);
// N = 0 must zero dk and dv. Error = max |x - ref| / max |ref| per output tensor; limits 3e-5
// (float32) and 1e-12 (float64).
//
// Benchmark: float32, q/k/v views of a fused qkv buffer (as in a ViT), 1 and 2 threads; median
// time per kernel call (outputs allocated once), GFLOP/s with the FlashAttention counting
// (forward 4 N M D, backward 8 N M D per head; the backward actually runs 5 products, 10 N M D)
// and the share of the FMA peak of the threads used. "other" is the share of the machine's CPU
// time other processes took during the measurement (a row above 5% is measured again, up to 4
// tries, and the least disturbed kept).
#include <algorithm>
#include <ctime>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/storage.h"
#include "core/tensor.h"
#include "cpu/kernels.h"
#include "cpu/threadpool.h"
#include "harness_util.h"

using raddino::DType;
using raddino::Op;
using raddino::OpCall;
using raddino::Shape;
using raddino::Tensor;

namespace {

// A tensor view over a fresh zeroed buffer of `elems` elements (kept alive by the storage).
Tensor make_view(DType dt, int64_t elems, const Shape& shape, const Shape& strides, int64_t offset = 0) {
  const size_t isz = raddino::dtype_size(dt);
  auto mem = std::shared_ptr<void>(std::aligned_alloc(64, (elems * isz + 63) / 64 * 64 + 64), std::free);
  std::memset(mem.get(), 0, elems * isz);
  auto st = raddino::Storage::wrap(mem.get(), elems * isz, raddino::Device{}, [mem] {});
  return Tensor(st, dt, shape, strides, offset);
}

Tensor make_contig(DType dt, const Shape& shape) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return make_view(dt, n, shape, raddino::contiguous_strides(shape));
}

// Element (b, h, i, d) of a 4-D tensor as double.
double at(const Tensor& t, int64_t b, int64_t h, int64_t i, int64_t d) {
  const Shape& s = t.strides();
  const int64_t off = b * s[0] + h * s[1] + i * s[2] + d * s[3];
  return t.dtype() == DType::F64 ? t.data<double>()[off] : t.data<float>()[off];
}
void set(const Tensor& t, int64_t b, int64_t h, int64_t i, int64_t d, double v) {
  const Shape& s = t.strides();
  const int64_t off = b * s[0] + h * s[1] + i * s[2] + d * s[3];
  if (t.dtype() == DType::F64) t.data<double>()[off] = v;
  else t.data<float>()[off] = static_cast<float>(v);
}

void fill_random(const Tensor& t, std::mt19937& rng, double amp) {
  std::normal_distribution<double> nd(0.0, amp);
  const Shape& sh = t.shape();
  for (int64_t b = 0; b < sh[0]; ++b)
    for (int64_t h = 0; h < sh[1]; ++h)
      for (int64_t i = 0; i < sh[2]; ++i)
        for (int64_t d = 0; d < sh[3]; ++d) set(t, b, h, i, d, nd(rng));
}

enum class Layout { kFused, kContig, kStrided };
const char* layout_name(Layout l) {
  return l == Layout::kFused ? "fused" : l == Layout::kContig ? "contig" : "strided";
}

// q, k, v for the layout (kFused needs N == M).
struct QKV {
  Tensor q, k, v;
};
QKV make_qkv(DType dt, Layout lay, int64_t B, int64_t H, int64_t N, int64_t M, int64_t D) {
  if (lay == Layout::kFused) {
    // buffer [B, N, 3, H, D]; q = [:, :, 0] permuted to [B, H, N, D]
    const int64_t sN = 3 * H * D, sB = N * sN;
    const int64_t elems = B * sB;
    Tensor base = make_view(dt, elems, {1}, {1});
    auto view = [&](int64_t which) {
      return Tensor(base.storage(), dt, {B, H, N, D}, {sB, D, sN, 1}, which * H * D);
    };
    return QKV{view(0), view(1), view(2)};
  }
  if (lay == Layout::kContig)
    return QKV{make_contig(dt, {B, H, N, D}), make_contig(dt, {B, H, M, D}), make_contig(dt, {B, H, M, D})};
  // storage [H, B, rows, D + 5] with an offset: padded rows, head axis outermost
  auto strided = [&](int64_t rows) {
    const int64_t ld = D + 5;
    return make_view(dt, 3 + H * B * rows * ld, {B, H, rows, D}, {rows * ld, B * rows * ld, ld, 1}, 3);
  };
  return QKV{strided(N), strided(M), strided(M)};
}

// out as the [B, H, N, D] view of a [B, N, H, D] buffer, lse [B, H, N].
Tensor make_out(DType dt, int64_t B, int64_t H, int64_t N, int64_t D) {
  return make_view(dt, B * N * H * D, {B, H, N, D}, {N * H * D, D, H * D, 1});
}

struct Fwd {
  Tensor out, lse;
};
Fwd alloc_forward(const QKV& x) {
  const Shape& s = x.q.shape();
  const DType dt = x.q.dtype();
  const DType stat = dt == DType::F64 ? DType::F64 : DType::F32;
  return Fwd{make_out(dt, s[0], s[1], s[2], s[3]), make_contig(stat, {s[0], s[1], s[2]})};
}
void forward_into(const QKV& x, const Fwd& f, double scale) {
  OpCall c{Op::ATTENTION, {&x.q, &x.k, &x.v}, {const_cast<Tensor*>(&f.out), const_cast<Tensor*>(&f.lse)}, {}};
  c.p.a = scale;
  raddino::cpu::attention_kernel(c);
}
Fwd run_forward(const QKV& x, double scale) {
  Fwd f = alloc_forward(x);
  forward_into(x, f, scale);
  return f;
}

struct Grads {
  Tensor dq, dk, dv;
};
void backward_into(const QKV& x, const Fwd& f, const Tensor& dout, double scale, const Grads& g) {
  OpCall c{Op::ATTENTION_BACK,
           {&x.q, &x.k, &x.v, &f.out, &f.lse, &dout},
           {const_cast<Tensor*>(&g.dq), const_cast<Tensor*>(&g.dk), const_cast<Tensor*>(&g.dv)},
           {}};
  c.p.a = scale;
  raddino::cpu::attention_backward_kernel(c);
}
Grads run_backward(const QKV& x, const Fwd& f, const Tensor& dout, double scale) {
  const DType dt = x.q.dtype();
  Grads g{make_contig(dt, x.q.shape()), make_contig(dt, x.k.shape()), make_contig(dt, x.v.shape())};
  // poison the outputs: the kernel must write every element
  for (Tensor* t : {&g.dq, &g.dk, &g.dv}) {
    const int64_t n = t->numel();
    if (dt == DType::F64) for (int64_t i = 0; i < n; ++i) t->data<double>()[i] = NAN;
    else for (int64_t i = 0; i < n; ++i) t->data<float>()[i] = NAN;
  }
  OpCall c{Op::ATTENTION_BACK, {&x.q, &x.k, &x.v, &f.out, &f.lse, &dout}, {&g.dq, &g.dk, &g.dv}, {}};
  c.p.a = scale;
  raddino::cpu::attention_backward_kernel(c);
  return g;
}

// Naive float64 reference for one problem: out, lse, dq, dk, dv as dense [B][H][rows][D] arrays.
struct Ref {
  std::vector<double> out, lse, dq, dk, dv;
};
Ref reference(const QKV& x, const Tensor& dout, double scale) {
  const Shape& s = x.q.shape();
  const int64_t B = s[0], H = s[1], N = s[2], D = s[3], M = x.k.shape()[2];
  Ref r;
  r.out.assign(B * H * N * D, 0);
  r.lse.assign(B * H * N, 0);
  r.dq.assign(B * H * N * D, 0);
  r.dk.assign(B * H * M * D, 0);
  r.dv.assign(B * H * M * D, 0);
  std::vector<double> S(N * M), P(N * M), dP(N * M);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      const int64_t bh = b * H + h;
      for (int64_t i = 0; i < N; ++i) {
        double mx = -INFINITY;
        for (int64_t j = 0; j < M; ++j) {
          double acc = 0;
          for (int64_t d = 0; d < D; ++d) acc += at(x.q, b, h, i, d) * at(x.k, b, h, j, d);
          S[i * M + j] = acc * scale;
          mx = std::max(mx, S[i * M + j]);
        }
        double sum = 0;
        for (int64_t j = 0; j < M; ++j) sum += std::exp(S[i * M + j] - mx);
        r.lse[bh * N + i] = mx + std::log(sum);
        for (int64_t j = 0; j < M; ++j) P[i * M + j] = std::exp(S[i * M + j] - r.lse[bh * N + i]);
        for (int64_t d = 0; d < D; ++d) {
          double acc = 0;
          for (int64_t j = 0; j < M; ++j) acc += P[i * M + j] * at(x.v, b, h, j, d);
          r.out[(bh * N + i) * D + d] = acc;
        }
      }
      for (int64_t i = 0; i < N; ++i) {
        double Di = 0;
        for (int64_t d = 0; d < D; ++d) Di += at(dout, b, h, i, d) * r.out[(bh * N + i) * D + d];
        for (int64_t j = 0; j < M; ++j) {
          double acc = 0;
          for (int64_t d = 0; d < D; ++d) acc += at(dout, b, h, i, d) * at(x.v, b, h, j, d);
          dP[i * M + j] = P[i * M + j] * (acc - Di) * scale;  // dS
        }
      }
      for (int64_t i = 0; i < N; ++i)
        for (int64_t d = 0; d < D; ++d) {
          double acc = 0;
          for (int64_t j = 0; j < M; ++j) acc += dP[i * M + j] * at(x.k, b, h, j, d);
          r.dq[(bh * N + i) * D + d] = acc;
        }
      for (int64_t j = 0; j < M; ++j)
        for (int64_t d = 0; d < D; ++d) {
          double ak = 0, av = 0;
          for (int64_t i = 0; i < N; ++i) {
            ak += dP[i * M + j] * at(x.q, b, h, i, d);
            av += P[i * M + j] * at(dout, b, h, i, d);
          }
          r.dk[(bh * M + j) * D + d] = ak;
          r.dv[(bh * M + j) * D + d] = av;
        }
    }
  return r;
}

// max |t - ref| / max |ref| over a [B, H, rows, D] (or [B, H, rows] when D == 0) tensor.
double rel_err(const Tensor& t, const std::vector<double>& ref) {
  const Shape& s = t.shape();
  const bool vec = t.ndim() == 3;
  const int64_t D = vec ? 1 : s[3];
  double num = 0, den = 0;
  for (int64_t b = 0; b < s[0]; ++b)
    for (int64_t h = 0; h < s[1]; ++h)
      for (int64_t i = 0; i < s[2]; ++i)
        for (int64_t d = 0; d < D; ++d) {
          const int64_t idx = ((b * s[1] + h) * s[2] + i) * D + d;
          double x;
          if (vec) {
            const int64_t off = b * t.strides()[0] + h * t.strides()[1] + i * t.strides()[2];
            x = t.dtype() == DType::F64 ? t.data<double>()[off] : t.data<float>()[off];
          } else {
            x = at(t, b, h, i, d);
          }
          const double e = std::fabs(x - ref[idx]);
          num = std::isnan(e) ? INFINITY : std::max(num, e);
          den = std::max(den, std::fabs(ref[idx]));
        }
  return den > 0 ? num / den : num;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  // compares the views element by element
  const Shape& s = a.shape();
  if (a.ndim() == 3) {
    for (int64_t i = 0; i < a.numel(); ++i) {
      const size_t isz = a.itemsize();
      if (std::memcmp(static_cast<char*>(a.data_ptr()) + i * isz, static_cast<char*>(b.data_ptr()) + i * isz, isz) != 0)
        return false;
    }
    return true;
  }
  for (int64_t bb = 0; bb < s[0]; ++bb)
    for (int64_t h = 0; h < s[1]; ++h)
      for (int64_t i = 0; i < s[2]; ++i)
        for (int64_t d = 0; d < s[3]; ++d) {
          const double x = at(a, bb, h, i, d), y = at(b, bb, h, i, d);
          if (std::memcmp(&x, &y, sizeof x) != 0) return false;
        }
  return true;
}

struct Case {
  int64_t B, H, N, M, D;
  Layout lay;
  double amp;  // std of q and k entries (larger: peakier softmax)
};

int check() {
  const char* isa = std::getenv("RADDINO_ISA");
  std::printf("== correctness (RADDINO_ISA=%s)\n", isa ? isa : "(unset)");
  const std::vector<Case> cases = {
      {1, 1, 1, 1, 1, Layout::kContig, 1.0},       {1, 1, 1, 1, 64, Layout::kContig, 1.0},
      {1, 2, 7, 7, 24, Layout::kFused, 1.0},       {2, 3, 13, 29, 32, Layout::kStrided, 1.0},
      {1, 2, 257, 257, 64, Layout::kFused, 1.0},   {1, 1, 300, 300, 64, Layout::kContig, 3.0},
      {2, 1, 7, 1374, 64, Layout::kStrided, 1.0},  {1, 1, 70, 1, 48, Layout::kContig, 1.0},
      {1, 3, 100, 130, 128, Layout::kStrided, 1.0},{1, 1, 33, 45, 256, Layout::kContig, 1.0},
      {1, 1, 130, 70, 1, Layout::kStrided, 1.0},   {1, 2, 25, 300, 17, Layout::kStrided, 1.0},
      {1, 1, 19, 300, 80, Layout::kContig, 1.0},   {3, 1, 50, 200, 40, Layout::kContig, 2.0},
      {1, 1, 40, 1000, 64, Layout::kStrided, 1.0}, {1, 1, 12, 12, 16, Layout::kContig, 1.0},
  };
  const double tol[2] = {3e-5, 1e-12};
  bool ok = true;
  double worst[2][5] = {};
  for (int di = 0; di < 2; ++di) {
    const DType dt = di == 0 ? DType::F32 : DType::F64;
    for (const Case& cs : cases) {
      if (cs.lay == Layout::kFused && cs.N != cs.M) continue;
      std::mt19937 rng(1234 + static_cast<unsigned>(cs.N * 7 + cs.M * 13 + cs.D));
      QKV x = make_qkv(dt, cs.lay, cs.B, cs.H, cs.N, cs.M, cs.D);
      fill_random(x.q, rng, cs.amp);
      fill_random(x.k, rng, cs.amp);
      fill_random(x.v, rng, 1.0);
      // dout: padded rows, batch and head permuted
      const int64_t ld = cs.D + 3;
      Tensor dout = make_view(dt, cs.H * cs.B * cs.N * ld + 1, {cs.B, cs.H, cs.N, cs.D},
                              {cs.N * ld, cs.B * cs.N * ld, ld, 1}, 1);
      fill_random(dout, rng, 1.0);
      const double scale = (cs.amp == 3.0 ? -1.0 : 1.0) / std::sqrt(static_cast<double>(cs.D));
      const Ref ref = reference(x, dout, scale);
      Fwd f[2];
      Grads g[2];
      for (int t = 0; t < 2; ++t) {
        raddino::cpu::set_num_threads(t + 1);
        f[t] = run_forward(x, scale);
        g[t] = run_backward(x, f[t], dout, scale);
      }
      const double e[5] = {rel_err(f[0].out, ref.out), rel_err(f[0].lse, ref.lse), rel_err(g[0].dq, ref.dq),
                           rel_err(g[0].dk, ref.dk), rel_err(g[0].dv, ref.dv)};
      const bool det = same_bits(f[0].out, f[1].out) && same_bits(f[0].lse, f[1].lse) && same_bits(g[0].dq, g[1].dq) &&
                       same_bits(g[0].dk, g[1].dk) && same_bits(g[0].dv, g[1].dv);
      bool good = det;
      for (int i = 0; i < 5; ++i) {
        good = good && e[i] <= tol[di];
        worst[di][i] = std::max(worst[di][i], e[i]);
      }
      ok = ok && good;
      std::printf("%s %-4s B%lld H%lld N%-4lld M%-4lld D%-3lld %-7s amp %.0f | out %.1e lse %.1e dq %.1e dk %.1e "
                  "dv %.1e | 1t==2t %s\n",
                  good ? "ok  " : "FAIL", di == 0 ? "f32" : "f64", (long long)cs.B, (long long)cs.H, (long long)cs.N,
                  (long long)cs.M, (long long)cs.D, layout_name(cs.lay), cs.amp, e[0], e[1], e[2], e[3], e[4],
                  det ? "yes" : "NO");
    }
  }
  // empty query side: the backward must zero dk and dv
  for (int di = 0; di < 2; ++di) {
    const DType dt = di == 0 ? DType::F32 : DType::F64;
    QKV x = make_qkv(dt, Layout::kContig, 1, 2, 0, 5, 8);
    Fwd f{make_out(dt, 1, 2, 0, 8), make_contig(dt == DType::F64 ? DType::F64 : DType::F32, {1, 2, 0})};
    Tensor dout = make_contig(dt, {1, 2, 0, 8});
    Grads g = run_backward(x, f, dout, 0.5);
    bool zero = true;
    for (const Tensor* t : {&g.dk, &g.dv})
      for (int64_t i = 0; i < t->numel(); ++i)
        zero = zero && (dt == DType::F64 ? t->data<double>()[i] == 0 : t->data<float>()[i] == 0);
    std::printf("%s %s N = 0 backward zeroes dk, dv\n", zero ? "ok  " : "FAIL", di == 0 ? "f32" : "f64");
    ok = ok && zero;
  }
  for (int di = 0; di < 2; ++di)
    std::printf("max error %s: out %.2e lse %.2e dq %.2e dk %.2e dv %.2e\n", di == 0 ? "f32" : "f64", worst[di][0],
                worst[di][1], worst[di][2], worst[di][3], worst[di][4]);
  std::printf("%s\n", ok ? "ALL OK" : "SOME CHECKS FAILED");
  return ok ? 0 : 1;
}

// ---- benchmark ----------------------------------------------------------------------------------

// ATTN_CPU_TIME=1 times calls by the calling thread's CPU time instead of wall time: meaningful
// for single-thread rows only, but steady on a machine shared with other jobs.
const bool g_cpu_time = std::getenv("ATTN_CPU_TIME") != nullptr && std::atoi(std::getenv("ATTN_CPU_TIME")) != 0;

// ATTN_BEST=1 reports the fastest call instead of the median.
const bool g_best = std::getenv("ATTN_BEST") != nullptr && std::atoi(std::getenv("ATTN_BEST")) != 0;

double now() {
  if (g_cpu_time) {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
  }
  return harness::now_s();
}

struct Timing {
  double median = 0, best = 0;
  double other = 0;  // share of the machine's CPU time used by other processes meanwhile
};

// Times fn for about `seconds` (at least 5 calls): median and best seconds per call. A
// measurement during which other processes used more than 5% of the machine is repeated (up to
// 4 tries; the least disturbed one is kept).
template <typename F>
Timing time_calls(F&& fn, double seconds) {
  fn();  // warm up
  Timing best;
  harness::LeastDisturbed tries(g_cpu_time ? 1 : 4, 0.0);
  while (tries.next()) {
    std::vector<double> t;
    const harness::OtherCpuShare load;
    while (t.size() < 5 || (load.elapsed() < seconds && t.size() < 10000)) {
      const double a = now();
      fn();
      t.push_back(now() - a);
    }
    const double share = load.share();
    if (tries.keep(share)) {
      std::sort(t.begin(), t.end());
      best = Timing{t[t.size() / 2], t[0], share};
    }
  }
  return best;
}

int bench(const char* filter) {
  const double peak = harness::env_or("ATTN_PEAK_GFLOPS", 114.0);
  const double secs = harness::env_or("ATTN_BENCH_SECONDS", 0.5);
  struct Shape5 {
    const char* name;
    int64_t B, H, N, D;
  };
  const std::vector<Shape5> shapes = {
      {"8x12 N257 D64", 8, 12, 257, 64},
      {"1x12 N257 D64", 1, 12, 257, 64},
      {"1x12 N1370 D64", 1, 12, 1370, 64},
      {"1x12 N1374 D64", 1, 12, 1374, 64},
  };
  static char custom_name[64];
  static int64_t cb, ch, cn, cd;
  std::vector<Shape5> shapes_used = shapes;
  if (const char* cs = std::getenv("ATTN_SHAPE")) {  // "B,H,N,D": benchmark this shape only
    long long b_ = 0, h_ = 0, n_ = 0, d_ = 0;
    if (std::sscanf(cs, "%lld,%lld,%lld,%lld", &b_, &h_, &n_, &d_) == 4) {
      cb = b_, ch = h_, cn = n_, cd = d_;
      std::snprintf(custom_name, sizeof custom_name, "%lldx%lld N%lld D%lld", b_, h_, n_, d_);
      shapes_used = {{custom_name, cb, ch, cn, cd}};
    }
  }
  std::printf("== benchmark (float32, q/k/v views of a fused qkv buffer; peak %.0f GFLOP/s per thread)\n", peak);
  std::printf("%-16s %3s | %8s %7s %6s %6s | %8s %7s %6s %6s\n", "shape", "thr", "fwd ms", "GFLOP/s", "%peak",
              "other", "bwd ms", "GFLOP/s", "%peak", "other");
  for (const Shape5& s : shapes_used) {
    if (filter && std::strstr(s.name, filter) == nullptr) continue;
    std::mt19937 rng(7);
    const char* lay = std::getenv("ATTN_LAYOUT");
    const Layout layout = lay && std::strcmp(lay, "contig") == 0   ? Layout::kContig
                          : lay && std::strcmp(lay, "strided") == 0 ? Layout::kStrided
                                                                     : Layout::kFused;
    QKV x = make_qkv(DType::F32, layout, s.B, s.H, s.N, s.N, s.D);
    fill_random(x.q, rng, 1.0);
    fill_random(x.k, rng, 1.0);
    fill_random(x.v, rng, 1.0);
    Tensor dout = make_out(DType::F32, s.B, s.H, s.N, s.D);
    fill_random(dout, rng, 1.0);
    const double scale = 1.0 / std::sqrt(static_cast<double>(s.D));
    const double nmd = static_cast<double>(s.B * s.H) * s.N * s.N * s.D;
    for (const char* tc = std::getenv("ATTN_THREADS") ? std::getenv("ATTN_THREADS") : "12"; *tc; ++tc) {
      const int nt = *tc - '0';
      if (nt < 1 || nt > 9) continue;
      raddino::cpu::set_num_threads(nt);
      // outputs allocated once: only the kernels are timed
      const Fwd f = run_forward(x, scale);
      const Timing tf = time_calls([&] { forward_into(x, f, scale); }, secs);
      const Grads g = run_backward(x, f, dout, scale);
      const Timing tb = time_calls([&] { backward_into(x, f, dout, scale, g); }, secs);
      const double xf = g_best ? tf.best : tf.median, xb = g_best ? tb.best : tb.median;
      const double gf = 4 * nmd / xf * 1e-9, gb = 8 * nmd / xb * 1e-9;
      std::printf("%-16s %3d | %8.3f %7.1f %5.1f%% %5.1f%% | %8.3f %7.1f %5.1f%% %5.1f%%\n", s.name, nt, xf * 1e3,
                  gf, 100 * gf / (peak * nt), 100 * tf.other, xb * 1e3, gb, 100 * gb / (peak * nt), 100 * tb.other);
      std::fflush(stdout);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "check") == 0) return check();
  if (argc > 1 && std::strcmp(argv[1], "bench") == 0) return bench(argc > 2 ? argv[2] : nullptr);
  int rc = 0;
  for (const char* isa : {"generic", "avx2", "avx512"}) {
    if (harness::check_in_child(argv[0], isa) != 0) rc = 1;
  }
  bench(nullptr);
  return rc;
}
