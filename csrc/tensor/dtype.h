#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

namespace tg {

enum class DType : uint8_t { Float32 = 0, Float64 = 1, Int64 = 2, Bool = 3 };
constexpr int kNumDTypes = 4;

inline size_t itemsize(DType d) {
  switch (d) {
    case DType::Float32: return 4;
    case DType::Float64: return 8;
    case DType::Int64: return 8;
    case DType::Bool: return 1;
  }
  return 0;
}
inline const char* dtype_name(DType d) {
  switch (d) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Int64: return "int64";
    case DType::Bool: return "bool";
  }
  return "?";
}
inline bool is_floating(DType d) { return d == DType::Float32 || d == DType::Float64; }

// Promotion categories as PyTorch orders them: bool < integer < floating.
inline int category(DType d) { return d == DType::Bool ? 0 : d == DType::Int64 ? 1 : 2; }

inline DType promote_types(DType a, DType b) {
  if (a == b) return a;
  if (category(a) != category(b)) return category(a) > category(b) ? a : b;
  return DType::Float64;  // the only same-category pair that differs: float32 vs float64
}

// Smallest floating type that holds d (int and bool compute as the default float32).
inline DType to_floating(DType d) { return is_floating(d) ? d : DType::Float32; }

// Call f with a value of the C++ type for d: visit_dtype(d, [&](auto tag) { using T = decltype(tag); ... }).
template <typename F>
decltype(auto) visit_dtype(DType d, F&& f) {
  switch (d) {
    case DType::Float32: return f(float{});
    case DType::Float64: return f(double{});
    case DType::Int64: return f(int64_t{});
    case DType::Bool: return f(bool{});
  }
  return f(float{});
}
template <typename F>
decltype(auto) visit_floating(DType d, F&& f) {
  if (d == DType::Float64) return f(double{});
  return f(float{});
}

template <typename T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::Float32; }
template <> constexpr DType dtype_of<double>() { return DType::Float64; }
template <> constexpr DType dtype_of<int64_t>() { return DType::Int64; }
template <> constexpr DType dtype_of<bool>() { return DType::Bool; }

}  // namespace tg
