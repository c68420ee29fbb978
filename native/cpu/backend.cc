// The CPU backend: host memory from the caching allocator (cpu/allocator.h) and the kernel
// table with the dtypes each op accepts (what supports(op, dtype) answers).
#include <cstring>

#include "core/backend.h"
#include "core/error.h"
#include "cpu/allocator.h"
#include "cpu/kernels.h"

namespace raddino::cpu {
namespace {

void* cpu_alloc(size_t nbytes, int) {
  void* p = cached_alloc(nbytes);
  RADDINO_CHECK(p != nullptr, Range, "cpu: out of memory allocating ", nbytes, " bytes");
  return p;
}

void cpu_free(void* p, size_t nbytes, int) { cached_free(p, nbytes); }

void host_copy(void* dst, const void* src, size_t nbytes, int) { std::memcpy(dst, src, nbytes); }

constexpr DTypeMask bit(DType d) { return dtype_bit(d); }
constexpr DTypeMask kF = kFloatMask | kHalfMask;             // floating, half types computed in float32
constexpr DTypeMask kNum = kF | kIntMask;                     // numeric (no bool)
constexpr DTypeMask kAll = kAllMask;

Backend make_cpu_backend() {
  Backend be{};
  be.type = DeviceType::CPU;
  be.name = "cpu";
  be.alloc = cpu_alloc;
  be.free = cpu_free;
  be.to_host = host_copy;
  be.from_host = host_copy;
  auto set = [&](Op op, Kernel k, DTypeMask m) {
    be.kernels[static_cast<int>(op)] = k;
    be.dtypes[static_cast<int>(op)] = m;
  };
  set(Op::COPY, copy_kernel, kAll);
  set(Op::CAST, copy_kernel, kAll);
  set(Op::FILL, fill_kernel, kAll);
  set(Op::ARANGE, fill_kernel, kNum);
  set(Op::LINSPACE, fill_kernel, kNum);
  for (Op op : {Op::NEG, Op::ABS, Op::SIGN, Op::SQUARE, Op::RELU, Op::CLAMP}) set(op, unary_kernel, kNum);
  for (Op op : {Op::RECIPROCAL, Op::EXP, Op::EXPM1, Op::LOG, Op::LOG1P, Op::SQRT, Op::RSQRT, Op::SIN, Op::COS,
                Op::TANH, Op::ERF, Op::SIGMOID, Op::GELU, Op::GELU_TANH, Op::SILU, Op::FLOOR, Op::CEIL, Op::ROUND})
    set(op, unary_kernel, kF);
  set(Op::LOGICAL_NOT, unary_kernel, kAll);
  for (Op op : {Op::ADD, Op::SUB, Op::MUL, Op::MAXIMUM, Op::MINIMUM}) set(op, binary_kernel, kNum);
  for (Op op : {Op::DIV, Op::POW}) set(op, binary_kernel, kF);
  for (Op op : {Op::EQ, Op::NE, Op::LT, Op::LE, Op::GT, Op::GE, Op::LOGICAL_AND, Op::LOGICAL_OR})
    set(op, binary_kernel, kAll);
  set(Op::WHERE, where_kernel, kAll);
  set(Op::SUM, reduce_kernel, kAll);
  for (Op op : {Op::MAX, Op::MIN}) set(op, reduce_kernel, kAll);
  for (Op op : {Op::MEAN, Op::VAR, Op::LOGSUMEXP, Op::NORM}) set(op, reduce_kernel, kF);
  for (Op op : {Op::ARGMAX, Op::ARGMIN}) set(op, argreduce_kernel, kNum | bit(DType::BOOL));
  for (Op op : {Op::SOFTMAX, Op::LOG_SOFTMAX}) set(op, softmax_kernel, kF);
  for (Op op : {Op::SOFTMAX_BACK, Op::LOG_SOFTMAX_BACK}) set(op, softmax_backward_kernel, kF);
  set(Op::MATMUL, matmul_kernel, kFloatMask);
  set(Op::LINEAR_BF16, linear_bf16_kernel, bit(DType::F32));
  set(Op::CAT, copy_kernel, kAll);
  for (Op op : {Op::INDEX_SELECT, Op::GATHER, Op::MASKED_FILL, Op::MASKED_SELECT}) set(op, index_kernel, kAll);
  for (Op op : {Op::SCATTER_ADD, Op::INDEX_ADD}) set(op, index_kernel, kNum);
  set(Op::ONE_HOT, index_kernel, bit(DType::I64) | bit(DType::I32));
  set(Op::TOPK, topk_kernel, kNum);
  for (Op op : {Op::RAND, Op::RANDN, Op::TRUNC_NORMAL}) set(op, random_kernel, kF);
  set(Op::RANDINT, random_kernel, kNum);
  set(Op::RANDPERM, random_kernel, kIntMask | kFloatMask);
  set(Op::BERNOULLI, random_kernel, kF);
  set(Op::LAYER_NORM, layer_norm_kernel, kF);
  set(Op::LAYER_NORM_BACK, layer_norm_backward_kernel, kF);
  set(Op::GELU_BACK, gelu_backward_kernel, kF);
  set(Op::GELU_TANH_BACK, gelu_backward_kernel, kF);
  set(Op::ADAMW, adamw_kernel, kFloatMask);
  set(Op::EMA, ema_kernel, kFloatMask);
  set(Op::ATTENTION, attention_kernel, kF);
  set(Op::ATTENTION_BACK, attention_backward_kernel, kF);
  set(Op::BICUBIC, bicubic_kernel, kFloatMask);
  set(Op::BICUBIC_BACK, bicubic_backward_kernel, kFloatMask);
  return be;
}

}  // namespace

// Registers the CPU backend with the core; called by the addon's module init.
void register_cpu_backend() {
  static const Backend be = make_cpu_backend();
  register_backend(&be);
}

}  // namespace raddino::cpu
