#include "threadpool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define RADDINO_PAUSE() _mm_pause()
#else
#define RADDINO_PAUSE() std::this_thread::yield()
#endif

namespace raddino::cpu {
namespace {

// Iterations a worker spins on the job counter before it sleeps (~tens of microseconds).
constexpr int kSpinIterations = 20000;

thread_local bool t_in_parallel = false;

// Jobs are published like a seqlock: the generation is odd while the caller writes the job's
// fields and even once they are complete, so a worker that reads (generation, job, threads) and
// sees the same even generation before and after has a consistent job.
//
// The job's shares (fn(tid, nt) for tid in [0, nt)) are claimed, not assigned: the caller and the
// workers take the next unclaimed share until none is left, so a worker that is asleep, or
// preempted by another process, when the job is posted costs at most its share's time instead of
// stalling the caller (each share still runs exactly once, on some thread, so results do not
// change). A claim is the pair (generation, next share) in one atomic word: a worker still
// holding an old job cannot claim a share of a newer one.
class Pool {
 public:
  static Pool& get() {
    static Pool* pool = new Pool();  // leaked on purpose: workers are detached, no exit-time join
    return *pool;
  }

  int threads() const { return threads_.load(std::memory_order_relaxed); }

  void set_threads(int n) {
    std::lock_guard<std::mutex> run_lock(run_mutex_);
    if (n <= 0) n = hardware_threads();
    n = std::min(n, 4096);  // shares are numbered in 16 bits (claim_)
    grow(n - 1);
    threads_.store(n, std::memory_order_relaxed);
  }

  void run(int nt, const std::function<void(int, int)>& fn) {
    nt = std::min(nt, threads());
    if (nt <= 1 || t_in_parallel) {
      for (int t = 0; t < std::max(nt, 1); ++t) fn(t, std::max(nt, 1));
      return;
    }
    // A second JS thread (worker_threads) calling in concurrently runs its kernel serially
    // rather than waiting for the pool.
    std::unique_lock<std::mutex> run_lock(run_mutex_, std::try_to_lock);
    if (!run_lock.owns_lock()) {
      t_in_parallel = true;
      try {
        for (int t = 0; t < nt; ++t) fn(t, nt);
      } catch (...) {
        t_in_parallel = false;
        throw;
      }
      t_in_parallel = false;
      return;
    }
    grow(nt - 1);
    error_ = nullptr;
    done_.store(0, std::memory_order_relaxed);
    uint64_t gen;
    {
      std::lock_guard<std::mutex> lock(sleep_mutex_);
      gen = generation_.fetch_add(1, std::memory_order_acq_rel) + 2;  // odd: writing
      job_.store(&fn, std::memory_order_relaxed);
      job_threads_.store(nt, std::memory_order_relaxed);
      claim_.store(gen << 16, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);  // even: published
    }
    if (sleeping_.load(std::memory_order_acquire) > 0) wake_.notify_all();
    t_in_parallel = true;
    run_shares(fn, gen, nt);
    t_in_parallel = false;
    int spins = 0;
    while (done_.load(std::memory_order_acquire) != nt) {
      if (++spins < kSpinIterations) RADDINO_PAUSE();
      else std::this_thread::yield();
    }
    // Kernels throw only on exhausted memory; the error surfaces in the caller, never in a worker.
    if (error_) std::rethrow_exception(error_);
  }

 private:
  Pool() { threads_.store(hardware_threads(), std::memory_order_relaxed); }

  // Claims and runs shares of job `gen` until none is left.
  void run_shares(const std::function<void(int, int)>& fn, uint64_t gen, int nt) {
    uint64_t cur = claim_.load(std::memory_order_acquire);
    for (;;) {
      if ((cur >> 16) != gen || static_cast<int>(cur & 0xffff) >= nt) return;
      if (!claim_.compare_exchange_weak(cur, cur + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
      invoke(fn, static_cast<int>(cur & 0xffff), nt);
      done_.fetch_add(1, std::memory_order_acq_rel);
      cur = claim_.load(std::memory_order_acquire);
    }
  }

  void invoke(const std::function<void(int, int)>& fn, int tid, int nt) {
    try {
      fn(tid, nt);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex_);
      if (!error_) error_ = std::current_exception();
    }
  }

  void grow(int workers) {
    while (static_cast<int>(workers_started_) < workers) {
      int tid = ++workers_started_;
      // The worker starts from the current generation so it cannot miss the job about to be posted.
      uint64_t seen = generation_.load(std::memory_order_acquire);
      std::thread([this, tid, seen] { worker(tid, seen); }).detach();
    }
  }

  static bool published(uint64_t gen, uint64_t seen) { return gen != seen && (gen & 1) == 0; }

  void worker(int tid, uint64_t seen) {
    t_in_parallel = true;
    for (;;) {
      int spins = 0;
      uint64_t gen;
      while (!published(gen = generation_.load(std::memory_order_acquire), seen)) {
        if (++spins < kSpinIterations) {
          RADDINO_PAUSE();
          continue;
        }
        std::unique_lock<std::mutex> lock(sleep_mutex_);
        sleeping_.fetch_add(1, std::memory_order_acq_rel);
        wake_.wait(lock, [&] { return published(generation_.load(std::memory_order_acquire), seen); });
        sleeping_.fetch_sub(1, std::memory_order_acq_rel);
        spins = 0;
      }
      const std::function<void(int, int)>* job = job_.load(std::memory_order_relaxed);
      const int nt = job_threads_.load(std::memory_order_relaxed);
      std::atomic_thread_fence(std::memory_order_acquire);
      if (generation_.load(std::memory_order_relaxed) != gen) continue;  // a newer job was being written
      seen = gen;
      if (tid < nt) run_shares(*job, gen, nt);
    }
  }

  std::atomic<int> threads_{1};
  unsigned workers_started_ = 0;
  std::mutex run_mutex_;
  std::mutex sleep_mutex_;
  std::condition_variable wake_;
  std::atomic<int> sleeping_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<uint64_t> claim_{0};  // (generation << 16) | next unclaimed share
  std::atomic<int> done_{0};        // shares of the current job finished
  std::atomic<const std::function<void(int, int)>*> job_{nullptr};
  std::atomic<int> job_threads_{0};
  std::mutex error_mutex_;
  std::exception_ptr error_;
};

}  // namespace

int hardware_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

int num_threads() { return Pool::get().threads(); }

void set_num_threads(int n) { Pool::get().set_threads(n); }

bool in_parallel() { return t_in_parallel; }

void parallel_run(int nt, const std::function<void(int, int)>& fn) { Pool::get().run(nt, fn); }

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  int64_t chunks = std::min<int64_t>(num_threads(), (n + grain - 1) / grain);
  if (chunks <= 1 || t_in_parallel) {
    fn(0, n);
    return;
  }
  parallel_run(static_cast<int>(chunks), [&](int tid, int nt) {
    int64_t begin = n * tid / nt, end = n * (tid + 1) / nt;
    if (begin < end) fn(begin, end);
  });
}

}  // namespace raddino::cpu
