#pragma once
// Intrusive reference counting: one allocation per object, a pointer-sized handle,
// and a hook (release_ref) so a type can choose how it is destroyed (Node uses it to
// tear long graphs down iteratively instead of recursively).
#include <atomic>
#include <cstdint>
#include <utility>

namespace tg {

class RefCounted {
 public:
  RefCounted() = default;
  RefCounted(const RefCounted&) = delete;
  RefCounted& operator=(const RefCounted&) = delete;

  void incref() const noexcept { refcount_.fetch_add(1, std::memory_order_relaxed); }
  // True when this was the last reference.
  bool decref() const noexcept { return refcount_.fetch_sub(1, std::memory_order_acq_rel) == 1; }
  int32_t use_count() const noexcept { return refcount_.load(std::memory_order_acquire); }

 protected:
  ~RefCounted() = default;

 private:
  mutable std::atomic<int32_t> refcount_{0};
};

// Default destruction; types may overload release_ref for their own pointer type.
template <typename T>
inline void release_ref(T* p) noexcept {
  if (p->decref()) delete p;
}

template <typename T>
class Ref {
 public:
  Ref() noexcept = default;
  Ref(std::nullptr_t) noexcept {}
  explicit Ref(T* p) noexcept : p_(p) { if (p_) p_->incref(); }
  Ref(const Ref& o) noexcept : p_(o.p_) { if (p_) p_->incref(); }
  Ref(Ref&& o) noexcept : p_(o.p_) { o.p_ = nullptr; }
  template <typename U>
  Ref(const Ref<U>& o) noexcept : p_(o.get()) { if (p_) p_->incref(); }
  template <typename U>
  Ref(Ref<U>&& o) noexcept : p_(o.release()) {}
  ~Ref() { reset(); }

  Ref& operator=(const Ref& o) noexcept { Ref(o).swap(*this); return *this; }
  Ref& operator=(Ref&& o) noexcept { Ref(std::move(o)).swap(*this); return *this; }
  Ref& operator=(std::nullptr_t) noexcept { reset(); return *this; }

  void reset() noexcept {
    if (p_) { T* p = p_; p_ = nullptr; release_ref(p); }
  }
  T* release() noexcept { T* p = p_; p_ = nullptr; return p; }
  void swap(Ref& o) noexcept { std::swap(p_, o.p_); }

  T* get() const noexcept { return p_; }
  T* operator->() const noexcept { return p_; }
  T& operator*() const noexcept { return *p_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }
  bool operator==(const Ref& o) const noexcept { return p_ == o.p_; }
  bool operator!=(const Ref& o) const noexcept { return p_ != o.p_; }

 private:
  T* p_ = nullptr;
};

template <typename T, typename... Args>
Ref<T> make_ref(Args&&... args) {
  return Ref<T>(new T(std::forward<Args>(args)...));
}

}  // namespace tg
