// Reductions and the softmax family.
#include <algorithm>
#include <cmath>
#include <limits>

#include "ops/op_utils.h"

namespace tg {

int64_t normalize_axis(int64_t axis, int64_t ndim, const char* op) {
  const int64_t n = std::max<int64_t>(ndim, 1);
  if (axis < -n || axis >= n)
    throw IndexError(str_cat(op, ": axis ", axis, " is out of range for a tensor with ", ndim, " dimensions"));
  return axis < 0 ? axis + n : axis;
}

SmallVec<bool, 6> axis_mask(const Tensor& x, const OptAxes& axes, const char* op) {
  SmallVec<bool, 6> mask(size_t(x.dim()), !axes.has_value());
  if (axes) {
    for (int64_t a : *axes) {
      const int64_t d = normalize_axis(a, x.dim(), op);
      if (x.dim() == 0) continue;  // 0-d tensors accept axis 0/-1 and stay as they are
      TG_CHECK(!mask[size_t(d)], ValueError, op, ": axis ", a, " appears twice");
      mask[size_t(d)] = true;
    }
  }
  return mask;
}

namespace {

Shape kept_shape(const Tensor& x, const SmallVec<bool, 6>& mask) {  // keepdims form
  Shape s = x.shape();
  for (size_t d = 0; d < s.size(); ++d) if (mask[d]) s[d] = 1;
  return s;
}
Shape final_shape(const Tensor& x, const SmallVec<bool, 6>& mask, bool keepdims) {
  if (keepdims) return kept_shape(x, mask);
  Shape s;
  for (size_t d = 0; d < mask.size(); ++d) if (!mask[d]) s.push_back(x.shape()[d]);
  return s;
}
int64_t reduced_count(const Tensor& x, const SmallVec<bool, 6>& mask) {
  int64_t n = 1;
  for (size_t d = 0; d < mask.size(); ++d) if (mask[d]) n *= x.shape()[d];
  return n;
}

Tensor reduce_forward(kernels::ReduceOp op, const Tensor& x, const SmallVec<bool, 6>& mask, bool keepdims, DType dt) {
  Tensor in = cast(x, dt);
  Tensor out = Tensor::empty(kept_shape(x, mask), dt);
  kernels::reduce(op, in, out);
  return keepdims ? out : reshape(out, final_shape(x, mask, false));
}

// A reduced gradient, broadcast back over the input's shape.
Tensor expand_back(const Tensor& g, const Shape& kept, const Shape& input_shape) {
  return expand(reshape(g, kept), input_shape);
}

}  // namespace

Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  const int64_t lead = g.dim() - int64_t(shape.size());
  Axes axes;
  for (int64_t d = 0; d < g.dim(); ++d)
    if (d < lead || (shape[size_t(d - lead)] == 1 && g.shape()[size_t(d)] != 1)) axes.push_back(d);
  return reshape(sum(g, axes, true), shape);
}

struct SumBackward final : Node {
  Shape kept, input_shape;
  const char* name() const override { return "SumBackward"; }
  GradList apply(GradList& g) override { return {expand_back(g[0], kept, input_shape)}; }
};
Tensor sum(const Tensor& x, const OptAxes& axes, bool keepdims) {
  auto mask = axis_mask(x, axes, "sum");
  const DType dt = is_floating(x.dtype()) ? x.dtype() : DType::Int64;  // bool and int sum as int64
  Tensor out = reduce_forward(kernels::ReduceOp::Sum, x, mask, keepdims, dt);
  if (should_record(x)) {
    auto* n = record<SumBackward>(out, x);
    n->kept = kept_shape(x, mask);
    n->input_shape = x.shape();
  }
  return out;
}

Tensor mean(const Tensor& x, const OptAxes& axes, bool keepdims) {
  TG_CHECK(is_floating(x.dtype()), TypeError, "mean: needs a floating tensor, got ", describe(x),
           " (convert with .to(float32))");
  auto mask = axis_mask(x, axes, "mean");
  const int64_t n = reduced_count(x, mask);
  return div(sum(x, axes, keepdims), Scalar::from_double(double(n)));  // 0/0 = nan for empty, as NumPy
}

