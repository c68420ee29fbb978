// Indexing on CUDA: INDEX_SELECT and GATHER (pure data movement, every dtype by element size),
// SCATTER_ADD and INDEX_ADD (atomic adds: duplicates accumulate in any order, so float results may
// differ from the CPU's serial order by rounding), MASKED_FILL (every dtype). Index values were
// range-checked by the dispatcher (core/ops_index.cc); semantics as cpu/index.cc.
//
// Each op is one pass over the elements of an iteration shape with Iter<3> offsets: the tensor
// addressed through the index gets stride 0 along `dim`, and the index value times that tensor's
// stride along `dim` is added per element.
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "cuda/common.cuh"
#include "cuda/kernels.h"

namespace raddino::cuda {
namespace {

__device__ __forceinline__ int64_t load_index(const void* base, int64_t off, bool i64) {
  return i64 ? static_cast<const int64_t*>(base)[off] : static_cast<const int32_t*>(base)[off];
}

// out[o0] = x[o1 + idx[o2] * sd]: index_select and gather (offsets in elements).
template <typename S>
__global__ void gather_like(Iter<3> it, int64_t n, S* __restrict__ out, const S* __restrict__ x, const void* idx, bool i64,
                            int64_t sd) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off[3];
    it.offsets(i, off);
    out[off[0]] = x[off[1] + load_index(idx, off[2], i64) * sd];
  }
}

template <typename S>
__device__ __forceinline__ void atomic_add(S* p, S v) {
  atomicAdd(p, v);
}
template <>
__device__ __forceinline__ void atomic_add<int64_t>(int64_t* p, int64_t v) {
  atomicAdd(reinterpret_cast<unsigned long long*>(p), static_cast<unsigned long long>(v));
}

// Accumulation type: float for the half types (the CPU's compute type), else the type itself.
template <typename S>
struct Acc {
  using type = S;
};
template <>
struct Acc<__nv_bfloat16> {
  using type = float;
};
template <>
struct Acc<__half> {
  using type = float;
};

// out[o0 + idx[o2] * sd] += alpha * src[o1]: scatter_add (alpha 1) and index_add.
template <typename S>
__global__ void scatter_like(Iter<3> it, int64_t n, S* out, const S* __restrict__ src, const void* idx, bool i64, int64_t sd,
                             typename Acc<S>::type alpha) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off[3];
    it.offsets(i, off);
    S* dst = out + off[0] + load_index(idx, off[2], i64) * sd;
    if constexpr (std::is_same_v<S, __nv_bfloat16> || std::is_same_v<S, __half>)
      atomic_add(dst, from_f<S>(alpha * to_f(src[off[1]])));
    else
      atomic_add(dst, static_cast<S>(alpha * src[off[1]]));
  }
}

template <typename S>
__global__ void masked_fill_k(Iter<3> it, int64_t n, S* __restrict__ out, const S* __restrict__ x, const uint8_t* __restrict__ m,
                              S value) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off[3];
    it.offsets(i, off);
    out[off[0]] = m[off[2]] ? value : x[off[1]];
  }
}

// Calls f with the unsigned storage type of the element size.
template <typename F>
void by_size(DType d, F&& f) {
  switch (dtype_size(d)) {
    case 1: f(uint8_t{}); return;
    case 2: f(uint16_t{}); return;
    case 4: f(uint32_t{}); return;
    case 8: f(uint64_t{}); return;
    default: raise(ErrorKind::Type, "", std::string("cuda: no element size for dtype ") + dtype_name(d));
  }
}

// The accumulating dtypes: floating and 32/64-bit integers.
template <typename F>
void visit_accum(const char* op, DType d, F&& f) {
  switch (d) {
    case DType::F32: f(float{}); return;
    case DType::F64: f(double{}); return;
    case DType::BF16: f(__nv_bfloat16{}); return;
    case DType::F16: f(__half{}); return;
    case DType::I32: f(int32_t{}); return;
    case DType::I64: f(int64_t{}); return;
    default: raise(ErrorKind::Type, "", std::string(op) + ": dtype " + dtype_name(d) + " is not supported on cuda");
  }
}

// The value masked_fill writes, as the CPU's convert_to gives it (cpu/dtype_visit.h): float types
// round through float, integers saturate with NaN -> 0, bool is (v != 0). Returned as raw bits.
template <typename I>
I saturate(double v) {
  if (v != v) return I(0);
  if (v <= static_cast<double>(std::numeric_limits<I>::lowest())) return std::numeric_limits<I>::lowest();
  if (v >= static_cast<double>(std::numeric_limits<I>::max())) return std::numeric_limits<I>::max();
  return static_cast<I>(v);
}
uint64_t fill_bits(DType d, double v) {
  uint64_t bits = 0;
  auto put = [&](auto x) { std::memcpy(&bits, &x, sizeof x); };
  switch (d) {
    case DType::F32: put(static_cast<float>(v)); break;
    case DType::F64: put(v); break;
    case DType::BF16: put(__float2bfloat16_rn(static_cast<float>(v))); break;
    case DType::F16: put(__float2half_rn(static_cast<float>(v))); break;
    case DType::I32: put(saturate<int32_t>(v)); break;
    case DType::I64: put(saturate<int64_t>(v)); break;
    case DType::U8: put(saturate<uint8_t>(v)); break;
    case DType::BOOL: put(static_cast<uint8_t>(v != 0.0)); break;
    default: raise(ErrorKind::Type, "", std::string("masked_fill: dtype ") + dtype_name(d) + " is not supported on cuda");
  }
  return bits;
}

