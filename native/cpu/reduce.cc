// Reductions over any set of axes (SUM, MEAN, MAX, MIN, VAR, LOGSUMEXP, NORM) and ARGMAX/ARGMIN.
//
// The input is viewed as (kept dims..., reduced dims...). Two traversals:
//  - rows:    each output element reduces its own strided sub-space; used when the innermost
//             memory dimension is reduced (the run is contiguous).
//  - columns: when the innermost memory dimension is kept, blocks of adjacent outputs are
//             reduced together, one contiguous input row segment at a time, so the inner loop is
//             independent per output and vectorises without reassociating sums.
// Floating sums accumulate in double; VAR and LOGSUMEXP take two passes (mean / max first).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <new>
#include <vector>

#include "core/backend.h"
#include "core/error.h"
#include "cpu/allocator.h"
#include "cpu/dims.h"
#include "cpu/dtype_visit.h"
#include "cpu/kernels.h"
#include "cpu/threadpool.h"

namespace raddino::cpu {
namespace {

// Outputs reduced together in the column traversal: whole rows up to this width, so that each
// input row is read as one sequential stream (a block narrower than a page defeats prefetching).
constexpr int64_t kMaxColumnBlock = 8192;

// Sum of a contiguous float run: 16 float lanes (so the loop vectorises) flushed into a double
// every 1024 elements, which keeps float rounding to blocks of 64 additions.
double sum_f32(const float* v, int64_t n) {
  constexpr int L = 16, kBlock = 1024;
  double total = 0;
  for (int64_t b = 0; b < n; b += kBlock) {
    int64_t e = b + kBlock < n ? b + kBlock : n;
    float lane[L] = {};
    int64_t i = b;
    for (; i + L <= e; i += L)
      for (int j = 0; j < L; ++j) lane[j] += v[i + j];
    double part = 0;
    for (int j = 0; j < L; ++j) part += lane[j];
    for (; i < e; ++i) part += v[i];
    total += part;
  }
  return total;
}

// Reducer concept: Acc type, init(param), step(acc, value, param), done(acc, count, param).
template <typename C>
struct SumR {
  using Acc = std::conditional_t<std::is_floating_point_v<C>, double, int64_t>;
  static Acc init(double) { return 0; }
  static void step(Acc& a, C v, double) { a += static_cast<Acc>(v); }
  static Acc done(Acc a, int64_t, double) { return a; }
};
template <typename C>
struct MeanR : SumR<C> {
  static double done(double a, int64_t n, double) { return a / static_cast<double>(n); }
};
template <typename C, bool kMax>
struct ExtremeR {
  using Acc = C;
  static Acc init(double) { return kMax ? std::numeric_limits<C>::lowest() : std::numeric_limits<C>::max(); }
  static void step(Acc& a, C v, double) {
    bool better = kMax ? v > a : v < a;
    if constexpr (std::is_floating_point_v<C>) better = better || v != v;
    if constexpr (std::is_floating_point_v<C>) {
      if (a != a) return;  // NaN is sticky
    }
    if (better) a = v;
  }
  static Acc done(Acc a, int64_t, double) { return a; }
};
// Pass 2 of VAR: param = mean; done divides by (n - correction), correction in `corr`.
template <typename C>
struct SqDevR {
  using Acc = double;
  static Acc init(double) { return 0; }
  static void step(Acc& a, C v, double mean) {
    double d = static_cast<double>(v) - mean;
    a += d * d;
  }
};
// Pass 2 of LOGSUMEXP: param = max.
template <typename C>
struct ExpSumR {
  using Acc = double;
  static Acc init(double) { return 0; }
  static void step(Acc& a, C v, double m) { a += std::exp(static_cast<double>(v) - m); }
  static double done(Acc a, int64_t, double m) {
    if (std::isinf(m)) return m;  // all -inf gives -inf; +inf gives +inf
    return m + std::log(a);
  }
};
// |x|^p sums; p = 1, 2 have exact fast steps; p = inf is a max.
template <typename C>
struct NormR {
  using Acc = double;
  static Acc init(double) { return 0; }
  static void step(Acc& a, C v, double p) {
    double x = std::fabs(static_cast<double>(v));
    if (p == 2) a += x * x;
    else if (p == 1) a += x;
    else if (std::isinf(p)) a = (x > a || x != x || a != a) ? (a != a ? a : x) : a;
    else a += std::pow(x, p);
  }
  static double done(Acc a, int64_t, double p) {
    if (p == 2) return std::sqrt(a);
    if (p == 1 || std::isinf(p)) return a;
    return std::pow(a, 1.0 / p);
  }
};

// Sums and means of float32 take the vectorised float-partial-sum paths.
template <typename S, typename R>
constexpr bool kFloatSum = std::is_same_v<S, float> && (std::is_same_v<R, SumR<float>> || std::is_same_v<R, MeanR<float>>);

struct Plan {
  Dims kept, red;  // kept dims of the input (in output order) and the reduced dims
  int64_t outputs = 1, count = 1;
  bool columns = false;  // innermost kept dim has unit stride and no reduced dim is innermost
};

Plan make_plan(const Tensor& x, const std::vector<int64_t>& axes) {
  Plan p;
  std::vector<bool> red(x.ndim(), false);
  for (int64_t a : axes) red[a] = true;
  int64_t item = static_cast<int64_t>(x.itemsize());
  for (int d = 0; d < x.ndim(); ++d) {
    Dims& g = red[d] ? p.red : p.kept;
    g.size[g.n] = x.shape()[d];
    g.stride[g.n] = x.strides()[d] * item;
    ++g.n;
  }
  p.outputs = p.kept.count();
  p.count = p.red.count();
  p.kept.coalesce();
  p.red.coalesce();
  // Columns when the kept innermost dim is unit-stride and every reduced stride is larger.
  if (p.kept.n > 0 && p.kept.stride[p.kept.n - 1] == item && p.red.n > 0) {
    bool inner_kept = true;
    for (int i = 0; i < p.red.n; ++i) inner_kept = inner_kept && std::llabs(p.red.stride[i]) > item;
    p.columns = inner_kept && p.kept.size[p.kept.n - 1] >= 8;
  }
  return p;
}

// Reduces x into out (contiguous, p.outputs elements) with reducer R; params: per-output value
// passed to R (mean / max of pass 1) or null.
template <typename T, typename R, typename OutT, typename Done>
void run_reduce(const Tensor& x, const Plan& plan, const Tensor& out, const double* params, double scalar, Done done) {
  using S = typename T::S;
  using Acc = typename R::Acc;
  using OS = typename OutT::S;
  const char* base = static_cast<const char*>(x.data_ptr());
  OS* o = out.data<OS>();
  const int64_t count = plan.count;
  auto param_of = [&](int64_t i) { return params ? params[i] : scalar; };
  if (!plan.columns) {
    int64_t grain = std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(count, 1));
    parallel_for(plan.outputs, grain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        double pv = param_of(i);
        Acc acc = R::init(pv);
        plan.red.for_runs(base + plan.kept.offset(i), [&](const char* p, int64_t s, int64_t n) {
          if (s == sizeof(S)) {
            const S* v = reinterpret_cast<const S*>(p);
            if constexpr (kFloatSum<S, R>) {
              acc += sum_f32(v, n);
            } else {
              for (int64_t j = 0; j < n; ++j) R::step(acc, T::load(v[j]), pv);
            }
          } else {
            for (int64_t j = 0; j < n; ++j) R::step(acc, T::load(*reinterpret_cast<const S*>(p + j * s)), pv);
          }
        });
        o[i] = convert_to<OutT>(done(acc, count, pv));
      }
    });
    return;
  }
  // Column traversal: the innermost kept dim is split into blocks of up to kMaxColumnBlock
  // outputs, narrower when that gives each thread a block.
  const int64_t inner = plan.kept.size[plan.kept.n - 1];
  Dims outer = plan.kept;
  outer.n -= 1;
  const int64_t rows = outer.count();
  if constexpr (kFloatSum<S, R>) {
    // A float32 sum over the rows of one matrix (e.g. a bias gradient, [tokens, features] -> [features]):
    // threads take contiguous chunks of 64 rows (splitting the columns instead made each thread
    // read every other piece of every row, which the prefetchers turn into twice the traffic: 2
    // threads ran slower than 1). The float partial sums of each chunk are the ones the loop below
    // forms, and they are added into double in chunk order: the same bits as before, for any
    // thread count.
    if (num_threads() > 1 && rows == 1 && plan.red.n == 1 && count >= 256 && inner * count >= (1 << 18)) {
      constexpr int64_t kChunk = 64;
      const int64_t chunks = (count + kChunk - 1) / kChunk, s = plan.red.stride[0];
      // From the caching allocator: a fresh mapping of this size each call page-faults.
      const size_t bytes = sizeof(float) * static_cast<size_t>(chunks * inner);
      std::unique_ptr<float, std::function<void(float*)>> hold(static_cast<float*>(cached_alloc(bytes)),
                                                               [bytes](float* q) { cached_free(q, bytes); });
      float* parts = hold.get();
      if (parts == nullptr) throw std::bad_alloc();
      const char* first = base + outer.offset(0);
      parallel_for(chunks, std::max<int64_t>(1, (1 << 15) / (kChunk * inner)), [&](int64_t b, int64_t e) {
        for (int64_t c = b; c < e; ++c) {
          float* __restrict part = parts + c * inner;
          for (int64_t j = 0; j < inner; ++j) part[j] = 0.0f;
          for (int64_t r = c * kChunk; r < std::min(count, (c + 1) * kChunk); ++r) {
            const float* __restrict v = reinterpret_cast<const float*>(first + r * s);
            for (int64_t j = 0; j < inner; ++j) part[j] += v[j];
          }
        }
      });
      parallel_for(inner, 1024, [&](int64_t j0, int64_t j1) {
        for (int64_t j = j0; j < j1; ++j) {
          double acc = 0;
          for (int64_t c = 0; c < chunks; ++c) acc += parts[c * inner + j];
          o[j] = convert_to<OutT>(done(acc, count, param_of(j)));
        }
      });
      return;
    }
  }
  int64_t width = std::min(kMaxColumnBlock, (inner + num_threads() - 1) / num_threads());
  width = std::min(inner, std::max<int64_t>(256, (width + 63) / 64 * 64));
  const int64_t blocks = (inner + width - 1) / width;
  parallel_for(rows * blocks, std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(count * width, 1)),
               [&](int64_t b, int64_t e) {
                 std::vector<Acc> acc(static_cast<size_t>(width));
                 std::vector<double> pv(static_cast<size_t>(width));
                 std::vector<float> part(kFloatSum<S, R> ? static_cast<size_t>(width) : 0);
                 for (int64_t t = b; t < e; ++t) {
                   int64_t row = t / blocks, j0 = (t % blocks) * width;
                   int64_t len = std::min(width, inner - j0);
                   int64_t o0 = row * inner + j0;
                   for (int64_t j = 0; j < len; ++j) {
                     pv[j] = param_of(o0 + j);
                     acc[j] = R::init(pv[j]);
                   }
                   const char* start = base + outer.offset(row) + j0 * static_cast<int64_t>(sizeof(S));
                   plan.red.for_runs(start, [&](const char* p, int64_t s, int64_t n) {
                     if constexpr (kFloatSum<S, R>) {
                       // float partial sums over up to 64 rows (vectorised), flushed into double
                       for (int64_t r0 = 0; r0 < n; r0 += 64) {
                         for (int64_t j = 0; j < len; ++j) part[j] = 0.0f;
                         for (int64_t r = r0; r < std::min(n, r0 + 64); ++r) {
                           const float* __restrict v = reinterpret_cast<const float*>(p + r * s);
                           for (int64_t j = 0; j < len; ++j) part[j] += v[j];
                         }
                         for (int64_t j = 0; j < len; ++j) acc[j] += part[j];
                       }
                     } else {
                       for (int64_t r = 0; r < n; ++r) {
                         const S* v = reinterpret_cast<const S*>(p + r * s);
                         for (int64_t j = 0; j < len; ++j) R::step(acc[j], T::load(v[j]), pv[j]);
                       }
                     }
                   });
                   for (int64_t j = 0; j < len; ++j) o[o0 + j] = convert_to<OutT>(done(acc[j], count, pv[j]));
                 }
               });
}