// The product's derivative without dividing by zero: prod of the other entries, which is
// out / x where x != 0, the product of the non-zero entries where x is the only zero,
// and 0 where the slice has two or more zeros.
struct ProdBackward final : Node {
  SavedTensor x;
  Shape kept, input_shape;
  Axes axes;
  const char* name() const override { return "ProdBackward"; }
  GradList apply(GradList& g) override {
    Tensor xv = x.unpack(this);
    const DType dt = xv.dtype();
    Tensor is_zero = compare(BinaryOp::Eq, xv, Scalar::from_double(0));
    if (GradMode::is_enabled() && sum(is_zero).item_double() > 0)
      return {mul(expand_back(g[0], kept, input_shape), product_of_others(xv))};
    Tensor zero_count = sum(cast(is_zero, dt), axes, true);
    Tensor prod_nonzero = prod(where(is_zero, ones({}, dt), xv), axes, true);
    Tensor zero = zeros({}, dt);
    Tensor others = where(is_zero,
                          where(compare(BinaryOp::Eq, zero_count, Scalar::from_double(1)), prod_nonzero, zero),
                          where(compare(BinaryOp::Eq, zero_count, Scalar::from_double(0)), div(prod_nonzero, xv), zero));
    return {mul(expand_back(g[0], kept, input_shape), others)};
  }
  void release_saved() override { x.reset(); }

  // prod_{j != i} x_j computed as the product of each row of an (n, n) matrix whose
  // diagonal is 1: differentiable everywhere (zeros included), for create_graph.
  Tensor product_of_others(const Tensor& xv) const {
    Axes perm, inverse(size_t(xv.dim()));
    Shape outer;
    int64_t n = 1;
    for (int64_t d = 0; d < xv.dim(); ++d)
      if (std::find(axes.begin(), axes.end(), d) == axes.end()) { perm.push_back(d); outer.push_back(xv.shape()[size_t(d)]); }
    for (int64_t d : axes) { perm.push_back(d); n *= xv.shape()[size_t(d)]; }
    for (size_t i = 0; i < perm.size(); ++i) inverse[size_t(perm[i])] = int64_t(i);
    Tensor moved = permute(xv, perm);
    Shape rows = outer;
    rows.push_back(n);
    Tensor x2 = unsqueeze(reshape(moved, rows), -2);
    Tensor with_one = where(eye(n, n, DType::Bool), ones({}, xv.dtype()), x2);
    Tensor others = prod(with_one, Axes{-1}, false);
    return permute(reshape(others, moved.shape()), inverse);
  }
};
Tensor prod(const Tensor& x, const OptAxes& axes, bool keepdims) {
  auto mask = axis_mask(x, axes, "prod");
  const DType dt = is_floating(x.dtype()) ? x.dtype() : DType::Int64;
  // float32 is multiplied in float64: partial products (in any order) can leave float32's
  // range on the way to a representable result, as 1e15 * 1e15 * 1e15 * 1e-37 * 1e-37
  const DType acc = dt == DType::Float32 ? DType::Float64 : dt;
  Tensor out = cast(reduce_forward(kernels::ReduceOp::Prod, x, mask, keepdims, acc), dt);
  if (should_record(x)) {
    auto* n = record<ProdBackward>(out, x);
    n->x = SavedTensor(x, false);
    n->kept = kept_shape(x, mask);
    n->input_shape = x.shape();
    for (size_t d = 0; d < mask.size(); ++d) if (mask[d]) n->axes.push_back(int64_t(d));
  }
  return out;
}

