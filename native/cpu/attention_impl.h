// Fused attention, float32, written once over a vector-traits type and compiled per ISA: each
// including translation unit (attention_avx512.cc, attention_avx2.cc) opens its namespace, sets
// `#pragma GCC target(...)` (after all of its #includes), defines the traits `V` and then
// includes this file, so nothing here includes anything.
//
// Included after: <algorithm>, <array>, <cmath>, <cstdint>, <cstdlib>, <cstring>, <limits>,
// <memory>, <new>, <utility>, core/backend.h, cpu/scratch_buffer.h, cpu/threadpool.h.
//
// V provides: R (the vector type), L (lanes), kMR (query rows per strip), kNVmax and rmax(nv)
// (register tiles of the row products below: rmax(nv) rows x nv vectors, rmax non-increasing),
// zero, set1, load, store (unaligned), load_n / store_n (first n lanes), fma, add, sub, mul,
// max, allmax (the max in every lane), hsum, first (lane 0), fill_tail (lanes >= n set to a
// value), transpose (L x L, in registers) and exp2 (2^x for the x <= 0 range softmax needs:
// relative error ~2e-7, inputs below -126 give 2^-126, NaN propagates).
//
// ---- Algorithm -----------------------------------------------------------------------------
// Shapes per head: q [N, D], k/v [M, D]; Dp = D rounded up to whole vectors. Queries go in strips
// of kMR rows (the last one may be shorter), keys in panels of kNR = 2L and in blocks of at most
// kFwdKeys / kBwdKeys keys (balanced, whole panels). Every product is a register-tiled
// micro-kernel `tile` (below): R rows x NV vectors of accumulators, one operand broadcast from
// memory at compile-time strides, the other loaded as vectors, and a fused epilogue.
//
// Forward (FlashAttention-2 style; work unit = one head x a group of kFwdGroup strips):
//   per head, once per thread: K packed into panels [D][kNR] (16 x 16 transposes in registers),
//   V copied to rows of Dp floats.
//   per strip: queries packed [D][kMR] and multiplied by scale * log2(e), so that scores come
//   out in base 2 and the softmax uses exp2 (no range-reduction multiply); running max m, sum
//   l (one vector per row, reduced at the end) and output accumulator O [kMR][Dp] (L1).
//   for each key block, for each strip of the group:
//     S = (scale log2e q) k^T     kMR x 2L tiles over the key panels (K = D); the epilogue also
//                                 keeps each row's running max as a vector. A last partial
//                                 vector of <= kColMax keys (M = 257) is done by columns.
//     online softmax per row      m' = max(m, block max), alpha = 2^(m - m'),
//                                 P = 2^(S - m') in place, l = alpha l + rowsum(P)
//     O = alpha O + P v           rmax(nv) x nv tiles over D (K = keys of the block)
//   then out = O / l (through out's strides) and lse = m ln2 + log l.
//   The P strip (kMR x kFwdKeys) stays in L1, the key block's K panels and V rows in L2; the
//   next unit's queries and the next head's keys and values are prefetched meanwhile.
//   Rows are independent, so results do not depend on how units are spread over threads.
//
// Backward (FlashAttention-2 style, key blocks outer; work unit = one head): per head, q
// (times scale log2e) and dout are packed in strips like the forward's queries, q, dout and k
// also as rows of Dp floats, k and v in key panels; lse is taken times log2e and
// D_i = rowsum(dout_i * out_i).
//   for each key block (dK, dV accumulators [kBwdKeys][Dp]):
//     for each query block (kBwdGroup strips):
//       P  = 2^(scale log2e q k^T - lse log2e)   kMR x 2L tiles, exp2 in the epilogue
//       dS = scale P o (dout v^T - D_i)          same tiles, fused epilogue
//       dV += P^T dout,  dK += dS^T q            key rows x D tiles (K = query rows)
//       dQ (=|+=) dS k                           query rows x D tiles (K = keys of the block)
//   Fixed summation order for dQ: the contribution of one (key block, query block) pair is
//   formed in registers from zero, then stored (first block of a chunk) or added; a chunk is
//   a run of consecutive key blocks (at most kMaxChunks chunks, their size a function of M);
//   chunk sums are added to dQ in chunk order. One thread per head does exactly this in place;
//   with fewer heads than threads (or a badly unbalanced last round) the (head, chunk) items
//   are spread over threads instead, each chunk sum going to a partial buffer (at most
//   kMaxChunks x dQ's size, and kMaxPartialBytes) summed in chunk order afterwards: the same
//   additions in the same order, so results never depend on the thread count. dK and dV of a
//   key block are summed over query blocks in order by one thread.

constexpr int L = V::L;
constexpr int kMR = V::kMR;        // query rows per strip = rows of the score micro-tile
constexpr int kNR = 2 * L;         // keys per packed panel = columns of the score micro-tile
constexpr int kNVmax = V::kNVmax;  // most vectors of a row-product tile
constexpr int kRM = V::rmax(1);    // most rows of a row-product tile

