// Indexing kernels: INDEX_SELECT, GATHER, SCATTER_ADD, INDEX_ADD, MASKED_FILL, MASKED_SELECT,
// ONE_HOT. Index values were range-checked by the dispatcher. Accumulating kernels
// (SCATTER_ADD, INDEX_ADD) run serially: duplicate indices would race otherwise, and the order
// of additions stays fixed, so results do not depend on the thread count.
#include <cstdint>
#include <cstring>

#include "core/backend.h"
#include "cpu/dims.h"
#include "cpu/dtype_visit.h"
#include "cpu/kernels.h"
#include "cpu/loop.h"

namespace raddino::cpu {
namespace {

int64_t load_index(const char* p, DType d) {
  if (d == DType::I64) return *reinterpret_cast<const int64_t*>(p);
  return *reinterpret_cast<const int32_t*>(p);
}

// A view of t with `shape` whose stride along `dim` is 0: element i of the index tensor then
// addresses t at (its coordinates, with dim replaced by the index value * stride of dim).
Tensor zero_dim_view(const Tensor& t, const Shape& shape, int dim) {
  Shape strides = t.strides();
  strides[dim] = 0;
  return Tensor(t.storage(), t.dtype(), shape, strides, t.offset());
}

template <typename S>
void index_select_typed(const OpCall& c) {
  const Tensor& x = *c.in[0];
  const Tensor& idx = *c.in[1];
  const Tensor& out = *c.out[0];
  const int d = static_cast<int>(c.p.dim);
  Dims outer, inner;  // the dims of x before and after d
  for (int i = 0; i < x.ndim(); ++i) {
    if (i == d) continue;
    Dims& g = i < d ? outer : inner;
    g.size[g.n] = x.shape()[i];
    g.stride[g.n] = x.strides()[i];
    ++g.n;
  }
  inner.coalesce();
  const int64_t J = idx.numel(), inner_n = inner.count(), sd = x.strides()[d];
  const bool inner_contig = inner.n == 0 || (inner.n == 1 && inner.stride[0] == 1);
  const S* xb = x.data<S>();
  S* ob = out.data<S>();
  const char* ib = static_cast<const char*>(idx.data_ptr());
  const int64_t is = idx.ndim() ? idx.strides()[0] * static_cast<int64_t>(idx.itemsize()) : 0;
  parallel_for(outer.count() * J, std::max<int64_t>(1, 4096 / std::max<int64_t>(inner_n, 1)), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      int64_t o = r / J, j = r % J;
      const S* src = xb + outer.offset(o) + load_index(ib + j * is, idx.dtype()) * sd;
      S* dst = ob + r * inner_n;
      if (inner_contig) {
        std::memcpy(dst, src, static_cast<size_t>(inner_n) * sizeof(S));
      } else {
        for (int64_t k = 0; k < inner_n; ++k) dst[k] = src[inner.offset(k)];
      }
    }
  });
}

template <typename S>
void gather_typed(const OpCall& c) {
  const Tensor& x = *c.in[0];
  const Tensor& idx = *c.in[1];
  const int d = static_cast<int>(c.p.dim);
  const Tensor xv = zero_dim_view(x, idx.shape(), d);
  const int64_t sd = x.strides()[d] * static_cast<int64_t>(sizeof(S));
  const DType id = idx.dtype();
  StridedLoop<3> loop({c.out[0], &idx, &xv});
  loop.parallel([&](char* const* p, const int64_t* s, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      int64_t k = load_index(p[1] + i * s[1], id);
      *reinterpret_cast<S*>(p[0] + i * s[0]) = *reinterpret_cast<const S*>(p[2] + i * s[2] + k * sd);
    }
  });
}

template <typename T>
void scatter_add_typed(const OpCall& c) {
  using S = typename T::S;
  const Tensor& idx = *c.in[0];
  const Tensor& src = *c.in[1];
  const Tensor& out = *c.out[0];
  const int d = static_cast<int>(c.p.dim);
  const Tensor ov = zero_dim_view(out, idx.shape(), d);
  const Tensor sv(src.storage(), src.dtype(), idx.shape(), src.strides(), src.offset());
  const int64_t sd = out.strides()[d] * static_cast<int64_t>(sizeof(S));
  const DType id = idx.dtype();
  StridedLoop<3> loop({&ov, &idx, &sv});
  loop.run(0, loop.numel, [&](char* const* p, const int64_t* s, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      int64_t k = load_index(p[1] + i * s[1], id);
      S* o = reinterpret_cast<S*>(p[0] + i * s[0] + k * sd);
      *o = T::store(T::load(*o) + T::load(*reinterpret_cast<const S*>(p[2] + i * s[2])));
    }
  });
}

