// Elementwise and reduction loops. This file is compiled once per CPU capability
// (TG_CPU_CAPABILITY = DEFAULT, AVX2 or AVX512, each with its own -m flags) and the
// table for the running CPU is picked at start-up (dispatch.cpp). Keep it free of
// anything but loops: shapes, dtypes and errors are settled before a loop runs.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "kernels/cpu_kernels.h"
#include "kernels/vec_math.h"

#ifndef TG_CPU_CAPABILITY
#error "TG_CPU_CAPABILITY must name the capability this file is compiled for"
#endif
#define TG_STR2(x) #x
#define TG_STR(x) TG_STR2(x)

// The per-element lambdas must be inlined into their loops for the loops to vectorise;
// GCC's size heuristics would otherwise leave the larger ones (exp, tanh) as calls.
#define TG_INLINE_LAMBDA __attribute__((always_inline))

namespace tg::kernels::TG_CPU_CAPABILITY {
namespace {

template <typename T> constexpr bool is_float_v = std::is_floating_point_v<T>;

// ---- loop shapes ------------------------------------------------------------------

template <typename Tout, typename Tin, typename F>
void unary_loop(const Loop& L, int64_t b, int64_t e, F f) {
  for_each_segment(L, b, e, [&](char** p, const int64_t* s, int64_t n) {
    Tout* out = reinterpret_cast<Tout*>(p[0]);
    const Tin* in = reinterpret_cast<const Tin*>(p[1]);
    if (s[0] == 1 && s[1] == 1) {
      for (int64_t i = 0; i < n; ++i) out[i] = f(in[i]);
    } else if (s[0] == 1 && s[1] == 0) {  // fill, or a broadcast value: vector stores
      const Tout v = f(*in);
      for (int64_t i = 0; i < n; ++i) out[i] = v;
    } else {
      for (int64_t i = 0; i < n; ++i) out[i * s[0]] = f(in[i * s[1]]);
    }
  });
}

template <typename Tout, typename T, typename F>
void binary_loop(const Loop& L, int64_t b, int64_t e, F f) {
  for_each_segment(L, b, e, [&](char** p, const int64_t* s, int64_t n) {
    Tout* out = reinterpret_cast<Tout*>(p[0]);
    const T* x = reinterpret_cast<const T*>(p[1]);
    const T* y = reinterpret_cast<const T*>(p[2]);
    if (s[0] == 1 && s[1] == 1 && s[2] == 1) {
      for (int64_t i = 0; i < n; ++i) out[i] = f(x[i], y[i]);
    } else if (s[0] == 1 && s[1] == 1 && s[2] == 0) {
      const T yv = *y;
      for (int64_t i = 0; i < n; ++i) out[i] = f(x[i], yv);
    } else if (s[0] == 1 && s[1] == 0 && s[2] == 1) {
      const T xv = *x;
      for (int64_t i = 0; i < n; ++i) out[i] = f(xv, y[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) out[i * s[0]] = f(x[i * s[1]], y[i * s[2]]);
    }
  });
}

// ---- unary --------------------------------------------------------------------------

// The vectorised sin/cos/tan reduce their argument accurately only for |x| below a
// bound (vec_math.h); the rare larger arguments are recomputed with libm afterwards.
template <typename T> constexpr T kTrigExactBound = std::is_same_v<T, float> ? T(5.0e4) : T(1.5e6);

template <typename T, typename Vec, typename Exact>
void trig_loop(const Loop& L, int64_t b, int64_t e, Vec vec, Exact exact) {
  for_each_segment(L, b, e, [&](char** p, const int64_t* s, int64_t n) {
    T* out = reinterpret_cast<T*>(p[0]);
    const T* in = reinterpret_cast<const T*>(p[1]);
    if (n <= 4) {  // a scalar or a few values (scalar autograd): no vector loop to set up
      for (int64_t i = 0; i < n; ++i) {
        const T x = in[i * s[1]];
        out[i * s[0]] = std::fabs(x) > kTrigExactBound<T> ? exact(x) : vec(x);
      }
      return;
    }
    // Block by block, so the fix-up reads what the vector pass just touched in cache.
    constexpr int64_t kBlock = 2048;
    for (int64_t lo = 0; lo < n; lo += kBlock) {
      const int64_t hi = std::min(n, lo + kBlock);
      if (s[0] == 1 && s[1] == 1) {
        for (int64_t i = lo; i < hi; ++i) out[i] = vec(in[i]);
      } else {
        for (int64_t i = lo; i < hi; ++i) out[i * s[0]] = vec(in[i * s[1]]);
      }
      bool any_large = false;  // a vectorised test first; the rare fix-up is scalar
      for (int64_t i = lo; i < hi; ++i) any_large |= std::fabs(in[i * s[1]]) > kTrigExactBound<T>;
      if (!any_large) continue;
      for (int64_t i = lo; i < hi; ++i)
        if (std::fabs(in[i * s[1]]) > kTrigExactBound<T>) out[i * s[0]] = exact(in[i * s[1]]);
    }
  });
}

template <typename T>
void unary_float(UnaryOp op, const Loop& L, int64_t b, int64_t e, UnaryParams p) {
  namespace vm = tg::vecmath;
  const T a = T(p.a), c = T(p.b);
  switch (op) {
    case UnaryOp::Neg: return unary_loop<T, T>(L, b, e, [](T x) TG_INLINE_LAMBDA { return -x; });
    case UnaryOp::Exp: return unary_loop<T, T>(L, b, e, [](T x) TG_INLINE_LAMBDA { return vm::exp(x); });
    case UnaryOp::Log: return unary_loop<T, T>(L, b, e, [](T x) TG_INLINE_LAMBDA { return vm::log(x); });
    case UnaryOp::Log1p: return unary_loop<T, T>(L, b, e, [](T x) TG_INLINE_LAMBDA { return vm::log1p(x); });
    case UnaryOp::Sqrt: return unary_loop<T, T>(L, b, e, [](T x) TG_INLINE_LAMBDA { return std::sqrt(x); });
    case UnaryOp::Rsqrt: return unary_loop<T, T>(L, b, e, [](T x) TG_INLINE_LAMBDA { return T(1) / std::sqrt(x); });
    case UnaryOp::Abs: return unary_loop<T, T>(L, b, e, [](T x) TG_INLINE_LAMBDA { return std::fabs(x); });
    case UnaryOp::Sign:
      return unary_loop<T, T>(L, b, e, [](T x) TG_INLINE_LAMBDA { return x > 0 ? T(1) : x < 0 ? T(-1) : x == 0 ? T(0) : x; });
    case UnaryOp::Sin: return trig_loop<T>(L, b, e, [](T x) TG_INLINE_LAMBDA { return vm::sin(x); }, [](T x) TG_INLINE_LAMBDA { return std::sin(x); });
    case UnaryOp::Cos: return trig_loop<T>(L, b, e, [](T x) TG_INLINE_LAMBDA { return vm::cos(x); }, [](T x) TG_INLINE_LAMBDA { return std::cos(x); });
    case UnaryOp::Tan: return trig_loop<T>(L, b, e, [](T x) TG_INLINE_LAMBDA { return vm::tan(x); }, [](T x) TG_INLINE_LAMBDA { return std::tan(x); });
    case UnaryOp::Tanh: return unary_loop<T, T>(L, b, e, [](T x) TG_INLINE_LAMBDA { return vm::tanh(x); });
    case UnaryOp::Sigmoid: return unary_loop<T, T>(L, b, e, [](T x) TG_INLINE_LAMBDA { return vm::sigmoid(x); });
    case UnaryOp::Relu: return unary_loop<T, T>(L, b, e, [](T x) TG_INLINE_LAMBDA { return x < 0 ? T(0) : x; });
    case UnaryOp::Gelu:
      return unary_loop<T, T>(L, b, e, [](T x) TG_INLINE_LAMBDA { return T(0.5) * x * (T(1) + vm::erf(x * T(M_SQRT1_2))); });
    case UnaryOp::Softplus:  // PyTorch's threshold: above 20 softplus(x) == x in float
      return unary_loop<T, T>(L, b, e, [](T x) TG_INLINE_LAMBDA { return x > T(20) ? x : vm::log1p(vm::exp(x)); });
    case UnaryOp::Reciprocal: return unary_loop<T, T>(L, b, e, [](T x) TG_INLINE_LAMBDA { return T(1) / x; });
    case UnaryOp::Square: return unary_loop<T, T>(L, b, e, [](T x) TG_INLINE_LAMBDA { return x * x; });
    case UnaryOp::LeakyRelu: return unary_loop<T, T>(L, b, e, [a](T x) TG_INLINE_LAMBDA { return x > 0 ? x : a * x; });
    case UnaryOp::Clamp:  // NaN passes through, as in PyTorch
      return unary_loop<T, T>(L, b, e, [a, c](T x) TG_INLINE_LAMBDA { const T y = x < a ? a : x; return y > c ? c : y; });
    case UnaryOp::PowScalar:
      if (p.a == 2) return unary_loop<T, T>(L, b, e, [](T x) TG_INLINE_LAMBDA { return x * x; });
      if (p.a == 3) return unary_loop<T, T>(L, b, e, [](T x) TG_INLINE_LAMBDA { return x * x * x; });
      if (p.a == 0.5) return unary_loop<T, T>(L, b, e, [](T x) TG_INLINE_LAMBDA { return std::sqrt(x); });
      if (p.a == -1) return unary_loop<T, T>(L, b, e, [](T x) TG_INLINE_LAMBDA { return T(1) / x; });
      return unary_loop<T, T>(L, b, e, [a](T x) TG_INLINE_LAMBDA { return std::pow(x, a); });
    case UnaryOp::IsNan: return unary_loop<bool, T>(L, b, e, [](T x) TG_INLINE_LAMBDA { return x != x; });
    case UnaryOp::IsInf: return unary_loop<bool, T>(L, b, e, [](T x) TG_INLINE_LAMBDA { return std::fabs(x) == std::numeric_limits<T>::infinity(); });
    case UnaryOp::IsFinite: return unary_loop<bool, T>(L, b, e, [](T x) TG_INLINE_LAMBDA { return x - x == 0; });
    case UnaryOp::LogicalNot: return unary_loop<bool, T>(L, b, e, [](T x) TG_INLINE_LAMBDA { return x == 0; });
    default: break;
  }
}

// int64 arithmetic wraps like NumPy's instead of overflowing (undefined behaviour in C++).
inline int64_t wrap_mul(int64_t a, int64_t b) { return int64_t(uint64_t(a) * uint64_t(b)); }
inline int64_t wrap_add(int64_t a, int64_t b) { return int64_t(uint64_t(a) + uint64_t(b)); }
inline int64_t wrap_sub(int64_t a, int64_t b) { return int64_t(uint64_t(a) - uint64_t(b)); }

int64_t int_pow(int64_t base, int64_t exp) {
  if (exp < 0) return base == 1 ? 1 : base == -1 ? (exp % 2 ? -1 : 1) : 0;
  int64_t r = 1;
  while (exp) { if (exp & 1) r = wrap_mul(r, base); base = wrap_mul(base, base); exp >>= 1; }
  return r;
}

void unary_int(UnaryOp op, const Loop& L, int64_t b, int64_t e, UnaryParams p) {
  using T = int64_t;
  const T a = T(p.a), c = T(p.b);
  switch (op) {
    case UnaryOp::Neg: return unary_loop<T, T>(L, b, e, [](T x) TG_INLINE_LAMBDA { return wrap_sub(0, x); });
    case UnaryOp::Abs: return unary_loop<T, T>(L, b, e, [](T x) TG_INLINE_LAMBDA { return x < 0 ? wrap_sub(0, x) : x; });
    case UnaryOp::Sign: return unary_loop<T, T>(L, b, e, [](T x) TG_INLINE_LAMBDA { return T((x > 0) - (x < 0)); });
    case UnaryOp::Square: return unary_loop<T, T>(L, b, e, [](T x) TG_INLINE_LAMBDA { return wrap_mul(x, x); });
    case UnaryOp::Relu: return unary_loop<T, T>(L, b, e, [](T x) TG_INLINE_LAMBDA { return x < 0 ? T(0) : x; });
    case UnaryOp::Clamp: return unary_loop<T, T>(L, b, e, [a, c](T x) TG_INLINE_LAMBDA { const T y = x < a ? a : x; return y > c ? c : y; });
    case UnaryOp::PowScalar: return unary_loop<T, T>(L, b, e, [a](T x) TG_INLINE_LAMBDA { return int_pow(x, a); });
    case UnaryOp::IsNan: return unary_loop<bool, T>(L, b, e, [](T) TG_INLINE_LAMBDA { return false; });
    case UnaryOp::IsInf: return unary_loop<bool, T>(L, b, e, [](T) TG_INLINE_LAMBDA { return false; });
    case UnaryOp::IsFinite: return unary_loop<bool, T>(L, b, e, [](T) TG_INLINE_LAMBDA { return true; });
    case UnaryOp::LogicalNot: return unary_loop<bool, T>(L, b, e, [](T x) TG_INLINE_LAMBDA { return x == 0; });
    default: break;
  }
}

void unary_bool(UnaryOp op, const Loop& L, int64_t b, int64_t e, UnaryParams) {
  switch (op) {
    case UnaryOp::LogicalNot: return unary_loop<bool, bool>(L, b, e, [](bool x) TG_INLINE_LAMBDA { return !x; });
    case UnaryOp::Abs: return unary_loop<bool, bool>(L, b, e, [](bool x) TG_INLINE_LAMBDA { return x; });
    case UnaryOp::IsNan: return unary_loop<bool, bool>(L, b, e, [](bool) TG_INLINE_LAMBDA { return false; });
    case UnaryOp::IsInf: return unary_loop<bool, bool>(L, b, e, [](bool) TG_INLINE_LAMBDA { return false; });
    case UnaryOp::IsFinite: return unary_loop<bool, bool>(L, b, e, [](bool) TG_INLINE_LAMBDA { return true; });
    default: break;
  }
}

void unary(UnaryOp op, DType dt, const Loop& L, int64_t b, int64_t e, UnaryParams p) {
  switch (dt) {
    case DType::Float32: return unary_float<float>(op, L, b, e, p);
    case DType::Float64: return unary_float<double>(op, L, b, e, p);
    case DType::Int64: return unary_int(op, L, b, e, p);
    case DType::Bool: return unary_bool(op, L, b, e, p);
  }
}

// ---- binary -------------------------------------------------------------------------

template <typename T>
T gelu_grad(T g, T x) {
  const T cdf = T(0.5) * (T(1) + tg::vecmath::erf(x * T(M_SQRT1_2)));
  const T pdf = tg::vecmath::exp(T(-0.5) * x * x) * T(0.3989422804014327);
  return g * (cdf + x * pdf);
}

template <typename T>
void binary_typed(BinaryOp op, const Loop& L, int64_t b, int64_t e, UnaryParams p) {
  switch (op) {
    case BinaryOp::Add:
      if constexpr (std::is_same_v<T, bool>) return binary_loop<T, T>(L, b, e, [](T x, T y) TG_INLINE_LAMBDA { return T(x || y); });
      else if constexpr (std::is_same_v<T, int64_t>) return binary_loop<T, T>(L, b, e, [](T x, T y) TG_INLINE_LAMBDA { return wrap_add(x, y); });
      else return binary_loop<T, T>(L, b, e, [](T x, T y) TG_INLINE_LAMBDA { return x + y; });
    case BinaryOp::Sub:
      if constexpr (std::is_same_v<T, int64_t>) return binary_loop<T, T>(L, b, e, [](T x, T y) TG_INLINE_LAMBDA { return wrap_sub(x, y); });
      else return binary_loop<T, T>(L, b, e, [](T x, T y) TG_INLINE_LAMBDA { return T(x - y); });
    case BinaryOp::Mul:
      if constexpr (std::is_same_v<T, bool>) return binary_loop<T, T>(L, b, e, [](T x, T y) TG_INLINE_LAMBDA { return T(x && y); });
      else if constexpr (std::is_same_v<T, int64_t>) return binary_loop<T, T>(L, b, e, [](T x, T y) TG_INLINE_LAMBDA { return wrap_mul(x, y); });
      else return binary_loop<T, T>(L, b, e, [](T x, T y) TG_INLINE_LAMBDA { return x * y; });
    case BinaryOp::Div:
      if constexpr (is_float_v<T>) return binary_loop<T, T>(L, b, e, [](T x, T y) TG_INLINE_LAMBDA { return x / y; });
      break;
    case BinaryOp::Pow:
      if constexpr (is_float_v<T>) return binary_loop<T, T>(L, b, e, [](T x, T y) TG_INLINE_LAMBDA { return std::pow(x, y); });
      else if constexpr (std::is_same_v<T, int64_t>) return binary_loop<T, T>(L, b, e, [](T x, T y) TG_INLINE_LAMBDA { return int_pow(x, y); });
      break;
    case BinaryOp::Maximum:  // NaN propagates, as in PyTorch
      return binary_loop<T, T>(L, b, e, [](T x, T y) TG_INLINE_LAMBDA { return (x != x || x > y) ? x : y; });
    case BinaryOp::Minimum:
      return binary_loop<T, T>(L, b, e, [](T x, T y) TG_INLINE_LAMBDA { return (x != x || x < y) ? x : y; });
    case BinaryOp::Lt: return binary_loop<bool, T>(L, b, e, [](T x, T y) TG_INLINE_LAMBDA { return x < y; });
    case BinaryOp::Le: return binary_loop<bool, T>(L, b, e, [](T x, T y) TG_INLINE_LAMBDA { return x <= y; });
    case BinaryOp::Gt: return binary_loop<bool, T>(L, b, e, [](T x, T y) TG_INLINE_LAMBDA { return x > y; });
    case BinaryOp::Ge: return binary_loop<bool, T>(L, b, e, [](T x, T y) TG_INLINE_LAMBDA { return x >= y; });
    case BinaryOp::Eq: return binary_loop<bool, T>(L, b, e, [](T x, T y) TG_INLINE_LAMBDA { return x == y; });
    case BinaryOp::Ne: return binary_loop<bool, T>(L, b, e, [](T x, T y) TG_INLINE_LAMBDA { return x != y; });
    default: break;
  }
  if constexpr (is_float_v<T>) {
    const T a = T(p.a);
    switch (op) {
      case BinaryOp::TanhBackward: return binary_loop<T, T>(L, b, e, [](T g, T y) TG_INLINE_LAMBDA { return g * (T(1) - y * y); });
      case BinaryOp::SigmoidBackward: return binary_loop<T, T>(L, b, e, [](T g, T y) TG_INLINE_LAMBDA { return g * y * (T(1) - y); });
      case BinaryOp::ReluBackward: return binary_loop<T, T>(L, b, e, [](T g, T x) TG_INLINE_LAMBDA { return x > 0 ? g : T(0); });
      case BinaryOp::LeakyReluBackward: return binary_loop<T, T>(L, b, e, [a](T g, T x) TG_INLINE_LAMBDA { return x > 0 ? g : a * g; });
      case BinaryOp::GeluBackward: return binary_loop<T, T>(L, b, e, [](T g, T x) TG_INLINE_LAMBDA { return gelu_grad(g, x); });
      default: break;
    }
  }
}

void binary(BinaryOp op, DType dt, const Loop& L, int64_t b, int64_t e, UnaryParams p) {
  visit_dtype(dt, [&](auto tag) { binary_typed<decltype(tag)>(op, L, b, e, p); });
}

// ---- where / copy -------------------------------------------------------------------

void where(DType dt, const Loop& L, int64_t b, int64_t e) {
  visit_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    for_each_segment(L, b, e, [&](char** p, const int64_t* s, int64_t n) {
      T* out = reinterpret_cast<T*>(p[0]);
      const bool* c = reinterpret_cast<const bool*>(p[1]);
      const T* x = reinterpret_cast<const T*>(p[2]);
      const T* y = reinterpret_cast<const T*>(p[3]);
      for (int64_t i = 0; i < n; ++i) out[i * s[0]] = c[i * s[1]] ? x[i * s[2]] : y[i * s[3]];
    });
  });
}

void copy(DType src, DType dst, const Loop& L, int64_t b, int64_t e) {
  visit_dtype(dst, [&](auto out_tag) {
    using To = decltype(out_tag);
    visit_dtype(src, [&](auto in_tag) {
      using Ti = decltype(in_tag);
      if constexpr (std::is_same_v<To, bool>) {
        unary_loop<To, Ti>(L, b, e, [](Ti x) TG_INLINE_LAMBDA { return x != 0; });
      } else if constexpr (std::is_same_v<To, int64_t> && is_float_v<Ti>) {
        // NaN, inf and values beyond int64 have no int64 (the C++ conversion is undefined):
        // they become INT64_MIN, what x86's conversion, NumPy and PyTorch give.
        constexpr Ti kTwo63 = Ti(9223372036854775808.0);
        unary_loop<To, Ti>(L, b, e, [](Ti x) TG_INLINE_LAMBDA {
          return x >= -kTwo63 && x < kTwo63 ? static_cast<int64_t>(x) : std::numeric_limits<int64_t>::min();
        });
      } else {
        unary_loop<To, Ti>(L, b, e, [](Ti x) TG_INLINE_LAMBDA { return static_cast<To>(x); });
      }
    });
  });
}

// ---- reductions ---------------------------------------------------------------------

template <typename T, ReduceOp Op>
struct Combine {
  static T identity() {
    if constexpr (Op == ReduceOp::Sum) return T(0);
    else if constexpr (Op == ReduceOp::Prod) return T(1);
    else if constexpr (Op == ReduceOp::Max) {
      if constexpr (is_float_v<T>) return -std::numeric_limits<T>::infinity();
      else return std::numeric_limits<T>::lowest();
    } else {
      if constexpr (is_float_v<T>) return std::numeric_limits<T>::infinity();
      else return std::numeric_limits<T>::max();
    }
  }
  static T apply(T acc, T x) {
    if constexpr (Op == ReduceOp::Sum) {
      if constexpr (std::is_same_v<T, int64_t>) return wrap_add(acc, x);
      else return acc + x;
    } else if constexpr (Op == ReduceOp::Prod) {
      if constexpr (std::is_same_v<T, int64_t>) return wrap_mul(acc, x);
      else return acc * x;
    }
    else if constexpr (Op == ReduceOp::Max) return (x != x || x > acc) ? x : acc;
    else return (x != x || x < acc) ? x : acc;
  }
};

// A row reduced with independent accumulators: four 512-bit registers' worth, so the
// adds of successive vectors do not wait on each other. For float32 accuracy the sums
// cascade: each lane adds 64 elements, then 64 such partial sums, then those, lane by
// lane (as PyTorch's cascade sum does); only at the end are the lanes folded, as a tree,
// which vectorises. Strided rows (an expanded input's stride is 0) are summed the same way.
template <typename T, ReduceOp Op, bool Contiguous>
inline __attribute__((always_inline)) T reduce_row(const T* x, int64_t n, int64_t stride) {
  using C = Combine<T, Op>;
  auto at = [&](int64_t i) { return Contiguous ? x[i] : x[i * stride]; };
  constexpr int W = 4 * 64 / int(sizeof(T));
  T r = C::identity();
  if (n < W) {
    for (int64_t i = 0; i < n; ++i) r = C::apply(r, at(i));
    return r;
  }
  constexpr int64_t kSteps = 64;  // additions per lane at each level
  T level1[W], level2[W], level3[W];
  for (int k = 0; k < W; ++k) level3[k] = C::identity();
  int64_t i = 0;
  while (i + W <= n) {
    for (int k = 0; k < W; ++k) level2[k] = C::identity();
    for (int64_t b = 0; b < kSteps && i + W <= n; ++b) {
      for (int k = 0; k < W; ++k) level1[k] = C::identity();
      const int64_t stop = std::min(n, i + kSteps * W);
      for (; i + W <= stop; i += W)
        for (int k = 0; k < W; ++k) level1[k] = C::apply(level1[k], at(i + k));
      for (int k = 0; k < W; ++k) level2[k] = C::apply(level2[k], level1[k]);
    }
    for (int k = 0; k < W; ++k) level3[k] = C::apply(level3[k], level2[k]);
  }
  for (int w = W / 2; w >= 1; w /= 2)
    for (int k = 0; k < w; ++k) level3[k] = C::apply(level3[k], level3[k + w]);
  r = level3[0];
  for (; i < n; ++i) r = C::apply(r, at(i));
  return r;
}

// Contiguous float32 sums, the common large reduction, vectorised 256 bits wide: on the
// AVX-512 machines we target, 8 ymm accumulators stream a 16 MB row from L3 about 9%
// faster than 4 zmm ones (4M elements: 195 -> 180 us), equal in cache. float64 sums and
// max lost with the same change, so they stay at the build's full width.
__attribute__((noinline, target("prefer-vector-width=256"))) float sum_row_f32(const float* x, int64_t n) {
  return reduce_row<float, ReduceOp::Sum, true>(x, n, 1);
}

template <typename T, ReduceOp Op>
void reduce_typed(const Loop& L, int64_t b, int64_t e) {
  using C = Combine<T, Op>;
  for_each_segment(L, b, e, [&](char** p, const int64_t* s, int64_t n) {
    T* out = reinterpret_cast<T*>(p[0]);
    const T* in = reinterpret_cast<const T*>(p[1]);
    if (s[0] == 0) {  // the row is reduced into one output element
      T r;
      if constexpr (std::is_same_v<T, float> && Op == ReduceOp::Sum)
        r = s[1] == 1 ? sum_row_f32(in, n) : reduce_row<T, Op, false>(in, n, s[1]);
      else
        r = s[1] == 1 ? reduce_row<T, Op, true>(in, n, 1) : reduce_row<T, Op, false>(in, n, s[1]);
      *out = C::apply(*out, r);
    } else if (s[0] == 1 && s[1] == 1) {
      for (int64_t i = 0; i < n; ++i) out[i] = C::apply(out[i], in[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) out[i * s[0]] = C::apply(out[i * s[0]], in[i * s[1]]);
    }
  });
}

void reduce(ReduceOp op, DType dt, const Loop& L, int64_t b, int64_t e) {
  visit_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      return;  // the op layer reduces bool as int64
    } else {
      switch (op) {
        case ReduceOp::Sum: return reduce_typed<T, ReduceOp::Sum>(L, b, e);
        case ReduceOp::Prod: return reduce_typed<T, ReduceOp::Prod>(L, b, e);
        case ReduceOp::Max: return reduce_typed<T, ReduceOp::Max>(L, b, e);
        case ReduceOp::Min: return reduce_typed<T, ReduceOp::Min>(L, b, e);
        default: return;
      }
    }
  });
}

}  // namespace

const CpuKernels table = {TG_STR(TG_CPU_CAPABILITY), unary, binary, where, copy, reduce,
                          sgd_update, adam_update, rmsprop_update, adagrad_update};

}  // namespace tg::kernels::TG_CPU_CAPABILITY