constexpr int kFwdKeys = 288;  // most keys per forward key block (row stride of the P strip)
constexpr int kFwdGroup = 4;   // strips per forward work unit
constexpr int kBwdKeys = 96;   // most keys per backward key block (row stride of P and dS tiles)
constexpr int kBwdGroup = 4;   // strips per backward query block
constexpr int64_t kMaxChunks = 8;  // most key chunks of the backward's dQ sum (see backward)
constexpr double kMaxPartialBytes = 256.0 * (1 << 20);  // most memory for partial dQ sums

// Below this many multiply-adds per thread another thread costs more than it saves.
constexpr double kMinWorkPerThread = 1 << 20;

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// Keys per block when M keys are cut into the fewest blocks of at most `most` keys (a multiple
// of kNR): balanced, rounded up to whole panels, so no block is a sliver.
inline int64_t key_block(int64_t M, int64_t most) { return round_up(ceil_div(M, ceil_div(M, most)), kNR); }

enum Role { kKt, kVt, kVr, kKr, kQp, kDOp, kQr, kDOr, kLse, kDi, kP, kDS, kO, kStats, kDK, kDV, kDQ, kDQC, kNumRoles };
// Scratch buffers (cpu/scratch_buffer.h), one per thread and role.
thread_local ScratchBuffer t_buf[kNumRoles];

// ---- micro-kernels ---------------------------------------------------------------------------

// Epilogues: what a tile does with its accumulators acc (row r, vector v of C).
enum Mode {
  kStore,       // C = acc
  kAdd,         // C += acc
  kStoreMax,    // C = acc (-inf from column `valid` on), rmax[r] = max(rmax[r], C row r)
  kRescaleAdd,  // C = C * rowv[r] + acc                (forward O update)
  kExpSub,      // C = 2^(acc - rowv[r])                (backward P)
  kDs,          // C = aux * (acc - rowv[r]) * scale    (backward dS; aux = P)
};

struct Epi {
  float* c = nullptr;
  int64_t ldc = 0;
  const float* rowv = nullptr;
  const float* aux = nullptr;
  int64_t ldaux = 0;
  float scale = 1.0f;
  float* rmax = nullptr;  // kStoreMax: one vector per row
  int64_t valid = 0;      // kStoreMax: valid columns from column 0 of this tile
};

// C (R x NV vectors) <- epilogue(A B): A(r, k) = a[r * ARS + k * AKS] (broadcast), row k of B at
// b + k * bks (NV vectors). Compile-time A strides keep every broadcast a constant offset.
template <int R, int NV, int ARS, int AKS, int MODE>
void tile(int64_t K, const float* __restrict a, const float* __restrict b, int64_t bks, const Epi& e) {
  using VR = typename V::R;
  VR acc[R][NV];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = V::zero();
  }
#pragma GCC unroll 2
  for (int64_t k = 0; k < K; ++k) {
    VR bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = V::load(b + v * L);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const VR ar = V::set1(a[r * ARS]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = V::fma(ar, bv[v], acc[r][v]);
    }
    a += AKS;
    b += bks;
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    float* cr = e.c + r * e.ldc;
    VR rv = V::zero();
    if constexpr (MODE == kRescaleAdd || MODE == kExpSub || MODE == kDs) rv = V::set1(e.rowv[r]);
    if constexpr (MODE == kStoreMax) rv = V::load(e.rmax + r * L);
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      VR x = acc[r][v];
      if constexpr (MODE == kAdd) x = V::add(V::load(cr + v * L), x);
      if constexpr (MODE == kRescaleAdd) x = V::fma(V::load(cr + v * L), rv, x);
      if constexpr (MODE == kExpSub) x = V::exp2(V::sub(x, rv));
      if constexpr (MODE == kDs)
        x = V::mul(V::mul(V::load(e.aux + r * e.ldaux + v * L), V::sub(x, rv)), V::set1(e.scale));
      if constexpr (MODE == kStoreMax) {
        if (e.valid < (v + 1) * L) x = V::fill_tail(x, static_cast<int>(e.valid - v * L), -__builtin_inff());
        rv = V::max(rv, x);
      }
      V::store(cr + v * L, x);
    }
    if constexpr (MODE == kStoreMax) V::store(e.rmax + r * L, rv);
  }
}

using TileFn = void (*)(int64_t, const float*, const float*, int64_t, const Epi&);

template <int ARS, int AKS, int MODE, int I>
constexpr TileFn tile_entry() {
  constexpr int nv = I / kRM + 1, r = I % kRM + 1;
  if constexpr (r <= V::rmax(nv)) return &tile<r, nv, ARS, AKS, MODE>;
  else return nullptr;
}

template <int ARS, int AKS, int MODE, size_t... I>
constexpr std::array<TileFn, sizeof...(I)> tile_table(std::index_sequence<I...>) {
  return {{tile_entry<ARS, AKS, MODE, static_cast<int>(I)>()...}};
}

// Tiles indexed [(vectors - 1) * kRM + rows - 1].
template <int ARS, int AKS, int MODE>
struct Tiles {
  static constexpr std::array<TileFn, kNVmax * kRM> fn =
      tile_table<ARS, AKS, MODE>(std::make_index_sequence<kNVmax * kRM>{});
};

