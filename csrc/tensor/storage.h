#pragma once
// Storage: a reference-counted block of bytes shared by a tensor and its views.
// Small blocks come from a thread-local size-class pool with the header and data in
// one allocation, so a 1-element op does not reach malloc. Memory owned by someone
// else (NumPy, DLPack) is wrapped with a deleter. The version counter lives here
// because every view of the same memory must see an in-place change.
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "tensor/ref.h"

namespace tg {

class Storage : public RefCounted {
 public:
  using Deleter = void (*)(void* ctx);

  static Ref<Storage> allocate(size_t nbytes);
  static Ref<Storage> wrap_external(void* data, size_t nbytes, Deleter deleter, void* ctx);

  void* data() const noexcept { return data_; }
  size_t nbytes() const noexcept { return nbytes_; }
  bool is_external() const noexcept { return size_class_ == kExternalBlock; }

  uint32_t version() const noexcept { return version_.load(std::memory_order_relaxed); }
  void bump_version() noexcept { version_.fetch_add(1, std::memory_order_relaxed); }

  static void destroy(Storage* s) noexcept;

 private:
  Storage() = default;
  ~Storage() = default;

  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Deleter deleter_ = nullptr;
  void* deleter_ctx_ = nullptr;
  std::atomic<uint32_t> version_{0};
  int8_t size_class_ = kLargeBlock;  // small-block pool class, or one of these:
  static constexpr int8_t kLargeBlock = -1;     // from the large-block cache / the heap
  static constexpr int8_t kExternalBlock = -2;  // someone else's memory; our header only
};

inline void release_ref(Storage* s) noexcept {
  if (s->decref()) Storage::destroy(s);
}

// Bytes held by the small-block pools of this thread (for tests of the pool itself).
size_t storage_pool_cached_bytes();

}  // namespace tg
