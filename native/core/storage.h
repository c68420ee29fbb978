// Storage: a refcounted block of device memory that tensors view. Either owned (allocated by
// the device's backend) or external (memory lent by the caller, e.g. a JS ArrayBuffer, released
// through a callback). Live bytes are counted per device for memory().
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

namespace raddino {

enum class DeviceType : uint8_t { CPU = 0, CUDA = 1 };
constexpr int kNumDeviceTypes = 2;
const char* device_name(DeviceType d);

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
};

class Storage {
 public:
  // Allocates nbytes on the device through its backend (64-byte aligned on CPU).
  static std::shared_ptr<Storage> allocate(size_t nbytes, Device device);
  // Wraps memory owned by someone else; release() runs when the last view goes away.
  static std::shared_ptr<Storage> wrap(void* data, size_t nbytes, Device device, std::function<void()> release);

  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage();

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  bool external() const { return static_cast<bool>(release_); }

 private:
  Storage(void* data, size_t nbytes, Device device, std::function<void()> release)
      : data_(data), nbytes_(nbytes), device_(device), release_(std::move(release)) {}
  void* data_;
  size_t nbytes_;
  Device device_;
  std::function<void()> release_;
};

struct MemoryStats {
  int64_t storages = 0;        // live storages
  int64_t bytes = 0;           // bytes of all live storages
  int64_t owned_bytes = 0;     // of which allocated by us (external memory is lent)
};
MemoryStats memory_stats(DeviceType d);

}  // namespace raddino