template <typename R>
auto default_done() {
  return [](typename R::Acc a, int64_t n, double p) { return R::done(a, n, p); };
}

template <typename T>
void reduce_typed(const OpCall& c) {
  using C = typename T::Cmp;
  const Tensor& x = *c.in[0];
  const Tensor& out = *c.out[0];
  Plan plan = make_plan(x, c.p.axes);
  const double param = c.p.a;
  switch (c.op) {
    case Op::SUM:
      if constexpr (std::is_floating_point_v<C>) run_reduce<T, SumR<C>, T>(x, plan, out, nullptr, 0, default_done<SumR<C>>());
      else run_reduce<T, SumR<C>, Ty<int64_t>>(x, plan, out, nullptr, 0, default_done<SumR<C>>());
      break;
    case Op::MEAN:
      run_reduce<T, MeanR<C>, T>(x, plan, out, nullptr, 0, default_done<MeanR<C>>());
      break;
    case Op::MAX:
      run_reduce<T, ExtremeR<C, true>, T>(x, plan, out, nullptr, 0, default_done<ExtremeR<C, true>>());
      break;
    case Op::MIN:
      run_reduce<T, ExtremeR<C, false>, T>(x, plan, out, nullptr, 0, default_done<ExtremeR<C, false>>());
      break;
    case Op::NORM:
      run_reduce<T, NormR<C>, T>(x, plan, out, nullptr, param, default_done<NormR<C>>());
      break;
    case Op::VAR:
    case Op::LOGSUMEXP: {
      // Pass 1 into a float64 buffer of per-output means / maxima, pass 2 around them.
      Tensor first = Tensor::empty(out.shape(), DType::F64, out.device());
      if (c.op == Op::VAR) {
        run_reduce<T, MeanR<C>, Ty<double>>(x, plan, first, nullptr, 0, default_done<MeanR<C>>());
        const double corr = param;
        run_reduce<T, SqDevR<C>, T>(x, plan, out, first.data<double>(), 0, [corr](double a, int64_t n, double) {
          return a / std::max(0.0, static_cast<double>(n) - corr);
        });
      } else {
        run_reduce<T, ExtremeR<C, true>, Ty<double>>(x, plan, first, nullptr, 0, default_done<ExtremeR<C, true>>());
        run_reduce<T, ExpSumR<C>, T>(x, plan, out, first.data<double>(), 0, default_done<ExpSumR<C>>());
      }
      break;
    }
    default:
      fail(ErrorKind::Value, op_name(c.op), ": not a reduction");
  }
}

