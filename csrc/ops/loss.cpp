// Fused losses: one pass forward, one pass backward, where the composite form would
// take several (log_softmax + gather + mean, and their derivatives).
#include <cmath>
#include <string>

#include "kernels/parallel.h"
#include "ops/op_utils.h"

namespace tg {

namespace {
enum class Reduction { None, Mean, Sum };
Reduction parse_reduction(const std::string& r) {
  if (r == "mean") return Reduction::Mean;
  if (r == "sum") return Reduction::Sum;
  if (r == "none") return Reduction::None;
  throw ValueError(str_cat("cross_entropy: reduction must be 'mean', 'sum' or 'none', got '", r, "'"));
}

// Per-row log-sum-exp of contiguous logits (N, C).
template <typename T>
void row_logsumexp(const T* x, int64_t n, int64_t c, T* lse) {
  parallel_for(n, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(c, 1)), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const T* row = x + i * c;
      T m = row[0];
      for (int64_t j = 1; j < c; ++j) m = row[j] > m ? row[j] : m;
      if (!std::isfinite(double(m))) { lse[i] = m; continue; }
      double s = 0;
      for (int64_t j = 0; j < c; ++j) s += std::exp(double(row[j] - m));
      lse[i] = T(double(m) + std::log(s));
    }
  });
}
}  // namespace

Tensor cross_entropy(const Tensor& logits, const Tensor& labels, const std::string& reduction);

// d loss_i / d logits_ij = g_i (softmax_ij - [j == label_i]).
struct CrossEntropyBackward final : Node {
  SavedTensor logits, labels, lse;
  Reduction reduction = Reduction::Mean;
  const char* name() const override { return "CrossEntropyBackward"; }
  GradList apply(GradList& g) override {
    Tensor x = logits.unpack(this), y = labels.unpack(this);
    const int64_t n = x.shape()[0], c = x.shape()[1];
    // Memory shared with NumPy can change without a version bump: check again before indexing.
    const int64_t* labels_now = y.data<int64_t>();
    for (int64_t i = 0; i < n; ++i)
      TG_CHECK(labels_now[i] >= 0 && labels_now[i] < c, RuntimeError, "CrossEntropyBackward: label ", labels_now[i],
               " at position ", i, " is out of range for ", c, " classes (the labels were changed after the forward pass)");
    Tensor gi = g[0];  // () for mean/sum, (N,) for none
    if (reduction == Reduction::Mean) gi = div(gi, Scalar::from_double(double(std::max<int64_t>(n, 1))));
    if (GradMode::is_enabled()) {  // create_graph: the composite form, differentiable again
      Tensor onehot = cast(compare(BinaryOp::Eq, unsqueeze(y, 1), arange(0, double(c), 1, DType::Int64)), x.dtype());
      Tensor per_row = reduction == Reduction::None ? unsqueeze(gi, 1) : gi;
      return {mul(sub(softmax(x, 1), onehot), per_row)};
    }
    Tensor out = Tensor::empty(x.shape(), x.dtype());
    Tensor gc = contiguous(cast(gi, x.dtype()));
    Tensor lse_v = lse.unpack(this);
    visit_floating(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* xp = x.data<T>();
      const T* lp = lse_v.data<T>();
      const int64_t* yp = y.data<int64_t>();
      const T* gp = gc.data<T>();
      const bool per_row = reduction == Reduction::None;
      T* op = out.data<T>();
      parallel_for(n, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(c, 1)), [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          const T w = per_row ? gp[i] : gp[0];
          for (int64_t j = 0; j < c; ++j) op[i * c + j] = w * std::exp(xp[i * c + j] - lp[i]);
          op[i * c + yp[i]] -= w;
        }
      });
    });
    return {out, Tensor()};
  }
  void release_saved() override { logits.reset(); labels.reset(); lse.reset(); }
};

Tensor cross_entropy(const Tensor& logits_in, const Tensor& labels_in, const std::string& reduction_name) {
  const Reduction reduction = parse_reduction(reduction_name);
  TG_CHECK(logits_in.dim() == 2, ValueError, "cross_entropy: logits must be 2-D (batch, classes), got ", describe(logits_in));
  TG_CHECK(is_floating(logits_in.dtype()), TypeError, "cross_entropy: logits must be floating, got ", describe(logits_in));
  TG_CHECK(labels_in.dtype() == DType::Int64, TypeError, "cross_entropy: labels must be int64 class indices, got ",
           describe(labels_in));
  TG_CHECK(labels_in.dim() == 1 && labels_in.shape()[0] == logits_in.shape()[0], ValueError,
           "cross_entropy: labels ", describe(labels_in), " do not match logits ", describe(logits_in));
  const int64_t n = logits_in.shape()[0], c = logits_in.shape()[1];
  Tensor x = contiguous(detach(logits_in));
  Tensor y = contiguous(labels_in);
  const int64_t* yp = y.data<int64_t>();
  for (int64_t i = 0; i < n; ++i)
    TG_CHECK(yp[i] >= 0 && yp[i] < c, IndexError, "cross_entropy: label ", yp[i], " at position ", i,
             " is out of range for ", c, " classes");
  TG_CHECK(c > 0 || n == 0, ValueError, "cross_entropy: logits have no classes: ", describe(logits_in));
  Tensor lse = Tensor::empty(Shape{n}, x.dtype());
  Tensor losses = Tensor::empty(Shape{n}, x.dtype());
  visit_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.data<T>();
    T* lp = lse.data<T>();
    if (n) row_logsumexp(xp, n, c, lp);
    T* out = losses.data<T>();
    for (int64_t i = 0; i < n; ++i) out[i] = lp[i] - xp[i * c + yp[i]];
  });
  Tensor result;
  {
    GradModeGuard no_grad(false);
    result = reduction == Reduction::None ? losses
             : reduction == Reduction::Sum ? sum(losses)
                                           : div(sum(losses), Scalar::from_double(double(n)));
  }
  if (should_record(logits_in)) {
    auto* node = record<CrossEntropyBackward>(result, logits_in, labels_in);
    node->logits = SavedTensor(logits_in, false);
    node->labels = SavedTensor(labels_in, false);
    node->lse = SavedTensor(lse, false);
    node->reduction = reduction;
  }
  return result;
}

}  // namespace tg

namespace tg {

// Composite for now: its derivative comes from the ops it is made of.
Tensor layer_norm(const Tensor& x, int64_t normalized_dims, const Tensor& weight, const Tensor& bias, double eps) {
  TG_CHECK(normalized_dims >= 1 && normalized_dims <= x.dim(), ValueError, "layer_norm: normalized_shape has ",
           normalized_dims, " dims but the input is ", describe(x));
  for (const Tensor& p : {weight, bias})
    TG_CHECK(!p.defined() || p.shape() == Shape(x.shape().end() - normalized_dims, x.shape().end()), ValueError,
             "layer_norm: weight/bias ", describe(p), " do not match the normalized dims of ", describe(x));
  Axes axes;
  for (int64_t d = x.dim() - normalized_dims; d < x.dim(); ++d) axes.push_back(d);
  Tensor mu = mean(x, axes, true);
  Tensor centered = sub(x, mu);
  Tensor variance = mean(square(centered), axes, true);
  Tensor y = mul(centered, rsqrt(add(variance, Scalar::from_double(eps))));
  if (weight.defined()) y = mul(y, weight);
  if (bias.defined()) y = add(y, bias);
  return y;
}

}  // namespace tg
