// Unit tests of the autograd engine through the C++ ops: gradients against closed
// forms, accumulation into leaves, fan-out (diamond) graphs, very deep chains, graph
// teardown, and the saved-tensor version check.
#include <gtest/gtest.h>

#include <cmath>
#include <thread>
#include <vector>

#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "ops/ops.h"

namespace tg {
namespace {

Tensor leaf(const std::vector<double>& values, bool requires_grad = true) {
  Tensor t = Tensor::empty(Shape{int64_t(values.size())}, DType::Float64);
  for (size_t i = 0; i < values.size(); ++i) t.data<double>()[i] = values[i];
  t.impl()->requires_grad = requires_grad;
  return t;
}

// loss.backward() with a gradient of ones, as the Python binding calls it.
void backward(const Tensor& out, bool keep_graph = false) {
  BackwardOptions opts;
  opts.keep_graph = keep_graph;
  run_backward({gradient_edge(out)}, {ones(out.shape(), out.dtype())}, {}, opts);
}

const Tensor& grad_of(const Tensor& t) {
  static const Tensor none;
  return t.impl()->autograd ? t.impl()->autograd->grad : none;
}

std::vector<double> values(const Tensor& t) {
  Tensor c = contiguous(cast(t, DType::Float64));
  return std::vector<double>(c.data<double>(), c.data<double>() + c.numel());
}

TEST(Engine, SmallGraphMatchesClosedForm) {
  const std::vector<double> xv = {0.3, -1.2, 2.5}, yv = {1.5, 0.25, -0.75};
  Tensor x = leaf(xv), y = leaf(yv);
  Tensor out = add(mul(x, y), sin(x));  // x*y + sin(x)
  ASSERT_TRUE(out.requires_grad());
  ASSERT_FALSE(out.is_leaf());
  ASSERT_STREQ(out.grad_fn()->name(), "AddBackward");
  for (size_t i = 0; i < 3; ++i) EXPECT_NEAR(values(out)[i], xv[i] * yv[i] + std::sin(xv[i]), 1e-15);

  backward(sum(out));
  ASSERT_TRUE(grad_of(x).defined());
  ASSERT_TRUE(grad_of(y).defined());
  const auto gx = values(grad_of(x)), gy = values(grad_of(y));
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_NEAR(gx[i], yv[i] + std::cos(xv[i]), 1e-14);  // d/dx = y + cos(x)
    EXPECT_NEAR(gy[i], xv[i], 1e-14);                    // d/dy = x
  }
  EXPECT_EQ(grad_of(x).shape(), x.shape());
  EXPECT_EQ(grad_of(x).dtype(), DType::Float64);
}

TEST(Engine, NonScalarRootUsesGivenSeed) {
  Tensor x = leaf({1.0, 2.0});
  Tensor y = mul(x, x);
  Tensor seed = leaf({10.0, 100.0}, false);
  run_backward({gradient_edge(y)}, {seed}, {}, BackwardOptions{});
  const auto g = values(grad_of(x));
  EXPECT_DOUBLE_EQ(g[0], 2 * 1.0 * 10.0);
  EXPECT_DOUBLE_EQ(g[1], 2 * 2.0 * 100.0);
}

TEST(Engine, BroadcastGradientIsSummedBackToInputShape) {
  Tensor a = Tensor::empty(Shape{3, 1}, DType::Float64);
  Tensor b = Tensor::empty(Shape{1, 4}, DType::Float64);
  for (int i = 0; i < 3; ++i) a.data<double>()[i] = i + 1;
  for (int j = 0; j < 4; ++j) b.data<double>()[j] = 0.5 * j;
  a.impl()->requires_grad = b.impl()->requires_grad = true;
  backward(sum(mul(a, b)));  // (3, 4)
  EXPECT_EQ(grad_of(a).shape(), (Shape{3, 1}));
  EXPECT_EQ(grad_of(b).shape(), (Shape{1, 4}));
  for (double g : values(grad_of(a))) EXPECT_DOUBLE_EQ(g, 0 + 0.5 + 1.0 + 1.5);
  for (double g : values(grad_of(b))) EXPECT_DOUBLE_EQ(g, 1 + 2 + 3);
}

TEST(Engine, LeafGradAccumulatesAcrossBackwardCalls) {
  Tensor x = leaf({2.0, -3.0});
  backward(sum(mul(x, Scalar::from_double(3.0))));
  ASSERT_TRUE(x.impl()->autograd);
  Tensor first = x.impl()->autograd->grad;  // a second handle on .grad
  for (double g : values(first)) EXPECT_DOUBLE_EQ(g, 3.0);

  backward(sum(mul(x, x)));  // adds 2x
  const auto g = values(x.impl()->autograd->grad);
  EXPECT_DOUBLE_EQ(g[0], 3.0 + 4.0);
  EXPECT_DOUBLE_EQ(g[1], 3.0 - 6.0);
  // Accumulation is in place, as in PyTorch: an earlier reference sees the sum.
  EXPECT_EQ(values(first), g);
}

TEST(Engine, RetainedGraphCanBeSweptTwice) {
  Tensor x = leaf({0.5});
  Tensor loss = sum(mul(sin(x), x));
  backward(loss, /*keep_graph=*/true);
  backward(loss, /*keep_graph=*/false);
  const double once = std::cos(0.5) * 0.5 + std::sin(0.5);
  EXPECT_NEAR(values(grad_of(x))[0], 2 * once, 1e-14);
  // The saved values are gone now: a third sweep must refuse.
  EXPECT_THROW(backward(loss), RuntimeError);
}

TEST(Engine, DiamondGraphSumsBothBranches) {
  const std::vector<double> xv = {0.1, 0.7, -0.4};
  Tensor x = leaf(xv);
  Tensor a = mul(x, Scalar::from_double(3.0));  // consumed by both branches
  Tensor out = add(sin(a), exp(a));
  backward(sum(out));
  const auto g = values(grad_of(x));
  for (size_t i = 0; i < 3; ++i) {
    const double av = 3 * xv[i];
    EXPECT_NEAR(g[i], 3 * (std::cos(av) + std::exp(av)), 1e-13);
  }
}

// The sweep runs nodes in decreasing sequence number. Those are counted per thread, so a
// node recorded on a fresh thread must still be numbered above the producer it
// consumes, or the producer would run before this branch's gradient reached it.
TEST(Engine, BranchRecordedOnAnotherThreadStillReachesItsProducer) {
  const std::vector<double> xv = {0.1, 0.7, -0.4};
  Tensor x = leaf(xv);
  Tensor warm = x;
  for (int i = 0; i < 1000; ++i) warm = mul(warm, Scalar::from_double(1.0));  // this thread's numbers run ahead
  Tensor a = mul(x, Scalar::from_double(3.0));
  Tensor b;
  std::thread([&] { b = sin(a); }).join();  // a new thread counts from zero
  Tensor out = add(b, exp(a));
  EXPECT_GT(b.grad_fn()->sequence_nr, a.grad_fn()->sequence_nr);
  backward(sum(out));
  const auto g = values(grad_of(x));
  for (size_t i = 0; i < 3; ++i) {
    const double av = 3 * xv[i];
    EXPECT_NEAR(g[i], 3 * (std::cos(av) + std::exp(av)), 1e-13);
  }
}

TEST(Engine, SameTensorUsedTwiceInOneOp) {
  Tensor x = leaf({1.5, -2.0});
  backward(sum(mul(x, x)));
  const auto g = values(grad_of(x));
  EXPECT_DOUBLE_EQ(g[0], 3.0);
  EXPECT_DOUBLE_EQ(g[1], -4.0);
}

TEST(Engine, CaptureWithoutTouchingLeafGrad) {
  Tensor x = leaf({0.25, 1.0});
  Tensor loss = sum(mul(x, mul(x, x)));  // x^3
  BackwardOptions opts;
  opts.accumulate_into_leaves = false;
  auto got = run_backward({gradient_edge(loss)}, {ones(loss.shape(), loss.dtype())}, {gradient_edge(x)}, opts);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_TRUE(got[0].defined());
  const auto g = values(got[0]);
  EXPECT_NEAR(g[0], 3 * 0.25 * 0.25, 1e-15);
  EXPECT_NEAR(g[1], 3.0, 1e-15);
  EXPECT_FALSE(grad_of(x).defined());
}

TEST(Engine, SecondDerivativeViaCreateGraph) {
  Tensor x = leaf({0.5, 2.0});
  Tensor loss = sum(mul(x, mul(x, x)));  // sum x^3
  BackwardOptions opts;
  opts.create_graph = true;
  opts.keep_graph = true;
  opts.accumulate_into_leaves = false;
  auto g = run_backward({gradient_edge(loss)}, {ones(loss.shape(), loss.dtype())}, {gradient_edge(x)}, opts);
  ASSERT_TRUE(g[0].defined());
  ASSERT_TRUE(g[0].requires_grad());  // 3x^2 with its own history
  backward(sum(g[0]));                // d/dx sum(3x^2) = 6x
  const auto h = values(grad_of(x));
  EXPECT_NEAR(h[0], 3.0, 1e-14);
  EXPECT_NEAR(h[1], 12.0, 1e-14);
}

TEST(Engine, NoGradModeRecordsNothing) {
  Tensor x = leaf({1.0});
  Tensor y;
  {
    GradModeGuard off(false);
    y = mul(x, Scalar::from_double(2.0));
  }
  EXPECT_FALSE(y.requires_grad());
  EXPECT_TRUE(y.is_leaf());
  Tensor z = mul(x, Scalar::from_double(2.0));
  EXPECT_TRUE(z.requires_grad());
}

// ---- deep graphs and teardown -------------------------------------------------------------

TEST(Engine, DeepChainBackpropagatesWithoutRecursion) {
  constexpr int kOps = 200'000;
  Tensor x = leaf({1.25});
  ASSERT_EQ(x.impl()->use_count(), 1);
  {
    Tensor y = x;
    // Alternate factors so the exact gradient is 1 (2^100000 * 0.5^100000).
    for (int i = 0; i < kOps; ++i) y = mul(y, Scalar::from_double(i % 2 ? 0.5 : 2.0));
    EXPECT_DOUBLE_EQ(values(y)[0], 1.25);
    EXPECT_GT(x.impl()->use_count(), 1);  // the graph's AccumulateGrad holds the leaf
    backward(sum(y));
    EXPECT_DOUBLE_EQ(values(grad_of(x))[0], 1.0);
  }  // y and with it the 200,000-node graph are dropped here, iteratively
  EXPECT_EQ(x.impl()->use_count(), 1);
  EXPECT_EQ(x.impl()->autograd->grad_accumulator, nullptr);
}

TEST(Engine, DeepChainIsFreedWithoutBackward) {
  constexpr int kOps = 200'000;
  Tensor x = leaf({0.5});
  {
    Tensor y = x;
    for (int i = 0; i < kOps; ++i) y = mul(y, Scalar::from_double(1.0));
    EXPECT_GT(x.impl()->use_count(), 1);
  }
  EXPECT_EQ(x.impl()->use_count(), 1);
}

// ---- saved-tensor version check -----------------------------------------------------------

TEST(Engine, InPlaceChangeOfSavedInputIsDetected) {
  Tensor x = leaf({1.0, 2.0, 3.0});
  Tensor w = leaf({0.5, 0.5, 0.5});
  Tensor loss = sum(mul(x, w));  // MulBackward saves x and w
  {
    GradModeGuard off(false);  // allowed on a leaf only outside grad mode
    add_(w, Scalar::from_double(1.0));
  }
  EXPECT_THROW(backward(loss), RuntimeError);
  try {
    backward(loss);
    FAIL() << "expected RuntimeError";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("modified by an in-place operation"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(grad_of(x).defined());
}

TEST(Engine, InPlaceOnLeafRequiringGradIsRefusedInGradMode) {
  Tensor w = leaf({1.0});
  EXPECT_THROW(add_(w, Scalar::from_double(1.0)), RuntimeError);
}

TEST(Engine, UnmodifiedSavedInputPasses) {
  Tensor x = leaf({1.0, 2.0});
  Tensor w = leaf({3.0, 4.0}, /*requires_grad=*/false);
  Tensor loss = sum(mul(x, w));
  Tensor other = leaf({0.0, 0.0}, false);
  add_(other, Scalar::from_double(1.0));  // a different tensor: no effect on the graph
  backward(loss);
  EXPECT_EQ(values(grad_of(x)), (std::vector<double>{3.0, 4.0}));
}

// ---- in-place writes through views ---------------------------------------------------------

TEST(Engine, InPlaceOnViewRewritesTheBaseAndItsOtherViews) {
  Tensor x = leaf({1.0, 2.0, 3.0, 4.0});
  Tensor y = mul(x, Scalar::from_double(1.0));
  Tensor tail = narrow(y, 0, 2, 2);  // (y2, y3), taken before the write
  Tensor mid = narrow(y, 0, 1, 2);   // (y1, y2)
  mul_(mid, Scalar::from_double(3.0));
  EXPECT_STREQ(y.grad_fn()->name(), "CopySlices");
  EXPECT_STREQ(tail.grad_fn()->name(), "AsStridedBackward");
  EXPECT_EQ(values(tail), (std::vector<double>{9.0, 4.0}));
  backward(add(sum(y), sum(tail)));  // y = (x0, 3 x1, 3 x2, x3); tail = (3 x2, x3)
  EXPECT_EQ(values(grad_of(x)), (std::vector<double>{1.0, 3.0, 6.0, 2.0}));
}

TEST(Engine, InPlaceOnViewOfLeafRequiringGradIsRefused) {
  Tensor x = leaf({1.0, 2.0});
  Tensor v = narrow(x, 0, 0, 1);
  EXPECT_THROW(add_(v, Scalar::from_double(1.0)), RuntimeError);
  EXPECT_EQ(values(x), (std::vector<double>{1.0, 2.0}));
}

// The first n elements of t, a view made under no_grad.
Tensor head_under_no_grad(const Tensor& t, int64_t n) {
  GradModeGuard no_grad(false);
  return narrow(t, 0, 0, n);
}

TEST(Engine, RecordedInPlaceOnViewMadeUnderNoGradIsRefused) {
  Tensor x = leaf({1.0, 2.0, 3.0});
  Tensor y = mul(x, Scalar::from_double(2.0));
  Tensor v = head_under_no_grad(y, 2);
  EXPECT_THROW(mul_(v, Scalar::from_double(3.0)), RuntimeError);
  Tensor w = narrow(v, 0, 1, 1);  // a view of it, made with grad mode on
  EXPECT_THROW(add_(w, Scalar::from_double(1.0)), RuntimeError);
  EXPECT_EQ(values(y), (std::vector<double>{2.0, 4.0, 6.0}));
  {
    GradModeGuard no_grad(false);
    mul_(v, Scalar::from_double(3.0));  // both under no_grad: allowed
  }
  EXPECT_EQ(values(y), (std::vector<double>{6.0, 12.0, 6.0}));
  // a view of a constant: refused only when an operand would make the write recorded
  Tensor c = leaf({1.0, 2.0}, false);
  Tensor cv = head_under_no_grad(c, 1);
  mul_(cv, Scalar::from_double(3.0));
  EXPECT_THROW(mul_(cv, narrow(x, 0, 0, 1)), RuntimeError);
  EXPECT_EQ(values(c), (std::vector<double>{3.0, 2.0}));
}

struct CountingHook final : GradHook {
  int calls = 0;
  Tensor call(const Tensor&) override { ++calls; return Tensor(); }
};

TEST(Engine, RetainGradHookMovesToTheNewHistoryOthersStay) {
  Tensor x = leaf({1.0, 2.0});
  Tensor y = mul(x, Scalar::from_double(2.0));
  Ref<CountingHook> old_value(new CountingHook), retained(new CountingHook);
  const Ref<Node> old_fn = y.grad_fn();
  old_fn->output_hooks(0).push_back(old_value);
  y.impl()->meta().retain_grad_hook = retained;
  old_fn->output_hooks(0).push_back(retained);
  mul_(y, Scalar::from_double(3.0));
  ASSERT_NE(y.grad_fn().get(), old_fn.get());
  EXPECT_EQ(old_fn->output_hooks(0).size(), 1u);
  backward(sum(y));
  EXPECT_EQ(retained->calls, 1);   // on the new grad_fn
  EXPECT_EQ(old_value->calls, 1);  // on the old one, which the gradient passes through
}

}  // namespace
}  // namespace tg
