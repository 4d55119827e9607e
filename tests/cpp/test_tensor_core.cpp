// Unit tests of the tensor layer and the kernels: storage pool, Tensor geometry,
// broadcasting and strided elementwise loops, reductions, matmul, dtype promotion.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <random>
#include <vector>

#include "kernels/cpu_kernels.h"
#include "kernels/kernels.h"
#include "ops/ops.h"
#include "tensor/storage.h"
#include "tensor/tensor.h"

namespace tg {
namespace {

// A contiguous float tensor filled with deterministic pseudo-random values.
template <typename T = float>
Tensor random_tensor(const Shape& shape, unsigned seed) {
  Tensor t = Tensor::empty(shape, dtype_of<T>());
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  T* p = t.data<T>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = T(dist(gen));
  return t;
}

// Element at a multi-index, honouring strides and offset.
template <typename T>
T at(const Tensor& t, const std::vector<int64_t>& idx) {
  int64_t off = 0;
  for (size_t d = 0; d < idx.size(); ++d) off += idx[d] * t.strides()[d];
  return t.data<T>()[off];
}

// Same memory seen with two axes swapped (a view, no copy).
Tensor transposed_view(const Tensor& t) {
  return t.alias(Shape{t.shape()[1], t.shape()[0]}, Shape{t.strides()[1], t.strides()[0]}, t.offset());
}

// ---- storage ----------------------------------------------------------------------------

TEST(Storage, FreedSmallBlockIsReused) {
  void* first;
  {
    Ref<Storage> s = Storage::allocate(100);
    first = s.get();
    ASSERT_NE(s->data(), nullptr);
    EXPECT_EQ(s->nbytes(), 100u);
  }
  // The block went back to this thread's pool and the next request of the same size
  // class gets it back (LIFO free list).
  const size_t cached = storage_pool_cached_bytes();
  EXPECT_GT(cached, 0u);
  Ref<Storage> again = Storage::allocate(90);
  EXPECT_EQ(static_cast<void*>(again.get()), first);
  EXPECT_LT(storage_pool_cached_bytes(), cached);
}

TEST(Storage, CachedBytesGrowWhenBlocksAreFreed) {
  const size_t before = storage_pool_cached_bytes();
  {
    std::vector<Ref<Storage>> blocks;
    for (int i = 0; i < 4; ++i) blocks.push_back(Storage::allocate(1000));
  }
  EXPECT_GE(storage_pool_cached_bytes(), before + 4 * 1000);
}

TEST(Storage, DataIsAligned) {
  for (size_t n : {size_t(1), size_t(64), size_t(5000), size_t(1) << 20}) {
    Ref<Storage> s = Storage::allocate(n);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(s->data()) % 64, 0u) << "nbytes " << n;
  }
}

TEST(Storage, VersionCounterIsSharedByViews) {
  Tensor t = Tensor::empty(Shape{4}, DType::Float32);
  Tensor v = t.alias(Shape{2}, Shape{2}, 1);
  const uint32_t v0 = v.version();
  t.bump_version();
  EXPECT_EQ(v.version(), v0 + 1);
}

// ---- Tensor geometry --------------------------------------------------------------------

TEST(Tensor, EmptyShapeStridesContiguity) {
  Tensor t = Tensor::empty(Shape{2, 3, 4}, DType::Float32);
  EXPECT_EQ(t.dim(), 3);
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.shape(), (Shape{2, 3, 4}));
  EXPECT_EQ(t.strides(), (Shape{12, 4, 1}));
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(t.offset(), 0);
  EXPECT_EQ(t.dtype(), DType::Float32);
  EXPECT_GE(t.storage()->nbytes(), 24 * sizeof(float));

  Tensor tt = Tensor::empty(Shape{3, 5}, DType::Float64);
  Tensor view = transposed_view(tt);
  EXPECT_EQ(view.shape(), (Shape{5, 3}));
  EXPECT_EQ(view.strides(), (Shape{1, 5}));
  EXPECT_FALSE(view.is_contiguous());
  EXPECT_EQ(view.storage(), tt.storage());
}

