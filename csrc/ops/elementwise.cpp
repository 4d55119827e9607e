// Elementwise ops. Each op: its forward (dtype rule + kernel) and, just above it, the
// node that holds its derivative rule.
#include <cmath>
#include <limits>

#include "ops/op_utils.h"

namespace tg {
using kernels::UnaryParams;

// ---- shared forward helpers ------------------------------------------------------------

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1)
      throw ValueError(str_cat(op, ": shapes ", shape_str(a), " and ", shape_str(b), " cannot be broadcast together"));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// PyTorch's promotion: tensors with dims outrank 0-d tensors, which outrank Python
// numbers, unless the lower-ranked one is of a higher category (bool < int < float).
DType result_type(const Tensor& a, const Tensor& b) {
  if ((a.dim() == 0) == (b.dim() == 0)) return promote_types(a.dtype(), b.dtype());
  const Tensor& dimmed = a.dim() ? a : b;
  const Tensor& zero_d = a.dim() ? b : a;
  return category(zero_d.dtype()) > category(dimmed.dtype()) ? zero_d.dtype() : dimmed.dtype();
}
DType result_type(const Tensor& a, Scalar s) {
  return category(s.natural_dtype()) > category(a.dtype()) ? s.natural_dtype() : a.dtype();
}

Tensor cast(const Tensor& x, DType dtype) {
  if (x.dtype() == dtype) return x;
  Tensor out = Tensor::empty(x.shape(), dtype);
  kernels::copy(x, out);
  return out;
}

namespace {

bool float_only(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg: case UnaryOp::Abs: case UnaryOp::Sign: case UnaryOp::Square: case UnaryOp::Relu:
    case UnaryOp::Clamp: case UnaryOp::PowScalar: case UnaryOp::IsNan: case UnaryOp::IsInf: case UnaryOp::IsFinite: case UnaryOp::LogicalNot:
      return false;
    default:
      return true;
  }
}

Tensor unary_forward(UnaryOp op, const Tensor& x, const char* name, UnaryParams p = {}) {
  TG_CHECK(x.defined(), TypeError, name, ": expected a tensor");
  if (x.dtype() == DType::Bool && !kernels::is_predicate(op) && op != UnaryOp::Abs)
    throw TypeError(str_cat(name, ": not supported for bool tensors (got ", describe(x), ")"));
  const Tensor in = float_only(op) ? cast(x, to_floating(x.dtype())) : x;
  Tensor out = Tensor::empty(x.shape(), kernels::is_predicate(op) ? DType::Bool : in.dtype());
  kernels::unary(op, in, out, p);
  return out;
}

Tensor binary_forward(BinaryOp op, const Tensor& a, const Tensor& b, DType dt, const char* name) {
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = Tensor::empty(shape, kernels::is_comparison(op) ? DType::Bool : dt);
  kernels::binary(op, cast(a, dt), cast(b, dt), out);
  return out;
}

Tensor scalar_forward(BinaryOp op, const Tensor& a, Scalar s, bool scalar_first, DType dt, const char* name) {
  Tensor out = Tensor::empty(a.shape(), kernels::is_comparison(op) ? DType::Bool : dt);
  kernels::binary_scalar(op, cast(a, dt), s, scalar_first, out);
  return out;
}

// First-order rules use a fused kernel; under create_graph they use the composite
// form so that the derivative is itself recorded.
Tensor fused_grad(BinaryOp op, const Tensor& g, const Tensor& saved, double param = 0) {
  Tensor out = Tensor::empty(broadcast_shapes(g.shape(), saved.shape(), "backward"), saved.dtype());
  kernels::binary(op, cast(g, saved.dtype()), saved, out, UnaryParams{param, 0});
  return out;
}

Tensor mask_of(const Tensor& m, DType dt) { return cast(m, dt); }

}  // namespace

// ---- unary ops -------------------------------------------------------------------------

struct NegBackward final : Node {
  const char* name() const override { return "NegBackward"; }
  GradList apply(GradList& g) override { return {neg(g[0])}; }
};
Tensor neg(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Neg, x, "neg");
  if (should_record(x)) record<NegBackward>(out, x);
  return out;
}

struct ExpBackward final : UnaryNode {
  const char* name() const override { return "ExpBackward"; }
  GradList apply(GradList& g) override { return {mul(g[0], saved.unpack(this))}; }
};
Tensor exp(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Exp, x, "exp");
  if (should_record(x)) {
    auto* n = record<ExpBackward>(out, x);
    n->saved = SavedTensor(out, true);
  }
  return out;
}

struct LogBackward final : UnaryNode {
  const char* name() const override { return "LogBackward"; }
  GradList apply(GradList& g) override { return {div(g[0], saved.unpack(this))}; }
};
Tensor log(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Log, x, "log");
  if (should_record(x)) {
    auto* n = record<LogBackward>(out, x);
    n->saved = SavedTensor(x, false);
  }
  return out;
}