// C [nrows x nvt vectors] <- epilogue(A B): A(r, k) = a[r * ARS + k * AKS], K = k-steps, row k of
// B at b + k * bks. e's pointers address row 0, column 0 of C (and of aux, rowv).
template <int ARS, int AKS, int MODE>
void rows_product(int64_t nrows, int64_t K, const float* a, const float* b, int64_t bks, int nvt, const Epi& e) {
  const auto& tab = Tiles<ARS, AKS, MODE>::fn;
  for (int c0 = 0; c0 < nvt; c0 += kNVmax) {
    const int nv = std::min(kNVmax, nvt - c0);
    const int R = V::rmax(nv);
    for (int64_t r0 = 0; r0 < nrows; r0 += R) {
      const int rr = static_cast<int>(std::min<int64_t>(R, nrows - r0));
      Epi t = e;
      t.c = e.c + r0 * e.ldc + c0 * L;
      if (e.rowv != nullptr) t.rowv = e.rowv + r0;
      if (e.aux != nullptr) t.aux = e.aux + r0 * e.ldaux + c0 * L;
      tab[(nv - 1) * kRM + rr - 1](K, a + r0 * ARS, b + c0 * L, bks, t);
    }
  }
}

// Up to kColMax score columns (keys) of a strip, one vector per key with the strip's rows in
// its lanes: D multiply-adds per key where a score tile would spend kMR x D on a whole vector of
// keys. Used for the last few keys past a multiple of L (M = 257 = 16 x 16 + 1, say). kp: the
// first key's column in its K panel ([D][kNR]); e: as for a tile whose column 0 is that key.
constexpr int kColMax = kMR / 2;

template <int MODE>
void score_columns(int64_t D, const float* qp, const float* kp, int ncols, int rows, const Epi& e) {
  using VR = typename V::R;
  VR acc[kColMax];
#pragma GCC unroll 16
  for (int j = 0; j < kColMax; ++j) acc[j] = V::zero();
  for (int64_t d = 0; d < D; ++d) {
    const VR qd = V::load_n(qp + d * kMR, kMR);
#pragma GCC unroll 16
    for (int j = 0; j < kColMax; ++j)
      if (j < ncols) acc[j] = V::fma(qd, V::set1(kp[d * kNR + j]), acc[j]);
  }
  alignas(64) float col[L];
  for (int j = 0; j < ncols; ++j) {
    VR x = acc[j];
    if constexpr (MODE == kExpSub) x = V::exp2(V::sub(x, V::load_n(e.rowv, kMR)));
    if constexpr (MODE == kDs) {
      for (int r = 0; r < kMR; ++r) col[r] = r < rows ? e.aux[r * e.ldaux + j] : 0.0f;
      x = V::mul(V::mul(V::load_n(col, kMR), V::sub(x, V::load_n(e.rowv, kMR))), V::set1(e.scale));
    }
    V::store(col, x);
    for (int r = 0; r < rows; ++r) e.c[r * e.ldc + j] = col[r];
  }
  if constexpr (MODE == kStoreMax) {
    for (int r = 0; r < rows; ++r) {
      float* cr = e.c + r * e.ldc;
      for (int j = ncols; j < L; ++j) cr[j] = -__builtin_inff();
      V::store(e.rmax + r * L, V::max(V::load(e.rmax + r * L), V::load(cr)));
    }
  }
}

// Scores of rows [0, rows) of one strip (queries packed [D][kMR]) against keys [k0, k0 + nk) of
// the key panels (k0 a multiple of kNR): C [rows x round_up(nk, L)] <- epilogue(q k^T).
// Columns from nk up to the next multiple of L hold scores against zero keys (-inf for
// kStoreMax).
template <int MODE>
void strip_scores(int64_t D, const float* qp, const float* kt, int64_t k0, int64_t nk, int rows, const Epi& e) {
  static_assert(V::rmax(2) >= kMR, "score tiles cover a strip");
  const auto& tab = Tiles<1, kMR, MODE>::fn;
  for (int64_t j = 0; j < nk; j += kNR) {
    Epi t = e;
    t.c = e.c + j;
    if (e.aux != nullptr) t.aux = e.aux + j;
    t.valid = nk - j;
    const float* panel = kt + (k0 + j) * D;  // panel (k0 + j) / kNR
    const int64_t left = std::min<int64_t>(kNR, nk - j);
    // Whole vectors by tiles; a last partial vector of at most kColMax keys by columns.
    const int cols = left % L <= kColMax ? static_cast<int>(left % L) : 0;
    const int nv = static_cast<int>((left - cols + L - 1) / L);
    if (nv > 0) {
      if (rows == kMR) {
        if (nv == 2) tile<kMR, 2, 1, kMR, MODE>(D, qp, panel, kNR, t);
        else tile<kMR, 1, 1, kMR, MODE>(D, qp, panel, kNR, t);
      } else {
        tab[(nv - 1) * kRM + rows - 1](D, qp, panel, kNR, t);
      }
    }
    if (cols > 0) {
      t.c += nv * L;
      if (t.aux != nullptr) t.aux += nv * L;
      score_columns<MODE>(D, qp, panel + nv * L, cols, rows, t);
    }
  }
}