// amax/amin: the gradient is split evenly among the entries that equal the extreme
// (PyTorch's amax/amin rule; max(x, axis) returns values only, as NumPy's max does).
struct ExtremeBackward final : Node {
  SavedTensor x, out;
  Shape kept, input_shape;
  Axes axes;
  bool is_max = true;
  const char* name() const override { return is_max ? "AmaxBackward" : "AminBackward"; }
  GradList apply(GradList& g) override {
    Tensor xv = x.unpack(this);
    Tensor hit = cast(compare(BinaryOp::Eq, xv, expand_back(out.unpack(this), kept, input_shape)), xv.dtype());
    Tensor share = div(hit, sum(hit, axes, true));
    return {mul(expand_back(g[0], kept, input_shape), share)};
  }
  void release_saved() override { x.reset(); out.reset(); }
};
static Tensor extreme(const Tensor& x, const OptAxes& axes, bool keepdims, bool is_max) {
  const char* name = is_max ? "max" : "min";
  auto mask = axis_mask(x, axes, name);
  int64_t outputs = 1;
  for (int64_t s : kept_shape(x, mask)) outputs *= s;
  TG_CHECK(reduced_count(x, mask) > 0 || outputs == 0, ValueError, name,
           ": cannot reduce over an empty dimension of ", describe(x), " (the reduction has no identity)");
  const DType dt = x.dtype() == DType::Bool ? DType::Int64 : x.dtype();
  Tensor out = reduce_forward(is_max ? kernels::ReduceOp::Max : kernels::ReduceOp::Min, x, mask, keepdims, dt);
  if (x.dtype() == DType::Bool) out = cast(out, DType::Bool);
  if (should_record(x)) {
    auto* n = record<ExtremeBackward>(out, x);
    n->x = SavedTensor(x, false);
    n->out = SavedTensor(out, true);
    n->kept = kept_shape(x, mask);
    n->input_shape = x.shape();
    n->is_max = is_max;
    for (size_t d = 0; d < mask.size(); ++d) if (mask[d]) n->axes.push_back(int64_t(d));
  }
  return out;
}
Tensor amax(const Tensor& x, const OptAxes& axes, bool keepdims) { return extreme(x, axes, keepdims, true); }
Tensor amin(const Tensor& x, const OptAxes& axes, bool keepdims) { return extreme(x, axes, keepdims, false); }

static Tensor variance(const Tensor& x, const OptAxes& axes, double correction, bool keepdims, const char* op) {
  TG_CHECK(is_floating(x.dtype()), TypeError, op, ": needs a floating tensor, got ", describe(x));
  auto mask = axis_mask(x, axes, op);
  const double n = double(reduced_count(x, mask));
  Tensor centered = sub(x, mean(x, axes, true));
  return div(sum(square(centered), axes, keepdims), Scalar::from_double(std::max(0.0, n - correction)));
}
// float32 is computed in float64, as PyTorch does: squared deviations overflow float32
// from |x - mean| ~ 2e19 (std of [1e20, -1e20] is 1e20, not inf) and underflow below 1e-23.
Tensor var(const Tensor& x, const OptAxes& axes, double correction, bool keepdims) {
  if (x.dtype() == DType::Float32) return to_dtype(var(to_dtype(x, DType::Float64), axes, correction, keepdims), x.dtype());
  return variance(x, axes, correction, keepdims, "var");
}
Tensor std(const Tensor& x, const OptAxes& axes, double correction, bool keepdims) {
  if (x.dtype() == DType::Float32) return to_dtype(std(to_dtype(x, DType::Float64), axes, correction, keepdims), x.dtype());
  return sqrt(variance(x, axes, correction, keepdims, "std"));
}

// The 2-norm gets its own rule so that its gradient at zero is 0, not 0/0.
struct Norm2Backward final : Node {
  SavedTensor x, out;
  Shape kept, input_shape;
  const char* name() const override { return "NormBackward"; }
  GradList apply(GradList& g) override {
    Tensor xv = x.unpack(this);
    Tensor nv = expand_back(out.unpack(this), kept, input_shape);
    Tensor scaled = where(compare(BinaryOp::Eq, nv, Scalar::from_double(0)), zeros({}, xv.dtype()), div(xv, nv));
    return {mul(expand_back(g[0], kept, input_shape), scaled)};
  }
  void release_saved() override { x.reset(); out.reset(); }
};
Tensor norm(const Tensor& x, double p, const OptAxes& axes, bool keepdims) {
  TG_CHECK(is_floating(x.dtype()), TypeError, "norm: needs a floating tensor, got ", describe(x));
  if (std::isinf(p)) return p > 0 ? amax(abs(x), axes, keepdims) : amin(abs(x), axes, keepdims);
  if (p == 1) return sum(abs(x), axes, keepdims);
  if (p == 0) return sum(cast(compare(BinaryOp::Ne, x, Scalar::from_double(0)), x.dtype()), axes, keepdims);
  if (p != 2) return pow(sum(pow(abs(x), Scalar::from_double(p)), axes, keepdims), Scalar::from_double(1.0 / p));
  auto mask = axis_mask(x, axes, "norm");
  Tensor out;
  {
    GradModeGuard no_grad(false);
    out = sqrt(sum(square(x), axes, keepdims));
  }
  if (should_record(x)) {
    auto* n = record<Norm2Backward>(out, x);
    n->x = SavedTensor(x, false);
    n->out = SavedTensor(out, true);
    n->kept = kept_shape(x, mask);
    n->input_shape = x.shape();
  }
  return out;
}