TEST(Tensor, ZeroDimAndEmptyTensors) {
  Tensor s = Tensor::scalar(2.5, DType::Float64);
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.numel(), 1);
  EXPECT_TRUE(s.is_contiguous());
  EXPECT_DOUBLE_EQ(s.item_double(), 2.5);

  Tensor e = Tensor::empty(Shape{3, 0, 2}, DType::Float32);
  EXPECT_EQ(e.numel(), 0);
  EXPECT_EQ(e.dim(), 3);
}

TEST(Tensor, SizeOneDimsDoNotBreakContiguity) {
  Tensor t = Tensor::empty(Shape{4, 1, 3}, DType::Float32);
  // A stride on a size-1 axis is irrelevant to the memory walk.
  Tensor v = t.alias(Shape{4, 1, 3}, Shape{3, 99, 1}, 0);
  EXPECT_TRUE(v.is_contiguous());
}

TEST(Tensor, NegativeDimensionIsRejected) {
  EXPECT_THROW(Tensor::empty(Shape{2, -1}, DType::Float32), ValueError);
}

TEST(Tensor, DtypeItemsizes) {
  EXPECT_EQ(itemsize(DType::Float32), 4u);
  EXPECT_EQ(itemsize(DType::Float64), 8u);
  EXPECT_EQ(itemsize(DType::Int64), 8u);
  EXPECT_EQ(itemsize(DType::Bool), 1u);
}

TEST(Scalar, FloatOutsideTheInt64RangeKeepsItsValue) {
  // Converting these to int64 would be undefined behaviour (-fsanitize=float-cast-overflow
  // reports it; GCC's -fsanitize=undefined leaves that check out): a Float leaves i alone.
  const double cases[] = {INFINITY, -INFINITY, NAN, 1e300, -1e19, 0x1p63};
  for (double v : cases) {
    const Scalar s = Scalar::from_double(v);
    EXPECT_EQ(s.kind, Scalar::Float);
    EXPECT_EQ(s.i, 0);
    EXPECT_EQ(std::isnan(s.as<double>()), std::isnan(v));
    if (!std::isnan(v)) {
      EXPECT_EQ(s.as<double>(), v);
    }
  }
  Tensor t = full(Shape{2}, Scalar::from_double(2.0), DType::Float64);
  const Tensor r = mul(t, Scalar::from_double(-INFINITY));
  EXPECT_EQ(r.data<double>()[0], -INFINITY);
  EXPECT_TRUE(std::isnan(add(t, Scalar::from_double(NAN)).data<double>()[1]));
  EXPECT_EQ(pow(t, Scalar::from_double(1e300)).data<double>()[0], INFINITY);
}

// ---- elementwise kernels ----------------------------------------------------------------

TEST(Kernels, BinaryBroadcastsRowAndColumn) {
  Tensor a = random_tensor(Shape{3, 1}, 1);   // column
  Tensor b = random_tensor(Shape{1, 4}, 2);   // row
  Tensor out = Tensor::empty(Shape{3, 4}, DType::Float32);
  kernels::binary(kernels::BinaryOp::Add, a, b, out);
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 4; ++j)
      EXPECT_FLOAT_EQ(at<float>(out, {i, j}), a.data<float>()[i] + b.data<float>()[j]);
}

TEST(Kernels, BinaryBroadcastsLowerRankOperand) {
  Tensor a = random_tensor(Shape{2, 3, 5}, 3);
  Tensor b = random_tensor(Shape{5}, 4);
  Tensor out = Tensor::empty(Shape{2, 3, 5}, DType::Float32);
  kernels::binary(kernels::BinaryOp::Mul, a, b, out);
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j)
      for (int64_t k = 0; k < 5; ++k)
        EXPECT_FLOAT_EQ(at<float>(out, {i, j, k}), at<float>(a, {i, j, k}) * b.data<float>()[k]);
}