template <typename T>
void argreduce_typed(const OpCall& c) {
  using S = typename T::S;
  using C = typename T::Cmp;
  const Tensor& x = *c.in[0];
  const int d = static_cast<int>(c.p.dim);
  const bool want_max = c.op == Op::ARGMAX;
  const int64_t size = x.shape()[d], stride = x.strides()[d];
  // Output element i corresponds to the input with dim d removed, in row-major order.
  const Dims rest = dims_of(x, d);
  const S* base = x.data<S>();
  int64_t* o = c.out[0]->data<int64_t>();
  parallel_for(c.out[0]->numel(), std::max<int64_t>(1, (1 << 14) / size), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const S* p = base + rest.offset(i);  // element strides here
      C best = T::load(p[0]);
      int64_t arg = 0;
      for (int64_t k = 1; k < size; ++k) {
        C v = T::load(p[k * stride]);
        bool take;
        if constexpr (std::is_floating_point_v<C>) {
          if (best != best) break;  // the first NaN wins, like PyTorch
          take = v != v || (want_max ? v > best : v < best);
        } else {
          take = want_max ? v > best : v < best;
        }
        if (take) {
          best = v;
          arg = k;
        }
      }
      o[i] = arg;
    }
  });
}

}  // namespace

void reduce_kernel(const OpCall& c) {
  visit_dtype(c.in[0]->dtype(), [&](auto t) { reduce_typed<decltype(t)>(c); });
}

void argreduce_kernel(const OpCall& c) {
  visit_dtype(c.in[0]->dtype(), [&](auto t) { argreduce_typed<decltype(t)>(c); });
}

}  // namespace raddino::cpu