// ---- packing ---------------------------------------------------------------------------------

// Rows [0, n) of x (row stride ld) into panels of kNR rows, each [D][kNR], zero beyond n:
// L x L blocks transposed in registers.
void pack_panels(const float* x, int64_t ld, int64_t n, int64_t D, float* dst) {
  using VR = typename V::R;
  for (int64_t j0 = 0; j0 < n; j0 += kNR) {
    float* p = dst + j0 * D;
    for (int g = 0; g < kNR / L; ++g) {
      const int64_t jb = j0 + g * L, nj = std::max<int64_t>(0, std::min<int64_t>(L, n - jb));
      for (int64_t d0 = 0; d0 < D; d0 += L) {
        const int nd = static_cast<int>(std::min<int64_t>(L, D - d0));
        VR t[L];
#pragma GCC unroll 16
        for (int i = 0; i < L; ++i) t[i] = i < nj ? V::load_n(x + (jb + i) * ld + d0, nd) : V::zero();
        V::transpose(t);
        for (int i = 0; i < nd; ++i) V::store(p + (d0 + i) * kNR + g * L, t[i]);
      }
    }
  }
}

// Rows [r0, r0 + kMR) of x times s, as [D][kMR]; rows at or beyond n are zero.
void pack_strip(const float* x, int64_t ld, int64_t r0, int64_t n, int64_t D, float s, float* dst) {
  using VR = typename V::R;
  static_assert(kMR <= L, "a strip must fit in one transposed block");
  const int64_t nr = std::min<int64_t>(kMR, n - r0);
  const VR sv = V::set1(s);
  for (int64_t d0 = 0; d0 < D; d0 += L) {
    const int nd = static_cast<int>(std::min<int64_t>(L, D - d0));
    VR t[L];
#pragma GCC unroll 16
    for (int i = 0; i < L; ++i) t[i] = i < nr ? V::mul(V::load_n(x + (r0 + i) * ld + d0, nd), sv) : V::zero();
    V::transpose(t);
    for (int i = 0; i < nd; ++i) V::store_n(dst + (d0 + i) * kMR, t[i], kMR);
  }
}

// Rows [0, n) of x into rows of Dp floats (zero padded), then zero rows up to n_pad.
void pack_rows(const float* x, int64_t ld, int64_t n, int64_t n_pad, int64_t D, int64_t Dp, float* dst) {
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(dst + i * Dp, x + i * ld, sizeof(float) * D);
    for (int64_t d = D; d < Dp; ++d) dst[i * Dp + d] = 0.0f;
  }
  if (n_pad > n) std::memset(dst + n * Dp, 0, sizeof(float) * (n_pad - n) * Dp);
}

// Software prefetch (to L2) of rows of the next work unit's inputs, spread over the steps of
// the current one: q, k and v arrive from L3 or memory once per head, and without this the
// packing stalls on every line.
class Prefetcher {
 public:
  void add(const float* p, int64_t ld, int64_t rows, int64_t D) {
    if (rows <= 0 || n_ == kMaxRanges) return;
    ranges_[n_++] = Range{reinterpret_cast<const char*>(p), ld * static_cast<int64_t>(sizeof(float)), rows,
                          ceil_div(D * static_cast<int64_t>(sizeof(float)), 64)};
    total_ += rows * ranges_[n_ - 1].lines;
  }
  // Spreads the lines added so far over `steps` calls of pump().
  void plan(int64_t steps) { per_ = ceil_div(total_, std::max<int64_t>(1, steps)); }
  void pump() {
    for (int64_t i = 0; i < per_ && cur_ < n_; ++i) {
      const Range& r = ranges_[cur_];
      __builtin_prefetch(r.p + row_ * r.ld + line_ * 64, 0, 2);
      if (++line_ == r.lines) {
        line_ = 0;
        if (++row_ == r.rows) {
          row_ = 0;
          ++cur_;
        }
      }
    }
  }
  void reset() { n_ = cur_ = 0, row_ = line_ = total_ = per_ = 0; }

 private:
  struct Range {
    const char* p;
    int64_t ld, rows, lines;
  };
  static constexpr int kMaxRanges = 5;
  Range ranges_[kMaxRanges];
  int n_ = 0, cur_ = 0;
  int64_t row_ = 0, line_ = 0, total_ = 0, per_ = 0;
};

struct Dims {
  int64_t B, H, N, M, D;
};

Dims dims_of(const OpCall& c) {
  const Shape& qs = c.in[0]->shape();
  return Dims{qs[0], qs[1], qs[2], c.in[1]->shape()[2], qs[3]};
}

// Base pointer of head (b, h) in a [B, H, rows, D] tensor with any strides.
const float* head_ptr(const Tensor& t, int64_t b, int64_t h) {
  return t.data<float>() + b * t.strides()[0] + h * t.strides()[1];
}

int thread_count(double work, int64_t units) {
  const double by_work = std::max(1.0, work / kMinWorkPerThread);
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>({static_cast<int64_t>(num_threads()), units,
                                                                    static_cast<int64_t>(by_work)})));
}

// ---- forward ---------------------------------------------------------------------------------