struct Log1pBackward final : UnaryNode {
  const char* name() const override { return "Log1pBackward"; }
  GradList apply(GradList& g) override { return {div(g[0], add(saved.unpack(this), Scalar::from_double(1)))}; }
};
Tensor log1p(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Log1p, x, "log1p");
  if (should_record(x)) {
    auto* n = record<Log1pBackward>(out, x);
    n->saved = SavedTensor(x, false);
  }
  return out;
}

struct SqrtBackward final : UnaryNode {
  const char* name() const override { return "SqrtBackward"; }
  GradList apply(GradList& g) override { return {div(g[0], mul(saved.unpack(this), Scalar::from_double(2)))}; }
};
Tensor sqrt(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Sqrt, x, "sqrt");
  if (should_record(x)) {
    auto* n = record<SqrtBackward>(out, x);
    n->saved = SavedTensor(out, true);
  }
  return out;
}

struct RsqrtBackward final : UnaryNode {  // d/dx x^-1/2 = -1/2 x^-3/2 = -1/2 out^3
  const char* name() const override { return "RsqrtBackward"; }
  GradList apply(GradList& g) override {
    return {mul(g[0], mul(pow(saved.unpack(this), Scalar::from_double(3)), Scalar::from_double(-0.5)))};
  }
};
Tensor rsqrt(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Rsqrt, x, "rsqrt");
  if (should_record(x)) {
    auto* n = record<RsqrtBackward>(out, x);
    n->saved = SavedTensor(out, true);
  }
  return out;
}

struct AbsBackward final : UnaryNode {
  const char* name() const override { return "AbsBackward"; }
  GradList apply(GradList& g) override { return {mul(g[0], sign(saved.unpack(this)))}; }
};
Tensor abs(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Abs, x, "abs");
  if (should_record(x)) {
    auto* n = record<AbsBackward>(out, x);
    n->saved = SavedTensor(x, false);
  }
  return out;
}

struct SignBackward final : UnaryNode {  // zero almost everywhere
  const char* name() const override { return "SignBackward"; }
  GradList apply(GradList& g) override { return {zeros(g[0].shape(), g[0].dtype())}; }
};
Tensor sign(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Sign, x, "sign");
  if (should_record(x)) record<SignBackward>(out, x);
  return out;
}

struct SinBackward final : UnaryNode {
  const char* name() const override { return "SinBackward"; }
  GradList apply(GradList& g) override { return {mul(g[0], cos(saved.unpack(this)))}; }
};
Tensor sin(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Sin, x, "sin");
  if (should_record(x)) {
    auto* n = record<SinBackward>(out, x);
    n->saved = SavedTensor(x, false);
  }
  return out;
}

struct CosBackward final : UnaryNode {
  const char* name() const override { return "CosBackward"; }
  GradList apply(GradList& g) override { return {mul(g[0], neg(sin(saved.unpack(this))))}; }
};
Tensor cos(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Cos, x, "cos");
  if (should_record(x)) {
    auto* n = record<CosBackward>(out, x);
    n->saved = SavedTensor(x, false);
  }
  return out;
}

struct TanBackward final : UnaryNode {  // 1 + tan^2
  const char* name() const override { return "TanBackward"; }
  GradList apply(GradList& g) override {
    return {mul(g[0], add(square(saved.unpack(this)), Scalar::from_double(1)))};
  }
};
Tensor tan(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Tan, x, "tan");
  if (should_record(x)) {
    auto* n = record<TanBackward>(out, x);
    n->saved = SavedTensor(out, true);
  }
  return out;
}

struct TanhBackward final : UnaryNode {  // 1 - tanh^2
  const char* name() const override { return "TanhBackward"; }
  GradList apply(GradList& g) override {
    Tensor y = saved.unpack(this);
    if (!GradMode::is_enabled()) return {fused_grad(BinaryOp::TanhBackward, g[0], y)};
    return {mul(g[0], rsub(square(y), Scalar::from_double(1)))};
  }
};
Tensor tanh(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Tanh, x, "tanh");
  if (should_record(x)) {
    auto* n = record<TanhBackward>(out, x);
    n->saved = SavedTensor(out, true);
  }
  return out;
}

struct SigmoidBackward final : UnaryNode {  // s (1 - s)
  const char* name() const override { return "SigmoidBackward"; }
  GradList apply(GradList& g) override {
    Tensor y = saved.unpack(this);
    if (!GradMode::is_enabled()) return {fused_grad(BinaryOp::SigmoidBackward, g[0], y)};
    return {mul(g[0], mul(y, rsub(y, Scalar::from_double(1))))};
  }
};
Tensor sigmoid(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Sigmoid, x, "sigmoid");
  if (should_record(x)) {
    auto* n = record<SigmoidBackward>(out, x);
    n->saved = SavedTensor(out, true);
  }
  return out;
}

