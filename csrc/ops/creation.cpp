// Factories, dtype conversion and copies.
#include <cmath>

#include "ops/op_utils.h"

namespace tg {

Tensor empty(const Shape& shape, DType dtype) { return Tensor::empty(shape, dtype); }

void check_fits(Scalar value, DType dtype, const char* op) {
  // Converting inf, NaN or a float beyond int64's range to int64 is undefined behaviour
  // (x86 gives INT64_MIN); PyTorch raises.
  TG_CHECK(dtype != DType::Int64 || value.kind != Scalar::Float || (value.f >= -0x1p63 && value.f < 0x1p63),
           ValueError, op, ": cannot convert ", value.f, " to ", dtype_name(dtype), " without overflow");
}

Tensor full(const Shape& shape, Scalar value, DType dtype) {
  check_fits(value, dtype, "full");
  Tensor t = Tensor::empty(shape, dtype);
  kernels::fill(t, value);
  return t;
}
Tensor zeros(const Shape& shape, DType dtype) { return full(shape, Scalar::from_int(0), dtype); }
Tensor ones(const Shape& shape, DType dtype) { return full(shape, Scalar::from_int(1), dtype); }

Tensor arange(double start, double stop, double step, DType dtype) {
  TG_CHECK(step != 0, ValueError, "arange: step must be nonzero");
  TG_CHECK(std::isfinite(start) && std::isfinite(stop) && std::isfinite(step), ValueError,
           "arange: start, stop and step must be finite (got ", start, ", ", stop, ", ", step, ")");
  const double n = std::ceil((stop - start) / step);
  TG_CHECK(n < 1e12, ValueError, "arange: too many elements (", n, ")");
  const int64_t count = n > 0 ? int64_t(n) : 0;
  if (count > 0) {  // the first and last values bound the others
    check_fits(Scalar::from_double(start), dtype, "arange");
    check_fits(Scalar::from_double(start + double(count - 1) * step), dtype, "arange");
  }
  Tensor t = Tensor::empty(Shape{count}, dtype);
  visit_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = t.data<T>();
    for (int64_t i = 0; i < count; ++i) p[i] = static_cast<T>(start + double(i) * step);
  });
  return t;
}

Tensor linspace(double start, double stop, int64_t num, DType dtype) {
  TG_CHECK(num >= 0, ValueError, "linspace: number of steps must be non-negative, got ", num);
  if (num > 0) {  // the values lie between the two ends
    check_fits(Scalar::from_double(start), dtype, "linspace");
    check_fits(Scalar::from_double(stop), dtype, "linspace");
  }
  Tensor t = Tensor::empty(Shape{num}, dtype);
  const double step = num > 1 ? (stop - start) / double(num - 1) : 0;
  visit_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = t.data<T>();
    // Fill from both ends so the last value is exactly `stop`, as NumPy does.
    for (int64_t i = 0; i < num; ++i)
      p[i] = static_cast<T>(num == 1 || i < num / 2 ? start + step * double(i) : stop - step * double(num - 1 - i));
  });
  return t;
}

Tensor eye(int64_t n, int64_t m, DType dtype) {
  TG_CHECK(n >= 0 && m >= 0, ValueError, "eye: sizes must be non-negative, got ", n, " and ", m);
  Tensor t = zeros(Shape{n, m}, dtype);
  visit_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = t.data<T>();
    for (int64_t i = 0; i < std::min(n, m); ++i) p[i * m + i] = T(1);
  });
  return t;
}

Tensor rand(const Shape& shape, DType dtype) {
  TG_CHECK(is_floating(dtype), TypeError, "rand: dtype must be floating, got ", dtype_name(dtype));
  Tensor t = Tensor::empty(shape, dtype);
  kernels::fill_uniform(t, 0, 1);
  return t;
}
Tensor randn(const Shape& shape, DType dtype) {
  TG_CHECK(is_floating(dtype), TypeError, "randn: dtype must be floating, got ", dtype_name(dtype));
  Tensor t = Tensor::empty(shape, dtype);
  kernels::fill_normal(t, 0, 1);
  return t;
}

struct ToDtypeBackward final : Node {
  DType from = DType::Float32;
  const char* name() const override { return "ToCopyBackward"; }
  GradList apply(GradList& g) override { return {to_dtype(g[0], from)}; }
};
Tensor to_dtype(const Tensor& x, DType dtype) {
  if (x.dtype() == dtype) return x;
  Tensor out = cast(x, dtype);
  if (is_floating(dtype) && should_record(x)) record<ToDtypeBackward>(out, x)->from = x.dtype();
  return out;
}

struct CloneBackward final : Node {
  const char* name() const override { return "CloneBackward"; }
  GradList apply(GradList& g) override { return {g[0]}; }
};
Tensor clone(const Tensor& x) {
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  kernels::copy(x, out);
  if (should_record(x)) record<CloneBackward>(out, x);
  return out;
}
Tensor contiguous(const Tensor& x) { return x.is_contiguous() ? x : clone(x); }

Tensor detach(const Tensor& x) { return x.detached(); }

}  // namespace tg