TEST(Kernels, BinaryWithTransposedInput) {
  // Sizes that cover the SIMD body and its tail.
  const int64_t R = 37, C = 19;
  Tensor base = random_tensor(Shape{C, R}, 5);
  Tensor at_ = transposed_view(base);  // R x C, strides (1, R)
  Tensor b = random_tensor(Shape{R, C}, 6);
  Tensor out = Tensor::empty(Shape{R, C}, DType::Float32);
  kernels::binary(kernels::BinaryOp::Sub, at_, b, out);
  for (int64_t i = 0; i < R; ++i)
    for (int64_t j = 0; j < C; ++j)
      ASSERT_FLOAT_EQ(at<float>(out, {i, j}), base.data<float>()[j * R + i] - b.data<float>()[i * C + j]);
}

TEST(Kernels, BinaryLargeContiguousMatchesScalarLoop) {
  // Large enough to be split across threads.
  const int64_t n = 1 << 20;
  Tensor a = random_tensor(Shape{n}, 7);
  Tensor b = random_tensor(Shape{n}, 8);
  Tensor out = Tensor::empty(Shape{n}, DType::Float32);
  kernels::binary(kernels::BinaryOp::Mul, a, b, out);
  const float *pa = a.data<float>(), *pb = b.data<float>(), *po = out.data<float>();
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(po[i], pa[i] * pb[i]) << i;
}

TEST(Kernels, BinaryScalarOperand) {
  Tensor a = random_tensor(Shape{5, 7}, 9);
  Tensor out = Tensor::empty(Shape{5, 7}, DType::Float32);
  kernels::binary_scalar(kernels::BinaryOp::Sub, a, Scalar::from_double(2.0), /*scalar_first=*/true, out);
  for (int64_t i = 0; i < 35; ++i) EXPECT_FLOAT_EQ(out.data<float>()[i], 2.0f - a.data<float>()[i]);
}

TEST(Kernels, UnaryTanhMatchesStd) {
  Tensor a = random_tensor<double>(Shape{1000}, 10);
  Tensor out = Tensor::empty(Shape{1000}, DType::Float64);
  kernels::unary(kernels::UnaryOp::Tanh, a, out);
  for (int64_t i = 0; i < 1000; ++i) EXPECT_NEAR(out.data<double>()[i], std::tanh(a.data<double>()[i]), 1e-12);
}

TEST(Kernels, ComparisonWritesBool) {
  Tensor a = random_tensor(Shape{64}, 11);
  Tensor b = random_tensor(Shape{64}, 12);
  Tensor out = Tensor::empty(Shape{64}, DType::Bool);
  kernels::binary(kernels::BinaryOp::Lt, a, b, out);
  for (int64_t i = 0; i < 64; ++i) EXPECT_EQ(out.data<bool>()[i], a.data<float>()[i] < b.data<float>()[i]);
}

TEST(Kernels, CopyConvertsDtypeIntoStridedOutput) {
  Tensor src = random_tensor<double>(Shape{4, 6}, 13);
  Tensor dst_base = Tensor::empty(Shape{6, 4}, DType::Float32);
  Tensor dst = transposed_view(dst_base);  // 4 x 6 view
  kernels::copy(src, dst);
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 6; ++j)
      EXPECT_FLOAT_EQ(dst_base.data<float>()[j * 4 + i], float(src.data<double>()[i * 6 + j]));
}

// ---- reductions -------------------------------------------------------------------------