struct ReluBackward final : UnaryNode {  // PyTorch's convention: derivative 0 at 0
  const char* name() const override { return "ReluBackward"; }
  GradList apply(GradList& g) override {
    Tensor y = saved.unpack(this);
    if (!GradMode::is_enabled()) return {fused_grad(BinaryOp::ReluBackward, g[0], y)};
    // step(y) as clamp(sign(y), 0): recorded (with a zero derivative), so the result stays
    // connected to x under create_graph as PyTorch's is.
    return {mul(g[0], clamp(sign(y), Scalar::from_double(0), std::nullopt))};
  }
};
Tensor relu(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Relu, x, "relu");
  if (should_record(x)) {
    auto* n = record<ReluBackward>(out, x);
    n->saved = SavedTensor(out, true);
  }
  return out;
}

struct LeakyReluBackward final : UnaryNode {
  const char* name() const override { return "LeakyReluBackward"; }
  GradList apply(GradList& g) override {
    Tensor x = saved.unpack(this);
    if (!GradMode::is_enabled()) return {fused_grad(BinaryOp::LeakyReluBackward, g[0], x, param)};
    Tensor step = clamp(sign(x), Scalar::from_double(0), std::nullopt);  // recorded, as in ReluBackward
    return {mul(g[0], add(mul(step, Scalar::from_double(1 - param)), Scalar::from_double(param)))};
  }
};
Tensor leaky_relu(const Tensor& x, double slope) {
  Tensor out = unary_forward(UnaryOp::LeakyRelu, x, "leaky_relu", UnaryParams{slope, 0});
  if (should_record(x)) {
    auto* n = record<LeakyReluBackward>(out, x);
    n->saved = SavedTensor(x, false);
    n->param = slope;
  }
  return out;
}

// gelu's derivative is an op of its own so that it can be differentiated again:
//   d/dx gelu = Phi(x) + x phi(x);   d/dx of that = phi(x) (2 - x^2).
Tensor gelu_backward(const Tensor& g, const Tensor& x);
struct GeluBackwardBackward final : Node {
  SavedTensor g, x;
  const char* name() const override { return "GeluBackwardBackward"; }
  GradList apply(GradList& gg) override {
    Tensor xv = x.unpack(this), gv = g.unpack(this);
    Tensor pdf = mul(exp(mul(square(xv), Scalar::from_double(-0.5))), Scalar::from_double(0.3989422804014327));
    GradList r(2);
    if (needs_input_grad(0)) r[0] = mul(gg[0], gelu_backward(ones(xv.shape(), xv.dtype()), xv));
    if (needs_input_grad(1)) r[1] = mul(mul(gg[0], gv), mul(pdf, rsub(square(xv), Scalar::from_double(2))));
    return r;
  }
  void release_saved() override { g.reset(); x.reset(); }
};
Tensor gelu_backward(const Tensor& g, const Tensor& x) {
  Tensor out = fused_grad(BinaryOp::GeluBackward, g, x);
  if (should_record(g, x)) {
    auto* n = record<GeluBackwardBackward>(out, g, x);
    n->g = SavedTensor(g, false);
    n->x = SavedTensor(x, false);
  }
  return out;
}
struct GeluBackward final : UnaryNode {
  const char* name() const override { return "GeluBackward"; }
  GradList apply(GradList& g) override { return {gelu_backward(g[0], saved.unpack(this))}; }
};
Tensor gelu(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Gelu, x, "gelu");
  if (should_record(x)) {
    auto* n = record<GeluBackward>(out, x);
    n->saved = SavedTensor(x, false);
  }
  return out;
}

struct SoftplusBackward final : UnaryNode {
  const char* name() const override { return "SoftplusBackward"; }
  GradList apply(GradList& g) override { return {mul(g[0], sigmoid(saved.unpack(this)))}; }
};
Tensor softplus(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Softplus, x, "softplus");
  if (should_record(x)) {
    auto* n = record<SoftplusBackward>(out, x);
    n->saved = SavedTensor(x, false);
  }
  return out;
}

struct ReciprocalBackward final : UnaryNode {  // -1/x^2 = -out^2
  const char* name() const override { return "ReciprocalBackward"; }
  GradList apply(GradList& g) override { return {neg(mul(g[0], square(saved.unpack(this))))}; }
};
Tensor reciprocal(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Reciprocal, x, "reciprocal");
  if (should_record(x)) {
    auto* n = record<ReciprocalBackward>(out, x);
    n->saved = SavedTensor(out, true);
  }
  return out;
}

struct SquareBackward final : UnaryNode {
  const char* name() const override { return "PowBackward"; }
  GradList apply(GradList& g) override { return {mul(g[0], mul(saved.unpack(this), Scalar::from_double(2)))}; }
};
Tensor square(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Square, x, "square");
  if (should_record(x)) {
    auto* n = record<SquareBackward>(out, x);
    n->saved = SavedTensor(x, false);
  }
  return out;
}