constexpr float kLog2e = 1.4426950408889634f;
constexpr double kLn2 = 0.6931471805599453;

bool forward_f32_impl(const OpCall& c) {
  using VR = typename V::R;
  const Tensor& q = *c.in[0];
  const Tensor& k = *c.in[1];
  const Tensor& v = *c.in[2];
  const Tensor& out = *c.out[0];
  const Tensor& lse = *c.out[1];
  const Dims s = dims_of(c);
  const int64_t N = s.N, M = s.M, D = s.D, H = s.H;
  if (s.B * H * N == 0) return true;
  if (M == 0) return false;
  const float qscale = static_cast<float>(c.p.a * 1.4426950408889634);
  const int64_t Dp = round_up(D, L);
  const int nvt = static_cast<int>(Dp / L);
  const int64_t nstrips = ceil_div(N, kMR), ngroups = ceil_div(nstrips, kFwdGroup);
  const int64_t units = s.B * H * ngroups;
  const int64_t ldq = q.strides()[2], ldk = k.strides()[2], ldv = v.strides()[2], ldo = out.strides()[2];
  float* lse_base = lse.data<float>();
  const double work = 2.0 * static_cast<double>(s.B * H) * static_cast<double>(N * M) * static_cast<double>(D);
  const int nt = thread_count(work, units);
  const int64_t kb = key_block(M, kFwdKeys);
  // Per strip statistics: m, alpha [kMR] scalars; l, rmax [kMR] vectors.
  constexpr int64_t kStat = 2 * kMR + 2 * kMR * L;

  parallel_run(nt, [&](int tid, int ntt) {
    const int64_t u0 = units * tid / ntt, u1 = units * (tid + 1) / ntt;
    if (u0 >= u1) return;
    float* kt = t_buf[kKt].get<float>(round_up(M, kNR) * D);
    float* vr = t_buf[kVr].get<float>(M * Dp);
    float* qp = t_buf[kQp].get<float>(kFwdGroup * D * kMR);
    float* pt = t_buf[kP].get<float>(kMR * kFwdKeys);
    float* ot = t_buf[kO].get<float>(kFwdGroup * kMR * Dp);
    float* st = t_buf[kStats].get<float>(kFwdGroup * kStat);
    const VR neg_inf = V::set1(-__builtin_inff());
    Prefetcher pf;
    int64_t cur = -1;
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t bh = u / ngroups, g = u % ngroups, b = bh / H, h = bh % H;
      if (bh != cur) {
        pack_panels(head_ptr(k, b, h), ldk, M, D, kt);
        pack_rows(head_ptr(v, b, h), ldv, M, M, D, Dp, vr);
        cur = bh;
      }
      const int64_t s0 = g * kFwdGroup, ns = std::min<int64_t>(kFwdGroup, nstrips - s0);
      // Prefetch the next unit's queries and this unit's share of the next head's keys and values.
      pf.reset();
      if (u + 1 < u1) {
        const int64_t nb = (u + 1) / ngroups, r0 = ((u + 1) % ngroups) * kFwdGroup * kMR;
        pf.add(head_ptr(q, nb / H, nb % H) + r0 * ldq, ldq, std::min<int64_t>(kFwdGroup * kMR, N - r0), D);
      }
      if ((bh + 1) * ngroups < u1) {
        const int64_t nb = bh + 1, j0 = M * g / ngroups, j1 = M * (g + 1) / ngroups;
        pf.add(head_ptr(k, nb / H, nb % H) + j0 * ldk, ldk, j1 - j0, D);
        pf.add(head_ptr(v, nb / H, nb % H) + j0 * ldv, ldv, j1 - j0, D);
      }
      pf.plan(ceil_div(M, kb) * ns);
      const float* qh = head_ptr(q, b, h);
      for (int64_t si = 0; si < ns; ++si) {
        pack_strip(qh, ldq, (s0 + si) * kMR, N, D, qscale, qp + si * D * kMR);
        float* m = st + si * kStat;
        float* lv = m + 2 * kMR;
        float* rmx = lv + kMR * L;
        for (int r = 0; r < kMR; ++r) {
          m[r] = -__builtin_inff();
          V::store(lv + r * L, V::zero());
          V::store(rmx + r * L, neg_inf);
        }
      }
      std::memset(ot, 0, sizeof(float) * ns * kMR * Dp);
      for (int64_t k0 = 0; k0 < M; k0 += kb) {
        const int64_t nk = std::min<int64_t>(kb, M - k0), nkv = round_up(nk, L);
        for (int64_t si = 0; si < ns; ++si) {
          pf.pump();
          const int nr = static_cast<int>(std::min<int64_t>(kMR, N - (s0 + si) * kMR));
          float* m = st + si * kStat;
          float* alpha = m + kMR;
          float* lv = alpha + kMR;
          float* rmx = lv + kMR * L;
          Epi es;
          es.c = pt;
          es.ldc = kFwdKeys;
          es.rmax = rmx;
          strip_scores<kStoreMax>(D, qp + si * D * kMR, kt, k0, nk, nr, es);
          for (int r = 0; r < nr; ++r) {
            float* pr = pt + r * kFwdKeys;
            const VR mo = V::set1(m[r]);
            const VR mn = V::max(mo, V::allmax(V::load(rmx + r * L)));
            V::store(rmx + r * L, neg_inf);
            const VR al = V::exp2(V::sub(mo, mn));
            VR sum0 = V::zero(), sum1 = V::zero();
            int64_t j = 0;
            for (; j + 2 * L <= nkv; j += 2 * L) {
              const VR p0 = V::exp2(V::sub(V::load(pr + j), mn));
              const VR p1 = V::exp2(V::sub(V::load(pr + j + L), mn));
              V::store(pr + j, p0);
              V::store(pr + j + L, p1);
              sum0 = V::add(sum0, p0);
              sum1 = V::add(sum1, p1);
            }
            if (j < nkv) {
              const VR p0 = V::exp2(V::sub(V::load(pr + j), mn));
              V::store(pr + j, p0);
              sum0 = V::add(sum0, p0);
            }
            V::store(lv + r * L, V::fma(V::load(lv + r * L), al, V::add(sum0, sum1)));
            m[r] = V::first(mn);
            alpha[r] = V::first(al);
          }
          Epi eo;
          eo.c = ot + si * kMR * Dp;
          eo.ldc = Dp;
          eo.rowv = alpha;
          rows_product<kFwdKeys, 1, kRescaleAdd>(nr, nk, pt, vr + k0 * Dp, Dp, nvt, eo);
        }
      }
      float* oh = out.data<float>() + b * out.strides()[0] + h * out.strides()[1];
      for (int64_t si = 0; si < ns; ++si) {
        const int64_t r0 = (s0 + si) * kMR, nr = std::min<int64_t>(kMR, N - r0);
        const float* m = st + si * kStat;
        const float* lv = m + 2 * kMR;
        for (int64_t r = 0; r < nr; ++r) {
          const float l = V::hsum(V::load(lv + r * L));
          const VR inv = V::set1(1.0f / l);
          const float* o = ot + (si * kMR + r) * Dp;
          float* dst = oh + (r0 + r) * ldo;
          int64_t d = 0;
          for (; d + L <= D; d += L) V::store(dst + d, V::mul(V::load(o + d), inv));
          if (d < D) V::store_n(dst + d, V::mul(V::load(o + d), inv), static_cast<int>(D - d));
          lse_base[bh * N + r0 + r] = static_cast<float>(m[r] * kLn2 + std::log(static_cast<double>(l)));
        }
      }
    }
  });
  return true;
}

