// Non-temporal ("streaming") stores for outputs much larger than the caches: writing around
// the cache saves the read-for-ownership of every output line (a third of an add's traffic)
// and keeps useful data cached. Outputs that fit in the last-level cache use ordinary stores,
// since the next op usually reads them right away.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/tensor.h"
#include "cpu/threadpool.h"

namespace raddino::cpu {

// Outputs of at least this many bytes are written with streaming stores.
constexpr int64_t kStreamMinBytes = int64_t(48) << 20;
// Elements computed into a cache-resident block before being streamed out.
constexpr int64_t kStreamBlockBytes = 8192;

// Copies bytes to dst with streaming stores (src is expected to be in cache) and fences.
void stream_copy(void* dst, const void* src, size_t bytes);

// Whether a copy into `out` streams: always for outputs beyond the caches.
inline bool streams_copy(const Tensor& out) {
  return out.numel() * static_cast<int64_t>(out.itemsize()) >= kStreamMinBytes;
}
// Whether a computed output streams. Measured on Zen 4: computing into a cached block and
// streaming it out pays when two or more threads share the memory bus (+10-25% on 64 MiB
// float32 ops), costs ~15% on one thread (the extra pass then bounds it), and costs for
// narrow outputs (a float32 -> bfloat16 cast), so only wide outputs on several threads stream.
inline bool streams_compute(const Tensor& out) {
  return streams_copy(out) && out.itemsize() >= 4 && num_threads() > 1;
}

// Runs fill(block, start, len) for consecutive blocks of [0, n) and streams each block to o + start.
template <typename O, typename Fill>
void stream_blocks(O* o, int64_t n, Fill&& fill) {
  constexpr int64_t B = kStreamBlockBytes / static_cast<int64_t>(sizeof(O));
  alignas(64) O block[B];
  for (int64_t i = 0; i < n; i += B) {
    int64_t len = n - i < B ? n - i : B;
    fill(block, i, len);
    stream_copy(o + i, block, static_cast<size_t>(len) * sizeof(O));
  }
}

}  // namespace raddino::cpu