// Gradient passes where lo <= x <= hi (PyTorch's convention at the bounds).
struct ClampBackward final : UnaryNode {
  std::optional<Scalar> lo, hi;
  const char* name() const override { return "ClampBackward"; }
  GradList apply(GradList& g) override {
    Tensor x = saved.unpack(this);
    Tensor keep = ones(x.shape(), DType::Bool);
    if (lo) keep = mul(keep, compare(BinaryOp::Ge, x, *lo));
    if (hi) keep = mul(keep, compare(BinaryOp::Le, x, *hi));
    return {mul(g[0], mask_of(keep, g[0].dtype()))};
  }
};
Tensor clamp(const Tensor& x, std::optional<Scalar> lo, std::optional<Scalar> hi) {
  TG_CHECK(lo || hi, ValueError, "clamp: at least one of min and max must be given");
  // The bounds take part in type promotion as Python numbers do (PyTorch): an integer or
  // bool tensor clamped by a float bound gives a float result, a bool one by an int an int.
  DType dt = x.dtype();
  for (const auto& b : {lo, hi})
    if (b && category(b->natural_dtype()) > category(dt)) dt = b->natural_dtype();
  if (dt != x.dtype()) return clamp(cast(x, dt), lo, hi);
  const double inf = std::numeric_limits<double>::infinity();
  UnaryParams p{lo ? lo->to_double() : -inf, hi ? hi->to_double() : inf};
  if (std::isnan(p.a) || std::isnan(p.b))  // a NaN bound gives NaN everywhere, as in PyTorch
    return mul(x, Scalar::from_double(std::numeric_limits<double>::quiet_NaN()));
  if (x.dtype() == DType::Int64) {  // keep the bounds inside int64 range
    p.a = std::max(p.a, -9.2e18);
    p.b = std::min(p.b, 9.2e18);
  }
  Tensor out = unary_forward(UnaryOp::Clamp, x, "clamp", p);
  if (should_record(x)) {
    auto* n = record<ClampBackward>(out, x);
    n->saved = SavedTensor(x, false);
    n->lo = lo;
    n->hi = hi;
  }
  return out;
}

Tensor isnan(const Tensor& x) { return unary_forward(UnaryOp::IsNan, x, "isnan"); }
Tensor isinf(const Tensor& x) { return unary_forward(UnaryOp::IsInf, x, "isinf"); }
Tensor isfinite(const Tensor& x) { return unary_forward(UnaryOp::IsFinite, x, "isfinite"); }
Tensor logical_not(const Tensor& x) { return unary_forward(UnaryOp::LogicalNot, x, "logical_not"); }

Tensor to_dtype(const Tensor& x, DType dtype);  // creation.cpp

// ---- binary ops ------------------------------------------------------------------------

namespace {
void check_bool_arith(const char* name, DType dt, const Tensor& a) {
  if (dt == DType::Bool)
    throw TypeError(str_cat(name, ": not supported for bool tensors (got ", describe(a),
                            "); convert with .to(int64) or use logical ops"));
}
}  // namespace

struct AddBackward final : Node {
  InputMeta a, b;
  double alpha = 1;  // sub is add with alpha = -1
  const char* label = "AddBackward";
  const char* name() const override { return label; }
  GradList apply(GradList& g) override {
    GradList r(2);
    if (needs_input_grad(0)) r[0] = fit_grad(g[0], a);
    if (needs_input_grad(1)) r[1] = fit_grad(alpha == 1 ? g[0] : neg(g[0]), b);
    return r;
  }
};
Tensor add(const Tensor& a, const Tensor& b) {
  const DType dt = result_type(a, b);
  Tensor out = binary_forward(BinaryOp::Add, a, b, dt, "add");
  if (should_record(a, b)) {
    auto* n = record<AddBackward>(out, a, b);
    n->a = InputMeta(a);
    n->b = InputMeta(b);
  }
  return out;
}
Tensor sub(const Tensor& a, const Tensor& b) {
  const DType dt = result_type(a, b);
  check_bool_arith("sub", dt, a);
  Tensor out = binary_forward(BinaryOp::Sub, a, b, dt, "sub");
  if (should_record(a, b)) {
    auto* n = record<AddBackward>(out, a, b);
    n->a = InputMeta(a);
    n->b = InputMeta(b);
    n->alpha = -1;
    n->label = "SubBackward";
  }
  return out;
}

