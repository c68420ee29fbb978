// Development driver for the bicubic kernels (native/cpu/interpolate.cc), without the addon:
// checks them against the PyTorch fixtures in test/fixtures/bicubic/ and times the DINOv2
// position-embedding resize.
//
// Build (from the repository root; nothing from native/napi is needed):
//   g++ -O3 -std=c++17 -pthread -fno-math-errno -I native bench/native/bicubic_harness.cc
//       native/cpu/interpolate.cc native/cpu/threadpool.cc native/cpu/cpu_features.cc
//       native/core/tensor.cc native/core/storage.cc native/core/dtype.cc native/core/error.cc
//       native/core/backend.cc -o /tmp/bicubic_harness
// Run:
//   /tmp/bicubic_harness [fixture dir]   fixtures (contiguous, channels-last and strided inputs,
//                                        1 and 4 threads), float64 adjoint check, then timings
//   RADDINO_ISA=generic /tmp/bicubic_harness   the same without the AVX2 (+FMA) loop builds
//   BICUBIC_NO_BENCH=1 /tmp/bicubic_harness    checks only
//
// For every fixture case it prints the largest error of y and dx against PyTorch, as absolute
// error / max |reference| ("rel") and as the count of elements that are not bit-identical, and
// for float32 cases without antialias also against the exact adjoint of PyTorch's forward (its
// own backward is up to ~1e-6 away from that). Exit status 1 when a check fails: float32 error
// above 1e-6 (y), 2e-6 (dx vs PyTorch) or 2e-7 (dx vs adjoint), float64 above 1e-12, results that
// depend on the input layout or the thread count, or a float64 adjoint mismatch.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/tensor.h"
#include "cpu/kernels.h"
#include "cpu/threadpool.h"
#include "harness_util.h"

using namespace raddino;