// Naive reduction of a contiguous 3-D tensor over the axes marked in `mask`.
std::vector<double> naive_reduce(kernels::ReduceOp op, const Tensor& in, const std::array<bool, 3>& mask) {
  const int64_t D0 = in.size(0), D1 = in.size(1), D2 = in.size(2);
  const int64_t O0 = mask[0] ? 1 : D0, O1 = mask[1] ? 1 : D1, O2 = mask[2] ? 1 : D2;
  const double init = op == kernels::ReduceOp::Sum ? 0.0 : op == kernels::ReduceOp::Prod ? 1.0
                    : op == kernels::ReduceOp::Max ? -INFINITY : INFINITY;
  std::vector<double> out(size_t(O0 * O1 * O2), init);
  for (int64_t i = 0; i < D0; ++i)
    for (int64_t j = 0; j < D1; ++j)
      for (int64_t k = 0; k < D2; ++k) {
        const double v = in.data<double>()[(i * D1 + j) * D2 + k];
        double& o = out[size_t(((mask[0] ? 0 : i) * O1 + (mask[1] ? 0 : j)) * O2 + (mask[2] ? 0 : k))];
        switch (op) {
          case kernels::ReduceOp::Sum: o += v; break;
          case kernels::ReduceOp::Prod: o *= v; break;
          case kernels::ReduceOp::Max: o = std::max(o, v); break;
          default: o = std::min(o, v); break;
        }
      }
  return out;
}

TEST(Kernels, ReduceOverSeveralAxesMatchesNaiveLoop) {
  Tensor in = random_tensor<double>(Shape{5, 6, 7}, 14);
  const std::vector<std::array<bool, 3>> masks = {
      {true, false, false}, {false, true, false}, {false, false, true}, {true, false, true},
      {true, true, false},  {false, true, true},  {true, true, true}};
  for (auto op : {kernels::ReduceOp::Sum, kernels::ReduceOp::Prod, kernels::ReduceOp::Max, kernels::ReduceOp::Min}) {
    for (const auto& m : masks) {
      Shape oshape{m[0] ? 1 : 5, m[1] ? 1 : 6, m[2] ? 1 : 7};
      Tensor out = Tensor::empty(oshape, DType::Float64);
      kernels::reduce(op, in, out);
      const std::vector<double> ref = naive_reduce(op, in, m);
      ASSERT_EQ(int64_t(ref.size()), out.numel());
      for (size_t i = 0; i < ref.size(); ++i)
        EXPECT_NEAR(out.data<double>()[i], ref[i], 1e-12 * (1 + std::abs(ref[i])))
            << "op " << int(op) << " mask " << m[0] << m[1] << m[2] << " at " << i;
    }
  }
}

TEST(Kernels, ReduceOfTransposedInput) {
  Tensor base = random_tensor<double>(Shape{8, 13}, 15);
  Tensor t = transposed_view(base);  // 13 x 8
  Tensor out = Tensor::empty(Shape{13, 1}, DType::Float64);
  kernels::reduce(kernels::ReduceOp::Sum, t, out);
  for (int64_t i = 0; i < 13; ++i) {
    double ref = 0;
    for (int64_t j = 0; j < 8; ++j) ref += base.data<double>()[j * 13 + i];
    EXPECT_NEAR(out.data<double>()[i], ref, 1e-12);
  }
}

TEST(Kernels, LargeSumIsAccurate) {
  const int64_t n = 4'000'000;
  Tensor in = Tensor::empty(Shape{n}, DType::Float32);
  for (int64_t i = 0; i < n; ++i) in.data<float>()[i] = 0.5f;
  Tensor out = Tensor::empty(Shape{1}, DType::Float32);
  kernels::reduce(kernels::ReduceOp::Sum, in, out);
  EXPECT_NEAR(out.data<float>()[0], 2'000'000.0f, 1.0f);
}

// Shapes whose outer reduced dims hold more than 64 rows take the pairwise (cascade)
// path: halves into partials, output dims walked one by one, the partials added back.
TEST(Kernels, CascadedSumOverOuterAxesMatchesNaiveLoop) {
  Tensor in = random_tensor<double>(Shape{150, 7, 130}, 17);
  const std::vector<std::array<bool, 3>> masks = {
      {true, false, false}, {false, true, false}, {true, false, true}, {true, true, false}, {true, true, true}};
  for (const auto& m : masks) {
    Shape oshape{m[0] ? 1 : 150, m[1] ? 1 : 7, m[2] ? 1 : 130};
    Tensor out = Tensor::empty(oshape, DType::Float64);
    kernels::reduce(kernels::ReduceOp::Sum, in, out);
    const std::vector<double> ref = naive_reduce(kernels::ReduceOp::Sum, in, m);
    for (size_t i = 0; i < ref.size(); ++i)
      EXPECT_NEAR(out.data<double>()[i], ref[i], 1e-11 * (1 + std::abs(ref[i])))
          << "mask " << m[0] << m[1] << m[2] << " at " << i;
  }
}

