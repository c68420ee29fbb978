// Persistent worker pool for the CPU backend.
//
// Kernels call parallel_run/parallel_for; the calling thread is worker 0 and the pool's
// threads are workers 1..n-1. Workers spin briefly after a job and then sleep, so back-to-back
// kernels (the common case inside a model) do not pay a wake-up each. A parallel call made from
// inside a worker runs serially on that worker (no nested parallelism). Several JS threads may
// call in: one at a time gets the pool, the others run their kernel serially.
#pragma once
#include <cstdint>
#include <functional>

namespace raddino::cpu {

// Number of threads kernels use (default: hardware concurrency, at least 1).
int num_threads();
// Sets the thread count; 0 restores the default. Values above 256 are rejected by the caller.
void set_num_threads(int n);
// Hardware concurrency as seen by the process.
int hardware_threads();

// Whether the calling thread is inside a parallel region (nested calls run serially).
bool in_parallel();

// Runs fn(tid, nt) for tid in [0, nt) on nt workers (nt <= num_threads()) and waits for all.
// An exception thrown by fn on any worker is rethrown here once all have finished.
void parallel_run(int nt, const std::function<void(int tid, int nt)>& fn);

// Splits [0, n) into at most num_threads() contiguous chunks of at least `grain` items each and
// runs fn(begin, end) on them in parallel. Runs inline when one chunk suffices.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t begin, int64_t end)>& fn);

}  // namespace raddino::cpu