// ---- backward --------------------------------------------------------------------------------

// Rows of a [B, H, rows, D] output with any strides but a unit last one: (bh, i) -> row start.
struct OutRows {
  float* base;
  int64_t H, sb, sh, sr;
  OutRows(const Tensor& t, int64_t heads)
      : base(t.data<float>()), H(heads), sb(t.strides()[0]), sh(t.strides()[1]), sr(t.strides()[2]) {}
  float* operator()(int64_t bh, int64_t i) const { return base + (bh / H) * sb + (bh % H) * sh + i * sr; }
};

struct BwdHead {
  const float *kt, *vt, *kr, *qp, *dop, *qr, *dor, *lse, *di;
};

bool backward_f32_impl(const OpCall& c) {
  const Tensor& q = *c.in[0];
  const Tensor& k = *c.in[1];
  const Tensor& v = *c.in[2];
  const Tensor& o = *c.in[3];
  const Tensor& lse = *c.in[4];
  const Tensor& dout = *c.in[5];
  const Dims s = dims_of(c);
  const int64_t N = s.N, M = s.M, D = s.D, H = s.H, BH = s.B * s.H;
  // dq, dk, dv: [B, H, rows, D] with any strides but a unit last one (e.g. views into one fused
  // qkv gradient); row i of head bh starts at rows(bh, i).
  const OutRows dq(*c.out[0], H), dk(*c.out[1], H), dv(*c.out[2], H);
  if (BH == 0) return true;
  if (N == 0 || M == 0) {
    for (int64_t bh = 0; bh < BH; ++bh) {
      for (int64_t j = 0; j < M; ++j) {
        std::memset(dk(bh, j), 0, sizeof(float) * D);
        std::memset(dv(bh, j), 0, sizeof(float) * D);
      }
      for (int64_t i = 0; i < N; ++i) std::memset(dq(bh, i), 0, sizeof(float) * D);
    }
    return true;
  }
  const float scale = static_cast<float>(c.p.a);
  const float qscale = static_cast<float>(c.p.a * 1.4426950408889634);
  const int64_t Dp = round_up(D, L);
  const int nvt = static_cast<int>(Dp / L);
  const int64_t nstrips = ceil_div(N, kMR), Np = nstrips * kMR;
  const int64_t kbs = key_block(M, kBwdKeys), nkb = ceil_div(M, kbs), nqb = ceil_div(nstrips, kBwdGroup);
  const int64_t ldq = q.strides()[2], ldk = k.strides()[2], ldv = v.strides()[2];
  const int64_t ldo = o.strides()[2], lddo = dout.strides()[2];
  const float* lse_base = lse.data<float>();
  // dQ sums the contributions of the key blocks in chunks of cbk consecutive blocks (at most
  // kMaxChunks chunks), chunk by chunk: a fixed order that depends on M only.
  const int64_t cbk = ceil_div(nkb, kMaxChunks), nch = ceil_div(nkb, cbk);
  const double work = 5.0 * static_cast<double>(BH) * static_cast<double>(N * M) * static_cast<double>(D);
  // Heads are the work units unless there are too few of them for the threads (or they would
  // leave threads idle for a good part of the last round) and the partial dQ buffers the
  // (head, chunk) split needs stay moderate.
  const int64_t most = thread_count(work, BH * nch);
  const bool uneven = BH < most || (BH % most != 0 && BH < 4 * most);
  const double partial_bytes = static_cast<double>(BH * nch) * static_cast<double>(Np * Dp) * sizeof(float);
  const bool split = nch > 1 && uneven && partial_bytes <= kMaxPartialBytes;
  const int nt = thread_count(work, split ? BH * nch : BH);

  // Packs head bh into this thread's buffers.
  auto prep = [&](int64_t bh) {
    const int64_t b = bh / H, h = bh % H;
    BwdHead w;
    float* kt = t_buf[kKt].get<float>(round_up(M, kNR) * D);
    float* vt = t_buf[kVt].get<float>(round_up(M, kNR) * D);
    float* kr = t_buf[kKr].get<float>(M * Dp);
    float* qp = t_buf[kQp].get<float>(Np * D);
    float* dop = t_buf[kDOp].get<float>(Np * D);
    float* qr = t_buf[kQr].get<float>(Np * Dp);
    float* dor = t_buf[kDOr].get<float>(Np * Dp);
    float* lp = t_buf[kLse].get<float>(Np);
    float* di = t_buf[kDi].get<float>(Np);
    const float* kh = head_ptr(k, b, h);
    const float* qh = head_ptr(q, b, h);
    const float* doh = head_ptr(dout, b, h);
    const float* oh = head_ptr(o, b, h);
    pack_panels(kh, ldk, M, D, kt);
    pack_panels(head_ptr(v, b, h), ldv, M, D, vt);
    pack_rows(kh, ldk, M, M, D, Dp, kr);
    for (int64_t st = 0; st < nstrips; ++st) {
      pack_strip(qh, ldq, st * kMR, N, D, qscale, qp + st * D * kMR);
      pack_strip(doh, lddo, st * kMR, N, D, 1.0f, dop + st * D * kMR);
    }
    pack_rows(qh, ldq, N, Np, D, Dp, qr);
    pack_rows(doh, lddo, N, Np, D, Dp, dor);
    for (int64_t i = 0; i < N; ++i) {
      lp[i] = lse_base[bh * N + i] * kLog2e;
      const float* x = doh + i * lddo;
      const float* y = oh + i * ldo;
      typename V::R acc = V::zero();
      int64_t d = 0;
      for (; d + L <= D; d += L) acc = V::fma(V::load(x + d), V::load(y + d), acc);
      if (d < D) {
        const int n = static_cast<int>(D - d);
        acc = V::fma(V::load_n(x + d, n), V::load_n(y + d, n), acc);
      }
      di[i] = V::hsum(acc);
    }
    for (int64_t i = N; i < Np; ++i) {
      lp[i] = std::numeric_limits<float>::infinity();
      di[i] = 0.0f;
    }
    w.kt = kt, w.vt = vt, w.kr = kr, w.qp = qp, w.dop = dop, w.qr = qr, w.dor = dor, w.lse = lp, w.di = di;
    return w;
  };

  // Key block kb of the head in w: writes its dK, dV rows and stores (first) or adds its dQ
  // contribution to dqt ([Np][Dp]).
  auto key_block = [&](const BwdHead& w, int64_t bh, int64_t kb, float* dqt, bool first, Prefetcher& pf) {
    const int64_t k0 = kb * kbs, nk = std::min<int64_t>(kbs, M - k0);
    float* pt = t_buf[kP].get<float>(kBwdGroup * kMR * kBwdKeys);
    float* dst = t_buf[kDS].get<float>(kBwdGroup * kMR * kBwdKeys);
    float* dka = t_buf[kDK].get<float>(kBwdKeys * Dp);
    float* dva = t_buf[kDV].get<float>(kBwdKeys * Dp);
    std::memset(dka, 0, sizeof(float) * nk * Dp);
    std::memset(dva, 0, sizeof(float) * nk * Dp);
    for (int64_t qb = 0; qb < nqb; ++qb) {
      const int64_t s0 = qb * kBwdGroup, ns = std::min<int64_t>(kBwdGroup, nstrips - s0), q0 = s0 * kMR;
      pf.pump();
      for (int64_t si = 0; si < ns; ++si) {
        const int64_t st = s0 + si;
        const int nr = static_cast<int>(std::min<int64_t>(kMR, N - st * kMR));
        Epi ep;
        ep.c = pt + si * kMR * kBwdKeys;
        ep.ldc = kBwdKeys;
        ep.rowv = w.lse + st * kMR;
        strip_scores<kExpSub>(D, w.qp + st * D * kMR, w.kt, k0, nk, nr, ep);
        Epi ed;
        ed.c = dst + si * kMR * kBwdKeys;
        ed.ldc = kBwdKeys;
        ed.rowv = w.di + st * kMR;
        ed.aux = ep.c;
        ed.ldaux = kBwdKeys;
        ed.scale = scale;
        strip_scores<kDs>(D, w.dop + st * D * kMR, w.vt, k0, nk, nr, ed);
      }
      const int64_t nq = std::min<int64_t>(ns * kMR, N - q0);
      Epi e;
      e.ldc = Dp;
      e.c = dva;
      rows_product<1, kBwdKeys, kAdd>(nk, nq, pt, w.dor + q0 * Dp, Dp, nvt, e);
      e.c = dka;
      rows_product<1, kBwdKeys, kAdd>(nk, nq, dst, w.qr + q0 * Dp, Dp, nvt, e);
      e.c = dqt + q0 * Dp;
      if (first) rows_product<kBwdKeys, 1, kStore>(nq, nk, dst, w.kr + k0 * Dp, Dp, nvt, e);
      else rows_product<kBwdKeys, 1, kAdd>(nq, nk, dst, w.kr + k0 * Dp, Dp, nvt, e);
    }
    for (int64_t j = 0; j < nk; ++j) {
      std::memcpy(dk(bh, k0 + j), dka + j * Dp, sizeof(float) * D);
      std::memcpy(dv(bh, k0 + j), dva + j * Dp, sizeof(float) * D);
    }
  };

  auto write_dq = [&](int64_t bh, const float* dqt) {
    for (int64_t i = 0; i < N; ++i) std::memcpy(dq(bh, i), dqt + i * Dp, sizeof(float) * D);
  };

  // Key chunk ch of head bh: its key blocks in order, dQ contribution stored to dqc.
  auto key_chunk = [&](const BwdHead& w, int64_t bh, int64_t ch, float* dqc, Prefetcher& pf) {
    for (int64_t kb = ch * cbk; kb < std::min(nkb, (ch + 1) * cbk); ++kb) key_block(w, bh, kb, dqc, kb == ch * cbk, pf);
  };

  if (!split) {
    parallel_run(nt, [&](int tid, int ntt) {
      const int64_t h0 = BH * tid / ntt, h1 = BH * (tid + 1) / ntt;
      Prefetcher pf;
      for (int64_t bh = h0; bh < h1; ++bh) {
        const BwdHead w = prep(bh);
        float* dqt = t_buf[kDQ].get<float>(Np * Dp);
        float* dqc = nch > 1 ? t_buf[kDQC].get<float>(Np * Dp) : nullptr;
        // While this head runs, prefetch the inputs of the next one.
        pf.reset();
        if (bh + 1 < h1) {
          const int64_t b = (bh + 1) / H, h = (bh + 1) % H;
          pf.add(head_ptr(k, b, h), ldk, M, D);
          pf.add(head_ptr(v, b, h), ldv, M, D);
          pf.add(head_ptr(q, b, h), ldq, N, D);
          pf.add(head_ptr(dout, b, h), lddo, N, D);
          pf.add(head_ptr(o, b, h), ldo, N, D);
        }
        pf.plan(nkb * nqb);
        for (int64_t ch = 0; ch < nch; ++ch) {
          key_chunk(w, bh, ch, ch == 0 ? dqt : dqc, pf);
          if (ch > 0)
            for (int64_t i = 0; i < N * Dp; i += L) V::store(dqt + i, V::add(V::load(dqt + i), V::load(dqc + i)));
        }
        write_dq(bh, dqt);
      }
    });
    return true;
  }
  // Fewer heads than threads: spread (head, key chunk) items over threads, each storing its
  // chunk's dQ contribution to a partial buffer; the partials are then summed in chunk order,
  // which is exactly what the one-thread-per-head path computes.
  const int64_t per = Np * Dp, items = BH * nch;
  std::unique_ptr<float, decltype(&std::free)> partial(
      static_cast<float*>(std::aligned_alloc(64, round_up(sizeof(float) * items * per, 64))), &std::free);
  if (!partial) throw std::bad_alloc();
  parallel_run(nt, [&](int tid, int ntt) {
    const int64_t i0 = items * tid / ntt, i1 = items * (tid + 1) / ntt;
    int64_t cur = -1;
    BwdHead w{};
    Prefetcher none;
    for (int64_t it = i0; it < i1; ++it) {
      const int64_t bh = it / nch;
      if (bh != cur) {
        w = prep(bh);
        cur = bh;
      }
      key_chunk(w, bh, it % nch, partial.get() + it * per, none);
    }
  });
  const float* pbase = partial.get();
  parallel_for(BH * N, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t bh = r / N, i = r % N;
      float* dst = dq(bh, i);
      const float* p = pbase + bh * nch * per + i * Dp;
      for (int64_t d = 0; d < D; ++d) dst[d] = p[d];
      for (int64_t ch = 1; ch < nch; ++ch)
        for (int64_t d = 0; d < D; ++d) dst[d] += p[ch * per + d];
    }
  });
  return true;
}
