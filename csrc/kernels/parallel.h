#pragma once
// A small persistent thread pool for the elementwise and reduction kernels. Work below
// a grain stays on the calling thread; a parallel_for issued from inside another one,
// or while the pool is busy with another caller's work, runs serially.
#include <cstdint>
#include <functional>

namespace tg {

// At most kMaxThreads: each thread is a real OS thread, so an absurd request must be
// refused, not attempted.
constexpr int kMaxThreads = 256;
void set_num_threads(int n);
int get_num_threads();

// Elements per task below which splitting costs more than it saves.
constexpr int64_t kParallelGrain = 32768;

// OpenBLAS starts threads of its own, which would spin against this pool's: matmul_2d
// splits products over this pool instead and calls this before its first product.
void use_single_threaded_blas();

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace tg
