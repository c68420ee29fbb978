// MATMUL through cuBLASLt: float32 (tf32 tensor cores when set_tf32(true)), bfloat16 and
// float16 with float32 accumulation; batched over strided (and stride-0 broadcast) batch dims;
// either operand may be a transposed view; the optional bias [N] is the BIAS epilogue.
//
// Row-major C[M, N] = A[M, K] B[K, N] is, read column-major, C^T = B^T A^T: cuBLASLt's first
// operand is our B and its second our A, and C^T's column-major layout is C's row-major one.
#include <cublasLt.h>

#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include "cuda/common.cuh"
#include "cuda/kernels.h"

namespace raddino::cuda {
namespace {

constexpr size_t kWorkspaceBytes = size_t(32) << 20;
bool g_tf32 = false;

struct LtState {
  cublasLtHandle_t handle = nullptr;
  void* workspace = nullptr;
};
std::mutex g_mu;
std::map<int, LtState> g_states;

std::string status_name(cublasStatus_t st) {
  switch (st) {
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return std::to_string(static_cast<int>(st));
  }
}

void check_lt(cublasStatus_t st, const char* what) {
  if (st == CUBLAS_STATUS_SUCCESS) return;
  bool oom = st == CUBLAS_STATUS_ALLOC_FAILED;
  raise(oom ? ErrorKind::Range : ErrorKind::Value, oom ? "ERR_RADDINO_CUDA_OOM" : "ERR_RADDINO_CUBLAS",
        std::string("matmul: cuBLASLt ") + what + " failed with status " + status_name(st));
}

LtState& lt_state(int device) {
  std::lock_guard<std::mutex> lock(g_mu);
  LtState& s = g_states[device];
  if (!s.handle) {
    check_lt(cublasLtCreate(&s.handle), "cublasLtCreate");
    s.workspace = device_alloc(kWorkspaceBytes, device);  // kept for the process
  }
  return s;
}

// How cuBLASLt sees one operand: column-major rows x cols with leading dimension ld, and
// whether it must be transposed to be the operand's row-major [rows', cols'] meaning.
struct MatView {
  bool ok = false;
  bool trans = false;  // stored column-major as [R, C]
  int64_t ld = 0;
};

// A [R, C] matrix with strides (sr, sc) in elements.
MatView view_of(int64_t R, int64_t C, int64_t sr, int64_t sc) {
  MatView v;
  if ((C == 1 || sc == 1) && (R == 1 || sr >= C)) {
    v.ok = true;
    v.trans = false;
    v.ld = R == 1 ? (C > 1 ? C : 1) : sr;
  } else if ((R == 1 || sr == 1) && (C == 1 || sc >= R)) {
    v.ok = true;
    v.trans = true;
    v.ld = C == 1 ? (R > 1 ? R : 1) : sc;
  }
  return v;
}

cudaDataType_t cuda_type(DType d) {
  switch (d) {
    case DType::BF16: return CUDA_R_16BF;
    case DType::F16: return CUDA_R_16F;
    default: return CUDA_R_32F;
  }
}

// The heuristic's answer is cached per problem (it costs tens of microseconds per query).
using AlgoKey = std::tuple<int, int, int, int, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int, int64_t,
                           int64_t, int64_t, int, int>;
std::map<AlgoKey, cublasLtMatmulAlgo_t> g_algos;

struct Desc {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  ~Desc() {
    if (op) cublasLtMatmulDescDestroy(op);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (d) cublasLtMatrixLayoutDestroy(d);
  }
};

void set_batch(cublasLtMatrixLayout_t l, int batch, int64_t stride) {
  check_lt(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batch, sizeof batch), "layout");
  check_lt(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride),
           "layout");
}

