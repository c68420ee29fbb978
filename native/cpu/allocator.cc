#include "cpu/allocator.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#if defined(_WIN32)
#include <malloc.h>
#else
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace raddino::cpu {
namespace {

constexpr size_t kAlignment = 64;
constexpr size_t kMapThreshold = size_t(1) << 18;  // blocks from 256 KiB up are mapped directly

// The memory this process may use: the physical memory, or a container's cgroup limit (v2
// memory.max, v1 memory.limit_in_bytes) when that is smaller; 0 when unknown.
int64_t usable_memory() {
  int64_t total = 0;
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGESIZE)
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0) total = int64_t(pages) * int64_t(page);
#endif
#if defined(__linux__)
  for (const char* path : {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    if (FILE* f = std::fopen(path, "r")) {
      long long v = 0;
      const bool ok = std::fscanf(f, "%lld", &v) == 1;  // "max" (no limit) does not parse
      std::fclose(f);
      if (ok && v > 0 && (total == 0 || v < total)) total = v;
    }
  }
#endif
  return total;
}

// The default bound on the bytes of free blocks kept: a quarter of the memory the process may
// use, at least 2 GiB. A DINOv2 step frees most of its activations at the end of the backward
// pass; a bound below that (the earlier fixed 2 GiB with ViT-S at batch 8: ~3 GiB freed)
// returned the excess to the system and the next step page-faulted it back in, zero-filled by
// the kernel (~10% of the step).
int64_t default_limit() {
  const int64_t floor = int64_t(2) << 30;
  return std::max(floor, usable_memory() / 4);
}

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
  int64_t limit = default_limit();
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
    if (c.bytes + static_cast<int64_t>(size) <= c.limit) {
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

int64_t cache_limit() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return c.limit;
}

void set_cache_limit(int64_t bytes) {
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    c.limit = bytes < 0 ? default_limit() : bytes;
    if (c.bytes <= c.limit) return;
  }
  empty_cache();  // simplest way under the new bound: start again from nothing cached
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
