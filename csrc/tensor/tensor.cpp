#include "tensor/tensor.h"

#include <sstream>

#include "autograd/node.h"

namespace tg {

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

std::string describe(const Tensor& t) {
  return str_cat(dtype_name(t.dtype()), shape_str(t.shape()));
}

TensorImpl::TensorImpl(Ref<Storage> st, DType dt, Shape sz, Shape str, int64_t off)
    : storage(std::move(st)), sizes(std::move(sz)), strides(std::move(str)), offset(off), dtype(dt) {
  refresh_contiguous();
}

TensorImpl::~TensorImpl() {
  if (autograd && autograd->grad_accumulator) autograd->grad_accumulator = nullptr;
}

void TensorImpl::refresh_contiguous() {
  int64_t n = 1;
  for (int64_t s : sizes) n *= s;
  numel = n;
  bool c = true;
  int64_t expected = 1;
  for (size_t i = sizes.size(); i-- > 0;) {
    if (sizes[i] == 1) continue;
    if (strides[i] != expected) { c = false; break; }
    expected *= sizes[i];
  }
  contiguous = c;
}

AutogradMeta& TensorImpl::meta() {
  if (!autograd) autograd = std::make_unique<AutogradMeta>();
  return *autograd;
}

Shape contiguous_strides(const Shape& shape) {
  Shape st(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) { st[i] = s; s *= std::max<int64_t>(shape[i], 1); }
  return st;
}

int64_t checked_numel(const Shape& shape) {
  bool no_elements = false;
  for (int64_t s : shape) {
    TG_CHECK(s >= 0, ValueError, "negative dimension ", s, " in shape ", shape_str(shape));
    no_elements = no_elements || s == 0;
  }
  // A shape with a 0 holds nothing, whatever its other sizes (PyTorch accepts (2**62, 0)
  // as it does (0, 2**62)), but its strides, products of those sizes, must fit int64.
  const int64_t limit = no_elements ? int64_t(1) << 62 : int64_t(1) << 56;
  int64_t n = 1;
  for (int64_t s : shape) {
    const int64_t m = no_elements ? std::max<int64_t>(s, 1) : s;
    TG_CHECK(n <= limit / m, ValueError, "shape ", shape_str(shape), " is too large");
    n *= m;
  }
  return no_elements ? 0 : n;
}

Tensor Tensor::empty(const Shape& shape, DType dtype) {
  const int64_t n = checked_numel(shape);
  return Tensor(make_ref<TensorImpl>(Storage::allocate(size_t(n) * itemsize(dtype)), dtype, shape,
                                     contiguous_strides(shape), 0));
}

Tensor Tensor::scalar(double v, DType dtype) {
  Tensor t = empty(Shape{}, dtype);
  visit_dtype(dtype, [&](auto tag) { using T = decltype(tag); *t.data<T>() = static_cast<T>(v); });
  return t;
}

Tensor Tensor::alias(const Shape& sizes, const Shape& strides, int64_t offset) const {
  return Tensor(make_ref<TensorImpl>(impl_->storage, impl_->dtype, sizes, strides, offset));
}

double Tensor::item_double() const {
  return visit_dtype(dtype(), [&](auto tag) -> double { using T = decltype(tag); return double(*data<T>()); });
}

}  // namespace tg
