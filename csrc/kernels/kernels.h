#pragma once
// The kernel layer: loops over memory, no autograd. Ops (csrc/ops) call these with
// tensors they have already shaped; the loops themselves live in cpu_kernels.cpp,
// compiled once per CPU capability (baseline x86-64, AVX2, AVX-512) and chosen at
// run time.
#include <cstdint>

#include "tensor/tensor.h"

namespace tg::kernels {

enum class UnaryOp : uint8_t {
  Neg, Exp, Log, Log1p, Sqrt, Rsqrt, Abs, Sign, Sin, Cos, Tan, Tanh, Sigmoid, Relu,
  Gelu, Softplus, Reciprocal, Square, LeakyRelu, Clamp, PowScalar, LogicalNot,
  IsNan, IsInf, IsFinite, Count
};

enum class BinaryOp : uint8_t {
  Add, Sub, Mul, Div, Pow, Maximum, Minimum,
  Lt, Le, Gt, Ge, Eq, Ne,
  // fused first-order derivatives: (grad, saved) -> grad_input
  TanhBackward, SigmoidBackward, ReluBackward, GeluBackward, LeakyReluBackward,
  Count
};

enum class ReduceOp : uint8_t { Sum, Prod, Max, Min, Count };

struct UnaryParams { double a = 0, b = 0; };

bool is_predicate(UnaryOp op);   // result is bool
bool is_comparison(BinaryOp op); // result is bool

// out[i] = op(in[i]) with out freshly shaped like in (any strides on in; out may be a
// strided view too, for in-place ops). in and out share the compute dtype, except
// predicates which write bool.
void unary(UnaryOp op, const Tensor& in, const Tensor& out, UnaryParams p = {});

// out = op(a, b) with NumPy broadcasting of a and b to out's shape. a and b share a
// dtype; out has it too, or bool for comparisons. Either operand may be replaced by a
// scalar (pass an undefined tensor and the scalar).
void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out, UnaryParams p = {});
void binary_scalar(BinaryOp op, const Tensor& a, Scalar s, bool scalar_first, const Tensor& out,
                   UnaryParams p = {});

// out = cond ? a : b, broadcast to out's shape.
void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out);

// out (any layout, same shape) = in, converting dtype.
void copy(const Tensor& in, const Tensor& out);
void fill(const Tensor& out, Scalar v);

// Reduce `in` into `out`, where out has in's ndim with size 1 on reduced axes.
void reduce(ReduceOp op, const Tensor& in, const Tensor& out);
// Index of the max/min along one axis; out has in's shape with that axis removed.
void arg_reduce(bool is_max, const Tensor& in, int64_t axis, const Tensor& out);

// C = A @ B for 2-D row-major or transposed operands (float32/float64 via BLAS).
void matmul_2d(const Tensor& a, const Tensor& b, const Tensor& out);

// Random fills from the global generator (seeded by manual_seed).
void manual_seed(uint64_t seed);
void fill_uniform(const Tensor& out, double lo, double hi);
void fill_normal(const Tensor& out, double mean, double std);

}  // namespace tg::kernels
