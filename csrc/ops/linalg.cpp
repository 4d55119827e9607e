// matmul with NumPy semantics: 1-D operands are promoted (and the added dim removed
// afterwards), batch dims broadcast, and each 2-D product is one BLAS call.
#include "ops/op_utils.h"

namespace tg {

namespace {
// BLAS takes a matrix whose rows or columns are contiguous; anything else is copied.
Tensor blas_ready(const Tensor& m) {
  const int64_t s0 = m.strides()[0], s1 = m.strides()[1];
  const int64_t r = m.shape()[0], c = m.shape()[1];
  const bool rows = (s1 == 1 || c <= 1) && (s0 >= std::max<int64_t>(c, 1) || r <= 1);
  const bool cols = (s0 == 1 || r <= 1) && (s1 >= std::max<int64_t>(r, 1) || c <= 1);
  return rows || cols ? m : contiguous(detach(m));
}

Tensor matrix_at(const Tensor& t, int64_t batch_index, const Shape& batch_shape) {
  // The 2-D slice of t for a (broadcast) batch index.
  int64_t offset = t.offset();
  const int64_t tb = t.dim() - 2;
  int64_t rem = batch_index;
  for (int64_t d = int64_t(batch_shape.size()) - 1; d >= 0; --d) {
    const int64_t i = rem % batch_shape[size_t(d)];
    rem /= batch_shape[size_t(d)];
    const int64_t td = d - (int64_t(batch_shape.size()) - tb);
    if (td >= 0 && t.shape()[size_t(td)] != 1) offset += i * t.strides()[size_t(td)];
  }
  return t.alias(Shape{t.shape()[size_t(tb)], t.shape()[size_t(tb + 1)]},
                 Shape{t.strides()[size_t(tb)], t.strides()[size_t(tb + 1)]}, offset);
}

// Both operands at least 2-D and of the compute dtype.
Tensor batched_matmul_forward(const Tensor& a, const Tensor& b) {
  const int64_t M = a.shape()[size_t(a.dim() - 2)], K = a.shape()[size_t(a.dim() - 1)];
  const int64_t N = b.shape()[size_t(b.dim() - 1)];
  Shape a_batch(a.shape().begin(), a.shape().end() - 2), b_batch(b.shape().begin(), b.shape().end() - 2);
  const Shape batch = broadcast_shapes(a_batch, b_batch, "matmul");
  Shape out_shape = batch;
  out_shape.push_back(M);
  out_shape.push_back(N);
  Tensor out = Tensor::empty(out_shape, a.dtype());
  int64_t nbatch = 1;
  for (int64_t s : batch) nbatch *= s;
  if (b.dim() == 2 && a.dim() > 2 && a.is_contiguous()) {  // (..., M, K) @ (K, N): one GEMM
    Tensor a2 = a.alias(Shape{nbatch * M, K}, Shape{K, 1}, a.offset());
    kernels::matmul_2d(a2, blas_ready(b), out.alias(Shape{nbatch * M, N}, Shape{N, 1}, 0));
    return out;
  }
  for (int64_t i = 0; i < nbatch; ++i) {
    Tensor o = out.alias(Shape{M, N}, Shape{N, 1}, i * M * N);
    kernels::matmul_2d(blas_ready(matrix_at(a, i, batch)), blas_ready(matrix_at(b, i, batch)), o);
  }
  return out;
}
}  // namespace

struct MatmulBackward final : Node {  // (g b^T, a^T g), summed over broadcast batch dims
  SavedTensor a, b;
  InputMeta a_meta, b_meta;
  const char* name() const override { return "MmBackward"; }
  GradList apply(GradList& g) override {
    GradList r(2);
    if (needs_input_grad(0)) r[0] = fit_grad(matmul(g[0], transpose(b.unpack(this), -1, -2)), a_meta);
    if (needs_input_grad(1)) r[1] = fit_grad(matmul(transpose(a.unpack(this), -1, -2), g[0]), b_meta);
    return r;
  }
  void release_saved() override { a.reset(); b.reset(); }
};

Tensor matmul(const Tensor& a, const Tensor& b) {
  TG_CHECK(a.dim() > 0 && b.dim() > 0, ValueError, "matmul: both operands need at least 1 dimension, got ",
           describe(a), " and ", describe(b));
  if (a.dim() == 1 || b.dim() == 1) {
    const Tensor a2 = a.dim() == 1 ? unsqueeze(a, 0) : a;
    const Tensor b2 = b.dim() == 1 ? unsqueeze(b, -1) : b;
    Tensor out = matmul(a2, b2);
    if (b.dim() == 1) out = squeeze(out, Axes{-1});
    if (a.dim() == 1) out = squeeze(out, Axes{out.dim() == 1 ? -1 : -2});
    return out;
  }
  const int64_t K = a.shape()[size_t(a.dim() - 1)], Kb = b.shape()[size_t(b.dim() - 2)];
  TG_CHECK(K == Kb, ValueError, "matmul: shapes ", shape_str(a.shape()), " and ", shape_str(b.shape()),
           " are not aligned: ", K, " (last dim of the first) != ", Kb, " (second-to-last dim of the second)");
  DType dt = result_type(a, b);
  if (dt == DType::Bool) dt = DType::Int64;
  Tensor out = batched_matmul_forward(cast(a, dt), cast(b, dt));
  if (should_record(a, b)) {
    auto* n = record<MatmulBackward>(out, a, b);
    if (n->needs_input_grad(0)) n->b = SavedTensor(b, false);
    if (n->needs_input_grad(1)) n->a = SavedTensor(a, false);
    n->a_meta = InputMeta(a);
    n->b_meta = InputMeta(b);
  }
  return out;
}

}  // namespace tg
