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

// (g b^T, a^T g), summed over broadcast batch dims. A 1-D operand takes part as a 1 x K
// row (a) or a K x 1 column (b) whose added dim the product drops; its gradient is
// computed in that 2-D form too.
struct MatmulBackward final : Node {
  SavedTensor a, b;
  InputMeta a_meta, b_meta;
  bool a_vec = false, b_vec = false;
  Shape product_shape;  // before the added dims were dropped
  const char* name() const override { return a_vec && b_vec ? "DotBackward" : a_vec || b_vec ? "MvBackward" : "MmBackward"; }
  GradList apply(GradList& g) override {
    const Tensor g2 = a_vec || b_vec ? reshape(g[0], product_shape) : g[0];
    GradList r(2);
    if (needs_input_grad(0)) {
      const Tensor bv = b.unpack(this);
      const Tensor ga = matmul(g2, transpose(b_vec ? unsqueeze(bv, -1) : bv, -1, -2));
      r[0] = fit_grad(a_vec ? squeeze(ga, Axes{-2}) : ga, a_meta);
    }
    if (needs_input_grad(1)) {
      const Tensor av = a.unpack(this);
      const Tensor gb = matmul(transpose(a_vec ? unsqueeze(av, 0) : av, -1, -2), g2);
      r[1] = fit_grad(b_vec ? squeeze(gb, Axes{-1}) : gb, b_meta);
    }
    return r;
  }
  void release_saved() override { a.reset(); b.reset(); }
};

Tensor matmul(const Tensor& a, const Tensor& b) {
  TG_CHECK(a.dim() > 0 && b.dim() > 0, ValueError, "matmul: both operands need at least 1 dimension, got ",
           describe(a), " and ", describe(b));
  const bool a_vec = a.dim() == 1, b_vec = b.dim() == 1;
  const Tensor a2 = a_vec ? unsqueeze(detach(a), 0) : a;
  const Tensor b2 = b_vec ? unsqueeze(detach(b), -1) : b;
  const int64_t K = a2.shape()[size_t(a2.dim() - 1)], Kb = b2.shape()[size_t(b2.dim() - 2)];
  TG_CHECK(K == Kb, ValueError, "matmul: shapes ", shape_str(a2.shape()), " and ", shape_str(b2.shape()),
           " are not aligned: ", K, " (last dim of the first) != ", Kb, " (second-to-last dim of the second)");
  DType dt = result_type(a, b);
  if (dt == DType::Bool) dt = DType::Int64;
  Tensor out = batched_matmul_forward(cast(a2, dt), cast(b2, dt));
  const Shape product_shape = out.shape();
  if (b_vec) out = squeeze(out, Axes{-1});
  if (a_vec) out = squeeze(out, Axes{out.dim() == 1 ? -1 : -2});
  if (should_record(a, b)) {
    auto* n = record<MatmulBackward>(out, a, b);
    if (n->needs_input_grad(0)) n->b = SavedTensor(b, false);
    if (n->needs_input_grad(1)) n->a = SavedTensor(a, false);
    n->a_meta = InputMeta(a);
    n->b_meta = InputMeta(b);
    n->a_vec = a_vec;
    n->b_vec = b_vec;
    n->product_shape = product_shape;
  }
  return out;
}

}  // namespace tg
