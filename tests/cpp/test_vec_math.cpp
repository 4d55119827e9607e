// Accuracy and special-value tests for kernels/vec_math.h (tg::vecmath).
//
// float results are compared with the double-precision std:: function, double results
// with the long double one, over dense sweeps: "bits" sweeps step evenly through the
// IEEE bit patterns of a range (so every binade, denormals included, is covered) and
// "linear" sweeps step evenly through values. Errors are measured in ulps of the
// correctly rounded result (ulp of a denormal = the smallest denormal) and as relative
// errors. Inputs are pushed through plain loops, like the kernels do, so when this file
// is built with -O3 the vectorised code is what gets tested.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/vec_math.h"

namespace {

namespace vm = tg::vecmath;

template <typename T> struct Wide;
template <> struct Wide<float> { using type = double; using bits = uint32_t; };
template <> struct Wide<double> { using type = long double; using bits = uint64_t; };
template <typename T> using wide_t = typename Wide<T>::type;
template <typename T> using bits_t = typename Wide<T>::bits;

template <typename T> constexpr T kInf = std::numeric_limits<T>::infinity();
template <typename T> constexpr T kNan = std::numeric_limits<T>::quiet_NaN();
template <typename T> constexpr T kMax = std::numeric_limits<T>::max();
template <typename T> constexpr T kDenormMin = std::numeric_limits<T>::denorm_min();

template <typename T> bits_t<T> to_bits(T x) { bits_t<T> b; std::memcpy(&b, &x, sizeof b); return b; }
template <typename T> T from_bits(bits_t<T> b) { T x; std::memcpy(&x, &b, sizeof x); return x; }

// ---- input sweeps ----------------------------------------------------------------------

// n values stepping evenly through the bit patterns of [lo, hi] (lo <= hi, both finite).
template <typename T>
std::vector<T> bits_sweep(T lo, T hi, size_t n) {
  // Map floats to a monotone integer line: negative numbers below zero.
  auto key = [](T x) -> long double {
    const long double m = (long double)(to_bits(std::fabs(x)));
    return std::signbit(x) ? -m : m;
  };
  auto unkey = [](long double k) -> T {
    const T m = from_bits<T>(bits_t<T>(std::fabs(k)));
    return k < 0 ? -m : m;
  };
  std::vector<T> v;
  v.reserve(n + 2);
  const long double a = key(lo), b = key(hi);
  for (size_t i = 0; i < n; ++i) v.push_back(unkey(std::floor(a + (b - a) * (long double)i / (long double)(n - 1))));
  v.push_back(lo);
  v.push_back(hi);
  return v;
}

template <typename T>
std::vector<T> linear_sweep(T lo, T hi, size_t n) {
  std::vector<T> v;
  v.reserve(n);
  for (size_t i = 0; i < n; ++i) v.push_back(T(lo + (wide_t<T>(hi) - lo) * wide_t<T>(i) / wide_t<T>(n - 1)));
  return v;
}

template <typename T>
std::vector<T> concat(std::vector<T> a, const std::vector<T>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// ---- error measurement -----------------------------------------------------------------

template <typename T>
wide_t<T> ulp_of(wide_t<T> r) {
  T t = T(r);
  if (std::isinf(t)) t = kMax<T>;
  int e;
  std::frexp(std::fabs(t), &e);
  const wide_t<T> u = std::ldexp(wide_t<T>(1), e - std::numeric_limits<T>::digits);
  return u < wide_t<T>(kDenormMin<T>) ? wide_t<T>(kDenormMin<T>) : u;
}

template <typename T>
struct Report {
  double max_ulp = 0, max_rel = 0;
  T worst_ulp_x = 0, worst_rel_x = 0;
  size_t count = 0;
  std::vector<std::string> failures;  // NaN / inf mismatches
  std::string describe() const {
    return "max " + std::to_string(max_ulp) + " ulp at x=" + std::to_string(double(worst_ulp_x)) + ", max rel " +
           std::to_string(max_rel) + " at x=" + std::to_string(double(worst_rel_x)) + " over " +
           std::to_string(count) + " points";
  }
};

// F: T -> T under test, R: wide_t<T> -> wide_t<T> reference.
template <typename T, typename F, typename R>
Report<T> measure(const std::vector<T>& xs, F f, R ref) {
  std::vector<T> out(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) out[i] = f(xs[i]);  // the loop the kernels run
  Report<T> rep;
  rep.count = xs.size();
  for (size_t i = 0; i < xs.size(); ++i) {
    const T x = xs[i], g = out[i];
    const wide_t<T> r = ref(wide_t<T>(x));
    auto fail = [&](const char* what) {
      if (rep.failures.size() < 10)
        rep.failures.push_back(std::string(what) + ": f(" + std::to_string(double(x)) + ") = " +
                               std::to_string(double(g)) + ", reference " + std::to_string(double(r)));
    };
    if (std::isnan(r) || std::isnan(g)) {
      if (std::isnan(r) != std::isnan(g)) fail("NaN mismatch");
      continue;
    }
    if (std::isinf(T(r)) || std::isinf(g)) {
      if (T(r) != g) fail("inf mismatch");
      continue;
    }
    const double u = double(std::fabs(wide_t<T>(g) - r) / ulp_of<T>(r));
    if (u > rep.max_ulp) { rep.max_ulp = u; rep.worst_ulp_x = x; }
    if (std::fabs(r) >= wide_t<T>(std::numeric_limits<T>::min())) {
      const double rel = double(std::fabs((wide_t<T>(g) - r) / r));
      if (rel > rep.max_rel) { rep.max_rel = rel; rep.worst_rel_x = x; }
    }
  }
  return rep;
}

// Bounds: float within 2 ulp (1e-6 relative), double within 1e-14 relative (and a few ulp).
template <typename T> constexpr double kRelBound = std::is_same_v<T, float> ? 1e-6 : 1e-14;

template <typename T, typename F, typename R>
void expect_accurate(const char* name, const std::vector<T>& xs, F f, R ref, double max_ulp) {
  const Report<T> rep = measure(xs, f, ref);
  for (const auto& s : rep.failures) ADD_FAILURE() << name << ": " << s;
  EXPECT_LE(rep.max_ulp, max_ulp) << name << ": " << rep.describe();
  EXPECT_LE(rep.max_rel, kRelBound<T>) << name << ": " << rep.describe();
  ::testing::Test::RecordProperty(std::string(name) + (std::is_same_v<T, float> ? "_f32" : "_f64") + "_max_ulp",
                 std::to_string(rep.max_ulp));
  std::printf("    %-8s %-6s max %.3f ulp (x=%.9g), max rel %.3g, %zu points\n", name,
              std::is_same_v<T, float> ? "float" : "double", rep.max_ulp, double(rep.worst_ulp_x),
              rep.max_rel, rep.count);
}

// Apply f through a loop over a small array (special values go the vectorised path too).
template <typename T, typename F>
std::vector<T> run(std::vector<T> xs, F f) {
  std::vector<T> out(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) out[i] = f(xs[i]);
  return out;
}

template <typename T>
class VecMath : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(VecMath, Types);

// Sweep sizes (per sweep; the long double references make double slower) and ulp bounds:
// float <= 2 ulp; double <= 4 ulp, which is far inside the 1e-14 relative target.
template <typename T> constexpr size_t kN = std::is_same_v<T, float> ? 1000000 : 400000;
template <typename T> constexpr double kUlp = std::is_same_v<T, float> ? 2.0 : 4.0;
template <typename T> constexpr bool kFloat = std::is_same_v<T, float>;

// ---- accuracy sweeps ---------------------------------------------------------------------

TYPED_TEST(VecMath, ExpAccuracy) {
  using T = TypeParam;
  const T lo = kFloat<T> ? T(-110) : T(-760), hi = kFloat<T> ? T(90) : T(720);
  const auto xs = concat(linear_sweep<T>(lo, hi, kN<T>), bits_sweep<T>(lo, hi, kN<T>));
  expect_accurate<T>("exp", xs, [](T x) { return vm::exp(x); }, [](wide_t<T> x) { return std::exp(x); }, kUlp<T>);
}

TYPED_TEST(VecMath, LogAccuracy) {
  using T = TypeParam;
  const auto xs = concat(bits_sweep<T>(kDenormMin<T>, kMax<T>, kN<T>), linear_sweep<T>(T(0.5), T(2), kN<T>));
  expect_accurate<T>("log", xs, [](T x) { return vm::log(x); }, [](wide_t<T> x) { return std::log(x); }, kUlp<T>);
}

TYPED_TEST(VecMath, Log1pAccuracy) {
  using T = TypeParam;
  const T just_above_m1 = std::nextafter(T(-1), T(0));
  auto xs = concat(bits_sweep<T>(just_above_m1, kMax<T>, kN<T>), linear_sweep<T>(T(-0.999), T(3), kN<T>));
  xs = concat(xs, bits_sweep<T>(-T(1e-3), T(1e-3), kN<T> / 4));
  expect_accurate<T>("log1p", xs, [](T x) { return vm::log1p(x); }, [](wide_t<T> x) { return std::log1p(x); },
                     kUlp<T>);
}

// Cody-Waite reduction: accurate (and so tested) up to 5.1e4 in float, 1.6e6 in double.
template <typename T>
std::vector<T> trig_inputs() {
  const T hi = kFloat<T> ? T(51000) : T(1.6e6);
  return concat(concat(linear_sweep<T>(-hi, hi, kN<T>), bits_sweep<T>(-hi, hi, kN<T>)),
                linear_sweep<T>(T(-10), T(10), kN<T> / 4));
}

TYPED_TEST(VecMath, SinAccuracy) {
  using T = TypeParam;
  expect_accurate<T>("sin", trig_inputs<T>(), [](T x) { return vm::sin(x); }, [](wide_t<T> x) { return std::sin(x); },
                     kUlp<T>);
}

TYPED_TEST(VecMath, CosAccuracy) {
  using T = TypeParam;
  expect_accurate<T>("cos", trig_inputs<T>(), [](T x) { return vm::cos(x); }, [](wide_t<T> x) { return std::cos(x); },
                     kUlp<T>);
}

TYPED_TEST(VecMath, TanAccuracy) {
  using T = TypeParam;
  expect_accurate<T>("tan", trig_inputs<T>(), [](T x) { return vm::tan(x); }, [](wide_t<T> x) { return std::tan(x); },
                     kUlp<T>);
}

TYPED_TEST(VecMath, TanhAccuracy) {
  using T = TypeParam;
  const auto xs = concat(bits_sweep<T>(-kMax<T>, kMax<T>, 2 * kN<T>), linear_sweep<T>(T(-12), T(12), kN<T>));
  expect_accurate<T>("tanh", xs, [](T x) { return vm::tanh(x); }, [](wide_t<T> x) { return std::tanh(x); },
                     kUlp<T>);
}

TYPED_TEST(VecMath, ErfAccuracy) {
  using T = TypeParam;
  const auto xs = concat(bits_sweep<T>(-kMax<T>, kMax<T>, 2 * kN<T>), linear_sweep<T>(T(-7), T(7), kN<T>));
  expect_accurate<T>("erf", xs, [](T x) { return vm::erf(x); }, [](wide_t<T> x) { return std::erf(x); }, kUlp<T>);
}

TYPED_TEST(VecMath, SigmoidAccuracy) {
  using T = TypeParam;
  const T lim = kFloat<T> ? T(110) : T(760);
  const auto xs = concat(bits_sweep<T>(-kMax<T>, kMax<T>, 2 * kN<T>), linear_sweep<T>(-lim, lim, kN<T>));
  expect_accurate<T>("sigmoid", xs, [](T x) { return vm::sigmoid(x); },
                     [](wide_t<T> x) { return wide_t<T>(1) / (wide_t<T>(1) + std::exp(-x)); }, kUlp<T>);
}

// ---- special values ------------------------------------------------------------------------

TYPED_TEST(VecMath, ExpSpecialValues) {
  using T = TypeParam;
  const T inf = kInf<T>, nan = kNan<T>;
  // Just past overflow / past the point where the result rounds to 0, and beyond.
  const T big = kFloat<T> ? T(88.73) : T(709.79), tiny = kFloat<T> ? T(-103.98) : T(-745.14);
  const T big2 = kFloat<T> ? T(100) : T(800), tiny2 = kFloat<T> ? T(-200) : T(-1000);
  const auto v = run<T>({-inf, inf, nan, big, big2, T(1e4), T(1e30), kMax<T>, tiny, tiny2, T(-1e30), -kMax<T>,
                         T(0), -T(0)},
                        [](T x) { return vm::exp(x); });
  EXPECT_EQ(v[0], T(0));
  EXPECT_EQ(v[1], inf);
  EXPECT_TRUE(std::isnan(v[2]));
  for (int i = 3; i <= 7; ++i) EXPECT_EQ(v[i], inf) << "i=" << i;
  for (int i = 8; i <= 11; ++i) EXPECT_EQ(v[i], T(0)) << "i=" << i;
  EXPECT_EQ(v[12], T(1));
  EXPECT_EQ(v[13], T(1));
  // Largest finite results and gradual underflow.
  const T xmax = kFloat<T> ? T(88.72) : T(709.78), xden = kFloat<T> ? T(-100) : T(-740);
  EXPECT_TRUE(std::isfinite(vm::exp(xmax)));
  EXPECT_NEAR(double(vm::exp(xmax) / T(std::exp(wide_t<T>(xmax)))), 1.0, 1e-6);
  EXPECT_GT(vm::exp(xden), T(0));
  EXPECT_LT(vm::exp(xden), std::numeric_limits<T>::min());
}

TYPED_TEST(VecMath, LogSpecialValues) {
  using T = TypeParam;
  const T inf = kInf<T>, nan = kNan<T>;
  const auto v = run<T>({T(0), -T(0), T(-1), -kDenormMin<T>, -inf, inf, nan, T(1), kDenormMin<T>},
                        [](T x) { return vm::log(x); });
  EXPECT_EQ(v[0], -inf);
  EXPECT_EQ(v[1], -inf);
  EXPECT_TRUE(std::isnan(v[2]));
  EXPECT_TRUE(std::isnan(v[3]));
  EXPECT_TRUE(std::isnan(v[4]));
  EXPECT_EQ(v[5], inf);
  EXPECT_TRUE(std::isnan(v[6]));
  EXPECT_EQ(v[7], T(0));
  EXPECT_NEAR(double(v[8]), double(std::log(wide_t<T>(kDenormMin<T>))), 1e-5);  // -103.28 / -744.44
  // Every denormal binade.
  for (T x = kDenormMin<T>; x < std::numeric_limits<T>::min(); x *= T(2.5)) {
    const wide_t<T> r = std::log(wide_t<T>(x));
    EXPECT_LE(double(std::fabs((vm::log(x) - r) / r)), kRelBound<T>) << "x=" << x;
  }
}

TYPED_TEST(VecMath, Log1pSpecialValues) {
  using T = TypeParam;
  const T inf = kInf<T>, nan = kNan<T>;
  const auto v = run<T>({T(-1), T(-1.5), -inf, inf, nan, T(0), -T(0), T(1e-10), T(-1e-10), T(1e-30), kDenormMin<T>},
                        [](T x) { return vm::log1p(x); });
  EXPECT_EQ(v[0], -inf);
  EXPECT_TRUE(std::isnan(v[1]));
  EXPECT_TRUE(std::isnan(v[2]));
  EXPECT_EQ(v[3], inf);
  EXPECT_TRUE(std::isnan(v[4]));
  EXPECT_EQ(v[5], T(0));
  EXPECT_FALSE(std::signbit(v[5]));
  EXPECT_EQ(v[6], T(0));
  EXPECT_TRUE(std::signbit(v[6]));
  EXPECT_NEAR(double(v[7]) / 1e-10, double(std::log1p(wide_t<T>(T(1e-10)))) / 1e-10, 1e-7);
  EXPECT_NEAR(double(v[8]) / -1e-10, double(std::log1p(wide_t<T>(T(-1e-10)))) / -1e-10, 1e-7);
  EXPECT_EQ(v[9], T(1e-30));
  EXPECT_EQ(v[10], kDenormMin<T>);
}

TYPED_TEST(VecMath, TrigSpecialValues) {
  using T = TypeParam;
  const T inf = kInf<T>, nan = kNan<T>;
  const std::vector<T> bad = {inf, -inf, nan};
  for (T y : run<T>(bad, [](T x) { return vm::sin(x); })) EXPECT_TRUE(std::isnan(y));
  for (T y : run<T>(bad, [](T x) { return vm::cos(x); })) EXPECT_TRUE(std::isnan(y));
  for (T y : run<T>(bad, [](T x) { return vm::tan(x); })) EXPECT_TRUE(std::isnan(y));
  // Signed zeros.
  EXPECT_TRUE(std::signbit(vm::sin(-T(0))) && vm::sin(-T(0)) == 0);
  EXPECT_TRUE(!std::signbit(vm::sin(T(0))) && vm::sin(T(0)) == 0);
  EXPECT_TRUE(std::signbit(vm::tan(-T(0))) && vm::tan(-T(0)) == 0);
  EXPECT_EQ(vm::cos(-T(0)), T(1));
  EXPECT_EQ(vm::cos(T(0)), T(1));
  // Tiny arguments are returned unchanged (sin, tan) / as 1 (cos).
  EXPECT_EQ(vm::sin(T(1e-30)), T(1e-30));
  EXPECT_EQ(vm::tan(-T(1e-30)), -T(1e-30));
  EXPECT_EQ(vm::sin(kDenormMin<T>), kDenormMin<T>);
  // Beyond the accurate range: finite, sin/cos within [-1, 1], tan not NaN.
  const auto big = concat(bits_sweep<T>(T(1e4), kMax<T>, 200000), bits_sweep<T>(-kMax<T>, T(-1e4), 200000));
  const auto s = run(big, [](T x) { return vm::sin(x); });
  const auto c = run(big, [](T x) { return vm::cos(x); });
  const auto t = run(big, [](T x) { return vm::tan(x); });
  for (size_t i = 0; i < big.size(); ++i) {
    ASSERT_TRUE(std::isfinite(s[i]) && std::fabs(s[i]) <= T(1)) << "sin(" << big[i] << ") = " << s[i];
    ASSERT_TRUE(std::isfinite(c[i]) && std::fabs(c[i]) <= T(1)) << "cos(" << big[i] << ") = " << c[i];
    ASSERT_FALSE(std::isnan(t[i])) << "tan(" << big[i] << ")";
  }
}

TYPED_TEST(VecMath, TanhSpecialValues) {
  using T = TypeParam;
  const T inf = kInf<T>, nan = kNan<T>;
  const auto v = run<T>({inf, -inf, nan, T(20), T(-20), T(1e30), -kMax<T>, -T(0), T(0), T(1e-30), -kDenormMin<T>},
                        [](T x) { return vm::tanh(x); });
  EXPECT_EQ(v[0], T(1));
  EXPECT_EQ(v[1], T(-1));
  EXPECT_TRUE(std::isnan(v[2]));
  EXPECT_EQ(v[3], T(1));
  EXPECT_EQ(v[4], T(-1));
  EXPECT_EQ(v[5], T(1));
  EXPECT_EQ(v[6], T(-1));
  EXPECT_EQ(v[7], T(0));
  EXPECT_TRUE(std::signbit(v[7]));  // tanh(-0) = -0
  EXPECT_EQ(v[8], T(0));
  EXPECT_FALSE(std::signbit(v[8]));
  EXPECT_EQ(v[9], T(1e-30));
  EXPECT_EQ(v[10], -kDenormMin<T>);
  // Relative accuracy near 0 (absolute error alone would be meaningless there).
  for (T x = T(1e-30); x < T(1); x *= T(1.37)) {
    const wide_t<T> r = std::tanh(wide_t<T>(x));
    EXPECT_LE(double(std::fabs((vm::tanh(x) - r) / r)), kRelBound<T>) << "x=" << x;
  }
  // |tanh| never exceeds 1 and is exactly 1 from where the float/double result rounds to 1.
  const T sat = kFloat<T> ? T(9.1) : T(19.1);
  for (T x = sat; x < T(1e4); x *= T(1.1)) EXPECT_EQ(vm::tanh(x), T(1)) << "x=" << x;
}

TYPED_TEST(VecMath, ErfSpecialValues) {
  using T = TypeParam;
  const T inf = kInf<T>, nan = kNan<T>;
  const auto v = run<T>({inf, -inf, nan, T(6), T(-6), kMax<T>, -T(0), T(0), T(1e-30)}, [](T x) { return vm::erf(x); });
  EXPECT_EQ(v[0], T(1));
  EXPECT_EQ(v[1], T(-1));
  EXPECT_TRUE(std::isnan(v[2]));
  EXPECT_EQ(v[3], T(1));
  EXPECT_EQ(v[4], T(-1));
  EXPECT_EQ(v[5], T(1));
  EXPECT_TRUE(std::signbit(v[6]) && v[6] == 0);
  EXPECT_TRUE(!std::signbit(v[7]) && v[7] == 0);
  EXPECT_NEAR(double(v[8]) / 1e-30, 1.1283791670955126, 1e-6);
  const auto xs = bits_sweep<T>(-kMax<T>, kMax<T>, 500000);
  const auto ys = run(xs, [](T x) { return vm::erf(x); });
  for (size_t i = 0; i < xs.size(); ++i) ASSERT_LE(std::fabs(ys[i]), T(1)) << "erf(" << xs[i] << ")";
}

TYPED_TEST(VecMath, SigmoidSpecialValues) {
  using T = TypeParam;
  const T inf = kInf<T>, nan = kNan<T>;
  const auto v = run<T>({T(-100), T(100), inf, -inf, nan, T(0), -T(0), T(1000), T(-1000), kMax<T>, -kMax<T>},
                        [](T x) { return vm::sigmoid(x); });
  if (kFloat<T>) {
    EXPECT_NEAR(double(v[0]), 3.7200759760208e-44, 1.5e-45);  // denormal in float
  } else {
    EXPECT_NEAR(double(v[0]) / 3.7200759760208356e-44, 1.0, 1e-14);
  }
  EXPECT_EQ(v[1], T(1));
  EXPECT_EQ(v[2], T(1));
  EXPECT_EQ(v[3], T(0));
  EXPECT_TRUE(std::isnan(v[4]));
  EXPECT_EQ(v[5], T(0.5));
  EXPECT_EQ(v[6], T(0.5));
  EXPECT_EQ(v[7], T(1));
  EXPECT_EQ(v[8], T(0));
  EXPECT_EQ(v[9], T(1));
  EXPECT_EQ(v[10], T(0));
  // Never NaN, always within [0, 1], for any non-NaN input.
  const auto xs = bits_sweep<T>(-kMax<T>, kMax<T>, 500000);
  const auto ys = run(xs, [](T x) { return vm::sigmoid(x); });
  for (size_t i = 0; i < xs.size(); ++i)
    ASSERT_TRUE(ys[i] >= T(0) && ys[i] <= T(1)) << "sigmoid(" << xs[i] << ") = " << ys[i];
}

}  // namespace
