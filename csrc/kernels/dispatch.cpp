// Kernel entry points: settle the loop geometry (broadcast strides, merged dims),
// split large loops across threads, and call the loop table for the running CPU.
#include <algorithm>
#include <cstring>
#include <limits>
#include <mutex>
#include <numeric>
#include <random>
#include <vector>

#include <cblas.h>

#include "kernels/cpu_kernels.h"
#include "kernels/kernels.h"
#include "kernels/parallel.h"

namespace tg::kernels {

const CpuKernels& cpu() {
  static const CpuKernels* table = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
      return &AVX512::table;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return &AVX2::table;
    return &DEFAULT::table;
  }();
  return *table;
}

bool is_predicate(UnaryOp op) {
  return op == UnaryOp::IsNan || op == UnaryOp::IsInf || op == UnaryOp::IsFinite || op == UnaryOp::LogicalNot;
}
bool is_comparison(BinaryOp op) { return op >= BinaryOp::Lt && op <= BinaryOp::Ne; }

namespace {

// Operand strides aligned to the iteration shape (right-aligned, 0 where broadcast).
void add_operand(Loop& L, const Tensor& t) {
  const int k = L.nops++;
  const size_t nd = L.shape.size();
  L.strides[k].resize(nd, 0);
  const size_t td = size_t(t.dim());
  for (size_t i = 0; i < td; ++i) {
    const size_t d = nd - td + i;
    L.strides[k][d] = t.shape()[i] == 1 ? 0 : t.strides()[i];
  }
  L.base[k] = static_cast<char*>(t.raw_data());
  L.itemsize[k] = int(itemsize(t.dtype()));
}

void add_scalar_operand(Loop& L, void* value, DType dt) {
  const int k = L.nops++;
  L.strides[k].resize(L.shape.size(), 0);
  L.base[k] = static_cast<char*>(value);
  L.itemsize[k] = int(itemsize(dt));
}

// Drop size-1 dims and merge neighbours that every operand walks as one.
void coalesce(Loop& L) {
  Shape shape;
  Shape strides[kMaxOperands];
  for (size_t d = 0; d < L.shape.size(); ++d) {
    if (L.shape[d] == 1) continue;
    bool merge = !shape.empty();
    for (int k = 0; merge && k < L.nops; ++k)
      merge = strides[k].back() == L.strides[k][d] * L.shape[d];
    if (merge) {
      shape.back() *= L.shape[d];
      for (int k = 0; k < L.nops; ++k) strides[k].back() = L.strides[k][d];
    } else {
      shape.push_back(L.shape[d]);
      for (int k = 0; k < L.nops; ++k) strides[k].push_back(L.strides[k][d]);
    }
  }
  if (shape.empty()) {
    shape.push_back(L.shape.empty() ? 1 : L.numel());
    for (int k = 0; k < L.nops; ++k) strides[k].push_back(0);
  }
  L.shape = std::move(shape);
  for (int k = 0; k < L.nops; ++k) L.strides[k] = std::move(strides[k]);
}

template <typename F>
void run(const Loop& L, F&& body) {
  const int64_t n = L.numel();
  if (n == 0) return;
  if (n <= kParallelGrain) return body(int64_t(0), n);  // small: no std::function on the way
  parallel_for(n, kParallelGrain, [&](int64_t b, int64_t e) { body(b, e); });
}

Loop loop_for(const Tensor& out) {
  Loop L;
  L.shape = out.shape();
  add_operand(L, out);
  return L;
}

// The common small-op case, every operand contiguous with the output's shape: one flat
// segment, without the stride bookkeeping of add_operand and coalesce.
bool flat_loop(Loop& L, const Tensor& out, std::initializer_list<const Tensor*> ins) {
  if (!out.is_contiguous()) return false;
  for (const Tensor* t : ins)
    if (!t->is_contiguous() || t->shape() != out.shape()) return false;
  L.shape.resize(1, out.numel());  // 0 for an empty output: run() then does nothing
  auto add = [&](const Tensor& t) {
    const int k = L.nops++;
    L.strides[k].resize(1, 1);
    L.base[k] = static_cast<char*>(t.raw_data());
    L.itemsize[k] = int(itemsize(t.dtype()));
  };
  add(out);
  for (const Tensor* t : ins) add(*t);
  return true;
}

}  // namespace

void unary(UnaryOp op, const Tensor& in, const Tensor& out, UnaryParams p) {
  Loop L;
  if (!flat_loop(L, out, {&in})) {
    L = loop_for(out);
    add_operand(L, in);
    coalesce(L);
  }
  const DType dt = in.dtype();
  run(L, [&](int64_t b, int64_t e) { cpu().unary(op, dt, L, b, e, p); });
}