Shape with_dim(Shape s, int d, int64_t v) {
  s[d] = v;
  return s;
}
// Strides over `shape` that move only along d, by `step` (an index tensor walked along one dim).
Shape along(const Shape& shape, int d, int64_t step) {
  Shape s(shape.size(), 0);
  s[d] = step;
  return s;
}

}  // namespace

void index_kernel(const OpCall& c) {
  cudaStream_t s = stream_for(call_device(c));
  const int d = static_cast<int>(c.p.dim);
  switch (c.op) {
    case Op::INDEX_SELECT: {  // in: x, idx (1-D); out: x's shape with dim d = len(idx)
      const Tensor& x = *c.in[0];
      const Tensor& idx = *c.in[1];
      const Tensor& out = *c.out[0];
      const Shape xs = with_dim(x.strides(), d, 0), is = along(out.shape(), d, idx.ndim() ? idx.strides()[0] : 0);
      const Shape* strides[3] = {&out.strides(), &xs, &is};
      Iter<3> it = make_iter<3>(out.shape(), strides);
      const int64_t n = numel_of(out);
      by_size(x.dtype(), [&](auto tag) {
        using S = decltype(tag);
        gather_like<S><<<blocks_for(n, 256), 256, 0, s>>>(it, n, out.data<S>(), x.data<S>(), idx.data_ptr(),
                                                          idx.dtype() == DType::I64, x.strides()[d]);
      });
      break;
    }
    case Op::GATHER: {  // in: x, idx (x's ndim); out: idx's shape
      const Tensor& x = *c.in[0];
      const Tensor& idx = *c.in[1];
      const Tensor& out = *c.out[0];
      const Shape xs = with_dim(x.strides(), d, 0);
      const Shape* strides[3] = {&out.strides(), &xs, &idx.strides()};
      Iter<3> it = make_iter<3>(idx.shape(), strides);
      const int64_t n = numel_of(idx);
      by_size(x.dtype(), [&](auto tag) {
        using S = decltype(tag);
        gather_like<S><<<blocks_for(n, 256), 256, 0, s>>>(it, n, out.data<S>(), x.data<S>(), idx.data_ptr(),
                                                          idx.dtype() == DType::I64, x.strides()[d]);
      });
      break;
    }
    case Op::SCATTER_ADD: {  // in: idx, src; out: the clone of x, updated in place; over idx's shape
      const Tensor& idx = *c.in[0];
      const Tensor& src = *c.in[1];
      const Tensor& out = *c.out[0];
      const Shape os = with_dim(out.strides(), d, 0);
      const Shape* strides[3] = {&os, &src.strides(), &idx.strides()};
      Iter<3> it = make_iter<3>(idx.shape(), strides);
      const int64_t n = numel_of(idx);
      visit_accum("scatter_add", out.dtype(), [&](auto tag) {
        using S = decltype(tag);
        scatter_like<S><<<blocks_for(n, 256), 256, 0, s>>>(it, n, out.data<S>(), src.data<S>(), idx.data_ptr(),
                                                           idx.dtype() == DType::I64, out.strides()[d],
                                                           typename Acc<S>::type(1));
      });
      break;
    }
    case Op::INDEX_ADD: {  // in: idx (1-D), src (x's shape with dim d = len(idx)); out: the clone of x
      const Tensor& idx = *c.in[0];
      const Tensor& src = *c.in[1];
      const Tensor& out = *c.out[0];
      const Shape os = with_dim(out.strides(), d, 0), is = along(src.shape(), d, idx.ndim() ? idx.strides()[0] : 0);
      const Shape* strides[3] = {&os, &src.strides(), &is};
      Iter<3> it = make_iter<3>(src.shape(), strides);
      const int64_t n = numel_of(src);
      visit_accum("index_add", out.dtype(), [&](auto tag) {
        using S = decltype(tag);
        using A = typename Acc<S>::type;
        scatter_like<S><<<blocks_for(n, 256), 256, 0, s>>>(it, n, out.data<S>(), src.data<S>(), idx.data_ptr(),
                                                           idx.dtype() == DType::I64, out.strides()[d],
                                                           static_cast<A>(c.p.a));
      });
      break;
    }
    case Op::MASKED_FILL: {  // in: x, mask (bool, expanded to x's shape); out: contiguous
      const Tensor& x = *c.in[0];
      const Tensor& m = *c.in[1];
      const Tensor& out = *c.out[0];
      const Shape* strides[3] = {&out.strides(), &x.strides(), &m.strides()};
      Iter<3> it = make_iter<3>(out.shape(), strides);
      const int64_t n = numel_of(out);
      const uint64_t bits = fill_bits(x.dtype(), c.p.a);
      by_size(x.dtype(), [&](auto tag) {
        using S = decltype(tag);
        S v;
        std::memcpy(&v, &bits, sizeof v);
        masked_fill_k<S><<<blocks_for(n, 256), 256, 0, s>>>(it, n, out.data<S>(), x.data<S>(), m.data<uint8_t>(), v);
      });
      break;
    }
    default:
      raise(ErrorKind::Value, "", std::string("cuda: index_kernel got op ") + std::to_string(static_cast<int>(c.op)));
  }
  RADDINO_CUDA_LAUNCHED("index");
}

}  // namespace raddino::cuda