struct ScalarAddBackward final : Node {  // x + s, x - s, s - x
  DType dtype = DType::Float32;
  bool negate = false;
  const char* label = "AddBackward";
  const char* name() const override { return label; }
  GradList apply(GradList& g) override {
    Tensor r = negate ? neg(g[0]) : g[0];
    return {r.dtype() == dtype ? r : to_dtype(r, dtype)};
  }
};
Tensor add(const Tensor& a, Scalar s) {
  Tensor out = scalar_forward(BinaryOp::Add, a, s, false, result_type(a, s), "add");
  if (should_record(a)) record<ScalarAddBackward>(out, a)->dtype = a.dtype();
  return out;
}
Tensor sub(const Tensor& a, Scalar s) {
  const DType dt = result_type(a, s);
  check_bool_arith("sub", dt, a);
  Tensor out = scalar_forward(BinaryOp::Sub, a, s, false, dt, "sub");
  if (should_record(a)) {
    auto* n = record<ScalarAddBackward>(out, a);
    n->dtype = a.dtype();
    n->label = "SubBackward";
  }
  return out;
}
Tensor rsub(const Tensor& a, Scalar s) {
  const DType dt = result_type(a, s);
  check_bool_arith("rsub", dt, a);
  Tensor out = scalar_forward(BinaryOp::Sub, a, s, true, dt, "rsub");
  if (should_record(a)) {
    auto* n = record<ScalarAddBackward>(out, a);
    n->dtype = a.dtype();
    n->negate = true;
    n->label = "RsubBackward";
  }
  return out;
}

struct MulBackward final : Node {
  SavedTensor a, b;  // each saved only when the other input needs a gradient
  InputMeta a_meta, b_meta;
  const char* name() const override { return "MulBackward"; }
  GradList apply(GradList& g) override {
    GradList r(2);
    if (needs_input_grad(0)) r[0] = fit_grad(mul(g[0], b.unpack(this)), a_meta);
    if (needs_input_grad(1)) r[1] = fit_grad(mul(g[0], a.unpack(this)), b_meta);
    return r;
  }
  void release_saved() override { a.reset(); b.reset(); }
};
Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Mul, a, b, result_type(a, b), "mul");
  if (should_record(a, b)) {
    auto* n = record<MulBackward>(out, a, b);
    if (n->needs_input_grad(0)) n->b = SavedTensor(b, false);
    if (n->needs_input_grad(1)) n->a = SavedTensor(a, false);
    n->a_meta = InputMeta(a);
    n->b_meta = InputMeta(b);
  }
  return out;
}

struct ScalarMulBackward final : Node {  // x * s (also x / s as x * (1/s))
  double factor = 1;
  DType dtype = DType::Float32;
  const char* label = "MulBackward";
  const char* name() const override { return label; }
  GradList apply(GradList& g) override {
    Tensor r = mul(g[0], Scalar::from_double(factor));
    return {r.dtype() == dtype ? r : to_dtype(r, dtype)};
  }
};
Tensor mul(const Tensor& a, Scalar s) {
  Tensor out = scalar_forward(BinaryOp::Mul, a, s, false, result_type(a, s), "mul");
  if (should_record(a)) {
    auto* n = record<ScalarMulBackward>(out, a);
    n->factor = s.to_double();
    n->dtype = a.dtype();
  }
  return out;
}

struct DivBackward final : Node {  // a / b: (g / b, -g a / b^2)
  SavedTensor a, b;
  InputMeta a_meta, b_meta;
  const char* name() const override { return "DivBackward"; }
  GradList apply(GradList& g) override {
    GradList r(2);
    Tensor bv = b.unpack(this);
    if (needs_input_grad(0)) r[0] = fit_grad(div(g[0], bv), a_meta);
    if (needs_input_grad(1)) r[1] = fit_grad(neg(div(mul(g[0], a.unpack(this)), square(bv))), b_meta);
    return r;
  }
  void release_saved() override { a.reset(); b.reset(); }
};
Tensor div(const Tensor& a, const Tensor& b) {
  const DType dt = to_floating(result_type(a, b));  // true division, as Python's /
  Tensor out = binary_forward(BinaryOp::Div, a, b, dt, "div");
  if (should_record(a, b)) {
    auto* n = record<DivBackward>(out, a, b);
    n->b = SavedTensor(b, false);
    if (n->needs_input_grad(1)) n->a = SavedTensor(a, false);
    n->a_meta = InputMeta(a);
    n->b_meta = InputMeta(b);
  }
  return out;
}
Tensor div(const Tensor& a, Scalar s) {
  const DType dt = to_floating(result_type(a, s));
  Tensor out = scalar_forward(BinaryOp::Div, a, s, false, dt, "div");
  if (should_record(a)) {
    auto* n = record<ScalarMulBackward>(out, a);
    n->factor = 1.0 / s.to_double();
    n->dtype = a.dtype();
    n->label = "DivBackward";
  }
  return out;
}

struct RdivBackward final : UnaryNode {  // s / x: -s / x^2 = -out / x
  const char* name() const override { return "DivBackward"; }
  SavedTensor out;
  GradList apply(GradList& g) override { return {neg(div(mul(g[0], out.unpack(this)), saved.unpack(this)))}; }
  void release_saved() override { saved.reset(); out.reset(); }
};
Tensor rdiv(const Tensor& a, Scalar s) {
  const DType dt = to_floating(result_type(a, s));
  Tensor out = scalar_forward(BinaryOp::Div, a, s, true, dt, "div");
  if (should_record(a)) {
    auto* n = record<RdivBackward>(out, a);
    n->saved = SavedTensor(a, false);
    n->out = SavedTensor(out, true);
  }
  return out;
}