void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out, UnaryParams p) {
  Loop L;
  if (!flat_loop(L, out, {&a, &b})) {
    L = loop_for(out);
    add_operand(L, a);
    add_operand(L, b);
    coalesce(L);
  }
  const DType dt = a.dtype();
  run(L, [&](int64_t lo, int64_t hi) { cpu().binary(op, dt, L, lo, hi, p); });
}

void binary_scalar(BinaryOp op, const Tensor& a, Scalar s, bool scalar_first, const Tensor& out, UnaryParams p) {
  alignas(8) char value[8];
  const DType dt = a.dtype();
  visit_dtype(dt, [&](auto tag) { using T = decltype(tag); *reinterpret_cast<T*>(value) = s.as<T>(); });
  Loop L;
  if (flat_loop(L, out, {&a})) {
    add_scalar_operand(L, value, dt);
    if (scalar_first) { std::swap(L.base[1], L.base[2]); std::swap(L.strides[1], L.strides[2]); }
  } else {
    L = loop_for(out);
    if (scalar_first) { add_scalar_operand(L, value, dt); add_operand(L, a); }
    else { add_operand(L, a); add_scalar_operand(L, value, dt); }
    coalesce(L);
  }
  run(L, [&](int64_t lo, int64_t hi) { cpu().binary(op, dt, L, lo, hi, p); });
}

void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  Loop L = loop_for(out);
  add_operand(L, cond);
  add_operand(L, a);
  add_operand(L, b);
  coalesce(L);
  run(L, [&](int64_t lo, int64_t hi) { cpu().where(out.dtype(), L, lo, hi); });
}

void copy(const Tensor& in, const Tensor& out) {
  Loop L = loop_for(out);
  add_operand(L, in);
  coalesce(L);
  run(L, [&](int64_t lo, int64_t hi) { cpu().copy(in.dtype(), out.dtype(), L, lo, hi); });
}

void fill(const Tensor& out, Scalar v) {
  alignas(8) char value[8];
  visit_dtype(out.dtype(), [&](auto tag) { using T = decltype(tag); *reinterpret_cast<T*>(value) = v.as<T>(); });
  Loop L = loop_for(out);
  add_scalar_operand(L, value, out.dtype());
  coalesce(L);
  run(L, [&](int64_t lo, int64_t hi) { cpu().copy(out.dtype(), out.dtype(), L, lo, hi); });
}

namespace {
template <typename T>
T reduce_identity(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return T(0);
    case ReduceOp::Prod: return T(1);
    case ReduceOp::Max:
      return std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::lowest();
    default:
      return std::numeric_limits<T>::has_infinity ? std::numeric_limits<T>::infinity() : std::numeric_limits<T>::max();
  }
}
}  // namespace

