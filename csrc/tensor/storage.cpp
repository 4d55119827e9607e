#include "tensor/storage.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <new>

#include <sys/mman.h>

namespace tg {
namespace {

constexpr size_t kAlign = 64;                  // a cache line, and enough for AVX-512 loads
constexpr size_t kHeader = 64;                 // Storage header rounded up to kAlign
constexpr int kNumClasses = 8;                 // blocks of 128 B .. 16 KiB (header included)
constexpr size_t kClassBytes(int c) { return size_t(128) << c; }
constexpr size_t kMaxCachedPerClass = 256;
static_assert(sizeof(Storage) <= kHeader, "Storage header must fit in its slot");

int size_class_for(size_t total) {
  for (int c = 0; c < kNumClasses; ++c)
    if (total <= kClassBytes(c)) return c;
  return -1;
}

// Per-thread free lists. A block freed on another thread joins that thread's list;
// the lists are capped so memory cannot pile up on one side.
struct FreeBlock { FreeBlock* next; };
struct Pool {
  FreeBlock* head[kNumClasses] = {};
  size_t count[kNumClasses] = {};
  ~Pool() {
    for (int c = 0; c < kNumClasses; ++c)
      while (head[c]) { FreeBlock* b = head[c]; head[c] = b->next; std::free(b); }
  }
};
thread_local Pool pool;
thread_local bool pool_alive = true;
struct PoolGuard { ~PoolGuard() { pool_alive = false; } };
thread_local PoolGuard pool_guard;

void* aligned_block(size_t bytes) {
  void* p = std::aligned_alloc(kAlign, (bytes + kAlign - 1) / kAlign * kAlign);
  if (!p) throw std::bad_alloc();
  return p;
}

// Blocks of several MiB are aligned to 2 MiB and asked to be backed by transparent huge
// pages: a kernel streaming through 4 KiB pages spends a tenth of its time on TLB misses.
constexpr size_t kHugePage = size_t(2) << 20;
void* large_block(size_t bytes) {
  if (bytes < 2 * kHugePage) return aligned_block(bytes);
  void* p = std::aligned_alloc(kHugePage, (bytes + kHugePage - 1) / kHugePage * kHugePage);
  if (!p) throw std::bad_alloc();
  madvise(p, bytes, MADV_HUGEPAGE);  // advice only: without THP the block works as it is
  return p;
}

// Large blocks: glibc returns them to the OS on free, so every big result would pay
// page faults again. Freed blocks wait here (bounded) for the next request of the same
// rounded size, which is what training loops make.
class LargeBlockCache {
 public:
  static constexpr size_t kGranule = size_t(64) << 10;
  static constexpr size_t kLimit = size_t(1) << 30;
  static size_t rounded(size_t bytes) { return (bytes + kGranule - 1) / kGranule * kGranule; }

  void* take(size_t bytes) {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = free_.find(bytes);
    if (it == free_.end()) return nullptr;
    void* p = it->second;
    free_.erase(it);
    cached_ -= bytes;
    return p;
  }
  bool give(void* p, size_t bytes) {
    std::lock_guard<std::mutex> lk(mu_);
    if (cached_ + bytes > kLimit) return false;
    free_.emplace(bytes, p);
    cached_ += bytes;
    return true;
  }

 private:
  std::mutex mu_;
  std::multimap<size_t, void*> free_;
  size_t cached_ = 0;
};
LargeBlockCache& large_blocks() {
  static auto* cache = new LargeBlockCache();  // outlives every Storage (never destroyed)
  return *cache;
}

}  // namespace

Ref<Storage> Storage::allocate(size_t nbytes) {
  size_t total = kHeader + nbytes;
  int c = size_class_for(total);
  void* block;
  if (c >= 0) {
    (void)pool_guard;
    if (pool_alive && pool.head[c]) {
      FreeBlock* b = pool.head[c];
      pool.head[c] = b->next;
      --pool.count[c];
      block = b;
    } else {
      block = aligned_block(kClassBytes(c));
    }
  } else {
    const size_t bytes = LargeBlockCache::rounded(total);
    block = large_blocks().take(bytes);
    if (!block) block = large_block(bytes);
  }
  Storage* s = new (block) Storage();
  s->data_ = static_cast<char*>(block) + kHeader;
  s->nbytes_ = nbytes;
  s->size_class_ = int8_t(c);
  return Ref<Storage>(s);
}

Ref<Storage> Storage::wrap_external(void* data, size_t nbytes, Deleter deleter, void* ctx) {
  void* block = aligned_block(kHeader);
  Storage* s = new (block) Storage();
  s->data_ = data;
  s->nbytes_ = nbytes;
  s->deleter_ = deleter;
  s->deleter_ctx_ = ctx;
  s->size_class_ = kExternalBlock;
  return Ref<Storage>(s);
}

void Storage::destroy(Storage* s) noexcept {
  if (s->deleter_) s->deleter_(s->deleter_ctx_);
  const int c = s->size_class_;
  const bool large = c == kLargeBlock;
  const size_t large_bytes = LargeBlockCache::rounded(kHeader + s->nbytes_);
  s->~Storage();
  if (large && large_blocks().give(s, large_bytes)) return;
  if (c >= 0 && pool_alive && pool.count[c] < kMaxCachedPerClass) {
    FreeBlock* b = reinterpret_cast<FreeBlock*>(s);
    b->next = pool.head[c];
    pool.head[c] = b;
    ++pool.count[c];
    return;
  }
  std::free(s);
}

size_t storage_pool_cached_bytes() {
  size_t total = 0;
  for (int c = 0; c < kNumClasses; ++c) total += pool.count[c] * kClassBytes(c);
  return total;
}

}  // namespace tg