// One (strided-batched) GEMM: out[b] = a[b] @ bm[b] (+ bias), row-major, out contiguous [M, N].
void gemm(int dev, DType dt, const void* a, MatView va, int64_t sa, const void* bm, MatView vb, int64_t sb, void* out,
          int64_t so, int64_t M, int64_t N, int64_t K, int batch, const void* bias) {
  LtState& st = lt_state(dev);
  cudaStream_t s = stream_for(dev);
  const cudaDataType_t t = cuda_type(dt);
  const cublasComputeType_t compute =
      dt == DType::F32 && g_tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  Desc desc;
  check_lt(cublasLtMatmulDescCreate(&desc.op, compute, CUDA_R_32F), "cublasLtMatmulDescCreate");
  // cuBLASLt operand 1 = our B ([K, N] row-major is N x K column-major: no transpose).
  cublasOperation_t op1 = vb.trans ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t op2 = va.trans ? CUBLAS_OP_T : CUBLAS_OP_N;
  check_lt(cublasLtMatmulDescSetAttribute(desc.op, CUBLASLT_MATMUL_DESC_TRANSA, &op1, sizeof op1), "desc");
  check_lt(cublasLtMatmulDescSetAttribute(desc.op, CUBLASLT_MATMUL_DESC_TRANSB, &op2, sizeof op2), "desc");
  if (bias) {
    cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
    check_lt(cublasLtMatmulDescSetAttribute(desc.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi), "desc");
    check_lt(cublasLtMatmulDescSetAttribute(desc.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias), "desc");
  }
  // Stored shapes (column-major rows x cols) of each operand.
  check_lt(cublasLtMatrixLayoutCreate(&desc.a, t, vb.trans ? K : N, vb.trans ? N : K, vb.ld), "layout");
  check_lt(cublasLtMatrixLayoutCreate(&desc.b, t, va.trans ? M : K, va.trans ? K : M, va.ld), "layout");
  check_lt(cublasLtMatrixLayoutCreate(&desc.d, t, N, M, N), "layout");
  if (batch > 1) {
    set_batch(desc.a, batch, sb);
    set_batch(desc.b, batch, sa);
    set_batch(desc.d, batch, so);
  }
  auto align = [](const void* p) { return static_cast<int>(reinterpret_cast<uintptr_t>(p) % 16); };
  AlgoKey key{dev, static_cast<int>(dt), static_cast<int>(compute), (vb.trans ? 2 : 0) | (va.trans ? 1 : 0), M, N, K,
              va.ld, vb.ld, batch, bias != nullptr, sa, sb, so, align(a) | align(bm) << 5 | align(out) << 10,
              bias ? align(bias) : 0};
  cublasLtMatmulAlgo_t algo;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    auto it = g_algos.find(key);
    if (it != g_algos.end()) {
      algo = it->second;
    } else {
      cublasLtMatmulPreference_t pref = nullptr;
      check_lt(cublasLtMatmulPreferenceCreate(&pref), "preference");
      size_t ws = kWorkspaceBytes;
      cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
      cublasLtMatmulHeuristicResult_t h{};
      int found = 0;
      cublasStatus_t hs = cublasLtMatmulAlgoGetHeuristic(st.handle, desc.op, desc.a, desc.b, desc.d, desc.d, pref, 1, &h,
                                                         &found);
      cublasLtMatmulPreferenceDestroy(pref);
      if (hs != CUBLAS_STATUS_SUCCESS || found == 0) {
        raise(ErrorKind::Value, "ERR_RADDINO_CUBLAS",
              std::string("matmul: cuBLASLt has no algorithm for ") + dtype_name(dt) + " [" + std::to_string(M) + ", " +
                  std::to_string(K) + "] x [" + std::to_string(K) + ", " + std::to_string(N) + "] (batch " +
                  std::to_string(batch) + ")");
      }
      algo = h.algo;
      g_algos.emplace(key, algo);
    }
  }
  const float alpha = 1.0f, beta = 0.0f;
  check_lt(cublasLtMatmul(st.handle, desc.op, &alpha, bm, desc.a, a, desc.b, &beta, out, desc.d, out, desc.d, &algo,
                          st.workspace, kWorkspaceBytes, s),
           "cublasLtMatmul");
}

// A contiguous copy of a strided [batch..., R, C] operand (for layouts cuBLASLt cannot read).
template <typename T>
__global__ void gather_rows(Iter<2> it, T* __restrict__ out, const T* __restrict__ in, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off[2];
    it.offsets(i, off);
    out[off[0]] = in[off[1]];
  }
}

void make_contiguous(const Tensor& t, void* dst, cudaStream_t s) {
  Shape cs(t.ndim());
  int64_t acc = 1;
  for (int d = t.ndim() - 1; d >= 0; --d) {
    cs[d] = acc;
    acc *= t.shape()[d] > 0 ? t.shape()[d] : 1;
  }
  const Shape* strides[2] = {&cs, &t.strides()};
  Iter<2> it = make_iter<2>(t.shape(), strides);
  int64_t n = numel_of(t);
  if (t.itemsize() == 4) {
    gather_rows<uint32_t><<<blocks_for(n, 256), 256, 0, s>>>(it, static_cast<uint32_t*>(dst), t.data<uint32_t>(), n);
  } else {
    gather_rows<uint16_t><<<blocks_for(n, 256), 256, 0, s>>>(it, static_cast<uint16_t*>(dst), t.data<uint16_t>(), n);
  }
  RADDINO_CUDA_LAUNCHED("matmul (operand copy)");
}

}  // namespace

void set_tf32(bool on) { g_tf32 = on; }
bool tf32_enabled() { return g_tf32; }
int cublas_version() { return static_cast<int>(cublasLtGetVersion()); }