TEST(Kernels, Float32SumAlongOuterAxisIsAccurate) {
  const int64_t rows = 70001, cols = 3;
  Tensor in = Tensor::empty(Shape{rows, cols}, DType::Float32);
  for (int64_t i = 0; i < rows * cols; ++i) in.data<float>()[i] = 0.1f;
  Tensor out = Tensor::empty(Shape{1, cols}, DType::Float32);
  kernels::reduce(kernels::ReduceOp::Sum, in, out);
  for (int64_t j = 0; j < cols; ++j) EXPECT_NEAR(out.data<float>()[j], 0.1 * rows, 0.01);  // a running sum: 7004.6
}

TEST(Ops, SumOverAxesMatchesKernel) {
  Tensor in = random_tensor<double>(Shape{4, 5, 6}, 16);
  Tensor s = sum(in, Axes{0, 2}, /*keepdims=*/false);
  EXPECT_EQ(s.shape(), (Shape{5}));
  const std::vector<double> ref = naive_reduce(kernels::ReduceOp::Sum, in, {true, false, true});
  for (int64_t j = 0; j < 5; ++j) EXPECT_NEAR(s.data<double>()[j], ref[size_t(j)], 1e-12);
}

// ---- matmul -----------------------------------------------------------------------------

template <typename T>
void expect_matmul_close(const Tensor& a, const Tensor& b, const Tensor& out, double tol) {
  const int64_t M = a.size(0), K = a.size(1), N = b.size(1);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double ref = 0;
      for (int64_t k = 0; k < K; ++k) ref += double(at<T>(a, {i, k})) * double(at<T>(b, {k, j}));
      ASSERT_NEAR(double(at<T>(out, {i, j})), ref, tol) << "(" << i << ", " << j << ")";
    }
}

TEST(Kernels, Matmul2dMatchesTripleLoop) {
  Tensor a = random_tensor(Shape{17, 23}, 17);
  Tensor b = random_tensor(Shape{23, 11}, 18);
  Tensor out = Tensor::empty(Shape{17, 11}, DType::Float32);
  kernels::matmul_2d(a, b, out);
  expect_matmul_close<float>(a, b, out, 1e-4);
}

TEST(Kernels, Matmul2dWithTransposedOperands) {
  Tensor at_base = random_tensor<double>(Shape{23, 17}, 19);
  Tensor bt_base = random_tensor<double>(Shape{11, 23}, 20);
  Tensor a = transposed_view(at_base);  // 17 x 23, column-major
  Tensor b = transposed_view(bt_base);  // 23 x 11, column-major
  Tensor out = Tensor::empty(Shape{17, 11}, DType::Float64);
  kernels::matmul_2d(a, b, out);
  expect_matmul_close<double>(a, b, out, 1e-12);

  Tensor b_rows = random_tensor<double>(Shape{23, 11}, 21);
  kernels::matmul_2d(a, b_rows, out);  // one transposed, one row-major
  expect_matmul_close<double>(a, b_rows, out, 1e-12);
}

TEST(Kernels, Matmul2dInt64) {
  Tensor a = Tensor::empty(Shape{3, 4}, DType::Int64);
  Tensor b = Tensor::empty(Shape{4, 2}, DType::Int64);
  for (int64_t i = 0; i < 12; ++i) a.data<int64_t>()[i] = i - 5;
  for (int64_t i = 0; i < 8; ++i) b.data<int64_t>()[i] = 2 * i + 1;
  Tensor out = Tensor::empty(Shape{3, 2}, DType::Int64);
  kernels::matmul_2d(a, b, out);
  expect_matmul_close<int64_t>(a, b, out, 0);
}