// a ** b: (g b a^(b-1), g a^b log a), with 0 for the exponent's gradient where a == 0
// and b >= 0 (PyTorch's convention, avoids 0 * -inf).
struct PowBackward final : Node {
  SavedTensor a, b, out;
  InputMeta a_meta, b_meta;
  const char* name() const override { return "PowBackward"; }
  GradList apply(GradList& g) override {
    GradList r(2);
    Tensor av = a.unpack(this), bv = b.unpack(this);
    if (needs_input_grad(0)) r[0] = fit_grad(mul(g[0], mul(bv, pow(av, sub(bv, Scalar::from_double(1))))), a_meta);
    if (needs_input_grad(1)) {
      Tensor zero_base = mul(compare(BinaryOp::Eq, av, Scalar::from_double(0)), compare(BinaryOp::Ge, bv, Scalar::from_double(0)));
      // log of the base promoted as in the forward (a bool or int base has no log of its own)
      Tensor gb = mul(g[0], mul(out.unpack(this), log(to_dtype(av, result_type(av, bv)))));
      r[1] = fit_grad(where(zero_base, zeros({}, gb.dtype()), gb), b_meta);
    }
    return r;
  }
  void release_saved() override { a.reset(); b.reset(); out.reset(); }
};
Tensor pow(const Tensor& a, const Tensor& b) {
  const DType dt = result_type(a, b);
  check_bool_arith("pow", dt, a);
  Tensor out = binary_forward(BinaryOp::Pow, a, b, dt, "pow");
  if (should_record(a, b)) {
    auto* n = record<PowBackward>(out, a, b);
    n->a = SavedTensor(a, false);
    n->b = SavedTensor(b, false);
    if (n->needs_input_grad(1)) n->out = SavedTensor(out, true);
    n->a_meta = InputMeta(a);
    n->b_meta = InputMeta(b);
  }
  return out;
}

struct PowScalarBackward final : UnaryNode {  // x ** p: g p x^(p-1)
  const char* name() const override { return "PowBackward"; }
  GradList apply(GradList& g) override {
    if (param == 0) return {zeros(g[0].shape(), g[0].dtype())};
    Tensor x = saved.unpack(this);
    Tensor d = param == 2 ? mul(x, Scalar::from_double(2)) : mul(pow(x, Scalar::from_double(param - 1)), Scalar::from_double(param));
    return {mul(g[0], d)};
  }
};
Tensor pow(const Tensor& a, Scalar s) {
  DType dt = result_type(a, s);
  check_bool_arith("pow", dt, a);
  if (dt == DType::Int64 && s.kind == Scalar::Float) dt = DType::Float32;
  if (dt == DType::Int64 && s.i < 0)
    throw ValueError(str_cat("pow: integers to negative integer powers are not allowed (", describe(a), " ** ", s.i, ")"));
  Tensor out = unary_forward(UnaryOp::PowScalar, cast(a, dt), "pow", UnaryParams{s.to_double(), 0});
  if (should_record(a)) {
    auto* n = record<PowScalarBackward>(out, a);
    n->saved = SavedTensor(a, false);
    n->param = s.to_double();
  }
  return out;
}

struct RpowBackward final : UnaryNode {  // s ** x: g out log s
  const char* name() const override { return "PowBackward"; }
  GradList apply(GradList& g) override { return {mul(g[0], mul(saved.unpack(this), Scalar::from_double(std::log(param))))}; }
};
Tensor rpow(const Tensor& a, Scalar s) {
  const DType dt = result_type(a, s);
  check_bool_arith("pow", dt, a);
  Tensor out = scalar_forward(BinaryOp::Pow, a, s, true, dt, "pow");
  if (should_record(a)) {
    auto* n = record<RpowBackward>(out, a);
    n->saved = SavedTensor(out, true);
    n->param = s.to_double();
  }
  return out;
}

// maximum/minimum: the gradient goes to the larger (smaller) input; on ties it is split
// equally between the two, as PyTorch does.
struct MaxMinBackward final : Node {
  SavedTensor a, b;
  InputMeta a_meta, b_meta;
  bool is_max = true;
  const char* name() const override { return is_max ? "MaximumBackward" : "MinimumBackward"; }
  GradList apply(GradList& g) override {
    Tensor av = a.unpack(this), bv = b.unpack(this);
    const DType dt = g[0].dtype();
    Tensor wins_a = mask_of(compare(is_max ? BinaryOp::Gt : BinaryOp::Lt, av, bv), dt);
    Tensor tie = mul(mask_of(compare(BinaryOp::Eq, av, bv), dt), Scalar::from_double(0.5));
    GradList r(2);
    if (needs_input_grad(0)) r[0] = fit_grad(mul(g[0], add(wins_a, tie)), a_meta);
    if (needs_input_grad(1)) r[1] = fit_grad(mul(g[0], rsub(add(wins_a, tie), Scalar::from_double(1))), b_meta);
    return r;
  }
  void release_saved() override { a.reset(); b.reset(); }
};
static Tensor max_min(const Tensor& a, const Tensor& b, bool is_max) {
  const char* name = is_max ? "maximum" : "minimum";
  Tensor out = binary_forward(is_max ? BinaryOp::Maximum : BinaryOp::Minimum, a, b, result_type(a, b), name);
  if (should_record(a, b)) {
    auto* n = record<MaxMinBackward>(out, a, b);
    n->a = SavedTensor(a, false);
    n->b = SavedTensor(b, false);
    n->a_meta = InputMeta(a);
    n->b_meta = InputMeta(b);
    n->is_max = is_max;
  }
  return out;
}
Tensor maximum(const Tensor& a, const Tensor& b) { return max_min(a, b, true); }
Tensor minimum(const Tensor& a, const Tensor& b) { return max_min(a, b, false); }

