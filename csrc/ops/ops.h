#pragma once
// Every tensor operation, differentiable where it makes sense. Each op's definition
// (in the .cpp named after its family) holds its shape/dtype rule, its forward kernel
// call and its derivative rule side by side; derivative rules are written with these
// same ops, so they can be differentiated again (create_graph).
#include <optional>
#include <string>
#include <vector>

#include "kernels/kernels.h"
#include "tensor/tensor.h"

namespace tg {

using Axes = SmallVec<int64_t, 6>;
using kernels::BinaryOp;
using kernels::UnaryOp;

// ---- shapes and dtypes ----
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
int64_t normalize_axis(int64_t axis, int64_t ndim, const char* op);
// Sum a broadcast gradient back to `shape` (no-op when it already has it).
Tensor sum_to(const Tensor& g, const Shape& shape);
DType result_type(const Tensor& a, const Tensor& b);
DType result_type(const Tensor& a, Scalar s);

// ---- creation / conversion ----
Tensor empty(const Shape& shape, DType dtype);
Tensor full(const Shape& shape, Scalar value, DType dtype);
Tensor zeros(const Shape& shape, DType dtype);
Tensor ones(const Shape& shape, DType dtype);
Tensor arange(double start, double stop, double step, DType dtype);
Tensor linspace(double start, double stop, int64_t num, DType dtype);
Tensor eye(int64_t n, int64_t m, DType dtype);
Tensor rand(const Shape& shape, DType dtype);
Tensor randn(const Shape& shape, DType dtype);
Tensor to_dtype(const Tensor& x, DType dtype);  // differentiable between float types
Tensor cast(const Tensor& x, DType dtype);      // the same, never recorded
Tensor contiguous(const Tensor& x);
Tensor clone(const Tensor& x);
Tensor detach(const Tensor& x);

// ---- elementwise ----
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor log1p(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor sign(const Tensor& x);
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
Tensor tan(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor leaky_relu(const Tensor& x, double negative_slope);
Tensor gelu(const Tensor& x);
Tensor softplus(const Tensor& x);
Tensor reciprocal(const Tensor& x);
Tensor square(const Tensor& x);
Tensor clamp(const Tensor& x, std::optional<Scalar> lo, std::optional<Scalar> hi);

Tensor add(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, Scalar b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, Scalar b);
Tensor rsub(const Tensor& a, Scalar b);  // b - a
Tensor mul(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, Scalar b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, Scalar b);
Tensor rdiv(const Tensor& a, Scalar b);  // b / a
Tensor pow(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, Scalar b);
Tensor rpow(const Tensor& a, Scalar b);  // b ** a
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
Tensor compare(BinaryOp op, const Tensor& a, const Tensor& b);
Tensor compare(BinaryOp op, const Tensor& a, Scalar b);
Tensor isnan(const Tensor& x);
Tensor isinf(const Tensor& x);
Tensor isfinite(const Tensor& x);
Tensor logical_not(const Tensor& x);

// ---- in place (bump the version counter; refused on leaves that require grad) ----
Tensor& add_(Tensor& a, const Tensor& b);
Tensor& sub_(Tensor& a, const Tensor& b);
Tensor& mul_(Tensor& a, const Tensor& b);
Tensor& div_(Tensor& a, const Tensor& b);
Tensor& add_(Tensor& a, Scalar b);
Tensor& sub_(Tensor& a, Scalar b);
Tensor& mul_(Tensor& a, Scalar b);
Tensor& div_(Tensor& a, Scalar b);
Tensor& clamp_(Tensor& a, std::optional<Scalar> lo, std::optional<Scalar> hi);
Tensor& fill_(Tensor& a, Scalar v);
Tensor& zero_(Tensor& a);
Tensor& copy_(Tensor& dst, const Tensor& src);

// ---- reductions ----
// axes: std::nullopt reduces over every axis; an empty list reduces over none (NumPy).
using OptAxes = std::optional<Axes>;
Tensor sum(const Tensor& x, const OptAxes& axes = std::nullopt, bool keepdims = false);
Tensor mean(const Tensor& x, const OptAxes& axes = std::nullopt, bool keepdims = false);
Tensor prod(const Tensor& x, const OptAxes& axes = std::nullopt, bool keepdims = false);
Tensor amax(const Tensor& x, const OptAxes& axes = std::nullopt, bool keepdims = false);
Tensor amin(const Tensor& x, const OptAxes& axes = std::nullopt, bool keepdims = false);
Tensor var(const Tensor& x, const OptAxes& axes, double correction, bool keepdims);
Tensor std(const Tensor& x, const OptAxes& axes, double correction, bool keepdims);
Tensor norm(const Tensor& x, double p, const OptAxes& axes, bool keepdims);
Tensor logsumexp(const Tensor& x, const OptAxes& axes, bool keepdims);
Tensor argmax(const Tensor& x, std::optional<int64_t> axis, bool keepdims);
Tensor argmin(const Tensor& x, std::optional<int64_t> axis, bool keepdims);
Tensor softmax(const Tensor& x, int64_t axis);
Tensor log_softmax(const Tensor& x, int64_t axis);

// ---- shape ----
Tensor reshape(const Tensor& x, const Shape& shape);  // a view when strides allow
Tensor view(const Tensor& x, const Shape& shape);     // must be a view
Tensor flatten(const Tensor& x, int64_t start, int64_t end);
Tensor squeeze(const Tensor& x, std::optional<Axes> axes);
Tensor unsqueeze(const Tensor& x, int64_t axis);
Tensor transpose(const Tensor& x, int64_t a, int64_t b);
Tensor permute(const Tensor& x, const Axes& dims);
Tensor expand(const Tensor& x, const Shape& shape);  // -1 keeps a size
Tensor broadcast_to(const Tensor& x, const Shape& shape);
Tensor concat(const std::vector<Tensor>& xs, int64_t axis);
Tensor stack(const std::vector<Tensor>& xs, int64_t axis);
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t axis);
// NumPy basic indexing (ints, slices, None, ...) as a view: one entry per input dim
// (start, step, size, or `drop` for an int index), plus the output positions of new axes.
struct BasicIndex {
  struct DimSel { int64_t start = 0, step = 1, size = 0; bool drop = false; };
  SmallVec<DimSel, 6> dims;
  SmallVec<int64_t, 4> new_axes;
};
Tensor basic_index(const Tensor& x, const BasicIndex& index);
Tensor narrow(const Tensor& x, int64_t axis, int64_t start, int64_t length);
// Gather along a flattened index: out[i] = x.flat[index[i]] (integer-array indexing).
Tensor take(const Tensor& x, const Tensor& flat_index, const Shape& out_shape);
// Scatter-add: out = zeros(shape); out.flat[index[i]] += src[i].
Tensor index_add_flat(const Shape& shape, const Tensor& flat_index, const Tensor& src);
// x.flat[index] = values (broadcast to index's shape), out of place and in place
// (setitem with advanced indices). The recorded node keeps `flat_index` as it is: do
// not change it afterwards.
Tensor index_put(const Tensor& x, const Tensor& flat_index, const Tensor& values);
void index_put_(Tensor& x, const Tensor& flat_index, const Tensor& values);
Tensor nonzero_flat(const Tensor& mask);  // int64 flat positions of true entries

// ---- losses ----
// Mean/sum/none of -log softmax(logits)[i, labels[i]]; logits (N, C), labels (N,) int64.
Tensor cross_entropy(const Tensor& logits, const Tensor& labels, const std::string& reduction);
// (x - mean) / sqrt(var + eps) * weight + bias over the trailing `normalized_dims` dims.
Tensor layer_norm(const Tensor& x, int64_t normalized_dims, const Tensor& weight, const Tensor& bias, double eps);

// ---- linear algebra ----
Tensor matmul(const Tensor& a, const Tensor& b);

// Refuse in-place changes that would corrupt autograd (a leaf that requires grad, or a
// view of one; a recorded write through a view made under no_grad, `other` being the
// op's tensor operand), and writes into an expanded view unless the op writes one value
// everywhere (fill_).
void check_inplace(const Tensor& t, const char* op, const Tensor& other = Tensor(), bool one_value = false);

}  // namespace tg
