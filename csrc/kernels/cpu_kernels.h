#pragma once
// The table of loops that cpu_kernels.cpp provides once per CPU capability.
#include "kernels/kernels.h"
#include "kernels/loop.h"
#include "kernels/optimizer.h"

namespace tg::kernels {

struct CpuKernels {
  const char* capability;
  void (*unary)(UnaryOp, DType, const Loop&, int64_t begin, int64_t end, UnaryParams);
  void (*binary)(BinaryOp, DType, const Loop&, int64_t begin, int64_t end, UnaryParams);
  void (*where)(DType, const Loop&, int64_t begin, int64_t end);
  void (*copy)(DType src, DType dst, const Loop&, int64_t begin, int64_t end);
  // op 0 is the output (stride 0 along reduced dims), op 1 the input.
  void (*reduce)(ReduceOp, DType, const Loop&, int64_t begin, int64_t end);
  // optimizer.cpp: one parameter's update (optimizer.h)
  decltype(&kernels::sgd_update) sgd;
  decltype(&kernels::adam_update) adam;
  decltype(&kernels::rmsprop_update) rmsprop;
  decltype(&kernels::adagrad_update) adagrad;
};

// Each capability's copies: cpu_kernels.cpp defines the table, optimizer.cpp the updates.
#define TG_KERNELS_OF_CAPABILITY                    \
  extern const CpuKernels table;                    \
  decltype(kernels::sgd_update) sgd_update;         \
  decltype(kernels::adam_update) adam_update;       \
  decltype(kernels::rmsprop_update) rmsprop_update; \
  decltype(kernels::adagrad_update) adagrad_update;
namespace DEFAULT { TG_KERNELS_OF_CAPABILITY }
namespace AVX2 { TG_KERNELS_OF_CAPABILITY }
namespace AVX512 { TG_KERNELS_OF_CAPABILITY }
#undef TG_KERNELS_OF_CAPABILITY

// The table for the CPU this process runs on.
const CpuKernels& cpu();

}  // namespace tg::kernels