namespace {

// A sum along an outer dim adds one row at a time into each output element: a running
// sum, whose rounding error grows with the number of rows (float32, 70,001 rows of 0.1
// summed to 7004.58 instead of 7000.1). Where more than kCascadeRows rows meet in one
// output, the outermost reduced dim is summed in halves into separate partials that are
// then added (pairwise, like PyTorch's cascade sum), so the error grows with log2 of
// the row count. The tree does not depend on the thread count, nor does the result.
constexpr int64_t kCascadeRows = 64;

// Rows the kernel adds one after another into each output element: the reduced dims'
// extents multiplied, except the innermost dim (reduce_row cascades a row itself).
int64_t running_sum_rows(const Loop& L) {
  int64_t rows = 1;
  for (int d = 0; d + 1 < L.ndim(); ++d)
    if (L.strides[0][d] == 0) rows *= L.shape[d];
  return rows;
}

// L with its outermost dim restricted to [b, e).
Loop outer_slice(const Loop& L, int64_t b, int64_t e) {
  Loop S = L;
  S.shape[0] = e - b;
  for (int k = 0; k < L.nops; ++k) S.base[k] += b * L.strides[k][0] * L.itemsize[k];
  return S;
}

// L at index i of its outermost dim, that dim dropped.
Loop outer_index(const Loop& L, int64_t i) {
  Loop S;
  S.nops = L.nops;
  S.shape = Shape(L.shape.begin() + 1, L.shape.end());
  for (int k = 0; k < L.nops; ++k) {
    S.strides[k] = Shape(L.strides[k].begin() + 1, L.strides[k].end());
    S.base[k] = L.base[k] + i * L.strides[k][0] * L.itemsize[k];
    S.itemsize[k] = L.itemsize[k];
  }
  return S;
}

// The output elements L writes, as a loop over the output's own dims; `partial` is a
// buffer laid out like the output from L.base[0] on.
Loop output_positions(const Loop& L, char* partial) {
  Loop A;
  A.nops = 2;
  for (int d = 0; d < L.ndim(); ++d) {
    if (L.strides[0][d] == 0) continue;
    A.shape.push_back(L.shape[d]);
    A.strides[0].push_back(L.strides[0][d]);
    A.strides[1].push_back(L.strides[0][d]);
  }
  A.base[0] = L.base[0];
  A.base[1] = partial;
  A.itemsize[0] = A.itemsize[1] = L.itemsize[0];
  coalesce(A);
  return A;
}

void cascade_sum(DType dt, const Loop& L) {
  if (L.ndim() == 1 || running_sum_rows(L) <= kCascadeRows) {
    cpu().reduce(ReduceOp::Sum, dt, L, 0, L.numel());
    return;
  }
  const int64_t m = L.shape[0];
  if (L.strides[0][0] != 0 || m == 1) {  // an output dim: its slices are independent
    for (int64_t i = 0; i < m; ++i) cascade_sum(dt, outer_index(L, i));
    return;
  }
  // The second half sums into a zeroed partial laid out like the output positions L
  // writes, which is then added in.
  Loop positions = output_positions(L, nullptr);
  int64_t span = 1;
  for (int d = 0; d < positions.ndim(); ++d) span += (positions.shape[d] - 1) * positions.strides[0][d];
  const size_t bytes = size_t(span) * size_t(L.itemsize[0]);
  const Ref<Storage> partial = Storage::allocate(bytes);
  std::memset(partial->data(), 0, bytes);
  positions.base[1] = static_cast<char*>(partial->data());
  const Loop first = outer_slice(L, 0, m / 2);
  Loop second = outer_slice(L, m / 2, m);
  second.base[0] = positions.base[1];
  auto run_half = [&](int64_t h) { cascade_sum(dt, h == 0 ? first : second); };
  if (L.numel() > 2 * kParallelGrain) {
    parallel_for(2, 1, [&](int64_t b, int64_t e) { for (int64_t h = b; h < e; ++h) run_half(h); });
  } else {
    run_half(0);
    run_half(1);
  }
  cpu().reduce(ReduceOp::Sum, dt, positions, 0, positions.numel());
}

}  // namespace

void reduce(ReduceOp op, const Tensor& in, const Tensor& out) {
  const DType dt = in.dtype();
  visit_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, int64_t>) fill(out, Scalar::from_int(reduce_identity<T>(op)));
    else if constexpr (!std::is_same_v<T, bool>) fill(out, Scalar::from_double(double(reduce_identity<T>(op))));
  });
  if (in.numel() == 0) return;

  // Iterate in the input's memory order: innermost dim has the smallest input stride.
  Loop L;
  L.shape = in.shape();
  L.nops = 2;
  L.strides[0].resize(L.shape.size(), 0);
  for (size_t d = 0; d < L.shape.size(); ++d)
    L.strides[0][d] = out.shape()[d] == 1 ? 0 : out.strides()[d];
  L.strides[1] = in.strides();
  L.base[0] = static_cast<char*>(out.raw_data());
  L.base[1] = static_cast<char*>(in.raw_data());
  L.itemsize[0] = L.itemsize[1] = int(itemsize(dt));
  {
    std::vector<size_t> order(L.shape.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
      return std::abs(L.strides[1][x]) > std::abs(L.strides[1][y]);
    });
    Loop R = L;
    for (size_t i = 0; i < order.size(); ++i) {
      R.shape[i] = L.shape[order[i]];
      R.strides[0][i] = L.strides[0][order[i]];
      R.strides[1][i] = L.strides[1][order[i]];
    }
    L = std::move(R);
  }
  coalesce(L);
  const int64_t n = L.numel();

  if (op == ReduceOp::Sum && is_floating(dt) && running_sum_rows(L) > kCascadeRows) {
    cascade_sum(dt, L);
    return;
  }
  if (out.numel() == 1 && n > kParallelGrain) {
    // One output: fixed-size blocks reduce into partials that are combined in order, so
    // the result does not depend on the number of threads.
    visit_dtype(dt, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (!std::is_same_v<T, bool>) {
        // At most 32 blocks: enough to balance the threads, few enough that a block's
        // set-up does not show.
        const int64_t chunk = std::max(kParallelGrain, (n / 32 + 4095) / 4096 * 4096);
        const int64_t tasks = (n + chunk - 1) / chunk;
        std::vector<T> partial(size_t(tasks), reduce_identity<T>(op));
        parallel_for(tasks, 1, [&](int64_t tb, int64_t te) {
          for (int64_t t = tb; t < te; ++t) {
            Loop P = L;
            P.base[0] = reinterpret_cast<char*>(&partial[size_t(t)]);
            cpu().reduce(op, dt, P, t * chunk, std::min(n, (t + 1) * chunk));
          }
        });
        Tensor parts(make_ref<TensorImpl>(Storage::allocate(sizeof(T) * partial.size()), dt,
                                          Shape{int64_t(partial.size())}, Shape{1}, 0));
        std::copy(partial.begin(), partial.end(), parts.data<T>());
        Loop C;
        C.shape = Shape{int64_t(partial.size())};
        C.nops = 2;
        C.strides[0] = Shape{0};
        C.strides[1] = Shape{1};
        C.base[0] = static_cast<char*>(out.raw_data());
        C.base[1] = static_cast<char*>(parts.raw_data());
        C.itemsize[0] = C.itemsize[1] = int(sizeof(T));
        cpu().reduce(op, dt, C, 0, int64_t(partial.size()));
      }
    });
    return;
  }
  if (L.strides[0][0] != 0 && L.ndim() > 1 && n > kParallelGrain) {
    // The outermost dim indexes distinct outputs: split along it.
    const int64_t inner = n / L.shape[0];
    parallel_for(L.shape[0], std::max<int64_t>(1, kParallelGrain / inner), [&](int64_t b, int64_t e) {
      cpu().reduce(op, dt, L, b * inner, e * inner);
    });
    return;
  }
  cpu().reduce(op, dt, L, 0, n);
}

