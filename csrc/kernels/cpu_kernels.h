#pragma once
// The table of loops that cpu_kernels.cpp provides once per CPU capability.
#include "kernels/kernels.h"
#include "kernels/loop.h"

namespace tg::kernels {

struct CpuKernels {
  const char* capability;
  void (*unary)(UnaryOp, DType, const Loop&, int64_t begin, int64_t end, UnaryParams);
  void (*binary)(BinaryOp, DType, const Loop&, int64_t begin, int64_t end, UnaryParams);
  void (*where)(DType, const Loop&, int64_t begin, int64_t end);
  void (*copy)(DType src, DType dst, const Loop&, int64_t begin, int64_t end);
  // op 0 is the output (stride 0 along reduced dims), op 1 the input.
  void (*reduce)(ReduceOp, DType, const Loop&, int64_t begin, int64_t end);
};

namespace DEFAULT { extern const CpuKernels table; }
namespace AVX2 { extern const CpuKernels table; }
namespace AVX512 { extern const CpuKernels table; }

// The table for the CPU this process runs on.
const CpuKernels& cpu();

}  // namespace tg::kernels
