// The aligned scratch buffer of the packing GEMM drivers (gemm_driver.h) and the fused attention
// kernels (attention_impl.h): thread_local, one per thread and role. Internal, not part of the
// public API.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace raddino::cpu {

// A 64-byte aligned scratch buffer that only grows; one per thread and role, reused by calls.
class ScratchBuffer {
 public:
  ScratchBuffer() = default;
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  ~ScratchBuffer() { std::free(ptr_); }

  // Room for `count` elements of type P, at least one (so the pointer is never null); the
  // previous contents are not kept when it grows.
  template <typename P>
  P* get(int64_t count) {
    const size_t bytes = sizeof(P) * static_cast<size_t>(std::max<int64_t>(count, 1));
    if (bytes > capacity_) {
      std::free(ptr_);
      ptr_ = nullptr;
      capacity_ = 0;
      const size_t rounded = (bytes + 63) / 64 * 64;
      ptr_ = std::aligned_alloc(64, rounded);
      if (ptr_ == nullptr) throw std::bad_alloc();
      capacity_ = rounded;
    }
    return static_cast<P*>(ptr_);
  }

 private:
  void* ptr_ = nullptr;
  size_t capacity_ = 0;
};

}  // namespace raddino::cpu