void arg_reduce(bool is_max, const Tensor& in, int64_t axis, const Tensor& out) {
  // Rows along `axis`: walk every other index, scan the row; first index wins ties and
  // NaN counts as the extreme (as PyTorch and NumPy do).
  const int64_t nd = in.dim();
  const int64_t len = in.shape()[size_t(axis)];
  const int64_t step = in.strides()[size_t(axis)];
  Shape outer_shape, outer_strides;
  for (int64_t d = 0; d < nd; ++d)
    if (d != axis) { outer_shape.push_back(in.shape()[size_t(d)]); outer_strides.push_back(in.strides()[size_t(d)]); }
  int64_t rows = 1;
  for (int64_t s : outer_shape) rows *= s;
  int64_t* dst = out.data<int64_t>();
  visit_dtype(in.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* src = in.data<T>();
    for (int64_t r = 0; r < rows; ++r) {
      int64_t rem = r, off = 0;
      for (size_t d = outer_shape.size(); d-- > 0;) { off += (rem % outer_shape[d]) * outer_strides[d]; rem /= outer_shape[d]; }
      const T* row = src + off;
      int64_t best = 0;
      T bv = row[0];
      for (int64_t i = 1; i < len; ++i) {
        T v = row[i * step];
        if (bv != bv) break;
        if (v != v || (is_max ? v > bv : v < bv)) { bv = v; best = i; }
      }
      dst[r] = best;
    }
  });
}

namespace {
// Each operand is row-major (stride (ld, 1)) or transposed (stride (1, ld)).
struct BlasOperand {
  CBLAS_TRANSPOSE trans;
  int ld;
  int64_t row_step, col_step;  // element offset of the next row / column
};
BlasOperand blas_operand(const Tensor& t) {
  const int64_t r = t.shape()[0], c = t.shape()[1], s0 = t.strides()[0], s1 = t.strides()[1];
  if (s1 == 1 || c == 1) {
    const int ld = int(r == 1 ? std::max<int64_t>(c, 1) : std::max<int64_t>({s0, c, 1}));
    return {CblasNoTrans, ld, ld, 1};
  }
  const int ld = int(c == 1 ? std::max<int64_t>(r, 1) : std::max<int64_t>({s1, r, 1}));
  return {CblasTrans, ld, 1, ld};
}

template <typename T>
void gemm(const BlasOperand& A, const BlasOperand& B, int64_t M, int64_t N, int64_t K, const T* a, const T* b, T* c,
          int64_t ldc) {
  if constexpr (std::is_same_v<T, float>)
    scipy_cblas_sgemm(CblasRowMajor, A.trans, B.trans, int(M), int(N), int(K), 1.0f, a, A.ld, b, B.ld, 0.0f, c, int(ldc));
  else
    scipy_cblas_dgemm(CblasRowMajor, A.trans, B.trans, int(M), int(N), int(K), 1.0, a, A.ld, b, B.ld, 0.0, c, int(ldc));
}

// Multiply-adds per task below which a split costs more than it saves.
constexpr int64_t kGemmGrain = int64_t(1) << 20;
// Blocks of C rows/columns are multiples of this, so OpenBLAS's micro-kernels stay whole.
constexpr int64_t kGemmBlock = 32;
}  // namespace