TEST(Ops, MatmulOfTransposeView) {
  Tensor a = random_tensor(Shape{9, 6}, 22);
  Tensor b = random_tensor(Shape{9, 4}, 23);
  Tensor c = matmul(transpose(a, 0, 1), b);  // (6, 9) @ (9, 4)
  ASSERT_EQ(c.shape(), (Shape{6, 4}));
  expect_matmul_close<float>(transposed_view(a), b, c, 1e-4);
}

// ---- dtype promotion --------------------------------------------------------------------

TEST(DTypes, PromoteTypes) {
  EXPECT_EQ(promote_types(DType::Float32, DType::Float32), DType::Float32);
  EXPECT_EQ(promote_types(DType::Float32, DType::Float64), DType::Float64);
  EXPECT_EQ(promote_types(DType::Int64, DType::Float32), DType::Float32);
  EXPECT_EQ(promote_types(DType::Float64, DType::Int64), DType::Float64);
  EXPECT_EQ(promote_types(DType::Bool, DType::Int64), DType::Int64);
  EXPECT_EQ(promote_types(DType::Bool, DType::Float32), DType::Float32);
  EXPECT_EQ(promote_types(DType::Bool, DType::Bool), DType::Bool);
  for (int i = 0; i < kNumDTypes; ++i)
    for (int j = 0; j < kNumDTypes; ++j)
      EXPECT_EQ(promote_types(DType(i), DType(j)), promote_types(DType(j), DType(i)));
}

TEST(DTypes, ResultTypeZeroDimRule) {
  Tensor f32 = Tensor::empty(Shape{3}, DType::Float32);
  Tensor f64 = Tensor::empty(Shape{3}, DType::Float64);
  Tensor i64 = Tensor::empty(Shape{3}, DType::Int64);
  Tensor f64_0d = Tensor::scalar(1.0, DType::Float64);
  Tensor f32_0d = Tensor::scalar(1.0, DType::Float32);
  Tensor i64_0d = Tensor::scalar(1.0, DType::Int64);

  // Both with dims (or both 0-d): ordinary promotion.
  EXPECT_EQ(result_type(f32, f64), DType::Float64);
  EXPECT_EQ(result_type(f32_0d, f64_0d), DType::Float64);
  // A 0-d tensor of the same category does not widen a tensor with dims ...
  EXPECT_EQ(result_type(f32, f64_0d), DType::Float32);
  EXPECT_EQ(result_type(f64_0d, f32), DType::Float32);
  // ... but one of a higher category does.
  EXPECT_EQ(result_type(i64, f64_0d), DType::Float64);
  EXPECT_EQ(result_type(i64_0d, f32), DType::Float32);
}

TEST(DTypes, ResultTypeScalarRule) {
  Tensor f32 = Tensor::empty(Shape{2}, DType::Float32);
  Tensor f64 = Tensor::empty(Shape{2}, DType::Float64);
  Tensor i64 = Tensor::empty(Shape{2}, DType::Int64);
  Tensor b = Tensor::empty(Shape{2}, DType::Bool);
  EXPECT_EQ(result_type(f32, Scalar::from_double(0.9)), DType::Float32);  // x * 0.9 stays float32
  EXPECT_EQ(result_type(f64, Scalar::from_double(0.9)), DType::Float64);
  EXPECT_EQ(result_type(f32, Scalar::from_int(3)), DType::Float32);
  EXPECT_EQ(result_type(i64, Scalar::from_int(3)), DType::Int64);
  EXPECT_EQ(result_type(i64, Scalar::from_double(0.5)), DType::Float32);  // default float
  EXPECT_EQ(result_type(b, Scalar::from_int(1)), DType::Int64);
  EXPECT_EQ(result_type(b, Scalar::from_bool(true)), DType::Bool);
}