// log(sum(exp(x - m))) + m with m the (constant) max, so large inputs do not overflow;
// its gradient is softmax(x) by composition.
Tensor logsumexp(const Tensor& x, const OptAxes& axes, bool keepdims) {
  auto mask = axis_mask(x, axes, "logsumexp");
  const Tensor xf = to_dtype(x, to_floating(x.dtype()));
  // The max only shifts for stability; an empty reduction has none (and gives -inf).
  Tensor m = reduced_count(x, mask) == 0 ? zeros(kept_shape(x, mask), xf.dtype()) : detach(amax(xf, axes, true));
  m = where(isfinite(m), m, zeros({}, m.dtype()));
  Tensor out = add(log(sum(exp(sub(xf, m)), axes, true)), m);
  if (keepdims) return out;
  return reshape(out, final_shape(x, mask, false));
}

Tensor softmax(const Tensor& x, int64_t axis) {
  const Tensor xf = to_dtype(x, to_floating(x.dtype()));
  Axes ax{normalize_axis(axis, x.dim(), "softmax")};
  if (x.dim() == 0) return exp(sub(xf, detach(xf)));
  if (x.numel() == 0) return xf;
  Tensor m = detach(amax(xf, ax, true));  // an infinite max gives NaN, as in PyTorch
  Tensor e = exp(sub(xf, m));
  return div(e, sum(e, ax, true));
}

// (x - m) - log(sum(exp(x - m))) with m the row's max as it is (PyTorch's form): no
// cancellation against a large m, and a row holding +inf or -inf only gives NaN, as softmax.
Tensor log_softmax(const Tensor& x, int64_t axis) {
  const Tensor xf = to_dtype(x, to_floating(x.dtype()));
  Axes ax{normalize_axis(axis, x.dim(), "log_softmax")};
  if (x.dim() == 0) return sub(xf, xf);
  if (x.numel() == 0) return xf;
  Tensor shifted = sub(xf, detach(amax(xf, ax, true)));
  return sub(shifted, log(sum(exp(shifted), ax, true)));
}

static Tensor arg_extreme(const Tensor& x, std::optional<int64_t> axis, bool keepdims, bool is_max) {
  const char* name = is_max ? "argmax" : "argmin";
  TG_CHECK(x.dtype() != DType::Bool, TypeError, name, ": not supported for bool tensors");
  if (!axis) {
    TG_CHECK(x.numel() > 0, ValueError, name, ": cannot take the arg", is_max ? "max" : "min", " of an empty tensor");
    Tensor flat = reshape(contiguous(x), Shape{x.numel()});
    Tensor out = Tensor::empty(Shape{}, DType::Int64);
    kernels::arg_reduce(is_max, flat, 0, out);
    return keepdims ? reshape(out, Shape(size_t(x.dim()), 1)) : out;
  }
  const int64_t d = normalize_axis(*axis, x.dim(), name);
  if (x.dim() == 0) return zeros({}, DType::Int64);
  TG_CHECK(x.shape()[size_t(d)] > 0, ValueError, name, ": cannot reduce over an empty axis of ", describe(x));
  Shape out_shape;
  for (int64_t i = 0; i < x.dim(); ++i) if (i != d) out_shape.push_back(x.shape()[size_t(i)]);
  Tensor out = Tensor::empty(out_shape, DType::Int64);
  if (out.numel() > 0) kernels::arg_reduce(is_max, x, d, out);
  return keepdims ? unsqueeze(out, d) : out;
}
Tensor argmax(const Tensor& x, std::optional<int64_t> axis, bool keepdims) { return arg_extreme(x, axis, keepdims, true); }
Tensor argmin(const Tensor& x, std::optional<int64_t> axis, bool keepdims) { return arg_extreme(x, axis, keepdims, false); }

}  // namespace tg
