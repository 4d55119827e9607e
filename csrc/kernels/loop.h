#pragma once
// The geometry of one elementwise or reduction loop: up to four operands walked over
// a common shape with per-operand element strides (0 where an operand broadcasts).
// Built once per op by make_loop (dims of size 1 dropped, mergeable dims merged), then
// walked in row segments so the innermost loop is a plain, vectorisable for-loop.
#include <algorithm>
#include <cstdint>

#include "tensor/tensor.h"

namespace tg::kernels {

constexpr int kMaxOperands = 4;

struct Loop {
  int nops = 0;
  Shape shape;                          // iteration shape, at least 1-D
  Shape strides[kMaxOperands];          // element strides per operand
  char* base[kMaxOperands] = {};
  int itemsize[kMaxOperands] = {};

  int ndim() const { return int(shape.size()); }
  int64_t numel() const { int64_t n = 1; for (int64_t s : shape) n *= s; return n; }
};

// Walk linear positions [begin, end) of L's iteration space in row segments:
// seg(ptrs, inner_strides, count) where ptrs are the segment's start addresses.
template <typename Seg>
inline void for_each_segment(const Loop& L, int64_t begin, int64_t end, Seg&& seg) {
  const int nd = L.ndim();
  const int nops = L.nops;
  int64_t idx[64];
  if (nd == 1) {
    idx[0] = begin;  // the common, flat case: no 64-bit divisions
  } else {
    int64_t rem = begin;
    for (int d = nd - 1; d >= 0; --d) { idx[d] = rem % L.shape[d]; rem /= L.shape[d]; }
  }
  int64_t inner_stride[kMaxOperands];
  for (int k = 0; k < nops; ++k) inner_stride[k] = L.strides[k][nd - 1];
  const int64_t inner = L.shape[nd - 1];
  while (begin < end) {
    char* ptrs[kMaxOperands];
    for (int k = 0; k < nops; ++k) {
      int64_t off = 0;
      for (int d = 0; d < nd; ++d) off += idx[d] * L.strides[k][d];
      ptrs[k] = L.base[k] + off * L.itemsize[k];
    }
    int64_t count = std::min(inner - idx[nd - 1], end - begin);
    seg(ptrs, inner_stride, count);
    begin += count;
    idx[nd - 1] += count;
    for (int d = nd - 1; d > 0 && idx[d] >= L.shape[d]; --d) { idx[d] = 0; ++idx[d - 1]; }
  }
}

}  // namespace tg::kernels
