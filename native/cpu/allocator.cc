#include "cpu/allocator.h"

#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#if defined(_WIN32)
#include <malloc.h>
#else
#include <sys/mman.h>
#endif

namespace raddino::cpu {
namespace {

constexpr size_t kAlignment = 64;
constexpr size_t kMapThreshold = size_t(1) << 18;  // blocks from 256 KiB up are mapped directly
constexpr int64_t kMaxCached = int64_t(2) << 30;   // beyond 2 GiB of free blocks, free to the system

size_t size_class(size_t n) {
  if (n <= 512) return n == 0 ? kAlignment : (n + kAlignment - 1) / kAlignment * kAlignment;
  int k = 63 - __builtin_clzll(static_cast<unsigned long long>(n));
  size_t step = size_t(1) << (k - 2);
  return (n + step - 1) / step * step;
}

void* system_alloc(size_t size) {
#if defined(_WIN32)
  return _aligned_malloc(size, kAlignment);
#else
  if (size >= kMapThreshold) {
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? nullptr : p;
  }
  return std::aligned_alloc(kAlignment, size);
#endif
}

void system_free(void* p, size_t size) {
#if defined(_WIN32)
  (void)size;
  _aligned_free(p);
#else
  if (size >= kMapThreshold) munmap(p, size);
  else std::free(p);
#endif
}

struct Cache {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<void*>> free;
  int64_t bytes = 0;
};

Cache& cache() {
  static Cache* c = new Cache();  // leaked on purpose: no teardown order issues at exit
  return *c;
}

}  // namespace

void* cached_alloc(size_t nbytes) {
  size_t size = size_class(nbytes);
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.free.find(size);
    if (it != c.free.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.bytes -= static_cast<int64_t>(size);
      return p;
    }
  }
  void* p = system_alloc(size);
  if (p == nullptr) {
    empty_cache();  // retry once with the cache released
    p = system_alloc(size);
  }
  return p;
}

void cached_free(void* p, size_t nbytes) {
  if (p == nullptr) return;
  size_t size = size_class(nbytes);
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    if (c.bytes + static_cast<int64_t>(size) <= kMaxCached) {
      c.free[size].push_back(p);
      c.bytes += static_cast<int64_t>(size);
      return;
    }
  }
  system_free(p, size);
}

int64_t cached_bytes() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return c.bytes;
}

void empty_cache() {
  Cache& c = cache();
  std::unordered_map<size_t, std::vector<void*>> blocks;
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    blocks.swap(c.free);
    c.bytes = 0;
  }
  for (auto& [size, list] : blocks)
    for (void* p : list) system_free(p, size);
}

}  // namespace raddino::cpu
