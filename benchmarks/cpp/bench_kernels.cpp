// Google Benchmark programs for the C++ core: raw kernels on preallocated outputs,
// the same ops through csrc/ops (allocation + dispatch included), a reduction, a
// BLAS matmul and the W1 scalar chain (300 ops) forward + backward through the engine.
//
//   cmake -S . -B build/bench -DTAPEGRAD_BUILD_BENCHMARKS=ON -DTAPEGRAD_BUILD_PYTHON=OFF
//   cmake --build build/bench -j && build/bench/benchmarks/cpp/bench_kernels
#include <benchmark/benchmark.h>

#include <random>

#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "kernels/kernels.h"
#include "ops/ops.h"

namespace {

using tg::DType;
using tg::Scalar;
using tg::Shape;
using tg::Tensor;
namespace kernels = tg::kernels;

Tensor random_f32(int64_t n, unsigned seed, float lo = -1.f, float hi = 1.f) {
  Tensor t = Tensor::empty(Shape{n}, DType::Float32);
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  float* p = t.data<float>();
  for (int64_t i = 0; i < n; ++i) p[i] = dist(gen);
  return t;
}

void set_elementwise_counters(benchmark::State& state, int64_t n, int arrays) {
  state.SetItemsProcessed(state.iterations() * n);
  state.SetBytesProcessed(state.iterations() * n * arrays * int64_t(sizeof(float)));
}

// ---- kernels on preallocated outputs ----------------------------------------------------

void BM_KernelMul(benchmark::State& state) {
  const int64_t n = state.range(0);
  Tensor a = random_f32(n, 1), b = random_f32(n, 2), out = Tensor::empty(Shape{n}, DType::Float32);
  for (auto _ : state) {
    kernels::binary(kernels::BinaryOp::Mul, a, b, out);
    benchmark::DoNotOptimize(out.raw_data());
  }
  set_elementwise_counters(state, n, 3);
}

void BM_KernelAdd(benchmark::State& state) {
  const int64_t n = state.range(0);
  Tensor a = random_f32(n, 3), b = random_f32(n, 4), out = Tensor::empty(Shape{n}, DType::Float32);
  for (auto _ : state) {
    kernels::binary(kernels::BinaryOp::Add, a, b, out);
    benchmark::DoNotOptimize(out.raw_data());
  }
  set_elementwise_counters(state, n, 3);
}

void BM_KernelTanh(benchmark::State& state) {
  const int64_t n = state.range(0);
  Tensor a = random_f32(n, 5, -3.f, 3.f), out = Tensor::empty(Shape{n}, DType::Float32);
  for (auto _ : state) {
    kernels::unary(kernels::UnaryOp::Tanh, a, out);
    benchmark::DoNotOptimize(out.raw_data());
  }
  set_elementwise_counters(state, n, 2);
}

// ---- the same through the ops (new output each call, no autograd) -----------------------

void BM_OpMul(benchmark::State& state) {
  const int64_t n = state.range(0);
  Tensor a = random_f32(n, 6), b = random_f32(n, 7);
  for (auto _ : state) benchmark::DoNotOptimize(tg::mul(a, b).raw_data());
  set_elementwise_counters(state, n, 3);
}

void BM_OpAdd(benchmark::State& state) {
  const int64_t n = state.range(0);
  Tensor a = random_f32(n, 8), b = random_f32(n, 9);
  for (auto _ : state) benchmark::DoNotOptimize(tg::add(a, b).raw_data());
  set_elementwise_counters(state, n, 3);
}

void BM_OpTanh(benchmark::State& state) {
  const int64_t n = state.range(0);
  Tensor a = random_f32(n, 10, -3.f, 3.f);
  for (auto _ : state) benchmark::DoNotOptimize(tg::tanh(a).raw_data());
  set_elementwise_counters(state, n, 2);
}

#define ELEMENTWISE_SIZES ->Arg(1)->Arg(256)->Arg(4'000'000)->UseRealTime()
BENCHMARK(BM_KernelMul) ELEMENTWISE_SIZES;
BENCHMARK(BM_KernelAdd) ELEMENTWISE_SIZES;
BENCHMARK(BM_KernelTanh) ELEMENTWISE_SIZES;
BENCHMARK(BM_OpMul) ELEMENTWISE_SIZES;
BENCHMARK(BM_OpAdd) ELEMENTWISE_SIZES;
BENCHMARK(BM_OpTanh) ELEMENTWISE_SIZES;

// ---- reduction and matmul ---------------------------------------------------------------

void BM_KernelSum(benchmark::State& state) {
  const int64_t n = state.range(0);
  Tensor a = random_f32(n, 11), out = Tensor::empty(Shape{1}, DType::Float32);
  for (auto _ : state) {
    kernels::reduce(kernels::ReduceOp::Sum, a, out);
    benchmark::DoNotOptimize(out.raw_data());
  }
  set_elementwise_counters(state, n, 1);
}
BENCHMARK(BM_KernelSum)->Arg(4'000'000)->UseRealTime();

void BM_Matmul(benchmark::State& state) {
  const int64_t n = state.range(0);
  Tensor a = tg::reshape(random_f32(n * n, 12), Shape{n, n});
  Tensor b = tg::reshape(random_f32(n * n, 13), Shape{n, n});
  Tensor out = Tensor::empty(Shape{n, n}, DType::Float32);
  for (auto _ : state) {
    kernels::matmul_2d(a, b, out);
    benchmark::DoNotOptimize(out.raw_data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * double(n) * n * n * double(state.iterations()),
                                                 benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Matmul)->Arg(1024)->UseRealTime()->Unit(benchmark::kMillisecond);

// ---- W1: a 300-op scalar chain through the ops and the engine ---------------------------
// The "s/op" counter is seconds per chain op (printed with an SI prefix: 1.5u = 1.5 µs).

// Op i of the chain is CYCLE[i % 6]: x*0.9, x+0.1, sin(x), x*0.5, exp(x), x-1.0.
Tensor chain(Tensor y, int ops) {
  for (int i = 0; i < ops; ++i) {
    switch (i % 6) {
      case 0: y = tg::mul(y, Scalar::from_double(0.9)); break;
      case 1: y = tg::add(y, Scalar::from_double(0.1)); break;
      case 2: y = tg::sin(y); break;
      case 3: y = tg::mul(y, Scalar::from_double(0.5)); break;
      case 4: y = tg::exp(y); break;
      default: y = tg::sub(y, Scalar::from_double(1.0)); break;
    }
  }
  return y;
}

constexpr int kChainOps = 300;

void BM_ScalarChain300_FwdBwd(benchmark::State& state) {
  Tensor x = Tensor::scalar(0.5, DType::Float32);
  x.impl()->requires_grad = true;
  const Tensor seed = Tensor::scalar(1.0, DType::Float32);
  for (auto _ : state) {
    Tensor loss = tg::sum(chain(x, kChainOps));
    tg::run_backward({tg::gradient_edge(loss)}, {seed}, {}, tg::BackwardOptions{});
    benchmark::DoNotOptimize(x.impl()->autograd->grad.raw_data());
    x.impl()->autograd->grad = Tensor();  // zero_grad (set to None)
  }
  state.counters["s/op"] = benchmark::Counter(double(state.iterations()) * kChainOps,
                                               benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_ScalarChain300_Forward(benchmark::State& state) {
  Tensor x = Tensor::scalar(0.5, DType::Float32);
  tg::GradModeGuard no_grad(false);
  for (auto _ : state) benchmark::DoNotOptimize(tg::sum(chain(x, kChainOps)).raw_data());
  state.counters["s/op"] = benchmark::Counter(double(state.iterations()) * kChainOps,
                                               benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_ScalarChain300_FwdBwd)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ScalarChain300_Forward)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