TEST(Ops, MulFloat32ByScalarKeepsDtype) {
  Tensor x = random_tensor(Shape{4}, 24);
  Tensor y = mul(x, Scalar::from_double(0.9));
  EXPECT_EQ(y.dtype(), DType::Float32);
  for (int64_t i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(y.data<float>()[i], x.data<float>()[i] * 0.9f);
}

// ---- errors -----------------------------------------------------------------------------

TEST(Errors, BadBroadcastThrowsValueError) {
  EXPECT_THROW(broadcast_shapes(Shape{3, 4}, Shape{5}, "add"), ValueError);
  Tensor a = Tensor::empty(Shape{3, 4}, DType::Float32);
  Tensor b = Tensor::empty(Shape{2, 4}, DType::Float32);
  EXPECT_THROW(add(a, b), ValueError);
  EXPECT_THROW(mul(a, b), ValueError);
  try {
    add(a, b);
    FAIL() << "expected ValueError";
  } catch (const ValueError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("[3, 4]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[2, 4]"), std::string::npos) << msg;
  }
}

TEST(Errors, BroadcastShapesRules) {
  EXPECT_EQ(broadcast_shapes(Shape{3, 1}, Shape{1, 4}, "t"), (Shape{3, 4}));
  EXPECT_EQ(broadcast_shapes(Shape{}, Shape{2, 3}, "t"), (Shape{2, 3}));
  EXPECT_EQ(broadcast_shapes(Shape{5, 1, 3}, Shape{4, 1}, "t"), (Shape{5, 4, 3}));
  EXPECT_EQ(broadcast_shapes(Shape{0}, Shape{1}, "t"), (Shape{0}));
}

TEST(Errors, MatmulOfScalarThrowsValueError) {
  Tensor s = Tensor::scalar(1.0, DType::Float32);
  Tensor m = Tensor::empty(Shape{2, 2}, DType::Float32);
  EXPECT_THROW(matmul(s, m), ValueError);
}

// ---- optimizers ------------------------------------------------------------------------

// The update loops are compiled per CPU capability; a training run must give the same
// numbers on every CPU, so the copies this CPU can run must agree bit for bit.
TEST(Kernels, OptimizerUpdatesAgreeAcrossCpuCapabilities) {
  __builtin_cpu_init();
  std::vector<const kernels::CpuKernels*> tables = {&kernels::DEFAULT::table};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) tables.push_back(&kernels::AVX2::table);
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
    tables.push_back(&kernels::AVX512::table);
  const int64_t n = 1000;
  const kernels::AdamOptions adam{1e-2, 0.9, 0.999, 1e-8, 0.1, true, false, false};
  const kernels::SgdOptions sgd{0.05, 0.9, 0.1, 0.01, false, false};
  const kernels::RmspropOptions rms{0.01, 0.9, 1e-8, 0.1, 0.9, true, false};
  const kernels::AdagradOptions adagrad{0.1, 0.01, 0.1, 1e-10, false};
  std::vector<std::vector<float>> results;
  for (const kernels::CpuKernels* table : tables) {
    Tensor p = random_tensor(Shape{n}, 30), g = random_tensor(Shape{n}, 31);
    auto z = [&] { return zeros(Shape{n}, DType::Float32); };
    Tensor m = z(), v = z(), vmax = z(), buf = z(), sq = z(), avg = z(), sum = z();
    for (int64_t step = 1; step <= 5; ++step) {
      table->adam(p, g, m, v, &vmax, step, adam);
      table->sgd(p, g, &buf, step == 1, sgd);
      table->rmsprop(p, g, sq, &buf, &avg, rms);
      table->adagrad(p, g, sum, step, adagrad);
    }
    results.emplace_back(p.data<float>(), p.data<float>() + n);
  }
  for (size_t t = 1; t < results.size(); ++t)
    for (int64_t i = 0; i < n; ++i)
      ASSERT_EQ(results[t][size_t(i)], results[0][size_t(i)]) << tables[t]->capability << " at " << i;
}

}  // namespace
}  // namespace tg