namespace {

// ---- a minimal JSON reader (objects, arrays, numbers, strings, true/false/null) ---------------

struct Json {
  enum Kind { kNull, kBool, kNum, kStr, kArr, kObj } kind = kNull;
  bool b = false;
  double num = 0;
  std::string str;
  std::vector<Json> arr;
  std::map<std::string, Json> obj;
  const Json& operator[](const std::string& k) const {
    static const Json null;
    auto it = obj.find(k);
    return it == obj.end() ? null : it->second;
  }
};

struct Parser {
  const char* p;
  void ws() {
    while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') ++p;
  }
  [[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "json: %s near '%.20s'\n", what, p);
    std::exit(2);
  }
  Json value() {
    ws();
    Json v;
    if (*p == '{') {
      v.kind = Json::kObj;
      ++p;
      ws();
      if (*p == '}') return ++p, v;
      for (;;) {
        ws();
        Json k = value();
        if (k.kind != Json::kStr) fail("expected a key");
        ws();
        if (*p++ != ':') fail("expected ':'");
        v.obj[k.str] = value();
        ws();
        if (*p == ',') { ++p; continue; }
        if (*p++ != '}') fail("expected '}'");
        return v;
      }
    }
    if (*p == '[') {
      v.kind = Json::kArr;
      ++p;
      ws();
      if (*p == ']') return ++p, v;
      for (;;) {
        v.arr.push_back(value());
        ws();
        if (*p == ',') { ++p; continue; }
        if (*p++ != ']') fail("expected ']'");
        return v;
      }
    }
    if (*p == '"') {
      v.kind = Json::kStr;
      ++p;
      while (*p && *p != '"') {
        if (*p == '\\') ++p;
        v.str += *p++;
      }
      if (*p++ != '"') fail("unterminated string");
      return v;
    }
    if (std::strncmp(p, "true", 4) == 0) return p += 4, v.kind = Json::kBool, v.b = true, v;
    if (std::strncmp(p, "false", 5) == 0) return p += 5, v.kind = Json::kBool, v;
    if (std::strncmp(p, "null", 4) == 0) return p += 4, v;
    char* end = nullptr;
    v.num = std::strtod(p, &end);  // exact: strtod rounds correctly
    if (end == p) fail("bad value");
    p = end;
    v.kind = Json::kNum;
    return v;
  }
};

Json load_json(const std::string& path) {
  std::ifstream f(path);
  if (!f) {
    std::fprintf(stderr, "cannot open %s\n", path.c_str());
    std::exit(2);
  }
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string text = ss.str();
  Parser ps{text.c_str()};
  return ps.value();
}

std::vector<double> numbers(const Json& a) {
  std::vector<double> v;
  for (const Json& e : a.arr) v.push_back(e.num);
  return v;
}

// Fixture values of dtype T (float32 ones are stored as the shortest decimal of the float).
template <typename T>
std::vector<double> values(const Json& a) {
  std::vector<double> v = numbers(a);
  for (double& e : v) e = static_cast<double>(static_cast<T>(e));
  return v;
}

// ---- tensors over std::vector buffers ---------------------------------------------------------

struct Buf {
  std::shared_ptr<std::vector<double>> mem;  // 8-byte units: holds float or double data
  Tensor t;
};

// A tensor of logical shape [N, C, H, W] holding `vals` (row-major); layout 0 = contiguous,
// 1 = stored as [N, H, W, C] and permuted (the DINOv2 grid layout), 2 = every other element of
// a twice-as-wide W with NaN in between.
template <typename T>
Buf make_nchw(const std::vector<double>& vals, const Shape& s, int layout) {
  const int64_t N = s[0], C = s[1], H = s[2], W = s[3];
  const int64_t n = N * C * H * W;
  const int64_t cap = layout == 2 ? 2 * n : n;
  Buf b;
  b.mem = std::make_shared<std::vector<double>>(static_cast<size_t>((cap * sizeof(T) + 7) / 8 + 1));
  T* d = reinterpret_cast<T*>(b.mem->data());
  Shape st;
  if (layout == 0) {
    st = contiguous_strides(s);
  } else if (layout == 1) {
    st = {H * W * C, 1, W * C, C};
  } else {
    st = {C * H * 2 * W, H * 2 * W, 2 * W, 2};
    for (int64_t i = 0; i < cap; ++i) d[i] = static_cast<T>(NAN);
  }
  for (int64_t i = 0; i < n; ++i) {
    int64_t r = i;
    const int64_t w = r % W; r /= W;
    const int64_t h = r % H; r /= H;
    const int64_t c = r % C; r /= C;
    d[r * st[0] + c * st[1] + h * st[2] + w * st[3]] = static_cast<T>(vals[static_cast<size_t>(i)]);
  }
  auto keep = b.mem;
  auto storage = Storage::wrap(d, static_cast<size_t>(cap * sizeof(T)), Device{}, [keep] {});
  b.t = Tensor(storage, std::is_same_v<T, float> ? DType::F32 : DType::F64, s, st, 0);
  return b;
}

template <typename T>
Buf make_out(const Shape& s) {
  std::vector<double> poison(static_cast<size_t>(shape_numel(s)), NAN);  // kernels must write all
  return make_nchw<T>(poison, s, 0);
}

template <typename T>
std::vector<double> read(const Tensor& t) {
  const T* d = t.data<T>();
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(d[i]);
  return v;
}

template <typename T>
std::vector<double> run(bool backward, const Tensor& in, const Shape& out_shape, double sh, double sw, bool aa) {
  Buf out = make_out<T>(out_shape);
  OpCall c{backward ? Op::BICUBIC_BACK : Op::BICUBIC, {&in}, {&out.t}, {}};
  c.p.a = sh;
  c.p.b = sw;
  c.p.flag0 = aa;
  if (backward)
    cpu::bicubic_backward_kernel(c);
  else
    cpu::bicubic_kernel(c);
  return read<T>(out.t);
}

struct Err {
  double abs = 0, rel = 0;
  int64_t inexact = 0;
};

Err compare(const std::vector<double>& got, const std::vector<double>& ref) {
  Err e;
  double scale = 0;
  for (double r : ref) scale = std::max(scale, std::fabs(r));
  for (size_t i = 0; i < ref.size(); ++i) {
    const double d = std::fabs(got[i] - ref[i]);
    if (!(d <= e.abs)) e.abs = std::isnan(d) ? INFINITY : d;
    if (got[i] != ref[i]) ++e.inexact;
  }
  e.rel = scale > 0 ? e.abs / scale : e.abs;
  return e;
}

int failures = 0;

template <typename T>
void check_case(const Json& cs) {
  const std::vector<double> shp = numbers(cs["shape"]), out = numbers(cs["out"]), step = numbers(cs["step"]);
  const Shape xs = {int64_t(shp[0]), int64_t(shp[1]), int64_t(shp[2]), int64_t(shp[3])};
  const Shape ys = {xs[0], xs[1], int64_t(out[0]), int64_t(out[1])};
  const bool aa = cs["antialias"].b;
  const std::vector<double> x = values<T>(cs["x"]), y = values<T>(cs["y"]), dy = values<T>(cs["dy"]), dx = values<T>(cs["dx"]);
  const double tol_y = std::is_same_v<T, float> ? 1e-6 : 1e-12, tol_dx = std::is_same_v<T, float> ? 2e-6 : 1e-12;

  std::vector<double> y0, dx0;
  bool consistent = true;
  for (int threads : {1, 4}) {
    cpu::set_num_threads(threads);
    for (int layout = 0; layout < 3; ++layout) {
      Buf xb = make_nchw<T>(x, xs, layout), db = make_nchw<T>(dy, ys, layout);
      std::vector<double> yv = run<T>(false, xb.t, ys, step[0], step[1], aa);
      std::vector<double> dxv = run<T>(true, db.t, xs, step[0], step[1], aa);
      if (y0.empty()) {
        y0 = yv;
        dx0 = dxv;
      } else if (std::memcmp(yv.data(), y0.data(), y0.size() * 8) != 0 ||
                 std::memcmp(dxv.data(), dx0.data(), dx0.size() * 8) != 0) {
        consistent = false;
      }
    }
  }
  cpu::set_num_threads(0);
  const Err ey = compare(y0, y), ed = compare(dx0, dx);
  bool ok = consistent && ey.rel <= tol_y && ed.rel <= tol_dx;
  char adj[96] = "";
  if (cs["dx_adjoint"].kind == Json::kArr) {  // exact adjoint of PyTorch's forward
    const Err ea = compare(dx0, values<T>(cs["dx_adjoint"]));
    ok = ok && ea.rel <= 2e-7;
    std::snprintf(adj, sizeof adj, "  dx(adjoint): rel %.2e", ea.rel);
  }
  if (!ok) ++failures;
  std::printf("%-4s %-46s y: rel %.2e inexact %3lld/%-4zu dx(%s): rel %.2e inexact %3lld/%-4zu%s%s\n",
              ok ? "ok" : "FAIL", cs["name"].str.c_str(), ey.rel, static_cast<long long>(ey.inexact), y.size(),
              cs["dx_source"].str.c_str(), ed.rel, static_cast<long long>(ed.inexact), dx.size(), adj,
              consistent ? "" : "  (layout/thread dependent!)");
}

// <W x, v> == <x, Wᵀ v> in float64 for random x, v.
void adjoint_check() {
  std::mt19937 rng(7);
  std::normal_distribution<double> nd;
  struct P { int64_t h, w, oh, ow; double sh, sw; bool aa; };
  const P cases[] = {{5, 5, 7, 3, 5 / 7.1, 5 / 3.1, false}, {5, 5, 5, 5, 5 / 5.1, 5 / 5.1, false},
                     {37, 37, 46, 40, 37 / 46.1, 37 / 40.1, false}, {12, 10, 5, 3, 2.4, 10 / 3.0, true},
                     {4, 6, 9, 13, 4 / 9.0, 6 / 13.0, true}, {37, 37, 16, 23, 37 / 16.0, 37 / 23.0, true},
                     {1, 7, 3, 2, 1 / 3.0, 3.5, true}, {1, 7, 3, 2, 1 / 3.0, 3.5, false}};
  for (const P& p : cases) {
    const Shape xs = {2, 3, p.h, p.w}, ys = {2, 3, p.oh, p.ow};
    std::vector<double> x(static_cast<size_t>(shape_numel(xs))), v(static_cast<size_t>(shape_numel(ys)));
    for (auto& e : x) e = nd(rng);
    for (auto& e : v) e = nd(rng);
    Buf xb = make_nchw<double>(x, xs, 0), vb = make_nchw<double>(v, ys, 0);
    const std::vector<double> wx = run<double>(false, xb.t, ys, p.sh, p.sw, p.aa);
    const std::vector<double> wtv = run<double>(true, vb.t, xs, p.sh, p.sw, p.aa);
    double a = 0, b = 0, s = 0;
    for (size_t i = 0; i < v.size(); ++i) a += wx[i] * v[i], s += std::fabs(wx[i] * v[i]);
    for (size_t i = 0; i < x.size(); ++i) b += x[i] * wtv[i];
    const bool ok = std::fabs(a - b) <= 1e-13 * s;
    if (!ok) ++failures;
    std::printf("%-4s adjoint %lldx%lld -> %lldx%lld%s: <Wx,v> %.15g  <x,Wtv> %.15g  diff/sum|.| %.1e\n", ok ? "ok" : "FAIL",
                static_cast<long long>(p.h), static_cast<long long>(p.w), static_cast<long long>(p.oh),
                static_cast<long long>(p.ow), p.aa ? " AA" : "", a, b, std::fabs(a - b) / s);
  }
}

// Best of 7 rounds of >= 50 ms (the minimum is the least disturbed by other processes).
double seconds_per_call(const std::function<void()>& fn) {
  fn();
  int reps = 1;
  for (;;) {
    const double t0 = harness::now_s();
    for (int i = 0; i < reps; ++i) fn();
    if (harness::now_s() - t0 > 0.05) break;
    reps *= 2;
  }
  double best = INFINITY;
  for (int round = 0; round < 7; ++round) {
    const double t0 = harness::now_s();
    for (int i = 0; i < reps; ++i) fn();
    best = std::min(best, (harness::now_s() - t0) / reps);
  }
  return best;
}

// DINOv2 ViT-g position embeddings: [1, 1369, 1536] viewed as [1, 1536, 37, 37] (channels
// innermost), resized like interpolate_pos_encoding for a few input sizes.
void bench() {
  const int64_t M = 37, D = 1536;
  std::mt19937 rng(3);
  std::normal_distribution<double> nd;
  std::vector<double> x(static_cast<size_t>(M * M * D));
  for (auto& e : x) e = nd(rng);
  Buf xb = make_nchw<float>(x, {1, D, M, M}, 1);
  struct S { int64_t h0, w0; bool aa; };
  for (const S& s : {S{16, 16, false}, S{46, 40, false}, S{64, 64, false}, S{16, 16, true}, S{46, 40, true}}) {
    const double sh = M / (s.h0 + 0.1), sw = M / (s.w0 + 0.1);
    const Shape ys = {1, D, s.h0, s.w0};
    Buf yb = make_out<float>(ys), gb = make_nchw<float>(std::vector<double>(static_cast<size_t>(shape_numel(ys)), 0.5), ys, 0);
    Buf dxb = make_out<float>({1, D, M, M});
    for (int threads : {1, cpu::hardware_threads()}) {
      cpu::set_num_threads(threads);
      OpCall f{Op::BICUBIC, {&xb.t}, {&yb.t}, {}};
      f.p.a = sh, f.p.b = sw, f.p.flag0 = s.aa;
      OpCall b{Op::BICUBIC_BACK, {&gb.t}, {&dxb.t}, {}};
      b.p.a = sh, b.p.b = sw, b.p.flag0 = s.aa;
      const double tf = seconds_per_call([&] { cpu::bicubic_kernel(f); });
      const double tb = seconds_per_call([&] { cpu::bicubic_backward_kernel(b); });
      std::printf("bench [1, %lld, %lld, %lld] (channels-last view) -> %lldx%lld%s, %d thread(s): forward %.3f ms, backward %.3f ms\n",
                  static_cast<long long>(D), static_cast<long long>(M), static_cast<long long>(M),
                  static_cast<long long>(s.h0), static_cast<long long>(s.w0), s.aa ? " AA" : "", threads, tf * 1e3, tb * 1e3);
    }
  }
  cpu::set_num_threads(0);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "test/fixtures/bicubic";
  for (const char* stem : {"nonaa_scale", "nonaa_size", "aa", "float64"}) {
    const Json cases = load_json(dir + "/" + stem + ".json");
    std::printf("== %s.json\n", stem);
    for (const Json& cs : cases.arr) {
      if (cs["dtype"].str == "float32")
        check_case<float>(cs);
      else
        check_case<double>(cs);
    }
  }
  std::printf("== float64 adjoint\n");
  adjoint_check();
  if (!std::getenv("BICUBIC_NO_BENCH")) bench();
  std::printf("%s\n", failures ? "FAILED" : "all checks passed");
  return failures ? 1 : 0;
}