// in: a [batch..., M, K], b [batch..., K, N] (expanded to one batch shape), [bias [N]];
// out: contiguous [batch..., M, N].
void matmul_kernel(const OpCall& c) {
  const Tensor& a = *c.in[0];
  const Tensor& b = *c.in[1];
  const Tensor* bias = c.in.size() > 2 ? c.in[2] : nullptr;
  const Tensor& out = *c.out[0];
  const int dev = call_device(c);
  cudaStream_t s = stream_for(dev);
  const int nd = a.ndim();
  const int64_t M = a.shape()[nd - 2], K = a.shape()[nd - 1], N = b.shape()[nd - 1];
  const DType dt = a.dtype();
  const size_t item = a.itemsize();
  if (K == 0) {  // an empty sum
    if (bias) raise(ErrorKind::Value, "", "matmul: an empty inner dimension (K = 0) with a bias is not supported on cuda");
    RADDINO_CUDA_CHECK(cudaMemsetAsync(out.data_ptr(), 0, numel_of(out) * item, s));
    return;
  }
  MatView va = view_of(M, K, a.strides()[nd - 2], a.strides()[nd - 1]);
  MatView vb = view_of(K, N, b.strides()[nd - 2], b.strides()[nd - 1]);
  // Operands cuBLASLt cannot read as they are get a contiguous copy.
  Scratch ca(va.ok ? 0 : numel_of(a) * item, dev), cb(vb.ok ? 0 : numel_of(b) * item, dev);
  const void* pa = a.data_ptr();
  const void* pb = b.data_ptr();
  Shape astr = a.strides(), bstr = b.strides();
  if (!va.ok) {
    make_contiguous(a, ca.as<void>(), s);
    pa = ca.as<void>();
    astr = Shape(nd);
    int64_t acc = 1;
    for (int d = nd - 1; d >= 0; --d) astr[d] = acc, acc *= a.shape()[d];
    va = view_of(M, K, K, 1);
  }
  if (!vb.ok) {
    make_contiguous(b, cb.as<void>(), s);
    pb = cb.as<void>();
    bstr = Shape(nd);
    int64_t acc = 1;
    for (int d = nd - 1; d >= 0; --d) bstr[d] = acc, acc *= b.shape()[d];
    vb = view_of(K, N, N, 1);
  }
  // Batch dims: merge those that are one strided run for all three operands; the last merged dim
  // is cuBLASLt's batch, the ones before it (rare: non-mergeable broadcasts) a host loop.
  std::vector<int64_t> bs, s_a, s_b, s_o;
  for (int d = 0; d < nd - 2; ++d) {
    int64_t n = a.shape()[d];
    if (n == 1) continue;
    if (!bs.empty() && s_a.back() == astr[d] * n && s_b.back() == bstr[d] * n && s_o.back() == out.strides()[d] * n) {
      bs.back() *= n;
      s_a.back() = astr[d];
      s_b.back() = bstr[d];
      s_o.back() = out.strides()[d];
    } else {
      bs.push_back(n);
      s_a.push_back(astr[d]);
      s_b.push_back(bstr[d]);
      s_o.push_back(out.strides()[d]);
    }
  }
  int64_t inner = bs.empty() ? 1 : bs.back();
  int64_t outer = 1;
  for (size_t i = 0; i + 1 < bs.size(); ++i) outer *= bs[i];
  const char* ab = static_cast<const char*>(pa);
  const char* bb = static_cast<const char*>(pb);
  char* ob = static_cast<char*>(out.data_ptr());
  const void* bias_p = bias ? bias->data_ptr() : nullptr;
  for (int64_t o = 0; o < outer; ++o) {
    int64_t oa = 0, ob_ = 0, oo = 0, rem = o;
    for (int i = static_cast<int>(bs.size()) - 2; i >= 0; --i) {
      int64_t idx = rem % bs[i];
      rem /= bs[i];
      oa += idx * s_a[i];
      ob_ += idx * s_b[i];
      oo += idx * s_o[i];
    }
    // cuBLASLt's batch count is an int: split larger batches.
    for (int64_t b0 = 0; b0 < inner; b0 += INT32_MAX) {
      int cnt = static_cast<int>(inner - b0 < INT32_MAX ? inner - b0 : INT32_MAX);
      int64_t sa = bs.empty() ? 0 : s_a.back(), sb = bs.empty() ? 0 : s_b.back(), so = bs.empty() ? 0 : s_o.back();
      gemm(dev, dt, ab + (oa + b0 * sa) * item, va, sa, bb + (ob_ + b0 * sb) * item, vb, sb, ob + (oo + b0 * so) * item,
           so, M, N, K, cnt, bias_p);
    }
  }
}

}  // namespace raddino::cuda
