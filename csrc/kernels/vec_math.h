#pragma once
// Elementwise math written so that GCC vectorises the loops that call it.
// (Placeholder: std:: functions; replaced by branch-free polynomial versions.)
#include <cmath>

namespace tg::vecmath {

template <typename T> inline T exp(T x) { return std::exp(x); }
template <typename T> inline T log(T x) { return std::log(x); }
template <typename T> inline T log1p(T x) { return std::log1p(x); }
template <typename T> inline T sin(T x) { return std::sin(x); }
template <typename T> inline T cos(T x) { return std::cos(x); }
template <typename T> inline T tan(T x) { return std::tan(x); }
template <typename T> inline T tanh(T x) { return std::tanh(x); }
template <typename T> inline T erf(T x) { return std::erf(x); }
template <typename T> inline T sigmoid(T x) { return T(1) / (T(1) + std::exp(-x)); }

}  // namespace tg::vecmath
