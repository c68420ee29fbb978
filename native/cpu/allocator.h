// The CPU caching allocator. Freed blocks are kept in free lists per size class and handed out
// again, so the steady create/dispose churn of a training loop neither returns to malloc (whose
// heap fragments when large blocks interleave with the small objects N-API allocates) nor
// page-faults fresh memory each step. Large blocks are mapped directly and unmapped when the
// cache is trimmed. Sizes are rounded up to 4 classes per power of two (<= 25% slack).
#pragma once
#include <cstddef>
#include <cstdint>

namespace raddino::cpu {

void* cached_alloc(size_t nbytes);
void cached_free(void* p, size_t nbytes);
// Bytes held in free lists (not in use by any tensor).
int64_t cached_bytes();
// The bound on cached bytes beyond which freed blocks go back to the system (default: a quarter
// of the memory the process may use — physical, or a container's cgroup limit — at least 2 GiB). set_cache_limit(-1) restores the default; lowering
// it below what is cached empties the cache.
int64_t cache_limit();
void set_cache_limit(int64_t bytes);
// Returns every cached block to the system.
void empty_cache();

}  // namespace raddino::cpu