// OpenBLAS runs single-threaded (set_num_threads): large products are split here, over
// the same pool as every other kernel, into row (or column) blocks of C, each one
// sgemm/dgemm. Two pools spinning on two cores would fight each other.
void matmul_2d(const Tensor& a, const Tensor& b, const Tensor& out) {
  const int64_t M = a.shape()[0], K = a.shape()[1], N = b.shape()[1];
  if (M == 0 || N == 0) return;
  if (K == 0) { fill(out, Scalar::from_double(0)); return; }
  const BlasOperand A = blas_operand(a), B = blas_operand(b);
  use_single_threaded_blas();
  if (a.dtype() == DType::Float32 || a.dtype() == DType::Float64) {
    visit_floating(a.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* pa = a.data<T>();
      const T* pb = b.data<T>();
      T* pc = out.data<T>();
      const bool split_rows = M >= N;
      const int64_t blocks = ((split_rows ? M : N) + kGemmBlock - 1) / kGemmBlock;
      const int64_t work_per_block = kGemmBlock * (split_rows ? N : M) * K;
      const int64_t grain = std::max<int64_t>(1, kGemmGrain / std::max<int64_t>(work_per_block, 1));
      parallel_for(blocks, grain, [&](int64_t bb, int64_t be) {
        const int64_t lo = bb * kGemmBlock, hi = std::min((split_rows ? M : N), be * kGemmBlock);
        if (split_rows) gemm<T>(A, B, hi - lo, N, K, pa + lo * A.row_step, pb, pc + lo * N, N);
        else gemm<T>(A, B, M, hi - lo, K, pa, pb + lo * B.col_step, pc + lo, N);
      });
    });
    return;
  }
  // int64 (and bool promoted to int64 by the op): a plain triple loop
  const int64_t* pa = a.data<int64_t>();
  const int64_t* pb = b.data<int64_t>();
  int64_t* pc = out.data<int64_t>();
  const int64_t as0 = a.strides()[0], as1 = a.strides()[1], bs0 = b.strides()[0], bs1 = b.strides()[1];
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      int64_t acc = 0;
      for (int64_t k = 0; k < K; ++k)  // wraps like NumPy's int64 instead of overflowing
        acc = int64_t(uint64_t(acc) + uint64_t(pa[i * as0 + k * as1]) * uint64_t(pb[k * bs0 + j * bs1]));
      pc[i * N + j] = acc;
    }
}

// ---- optimizers: the loops of the running CPU's capability ----------------------------
void sgd_update(const Tensor& param, const Tensor& grad, const Tensor* buf, bool fresh, const SgdOptions& o) {
  cpu().sgd(param, grad, buf, fresh, o);
}
void adam_update(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                 const Tensor* max_sq, int64_t step, const AdamOptions& o) {
  cpu().adam(param, grad, exp_avg, exp_avg_sq, max_sq, step, o);
}
void rmsprop_update(const Tensor& param, const Tensor& grad, const Tensor& square_avg, const Tensor* buf,
                    const Tensor* grad_avg, const RmspropOptions& o) {
  cpu().rmsprop(param, grad, square_avg, buf, grad_avg, o);
}
void adagrad_update(const Tensor& param, const Tensor& grad, const Tensor& state_sum, int64_t step,
                    const AdagradOptions& o) {
  cpu().adagrad(param, grad, state_sum, step, o);
}

// ---- random -------------------------------------------------------------------------
namespace {
std::mutex rng_mutex;
std::mt19937_64& rng() {
  static std::mt19937_64 g(0x5eed5eedULL);
  return g;
}
}  // namespace

void manual_seed(uint64_t seed) {
  std::lock_guard<std::mutex> lk(rng_mutex);
  rng().seed(seed);
}

void fill_uniform(const Tensor& out, double lo, double hi) {
  std::lock_guard<std::mutex> lk(rng_mutex);
  visit_floating(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* p = out.data<T>();
    std::uniform_real_distribution<double> u(lo, hi);
    for (int64_t i = 0; i < out.numel(); ++i) p[i] = T(u(rng()));
  });
}

void fill_normal(const Tensor& out, double mean, double stddev) {
  std::lock_guard<std::mutex> lk(rng_mutex);
  visit_floating(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* p = out.data<T>();
    std::normal_distribution<double> nd(mean, stddev);
    for (int64_t i = 0; i < out.numel(); ++i) p[i] = T(nd(rng()));
  });
}

}  // namespace tg::kernels