template <typename T>
void index_add_typed(const OpCall& c) {
  using S = typename T::S;
  using C = typename T::Cmp;
  const Tensor& idx = *c.in[0];
  const Tensor& src = *c.in[1];
  const Tensor& out = *c.out[0];
  const int d = static_cast<int>(c.p.dim);
  const C alpha = static_cast<C>(c.p.a);
  const Dims orest = dims_of(out, d), srest = dims_of(src, d);
  const int64_t J = idx.numel(), rest = orest.count();
  const char* ib = static_cast<const char*>(idx.data_ptr());
  const int64_t is = idx.ndim() ? idx.strides()[0] * static_cast<int64_t>(idx.itemsize()) : 0;
  S* ob = out.data<S>();
  const S* sb = src.data<S>();
  for (int64_t j = 0; j < J; ++j) {
    int64_t k = load_index(ib + j * is, idx.dtype());
    S* o = ob + k * out.strides()[d];
    const S* s = sb + j * src.strides()[d];
    for (int64_t r = 0; r < rest; ++r) {
      S& dst = o[orest.offset(r)];
      dst = T::store(static_cast<C>(T::load(dst) + alpha * T::load(s[srest.offset(r)])));
    }
  }
}

template <typename T>
void masked_fill_typed(const OpCall& c) {
  using S = typename T::S;
  const S v = convert_to<T>(c.p.a);
  StridedLoop<3> loop({c.out[0], c.in[0], c.in[1]});
  loop.parallel([v](char* const* p, const int64_t* s, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      const S x = *reinterpret_cast<const S*>(p[1] + i * s[1]);
      *reinterpret_cast<S*>(p[0] + i * s[0]) = *reinterpret_cast<const uint8_t*>(p[2] + i * s[2]) ? v : x;
    }
  });
}

template <typename S>
void masked_select_typed(const OpCall& c) {
  S* o = c.out[0]->data<S>();
  int64_t at = 0;
  StridedLoop<2> loop({c.in[0], c.in[1]});
  loop.run(0, loop.numel, [&](char* const* p, const int64_t* s, int64_t n) {
    for (int64_t i = 0; i < n; ++i)
      if (*reinterpret_cast<const uint8_t*>(p[1] + i * s[1])) o[at++] = *reinterpret_cast<const S*>(p[0] + i * s[0]);
  });
}

void one_hot(const OpCall& c) {
  const Tensor& idx = *c.in[0];
  int64_t* o = c.out[0]->data<int64_t>();
  const int64_t C = c.p.k, n = idx.numel();
  const Dims dims = dims_of(idx);
  const char* ib = static_cast<const char*>(idx.data_ptr());
  const int64_t item = static_cast<int64_t>(idx.itemsize());
  parallel_for(n, 4096, [&](int64_t b, int64_t e) {
    std::memset(o + b * C, 0, static_cast<size_t>((e - b) * C) * sizeof(int64_t));
    for (int64_t i = b; i < e; ++i) o[i * C + load_index(ib + dims.offset(i) * item, idx.dtype())] = 1;
  });
}

// Calls f<S>() with the unsigned storage type of the dtype's size (for pure data movement).
template <template <typename> class F>
void by_size(DType d, const OpCall& c) {
  switch (dtype_size(d)) {
    case 1: F<uint8_t>::run(c); break;
    case 2: F<uint16_t>::run(c); break;
    case 4: F<uint32_t>::run(c); break;
    case 8: F<uint64_t>::run(c); break;
  }
}
template <typename S>
struct IndexSelectF {
  static void run(const OpCall& c) { index_select_typed<S>(c); }
};
template <typename S>
struct GatherF {
  static void run(const OpCall& c) { gather_typed<S>(c); }
};
template <typename S>
struct MaskedSelectF {
  static void run(const OpCall& c) { masked_select_typed<S>(c); }
};

}  // namespace

void index_kernel(const OpCall& c) {
  switch (c.op) {
    case Op::INDEX_SELECT: by_size<IndexSelectF>(c.in[0]->dtype(), c); break;
    case Op::GATHER: by_size<GatherF>(c.in[0]->dtype(), c); break;
    case Op::MASKED_SELECT: by_size<MaskedSelectF>(c.in[0]->dtype(), c); break;
    case Op::SCATTER_ADD: visit_dtype(c.out[0]->dtype(), [&](auto t) { scatter_add_typed<decltype(t)>(c); }); break;
    case Op::INDEX_ADD: visit_dtype(c.out[0]->dtype(), [&](auto t) { index_add_typed<decltype(t)>(c); }); break;
    case Op::MASKED_FILL: visit_dtype(c.out[0]->dtype(), [&](auto t) { masked_fill_typed<decltype(t)>(c); }); break;
    case Op::ONE_HOT: one_hot(c); break;
    default: break;
  }
}

}  // namespace raddino::cpu
