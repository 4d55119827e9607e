#pragma once
// A vector with inline room for N elements: shapes, strides and a node's edges fit
// inline, so a small op does no heap allocation for them.
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <initializer_list>
#include <new>
#include <type_traits>
#include <utility>

namespace tg {

template <typename T, size_t N>
class SmallVec {
 public:
  SmallVec() noexcept = default;
  explicit SmallVec(size_t n, const T& v = T()) { resize(n, v); }
  SmallVec(std::initializer_list<T> il) { reserve(il.size()); for (const T& v : il) push_back(v); }
  template <typename It, typename = decltype(*std::declval<It>())>
  SmallVec(It first, It last) { reserve(size_t(std::distance(first, last))); for (; first != last; ++first) push_back(*first); }
  SmallVec(const SmallVec& o) { reserve(o.size_); for (size_t i = 0; i < o.size_; ++i) push_back(o[i]); }
  SmallVec(SmallVec&& o) noexcept { take(std::move(o)); }
  ~SmallVec() { clear(); if (data_ != inline_ptr()) ::operator delete(data_); }

  SmallVec& operator=(const SmallVec& o) {
    if (this != &o) { clear(); reserve(o.size_); for (size_t i = 0; i < o.size_; ++i) push_back(o[i]); }
    return *this;
  }
  SmallVec& operator=(SmallVec&& o) noexcept {
    if (this != &o) { clear(); if (data_ != inline_ptr()) ::operator delete(data_); data_ = inline_ptr(); cap_ = N; take(std::move(o)); }
    return *this;
  }

  size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  T* data() noexcept { return data_; }
  const T* data() const noexcept { return data_; }
  T& operator[](size_t i) noexcept { return data_[i]; }
  const T& operator[](size_t i) const noexcept { return data_[i]; }
  T& back() noexcept { return data_[size_ - 1]; }
  const T& back() const noexcept { return data_[size_ - 1]; }
  T* begin() noexcept { return data_; }
  T* end() noexcept { return data_ + size_; }
  const T* begin() const noexcept { return data_; }
  const T* end() const noexcept { return data_ + size_; }

  void reserve(size_t n) {
    if (n <= cap_) return;
    T* fresh = static_cast<T*>(::operator new(n * sizeof(T)));
    for (size_t i = 0; i < size_; ++i) { new (fresh + i) T(std::move(data_[i])); data_[i].~T(); }
    if (data_ != inline_ptr()) ::operator delete(data_);
    data_ = fresh;
    cap_ = n;
  }
  void push_back(const T& v) { if (size_ == cap_) reserve(cap_ * 2); new (data_ + size_) T(v); ++size_; }
  void push_back(T&& v) { if (size_ == cap_) reserve(cap_ * 2); new (data_ + size_) T(std::move(v)); ++size_; }
  template <typename... A>
  T& emplace_back(A&&... a) { if (size_ == cap_) reserve(cap_ * 2); new (data_ + size_) T(std::forward<A>(a)...); return data_[size_++]; }
  void pop_back() { data_[--size_].~T(); }
  void insert(size_t pos, const T& v) {
    push_back(v);
    for (size_t i = size_ - 1; i > pos; --i) std::swap(data_[i], data_[i - 1]);
  }
  void erase(size_t pos) {
    for (size_t i = pos; i + 1 < size_; ++i) data_[i] = std::move(data_[i + 1]);
    pop_back();
  }
  void resize(size_t n, const T& v = T()) {
    reserve(n);
    while (size_ > n) pop_back();
    while (size_ < n) push_back(v);
  }
  void clear() noexcept { while (size_) pop_back(); }

  bool operator==(const SmallVec& o) const {
    return size_ == o.size_ && std::equal(begin(), end(), o.begin());
  }
  bool operator!=(const SmallVec& o) const { return !(*this == o); }

 private:
  T* inline_ptr() noexcept { return reinterpret_cast<T*>(&inline_); }
  void take(SmallVec&& o) noexcept {
    if (o.data_ == o.inline_ptr()) {
      for (size_t i = 0; i < o.size_; ++i) { new (data_ + i) T(std::move(o.data_[i])); }
      size_ = o.size_;
      o.clear();
    } else {
      data_ = o.data_; size_ = o.size_; cap_ = o.cap_;
      o.data_ = o.inline_ptr(); o.size_ = 0; o.cap_ = N;
    }
  }

  T* data_ = inline_ptr();
  size_t size_ = 0;
  size_t cap_ = N;
  typename std::aligned_storage<sizeof(T), alignof(T)>::type inline_[N];
};

}  // namespace tg
