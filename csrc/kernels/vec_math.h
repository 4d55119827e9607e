#pragma once
// Elementwise math written so that GCC vectorises the loops that call it
// (cpu_kernels.cpp: `for (i...) out[i] = vm::tanh(in[i]);`, built for SSE2, AVX2 and
// AVX-512 with -O3 -fno-math-errno -fno-trapping-math, no -ffast-math).
//
// Rules every function here follows, because any one of them breaks vectorisation:
//  * straight-line code: +-*/, std::fabs, comparisons used only as ternary selects
//    (if-converted into blends; both sides are always evaluated), no libm calls, no
//    loops, no early returns, no tables indexed by data;
//  * float <-> int reinterpretation only through __builtin_bit_cast, with int32 lanes
//    for float and int64 lanes for double (same vector width), and for double only
//    add/sub/and/or/logical shifts (no int64 compares, arithmetic shifts or
//    int64<->double conversions, which SSE2/AVX2 lack);
//  * round-to-integer with the magic-number trick: (v + 1.5*2^mant) leaves rint(v) as
//    an integer in the low mantissa bits, and (v + M) - M is rint(v) as a float.
//    Valid for |v| < 2^22 (float) / 2^51 (double); arguments are clamped first.
// The code is correct with or without FMA contraction (-std=c++17 vs gnu++17): every
// step that must be exact (Cody-Waite products, Sterbenz differences) is exact either
// way. std::fma is not used: without -mfma it is a libm call.
//
// Both float and double are implemented (no forwarding to std::), with the same
// algorithms; double uses longer polynomials. Accuracy (tests/cpp/test_vec_math.cpp):
// float <= ~2 ulp, double <= ~2 ulp (well inside the 1e-14 relative target); trig is
// accurate for |x| < 5.1e4 (float) / 1.6e6 (double) and only finite, in [-1,1], beyond.
// Polynomial coefficients are weighted minimax fits (Lawson/Chebyshev, mpmath).
//
// Functions are always_inline (a call would stop vectorisation) and, when compiled as
// part of a per-ISA kernel TU, live in an inline namespace named after the capability,
// so the AVX-512 copy of a function can never be linked into the SSE2 kernels (ODR).
#include <cstdint>
#include <limits>
#include <type_traits>
#include <cmath>

#if defined(__GNUC__) || defined(__clang__)
#define TG_VM_INLINE inline __attribute__((always_inline))
#else
#define TG_VM_INLINE inline
#endif

