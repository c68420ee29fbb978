#include "core/storage.h"

#include "core/backend.h"
#include "core/error.h"

namespace raddino {
namespace {

struct Counters {
  std::atomic<int64_t> storages{0}, bytes{0}, owned_bytes{0};
};
Counters g_counters[kNumDeviceTypes];

}  // namespace

const char* device_name(DeviceType d) { return d == DeviceType::CPU ? "cpu" : "cuda"; }

std::shared_ptr<Storage> Storage::allocate(size_t nbytes, Device device) {
  const Backend& be = backend(device.type);
  void* p = be.alloc(nbytes, device.index);
  auto s = std::shared_ptr<Storage>(new Storage(p, nbytes, device, nullptr));
  Counters& c = g_counters[static_cast<int>(device.type)];
  c.storages.fetch_add(1, std::memory_order_relaxed);
  c.bytes.fetch_add(static_cast<int64_t>(nbytes), std::memory_order_relaxed);
  c.owned_bytes.fetch_add(static_cast<int64_t>(nbytes), std::memory_order_relaxed);
  return s;
}

std::shared_ptr<Storage> Storage::wrap(void* data, size_t nbytes, Device device, std::function<void()> release) {
  if (!release) release = [] {};
  auto s = std::shared_ptr<Storage>(new Storage(data, nbytes, device, std::move(release)));
  Counters& c = g_counters[static_cast<int>(device.type)];
  c.storages.fetch_add(1, std::memory_order_relaxed);
  c.bytes.fetch_add(static_cast<int64_t>(nbytes), std::memory_order_relaxed);
  return s;
}

Storage::~Storage() {
  Counters& c = g_counters[static_cast<int>(device_.type)];
  c.storages.fetch_sub(1, std::memory_order_relaxed);
  c.bytes.fetch_sub(static_cast<int64_t>(nbytes_), std::memory_order_relaxed);
  if (release_) {
    release_();
  } else {
    c.owned_bytes.fetch_sub(static_cast<int64_t>(nbytes_), std::memory_order_relaxed);
    backend(device_.type).free(data_, nbytes_, device_.index);
  }
}

MemoryStats memory_stats(DeviceType d) {
  const Counters& c = g_counters[static_cast<int>(d)];
  MemoryStats s;
  s.storages = c.storages.load(std::memory_order_relaxed);
  s.bytes = c.bytes.load(std::memory_order_relaxed);
  s.owned_bytes = c.owned_bytes.load(std::memory_order_relaxed);
  return s;
}

}  // namespace raddino