struct WhereBackward final : Node {
  SavedTensor cond;
  InputMeta a_meta, b_meta;
  const char* name() const override { return "WhereBackward"; }
  GradList apply(GradList& g) override {
    Tensor c = cond.unpack(this);
    Tensor zero = zeros({}, g[0].dtype());
    GradList r(3);
    if (needs_input_grad(1)) r[1] = fit_grad(where(c, g[0], zero), a_meta);
    if (needs_input_grad(2)) r[2] = fit_grad(where(c, zero, g[0]), b_meta);
    return r;
  }
  void release_saved() override { cond.reset(); }
};
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  TG_CHECK(cond.dtype() == DType::Bool, TypeError, "where: condition must be a bool tensor, got ", describe(cond));
  const Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  const DType dt = result_type(a, b);
  Tensor out = Tensor::empty(shape, dt);
  kernels::where(cond, cast(a, dt), cast(b, dt), out);
  if (should_record(a, b)) {
    Tensor none;
    auto* n = record<WhereBackward>(out, none, a, b);
    n->cond = SavedTensor(cond, false);
    n->a_meta = InputMeta(a);
    n->b_meta = InputMeta(b);
  }
  return out;
}

Tensor compare(BinaryOp op, const Tensor& a, const Tensor& b) {
  return binary_forward(op, a, b, result_type(a, b), "compare");
}
Tensor compare(BinaryOp op, const Tensor& a, Scalar s) {
  return scalar_forward(op, a, s, false, result_type(a, s), "compare");
}

// ---- in place ----------------------------------------------------------------------------

void check_inplace(const Tensor& t, const char* op, const Tensor& other, bool one_value) {
  for (int64_t d = 0; d < t.dim() && t.numel() > 0 && !one_value; ++d)
    if (t.strides()[size_t(d)] == 0 && t.shape()[size_t(d)] > 1)
      throw RuntimeError(str_cat(op, ": cannot write in place into ", describe(t),
                                 ": several of its elements share one memory location (an expanded view); clone() it first"));
  if (!GradMode::is_enabled()) return;
  if (t.is_leaf() && t.requires_grad())
    throw RuntimeError(str_cat(op, ": a leaf tensor that requires grad (", describe(t),
                               ") is being used in an in-place operation; wrap it in tg.no_grad() or use an "
                               "out-of-place op"));
  const TensorImpl* base = t.impl()->view_base.get();
  if (base && !base->grad_fn && base->requires_grad)
    throw RuntimeError(str_cat(op, ": a view (", describe(t), ") of a leaf tensor that requires grad (",
                               describe(Tensor(t.impl()->view_base)), ") is being used in an in-place operation; "
                               "wrap it in tg.no_grad() or use an out-of-place op"));
  const TensorImpl::NoGradView made_in_no_grad = t.impl()->no_grad_view;
  if (made_in_no_grad != TensorImpl::NoGradView::No &&
      (made_in_no_grad == TensorImpl::NoGradView::OfRequiresGrad || wants_grad(t) || wants_grad(other)))
    throw RuntimeError(str_cat(op, ": ", describe(t), " is a view created in no_grad mode (or a view of one) and "
                               "is being modified in place with grad mode enabled. Whether its base should see the "
                               "change is ambiguous, so this is forbidden (as in PyTorch): make the view and do the "
                               "in-place op both inside tg.no_grad() (not recorded) or both outside it (recorded)"));
}

void rebase_view(const Tensor& v, const Tensor& index, const Tensor& values) {
  if (!GradMode::is_enabled()) return;
  Tensor base(v.impl()->view_base);
  if (!should_record(base, values)) return;  // the view regenerates its history if it is ever asked for
  Tensor pos = positions_in(base, v);
  if (index.defined()) pos = take(pos, index, index.shape());
  record_index_put(base, base, pos, values, "CopySlices");
  v.sync_view();  // now, while the tapes that should hold its new history are recording
}