namespace tg::vecmath {
#ifdef TG_CPU_CAPABILITY
inline namespace TG_CPU_CAPABILITY {
#endif
namespace detail {

// ---- bit helpers ---------------------------------------------------------------------
TG_VM_INLINE uint32_t bits(float x) { return __builtin_bit_cast(uint32_t, x); }
TG_VM_INLINE uint64_t bits(double x) { return __builtin_bit_cast(uint64_t, x); }
TG_VM_INLINE float as_float(uint32_t i) { return __builtin_bit_cast(float, i); }
TG_VM_INLINE double as_double(uint64_t i) { return __builtin_bit_cast(double, i); }
// Odd functions (sin, tan, tanh, erf) are computed at |x| and the sign bit of x is
// xor-ed in at the end: r + r^3 P(r^2) with P(0) < 0 would turn -0 into +0.
TG_VM_INLINE float flip_sign(float v, float x) { return as_float(bits(v) ^ (bits(x) & 0x80000000u)); }
TG_VM_INLINE double flip_sign(double v, double x) {
  return as_double(bits(v) ^ (bits(x) & 0x8000000000000000ull));
}

constexpr float kInfF = std::numeric_limits<float>::infinity();
constexpr float kNanF = std::numeric_limits<float>::quiet_NaN();
constexpr double kInfD = std::numeric_limits<double>::infinity();
constexpr double kNanD = std::numeric_limits<double>::quiet_NaN();
constexpr float kMagicF = 12582912.0f;           // 0x1.8p23
constexpr double kMagicD = 6755399441055744.0;   // 0x1.8p52

// =====================================================================================
// float
// =====================================================================================

// exp: x = n*ln2 + r, |r| <= ln2/2, n = rint(x/ln2); ln2 = 0.693359375 (9 bits, so n*hi is
// exact for |n| <= 150) + lo; the rounding error rl of r is carried into the
// polynomial. e^r = 1 + r + r^2 P(r). 2^n is applied in two halves so that
// n = 128 overflows to inf and n < -126 underflows gradually (correctly rounded).
TG_VM_INLINE float exp_f(float x) {
  float xc = x > 89.0f ? 89.0f : x;     // exp(89) = inf in float anyway
  xc = xc < -104.0f ? -104.0f : xc;     // exp(-104) rounds to 0; NaN passes both
  const float t = xc * 1.44269502f + kMagicF;
  const float n = t - kMagicF;
  const int32_t ni = int32_t(bits(t) - bits(kMagicF));  // n in [-150, 128]
  const float r1 = xc - n * 0.693359375f;           // exact
  const float nb = n * 2.12194442e-4f;               // n * (0.693359375 - ln2)
  const float r = r1 + nb;
  const float rl = (r1 - r) + nb;                    // rounding error of r (Fast2Sum)
  float p = 0.0013814605f;
  p = p * r + 0.008368711f;
  p = p * r + 0.04166839f;
  p = p * r + 0.16666521f;
  p = p * r + 0.49999994f;
  p = 1.0f + (r + ((r * r) * p + rl));
  const int32_t n1 = ni >> 1, n2 = ni - n1;  // both in [-75, 64]
  const float s1 = as_float(uint32_t(n1 + 127) << 23);
  const float s2 = as_float(uint32_t(n2 + 127) << 23);
  return p * s1 * s2;
}

// log core for finite normal u > 0: u = 2^k m, m in [sqrt(1/2), sqrt(2)), f = m - 1
// (exact), log(u) = k*ln2 + f - f^2/2 + f^3 P(f). `corr` is a small term added before
// the large k*ln2_hi (log1p's rounding correction). kadj compensates pre-scaling.
TG_VM_INLINE float log_core_f(float u, float kadj, float corr) {
  const uint32_t ix = bits(u) - 0x3f3504f3u;  // bits of sqrt(1/2)
  const int32_t k = int32_t(ix) >> 23;
  const float m = as_float((ix & 0x007fffffu) + 0x3f3504f3u);
  const float f = m - 1.0f;
  const float kf = float(k) + kadj;
  const float z = f * f;
  float p = -0.07634075f;
  p = p * f + 0.12761408f;
  p = p * f + -0.13160262f;
  p = p * f + 0.14201787f;
  p = p * f + -0.16623352f;
  p = p * f + 0.20001225f;
  p = p * f + -0.25000823f;
  p = p * f + 0.3333333f;
  float y = (z * f) * p + (kf * -2.12194442e-4f + corr);
  y = y - 0.5f * z;
  return (f + y) + kf * 0.693359375f;
}

TG_VM_INLINE float log_f(float x) {
  const bool sub = x < 1.17549435e-38f;        // denormal (or <= 0): renormalise by 2^23
  const float xs = sub ? x * 8388608.0f : x;
  float r = log_core_f(xs, sub ? -23.0f : 0.0f, 0.0f);
  r = x == kInfF ? kInfF : r;
  r = x == 0.0f ? -kInfF : r;
  return !(x >= 0.0f) ? kNanF : r;             // x < 0 or NaN
}

// log1p(x) = log(u) + c/u with u = fl(1 + x) and c = (1 + x) - u computed exactly
// (Sterbenz in both branches), so tiny x gives x and no bits of x are lost.
TG_VM_INLINE float log1p_f(float x) {
  const float u = 1.0f + x;
  const float c = u > 2.0f ? 1.0f - (u - x) : x - (u - 1.0f);
  float r = log_core_f(u, 0.0f, c / u);
  r = x == kInfF ? kInfF : r;
  r = x == -1.0f ? -kInfF : r;
  r = x == 0.0f ? x : r;                       // keeps -0
  return !(x >= -1.0f) ? kNanF : r;            // x < -1 or NaN
}

// sin/cos/tan: j = rint(x*2/pi), r = x - j*pi/2 by Cody-Waite with pi/2 split into
// four parts of <= 9 significant bits (j*part exact for |j| < 2^15, i.e. |x| < 5.1e4)
// plus a float tail (residual 2e-21). r1, r2 are exact; the two following subtractions
// are exact whenever r is tiny (the cancellation case) and otherwise their rounding
// errors are recovered by Fast2Sum, so r = rh + rl to ~2^-48 relative (a single float
// r would add up to 1 ulp, a rounded j*tail up to 4e-7 relative near zeros of sin/cos).
// The polynomials are evaluated at rh and corrected to first order in rl. Polynomials are fitted on |r| <= pi/4 + 6.5e-3
// (x*2/pi is rounded in float, so r can exceed pi/4 by up to 6.1e-3 for |x| < 5.1e4).
// Accuracy degrades above 5.1e4; up to 2^19 |r| stays < 0.9, so results stay finite and
// within [-1,1]. From 2^19 on the reduction means nothing in float and the argument is
// replaced by 0 (sin 0, cos 1), or by NaN for inf/NaN (ax - ax). Called with |x|;
// nrl = -rl.
struct TrigRedF {
  float rh, nrl;
  uint32_t q;  // quadrant (low 2 bits meaningful)
};
TG_VM_INLINE TrigRedF trig_reduce_f(float ax) {
  const float x = ax < 524288.0f ? ax : ax - ax;
  const float t = x * 0.636619747f + kMagicF;
  const float j = t - kMagicF;
  const uint32_t q = bits(t) - bits(kMagicF);
  const float r1 = x - j * 0x1.92p+0f;              // exact; 1.5703125
  const float r2 = r1 - j * 0x1.fbp-12f;            // exact; 4.83512878e-4
  const float p3 = j * 0x1.51p-22f;                 // exact; 3.13855708e-7
  const float p4 = j * 0x1.0bp-34f;                 // exact; 6.07087713e-11
  const float r3 = r2 - p3;
  const float e3 = (r2 - r3) - p3;
  const float rh = r3 - p4;
  const float e4 = (r3 - rh) - p4;
  const float nrl = j * 0x1.184698p-44f - (e3 + e4);  // tail 6.22337197e-14
  return {rh, nrl, q};
}
// sin(rh + rl) ~ sin rh + rl cos rh, cos(rh + rl) ~ cos rh - rl sin rh (rl folded into
// the small terms before the final rounding). Quadrant q: q&1 picks cos, q&2 flips the
// sign; bitwise blend, no compares needed. ax >= 0.
TG_VM_INLINE float sincos_f(float ax, uint32_t qoff) {
  const TrigRedF red = trig_reduce_f(ax);
  const float r = red.rh, z = r * r;
  float ps = -0.00019509863f;
  ps = ps * z + 0.008332121f;
  ps = ps * z + -0.16666654f;
  float pc = 2.4426932e-05f;
  pc = pc * z + -0.0013887263f;
  pc = pc * z + 0.041666646f;
  const float s_small = (r * z) * ps, c_small = z * z * pc - 0.5f * z;
  const uint32_t s = bits(r + (s_small - red.nrl * (1.0f + c_small)));
  const uint32_t c = bits(1.0f + (c_small + red.nrl * (r + s_small)));
  const uint32_t q = red.q + qoff;
  const uint32_t pick_cos = 0u - (q & 1u);
  return as_float(((s & ~pick_cos) | (c & pick_cos)) ^ ((q & 2u) << 30));
}
TG_VM_INLINE float tan_f(float ax) {
  const TrigRedF red = trig_reduce_f(ax);
  const float r = red.rh, z = r * r;
  float p = 0.004466839f;
  p = p * z + -9.053946e-05f;
  p = p * z + 0.0109749045f;
  p = p * z + 0.021229744f;
  p = p * z + 0.05406982f;
  p = p * z + 0.13332579f;
  p = p * z + 0.33333352f;
  const float t_small = (r * z) * p, th = r + t_small;
  const float t = r + (t_small - red.nrl * (1.0f + th * th));  // tan' = 1 + tan^2
  return (red.q & 1u) ? -1.0f / t : t;             // tan(r + pi/2) = -1/tan(r)
}

// tanh: |x| < 0.625 odd polynomial (relative accuracy near 0, keeps -0);
// otherwise (1 - e)/(1 + e), e = exp(-2|x|) in (0, 0.29]: no cancellation, and e
// underflows to 0 for large |x| so the result is exactly +-1 (inf included).
TG_VM_INLINE float tanh_f(float x) {
  const float ax = std::fabs(x);
  const float z = ax * ax;
  float p = -0.005704953f;
  p = p * z + 0.020639054f;
  p = p * z + -0.053739704f;
  p = p * z + 0.13331442f;
  p = p * z + -0.3333328f;
  const float small = ax + (ax * z) * p;
  const float e = exp_f(-2.0f * ax);
  const float big = (1.0f - e) / (1.0f + e);
  return flip_sign(ax < 0.625f ? small : big, x);
}

// erf: |x| < 1: x + x P(x^2). Else 1 - exp(-a^2) R(a), R ~ erfcx on [1, 4] as a
// polynomial in a - 2.5; a is clamped to 4 where erf == 1 in float. The rounding of
// a^2 only perturbs erfc relatively, i.e. erf by < 1e-8 relative.
TG_VM_INLINE float erf_f(float x) {
  const float ax = std::fabs(x);
  const float z = ax * ax;
  float p = 7.853776e-05f;
  p = p * z + -0.0008010168f;
  p = p * z + 0.005188325f;
  p = p * z + -0.026853811f;
  p = p * z + 0.112835854f;
  p = p * z + -0.37612626f;
  p = p * z + 0.12837917f;
  const float small = ax + ax * p;
  const float a = ax > 4.0f ? 4.0f : ax;       // NaN passes
  const float u = a - 2.5f;
  float q = 0.00010815509f;
  q = q * u + 0.00023204781f;
  q = q * u + 0.00055693643f;
  q = q * u + -0.00065075106f;
  q = q * u + 0.0023019286f;
  q = q * u + -0.008137306f;
  q = q * u + 0.02491239f;
  q = q * u + -0.07434232f;
  q = q * u + 0.21080765f;
  const float big = 1.0f - exp_f(-(a * a)) * q;
  return flip_sign(ax < 1.0f ? small : big, x);
}

// sigmoid: e = exp(-|x|) in (0, 1], never overflows; x >= 0: 1/(1+e), x < 0: e/(1+e)
// (keeps tiny results like sigmoid(-100) = 3.7e-44 instead of 0 or NaN). The rounding
// error dl of d = 1 + e (Fast2Sum) is removed to first order: q/(1 + dl/d), with
// 1/d ~ 2 - d (d in [1, 2]); without it the result is off by up to 2.3 ulp.
TG_VM_INLINE float sigmoid_f(float x) {
  const float e = exp_f(-std::fabs(x));
  const float d = 1.0f + e;
  const float dl = (1.0f - d) + e;
  const float q = (x >= 0.0f ? 1.0f : e) / d;
  return q - q * (dl * (2.0f - d));
}

// =====================================================================================
// double: same algorithms, longer polynomials. All int64 work is add/sub/and/or and
// logical shifts; integer <-> double goes through the magic constants.
// =====================================================================================

// exp: ln2 = hi (32 bits, n*hi exact for |n| < 2^21) + lo; e^r = 1 + r + r^2 P(r),
// degree 11. 2^n is applied in two halves n1 = rint(n/2), n2 = n - n1 (exact, via magic).
TG_VM_INLINE double exp_d(double x) {
  double xc = x > 710.0 ? 710.0 : x;           // exp(710) = inf
  xc = xc < -746.0 ? -746.0 : xc;              // exp(-746) rounds to 0; NaN passes
  const double n = (xc * 1.4426950408889634 + kMagicD) - kMagicD;
  double r = xc - n * 0.6931471803691238;
  r = r - n * 1.9082149292705877e-10;
  double p = 2.5000089460940736e-08;
  p = p * r + 2.763023612384791e-07;
  p = p * r + 2.755758622438615e-06;
  p = p * r + 2.480149312959595e-05;
  p = p * r + 0.00019841269506807666;
  p = p * r + 0.001388888894360451;
  p = p * r + 0.008333333333494333;
  p = p * r + 0.04166666666653024;
  p = p * r + 0.16666666666666413;
  p = p * r + 0.5000000000000011;
  p = 1.0 + (r + (r * r) * p);
  const double t1 = n * 0.5 + kMagicD;         // n in [-1077, 1025] -> halves in [-539, 513]
  const double n1 = t1 - kMagicD;
  const double t2 = (n - n1) + kMagicD;
  const double s1 = as_double((bits(t1) - bits(kMagicD) + 1023u) << 52);
  const double s2 = as_double((bits(t2) - bits(kMagicD) + 1023u) << 52);
  return p * s1 * s2;
}

// log core (fdlibm e_log): u = 2^k m, m in [sqrt(1/2), sqrt(2)), f = m - 1,
// s = f/(2+f), log(1+f) = f - f^2/2 + s (f^2/2 + R(s^2)).
TG_VM_INLINE double log_core_d(double u, double kadj, double corr) {
  const uint64_t ix = bits(u) + (0x3ff0000000000000ull - 0x3fe6a09e667f3bcdull);
  const uint64_t kb = ix >> 52;                                   // k + 1023, >= 0
  const double m = as_double((ix & 0x000fffffffffffffull) + 0x3fe6a09e667f3bcdull);
  const double kd = (as_double(0x4330000000000000ull | kb) - (4503599627370496.0 + 1023.0)) + kadj;
  const double f = m - 1.0;
  const double s = f / (2.0 + f);
  const double z = s * s;
  double R = 0.14795955222271723;
  R = R * z + 0.1531404995529548;
  R = R * z + 0.18183564351682308;
  R = R * z + 0.22222198572635768;
  R = R * z + 0.28571428742393745;
  R = R * z + 0.3999999999941465;
  R = R * z + 0.6666666666666734;
  R = R * z;
  const double hfsq = 0.5 * f * f;
  return kd * 0.6931471803691238 -
         ((hfsq - (s * (hfsq + R) + (kd * 1.9082149292705877e-10 + corr))) - f);
}

TG_VM_INLINE double log_d(double x) {
  const bool sub = x < 2.2250738585072014e-308;
  const double xs = sub ? x * 18014398509481984.0 : x;  // 2^54
  double r = log_core_d(xs, sub ? -54.0 : 0.0, 0.0);
  r = x == kInfD ? kInfD : r;
  r = x == 0.0 ? -kInfD : r;
  return !(x >= 0.0) ? kNanD : r;
}

TG_VM_INLINE double log1p_d(double x) {
  const double u = 1.0 + x;
  const double c = u > 2.0 ? 1.0 - (u - x) : x - (u - 1.0);
  double r = log_core_d(u, 0.0, c / u);
  r = x == kInfD ? kInfD : r;
  r = x == -1.0 ? -kInfD : r;
  r = x == 0.0 ? x : r;
  return !(x >= -1.0) ? kNanD : r;
}

// pi/2 = p1 + p2 + p3 + p3t (fdlibm's 33-bit parts): j*p1 and j*p2 exact for
// |j| < 2^20 (|x| < 1.6e6); r = rh + rl as in the float version. |x| >= 2^48 is
// replaced by 0 (NaN for inf/NaN); below, |r| < 0.9 so results stay finite and within
// [-1,1]. Called with |x|.
struct TrigRedD {
  double rh, nrl;
  uint64_t q;
};
TG_VM_INLINE TrigRedD trig_reduce_d(double ax) {
  const double x = ax < 281474976710656.0 ? ax : ax - ax;  // 2^48
  const double t = x * 0.6366197723675814 + kMagicD;
  const double j = t - kMagicD;
  const uint64_t q = bits(t) - bits(kMagicD);
  const double r1 = x - j * 1.5707963267341256;           // exact
  const double p2 = j * 6.077100506303966e-11;            // exact
  const double rh = r1 - p2;
  const double nrl = (j * 2.0222662487111665e-21 - ((r1 - rh) - p2)) + j * 8.4784276603689e-32;
  return {rh, nrl, q};
}
// sin and cos of rh + rl, as in sincos_f; *s / *c receive the bit patterns.
TG_VM_INLINE void sincos_core_d(const TrigRedD& red, uint64_t* s, uint64_t* c) {
  const double r = red.rh, z = r * r;
  double ps = 1.5896218585724348e-10;
  ps = ps * z + -2.5050747540038243e-08;
  ps = ps * z + 2.7557313619764247e-06;
  ps = ps * z + -0.00019841269829584053;
  ps = ps * z + 0.00833333333332211;
  ps = ps * z + -0.1666666666666663;
  double pc = -1.1358535217293165e-11;
  pc = pc * z + 2.0875700814528125e-09;
  pc = pc * z + -2.755731417907397e-07;
  pc = pc * z + 2.480158728885084e-05;
  pc = pc * z + -0.0013888888888873056;
  pc = pc * z + 0.041666666666666595;
  const double s_small = (r * z) * ps, c_small = z * z * pc - 0.5 * z;
  *s = bits(r + (s_small - red.nrl * (1.0 + c_small)));
  *c = bits(1.0 + (c_small + red.nrl * (r + s_small)));
}
TG_VM_INLINE double sincos_d(double ax, uint64_t qoff) {
  const TrigRedD red = trig_reduce_d(ax);
  uint64_t s, c;
  sincos_core_d(red, &s, &c);
  const uint64_t q = red.q + qoff;
  const uint64_t pick_cos = 0u - (q & 1u);
  return as_double(((s & ~pick_cos) | (c & pick_cos)) ^ ((q & 2u) << 62));
}
// tan = sin(r)/cos(r), or -cos(r)/sin(r) in odd quadrants (bitwise operand swap).
TG_VM_INLINE double tan_d(double ax) {
  const TrigRedD red = trig_reduce_d(ax);
  uint64_t s, c;
  sincos_core_d(red, &s, &c);
  const uint64_t odd = 0u - (red.q & 1u);
  const double num = as_double(((s & ~odd) | (c & odd)) ^ (odd & 0x8000000000000000ull));
  const double den = as_double((c & ~odd) | (s & odd));
  return num / den;
}

TG_VM_INLINE double tanh_d(double x) {
  const double ax = std::fabs(x);
  const double z = ax * ax;
  double p = -1.6072488724326516e-05;
  p = p * z + 7.714419121534501e-05;
  p = p * z + -0.00022856404671712946;
  p = p * z + 0.0005863164531209568;
  p = p * z + -0.0014549588491943807;
  p = p * z + 0.0035919891676924496;
  p = p * z + -0.00886322100179168;
  p = p * z + 0.02186948757602267;
  p = p * z + -0.053968253931264094;
  p = p * z + 0.13333333333262082;
  p = p * z + -0.33333333333332854;
  const double small = ax + (ax * z) * p;
  const double e = exp_d(-2.0 * ax);
  const double big = (1.0 - e) / (1.0 + e);
  return flip_sign(ax < 0.625 ? small : big, x);
}

// erf: |x| < 1: x + x P(x^2) (degree 11). Else 1 - exp(-a^2) R(t), R ~ erfcx as a
// polynomial in t = (a-3)/(a+3) on a in [1, 6]; erf == 1 in double beyond 6.
TG_VM_INLINE double erf_d(double x) {
  const double ax = std::fabs(x);
  const double z = ax * ax;
  double p = -7.779462812515618e-10;
  p = p * z + 1.3710977257886986e-08;
  p = p * z + -1.6206313007913157e-07;
  p = p * z + 1.6447131469820256e-06;
  p = p * z + -1.4924712293486805e-05;
  p = p * z + 0.0001205529357644023;
  p = p * z + -0.0008548325929298499;
  p = p * z + 0.0052239776061181265;
  p = p * z + -0.026866170643111423;
  p = p * z + 0.11283791670944185;
  p = p * z + -0.3761263890318352;
  p = p * z + 0.12837916709551256;
  const double small = ax + ax * p;
  const double a = ax > 6.0 ? 6.0 : ax;
  const double t = (a - 3.0) / (a + 3.0);
  double q = 1.5273908089229844e-05;
  q = q * t + 0.000103164902651195;
  q = q * t + 7.667375028070073e-05;
  q = q * t + -0.0005808831325075668;
  q = q * t + 0.0007132728825104708;
  q = q * t + 0.004270383103313334;
  q = q * t + -0.02439232229410227;
  q = q * t + 0.07166585075950614;
  q = q * t + -0.15011593631075792;
  q = q * t + 0.2456038016639933;
  q = q * t + -0.3262335600460012;
  q = q * t + 0.17900115118135146;
  const double big = 1.0 - exp_d(-(a * a)) * q;
  return flip_sign(ax < 1.0 ? small : big, x);
}

TG_VM_INLINE double sigmoid_d(double x) {
  const double e = exp_d(-std::fabs(x));
  return (x >= 0.0 ? 1.0 : e) / (1.0 + e);
}

// ---- overload sets used by the public templates ------------------------------------
TG_VM_INLINE float exp_(float x) { return exp_f(x); }
TG_VM_INLINE double exp_(double x) { return exp_d(x); }
TG_VM_INLINE float log_(float x) { return log_f(x); }
TG_VM_INLINE double log_(double x) { return log_d(x); }
TG_VM_INLINE float log1p_(float x) { return log1p_f(x); }
TG_VM_INLINE double log1p_(double x) { return log1p_d(x); }
TG_VM_INLINE float sin_(float x) { return flip_sign(sincos_f(std::fabs(x), 0u), x); }
TG_VM_INLINE double sin_(double x) { return flip_sign(sincos_d(std::fabs(x), 0u), x); }
TG_VM_INLINE float cos_(float x) { return sincos_f(std::fabs(x), 1u); }  // cos x = sin(x + pi/2)
TG_VM_INLINE double cos_(double x) { return sincos_d(std::fabs(x), 1u); }
TG_VM_INLINE float tan_(float x) { return flip_sign(tan_f(std::fabs(x)), x); }
TG_VM_INLINE double tan_(double x) { return flip_sign(tan_d(std::fabs(x)), x); }
TG_VM_INLINE float tanh_(float x) { return tanh_f(x); }
TG_VM_INLINE double tanh_(double x) { return tanh_d(x); }
TG_VM_INLINE float erf_(float x) { return erf_f(x); }
TG_VM_INLINE double erf_(double x) { return erf_d(x); }
TG_VM_INLINE float sigmoid_(float x) { return sigmoid_f(x); }
TG_VM_INLINE double sigmoid_(double x) { return sigmoid_d(x); }

template <typename T>
constexpr bool kSupported = std::is_same_v<T, float> || std::is_same_v<T, double>;

}  // namespace detail

// ---- public interface: T = float or double ----------------------------------------
#define TG_VM_DEFINE(name)                                                      \
  template <typename T>                                                         \
  TG_VM_INLINE T name(T x) {                                                    \
    static_assert(detail::kSupported<T>, "tg::vecmath: T must be float or double"); \
    return detail::name##_(x);                                                  \
  }
TG_VM_DEFINE(exp)
TG_VM_DEFINE(log)
TG_VM_DEFINE(log1p)
TG_VM_DEFINE(sin)
TG_VM_DEFINE(cos)
TG_VM_DEFINE(tan)
TG_VM_DEFINE(tanh)
TG_VM_DEFINE(erf)
TG_VM_DEFINE(sigmoid)
#undef TG_VM_DEFINE

#ifdef TG_CPU_CAPABILITY
}  // inline namespace TG_CPU_CAPABILITY
#endif
}  // namespace tg::vecmath
