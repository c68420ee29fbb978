// Timing, statistics and process helpers shared by the development harnesses in bench/native
// (gemm_harness.cc, bf16_harness.cc, attention_harness.cc, bicubic_harness.cc). Header-only:
// each harness is one translation unit that includes it. Linux (/proc/stat, posix_spawn).
#pragma once
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace harness {

// Wall-clock time in seconds (steady clock, arbitrary origin).
inline double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The median of v (the mean of the two middle values when v has an even size).
inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// The environment variable `name` as a number, or `fallback` when it is not set.
inline double env_or(const char* name, double fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::atof(v) : fallback;
}

// Times fn: `calls` back-to-back calls, appends each call's seconds to out.
inline void time_calls(const std::function<void()>& fn, int calls, std::vector<double>& out) {
  for (int i = 0; i < calls; ++i) {
    const double t0 = now_s();
    fn();
    out.push_back(now_s() - t0);
  }
}

// CPU time used so far by the whole machine (all CPUs, /proc/stat, including time stolen by
// the hypervisor) and by this process, in seconds.
inline double machine_busy_seconds() {
  std::ifstream stat("/proc/stat");
  std::string cpu;
  long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  stat >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
  return static_cast<double>(user + nice + system + irq + softirq + steal) / sysconf(_SC_CLK_TCK);
}

inline double process_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + 1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

// The "other" column of the benchmarks: the share of the machine's CPU time (all CPUs) that
// other processes used, or the hypervisor stole, since this object was made.
class OtherCpuShare {
 public:
  OtherCpuShare() : wall0_(now_s()), busy0_(machine_busy_seconds()), self0_(process_cpu_seconds()) {}

  // Wall-clock seconds since this object was made.
  double elapsed() const { return now_s() - wall0_; }

  double share() const {
    const double others = (machine_busy_seconds() - busy0_) - (process_cpu_seconds() - self0_);
    return std::max(0.0, others / (elapsed() * sysconf(_SC_NPROCESSORS_ONLN)));
  }

 private:
  double wall0_, busy0_, self0_;
};

// A measurement repeated while the machine is busy: up to `tries` attempts (pausing `pause_s`
// seconds before each retry) until one ran while other processes used at most 5% of the
// machine; the least disturbed attempt is kept:
//   LeastDisturbed tries(4, 3.0);
//   while (tries.next()) {
//     const OtherCpuShare load;
//     ... measure into this attempt's own variables ...
//     if (tries.keep(load.share())) ... keep them ...
//   }
//   tries.share()   the kept attempt's share
class LeastDisturbed {
 public:
  LeastDisturbed(int tries, double pause_s) : tries_(tries), pause_s_(pause_s) {}

  // Whether to make another attempt (after the pause, for a retry).
  bool next() {
    if (attempt_ >= tries_ || share_ <= 0.05) return false;
    if (attempt_++ > 0 && pause_s_ > 0) std::this_thread::sleep_for(std::chrono::duration<double>(pause_s_));
    return true;
  }

  // Records an attempt's share; true when it is the least disturbed so far (always for the first).
  bool keep(double share) {
    if (!(share < share_)) return false;
    share_ = share;
    return true;
  }

  double share() const { return share_; }

 private:
  int tries_, attempt_ = 0;
  double pause_s_;
  double share_ = std::numeric_limits<double>::infinity();
};

// Runs this program again (/proc/self/exe, argv = {arg0, "check"}) with RADDINO_ISA=isa in its
// environment (isa == nullptr: unset) and returns its exit status (1 when it did not exit).
inline int check_in_child(const char* arg0, const char* isa) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "RADDINO_ISA=", 12) != 0) env_strings.emplace_back(*e);
  }
  if (isa != nullptr) env_strings.push_back(std::string("RADDINO_ISA=") + isa);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string a0 = arg0, a1 = "check";
  char* argv[] = {a0.data(), a1.data(), nullptr};
  pid_t pid;
  if (posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv, envp.data()) != 0) return 1;
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

}  // namespace harness