namespace {
// Write `result` into `a` in place. When autograd is involved, `result` was computed
// out of place with its own history, which `a` takes over (PyTorch's rebase).
Tensor& assign_result(Tensor& a, const Tensor& result, const char* op) {
  TG_CHECK(result.shape() == a.shape(), ValueError, op, ": output with shape ", shape_str(a.shape()),
           " doesn't match the broadcast shape ", shape_str(result.shape()));
  if (category(result.dtype()) > category(a.dtype()))
    throw TypeError(str_cat(op, ": result type ", dtype_name(result.dtype()), " can't be cast to the in-place output type ",
                            dtype_name(a.dtype())));
  kernels::copy(result, a);
  a.bump_version();
  if (a.impl()->view_base) {
    rebase_view(a, Tensor(), result);
  } else if (result.grad_fn() && GradMode::is_enabled()) {
    set_history(a, result.grad_fn(), result.impl()->output_nr, result.requires_grad());
  }
  return a;
}
// Inputs for the out-of-place computation: when recording, a private copy of `a` so the
// node's saved values are not the memory about to be overwritten.
Tensor inplace_source(const Tensor& a, const Tensor& b) {
  return should_record(a, b) ? clone(a) : a;
}
// A tensor (not a view) overwritten with a constant has no history left to follow.
void forget_history(Tensor& a) {
  if (!GradMode::is_enabled() || !a.grad_fn()) return;
  a.impl()->grad_fn = nullptr;
  a.impl()->requires_grad = false;
}
}  // namespace

Tensor& add_(Tensor& a, const Tensor& b) { check_inplace(a, "add_", b); return assign_result(a, add(inplace_source(a, b), b), "add_"); }
Tensor& sub_(Tensor& a, const Tensor& b) { check_inplace(a, "sub_", b); return assign_result(a, sub(inplace_source(a, b), b), "sub_"); }
Tensor& mul_(Tensor& a, const Tensor& b) { check_inplace(a, "mul_", b); return assign_result(a, mul(inplace_source(a, b), b), "mul_"); }
Tensor& div_(Tensor& a, const Tensor& b) { check_inplace(a, "div_", b); return assign_result(a, div(inplace_source(a, b), b), "div_"); }
Tensor& add_(Tensor& a, Scalar s) { check_inplace(a, "add_"); return assign_result(a, add(inplace_source(a, Tensor()), s), "add_"); }
Tensor& sub_(Tensor& a, Scalar s) { check_inplace(a, "sub_"); return assign_result(a, sub(inplace_source(a, Tensor()), s), "sub_"); }
Tensor& mul_(Tensor& a, Scalar s) { check_inplace(a, "mul_"); return assign_result(a, mul(inplace_source(a, Tensor()), s), "mul_"); }
Tensor& div_(Tensor& a, Scalar s) { check_inplace(a, "div_"); return assign_result(a, div(inplace_source(a, Tensor()), s), "div_"); }
Tensor& clamp_(Tensor& a, std::optional<Scalar> lo, std::optional<Scalar> hi) {
  check_inplace(a, "clamp_");
  return assign_result(a, clamp(inplace_source(a, Tensor()), lo, hi), "clamp_");
}
Tensor& fill_(Tensor& a, Scalar v) {
  check_inplace(a, "fill_", Tensor(), true);
  check_fits(v, a.dtype(), "fill_");
  // An expanded view's shared elements all get the one value (PyTorch allows it): write
  // each memory location once, through the view without its stride-0 repeats.
  Shape sizes = a.shape();
  for (size_t d = 0; d < sizes.size(); ++d)
    if (a.strides()[d] == 0) sizes[d] = std::min<int64_t>(sizes[d], 1);
  Tensor target = a.alias(sizes, a.strides(), a.offset());
  kernels::fill(target, v);
  a.bump_version();
  if (a.impl()->view_base) rebase_view(a, Tensor(), Tensor());  // that region of the base is a constant now
  else forget_history(a);
  return a;
}
Tensor& zero_(Tensor& a) { return fill_(a, Scalar::from_int(0)); }

struct CopyBackward final : Node {
  InputMeta src;
  const char* name() const override { return "CopyBackward"; }
  GradList apply(GradList& g) override { return {Tensor(), fit_grad(g[0], src)}; }
};
Tensor& copy_(Tensor& dst, const Tensor& src) {
  check_inplace(dst, "copy_", src);
  broadcast_shapes(src.shape(), dst.shape(), "copy_");
  TG_CHECK(src.dim() <= dst.dim(), ValueError, "copy_: source ", describe(src), " does not broadcast to ", describe(dst));
  // A source that shares memory with the destination is read in full first (t[1:] = t[:-1]).
  Tensor from = src.storage() == dst.storage() ? clone(detach(src)) : detach(src);
  kernels::copy(expand(from, dst.shape()), dst);
  dst.bump_version();
  if (dst.impl()->view_base) {
    rebase_view(dst, Tensor(), src);
  } else if (should_record(src)) {
    Tensor none;
    record<CopyBackward>(dst, none, src)->src = InputMeta(src);
  } else {
    forget_history(dst);
  }
  return dst;
}

}  // namespace tg
