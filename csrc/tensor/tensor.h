#pragma once
// TensorImpl: storage + shape/strides/offset + dtype, and the autograd fields the
// engine needs (requires_grad, grad_fn, leaf metadata). Tensor is the value handle
// passed everywhere; copying it is one atomic increment.
#include <atomic>
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/errors.h"
#include "tensor/ref.h"
#include "tensor/small_vector.h"
#include "tensor/storage.h"

namespace tg {

using Shape = SmallVec<int64_t, 6>;
std::string shape_str(const Shape& s);
// The element count of a shape; ValueError for a negative size or a count (or, for an
// empty shape, a stride) beyond int64.
int64_t checked_numel(const Shape& shape);
Shape contiguous_strides(const Shape& shape);

class Node;
void release_ref(Node* n) noexcept;  // autograd/node.cpp: iterative teardown
class TensorImpl;
class Tensor;
// Regenerates the grad_fn of a view whose memory was written since it was last set
// (ops/shape.cpp).
void sync_view_history(TensorImpl* view);

// A gradient hook: called with the incoming gradient, returns it or a replacement
// (an undefined Tensor keeps the original). Python hooks subclass this in the bindings.
struct GradHook : RefCounted {
  virtual ~GradHook() = default;
  virtual Tensor call(const Tensor& grad) = 0;
  int64_t id = 0;
};

// Only leaves, tensors with hooks and tensors that retain their grad carry this.
struct AutogradMeta;

class TensorImpl : public RefCounted {
 public:
  TensorImpl(Ref<Storage> storage, DType dtype, Shape sizes, Shape strides, int64_t offset);
  ~TensorImpl();

  Ref<Storage> storage;
  Shape sizes;
  Shape strides;   // in elements
  int64_t offset;  // in elements
  int64_t numel;
  DType dtype;
  bool contiguous;

  // autograd
  bool requires_grad = false;
  bool trainable_variable = false;  // tg.Variable / nn.Parameter: tapes watch it on first use
  uint32_t output_nr = 0;
  // A view made while grad mode is on keeps its root base (never a view itself; the
  // base never points back) and the storage version its grad_fn was derived at. A
  // write through the view rewrites the base's history (PyTorch's CopySlices), and a
  // view whose memory changed since then takes its history from the base's anew.
  Ref<TensorImpl> view_base;
  std::atomic<uint32_t> view_version{0};  // stored last by the sync, which other threads may race to read
  // A view made under no_grad, or a view of one, does not follow its base; it notes
  // whether that base required grad. Whether the base should see an in-place op through
  // it is ambiguous, so one that would be recorded raises (PyTorch's NO_GRAD_MODE views).
  enum class NoGradView : uint8_t { No, OfConstant, OfRequiresGrad };
  NoGradView no_grad_view = NoGradView::No;
  Ref<Node> grad_fn;
  std::unique_ptr<AutogradMeta> autograd;

  // Back-pointer to the Python object wrapping this impl (owned by the bindings).
  void* pyobj = nullptr;

  void refresh_contiguous();
  AutogradMeta& meta();
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(Ref<TensorImpl> impl) : impl_(std::move(impl)) {}

  // A new contiguous tensor with uninitialised memory.
  static Tensor empty(const Shape& shape, DType dtype);
  static Tensor scalar(double v, DType dtype);

  bool defined() const { return bool(impl_); }
  TensorImpl* impl() const { return impl_.get(); }
  const Ref<TensorImpl>& impl_ref() const { return impl_; }

  const Shape& shape() const { return impl_->sizes; }
  const Shape& strides() const { return impl_->strides; }
  int64_t dim() const { return int64_t(impl_->sizes.size()); }
  int64_t numel() const { return impl_->numel; }
  int64_t size(int64_t d) const { return impl_->sizes[size_t(d)]; }
  DType dtype() const { return impl_->dtype; }
  bool is_contiguous() const { return impl_->contiguous; }
  int64_t offset() const { return impl_->offset; }
  Storage* storage() const { return impl_->storage.get(); }

  void* raw_data() const {
    return static_cast<char*>(impl_->storage->data()) + impl_->offset * int64_t(itemsize(impl_->dtype));
  }
  template <typename T> T* data() const { return static_cast<T*>(raw_data()); }

  // autograd accessors
  bool requires_grad() const { sync_view(); return impl_->requires_grad; }
  const Ref<Node>& grad_fn() const { sync_view(); return impl_->grad_fn; }
  bool is_leaf() const { return !grad_fn(); }
  // Only views pay for this check.
  void sync_view() const {
    if (impl_->view_base && impl_->view_version.load(std::memory_order_acquire) != impl_->storage->version())
      sync_view_history(impl_.get());
  }
  uint32_t version() const { return impl_->storage->version(); }
  void bump_version() const { impl_->storage->bump_version(); }

  // A new handle on the same memory with the given view geometry (no autograd).
  Tensor alias(const Shape& sizes, const Shape& strides, int64_t offset) const;
  // Same memory, same geometry, no history: what detach() returns.
  Tensor detached() const { return alias(shape(), strides(), offset()); }

  // Element value as double (for item(), repr and tests).
  double item_double() const;

  bool same(const Tensor& o) const { return impl_ == o.impl_; }

 private:
  Ref<TensorImpl> impl_;
};

struct AutogradMeta {
  Tensor grad;
  Node* grad_accumulator = nullptr;  // weak: the accumulator clears it when destroyed
  Ref<GradHook> retain_grad_hook;  // a non-leaf's retain_grad(), on its grad_fn (set_grad_fn moves it)
  std::vector<Ref<GradHook>> hooks;  // a leaf's
};

// A Python number as an operand: kept apart from tensors so `x * 0.9` needs no
// allocation and does not change x's dtype (PyTorch's "wrapped number" rule).
struct Scalar {
  enum Kind : uint8_t { Bool, Int, Float } kind = Float;
  double f = 0;
  int64_t i = 0;  // Int and Bool only: a Float's value may not fit (inf, NaN, 1e300)
  Scalar() = default;
  static Scalar from_double(double v) { Scalar s; s.kind = Float; s.f = v; return s; }
  static Scalar from_int(int64_t v) { Scalar s; s.kind = Int; s.i = v; s.f = double(v); return s; }
  static Scalar from_bool(bool v) { Scalar s; s.kind = Bool; s.i = v; s.f = v; return s; }
  double to_double() const { return f; }
  template <typename T> T as() const {
    if constexpr (std::is_same_v<T, bool>) return kind == Float ? f != 0 : i != 0;
    else if constexpr (std::is_integral_v<T>) return kind == Float ? T(f) : T(i);
    else return kind == Float ? T(f) : T(i);
  }
  DType natural_dtype() const { return kind == Bool ? DType::Bool : kind == Int ? DType::Int64 : DType::Float32; }
};

std::string describe(const Tensor& t);  // "float32[3, 4]"

}  // namespace tg
