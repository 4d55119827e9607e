// Optimizer updates, one parameter tensor at a time. Like cpu_kernels.cpp, this file is
// compiled once per CPU capability (TG_CPU_CAPABILITY), so the loops vectorise with the
// running CPU's registers; the entry points of optimizer.h pick the table's copy.
#include <cmath>

#include "kernels/cpu_kernels.h"
#include "kernels/parallel.h"

#ifndef TG_CPU_CAPABILITY
#error "TG_CPU_CAPABILITY must name the capability this file is compiled for"
#endif

// Every multiply and add rounded on its own, as the formulas are written: fused
// multiply-adds exist only in the AVX2/AVX-512 builds, and a training run must not
// change with the CPU it runs on. (The update is memory-bound; fusing gains nothing.)
#pragma GCC optimize("fp-contract=off")

namespace tg::kernels::TG_CPU_CAPABILITY {
namespace {

// Each update runs over [b, e) of one parameter's elements, split across the threads.
// The loops take their operands as restrict pointers and their constants by value, and
// the options that change the formula are template arguments: with anything left to
// alias or to test per element, the compiler keeps them scalar (Adam ran at 8 GB/s).
template <typename F>
void for_range(int64_t n, F&& f) {
  parallel_for(n, kParallelGrain, [&](int64_t b, int64_t e) { f(b, e); });
}

template <typename T>
T* ptr(const Tensor* t) { return t ? t->data<T>() : nullptr; }

// Calls body(std::integral_constant<bool, flag>) so a runtime flag becomes a template one.
template <typename Body>
void with_flag(bool flag, Body&& body) {
  if (flag) body(std::true_type{});
  else body(std::false_type{});
}

}  // namespace

void sgd_update(const Tensor& param, const Tensor& grad, const Tensor* buf, bool fresh, const SgdOptions& o) {
  visit_floating(param.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* const P = param.data<T>();
    const T* const G = grad.data<T>();
    T* const M = ptr<T>(buf);
    const T lr = T(o.lr), mom = T(o.momentum), damp = T(1 - o.dampening), wd = T(o.weight_decay);
    const T sign = o.maximize ? T(-1) : T(1);
    const bool decay = o.weight_decay != 0, nesterov = o.nesterov;
    with_flag(M != nullptr, [&](auto momentum) {
      for_range(param.numel(), [=](int64_t b, int64_t e) {
        T* __restrict p = P;
        const T* __restrict g = G;
        T* __restrict m = M;
        for (int64_t i = b; i < e; ++i) {
          T d = sign * g[i];
          if (decay) d = d + wd * p[i];
          if constexpr (momentum) {
            m[i] = fresh ? d : m[i] * mom + damp * d;
            d = nesterov ? d + mom * m[i] : m[i];
          }
          p[i] = p[i] + (-lr) * d;
        }
      });
    });
  });
}

void adam_update(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                 const Tensor* max_sq, int64_t step, const AdamOptions& o) {
  const double bc1 = 1 - std::pow(o.beta1, double(step));
  const double bc2_sqrt = std::sqrt(1 - std::pow(o.beta2, double(step)));
  visit_floating(param.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* const P = param.data<T>();
    const T* const G = grad.data<T>();
    T* const M = exp_avg.data<T>();
    T* const V = exp_avg_sq.data<T>();
    T* const VMAX = ptr<T>(max_sq);
    const T w1 = T(1 - o.beta1), b2 = T(o.beta2), w2 = T(1 - o.beta2);
    const T step_size = T(o.lr / bc1), bc2s = T(bc2_sqrt), eps = T(o.eps);
    const T sign = o.maximize ? T(-1) : T(1);
    const bool decay = o.weight_decay != 0;
    // AdamW scales the parameter (by exactly 1 without weight decay); Adam adds wd * p to the gradient
    const T coupled_wd = decay && !o.decoupled_weight_decay ? T(o.weight_decay) : T(0);
    const T decoupled_scale = decay && o.decoupled_weight_decay ? T(1 - o.lr * o.weight_decay) : T(1);
    with_flag(VMAX != nullptr, [&](auto amsgrad) {
      with_flag(coupled_wd != 0, [&](auto coupled) {
        for_range(param.numel(), [=](int64_t b, int64_t e) {
          T* __restrict p = P;
          const T* __restrict g = G;
          T* __restrict m = M;
          T* __restrict v = V;
          T* __restrict vmax = VMAX;
          for (int64_t i = b; i < e; ++i) {
            T gi = sign * g[i];
            const T pi = p[i] * decoupled_scale;
            if constexpr (coupled) gi = gi + coupled_wd * pi;
            const T mi = m[i] + w1 * (gi - m[i]);  // torch's lerp for weights < 0.5
            const T vi = v[i] * b2 + w2 * gi * gi;
            m[i] = mi;
            v[i] = vi;
            T second = vi;
            if constexpr (amsgrad) {
              second = vmax[i] > vi ? vmax[i] : vi;
              vmax[i] = second;
            }
            const T denom = std::sqrt(second) / bc2s + eps;
            p[i] = pi + (-step_size) * (mi / denom);
          }
        });
      });
    });
  });
}

void rmsprop_update(const Tensor& param, const Tensor& grad, const Tensor& square_avg, const Tensor* buf,
                    const Tensor* grad_avg, const RmspropOptions& o) {
  visit_floating(param.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* const P = param.data<T>();
    const T* const G = grad.data<T>();
    T* const SQ = square_avg.data<T>();
    T* const MB = ptr<T>(buf);
    T* const GA = ptr<T>(grad_avg);
    const T alpha = T(o.alpha), w = T(1 - o.alpha), eps = T(o.eps), wd = T(o.weight_decay), lr = T(o.lr),
            mom = T(o.momentum);
    const T sign = o.maximize ? T(-1) : T(1);
    const bool decay = o.weight_decay != 0;
    with_flag(GA != nullptr, [&](auto centered) {
      with_flag(MB != nullptr, [&](auto momentum) {
        for_range(param.numel(), [=](int64_t b, int64_t e) {
          T* __restrict p = P;
          const T* __restrict g = G;
          T* __restrict sq = SQ;
          T* __restrict mb = MB;
          T* __restrict ga = GA;
          for (int64_t i = b; i < e; ++i) {
            T gi = sign * g[i];
            if (decay) gi = gi + wd * p[i];
            const T si = sq[i] * alpha + w * gi * gi;
            sq[i] = si;
            T avg;
            if constexpr (centered) {
              const T gai = ga[i] + w * (gi - ga[i]);
              ga[i] = gai;
              avg = std::sqrt(si + T(-1) * gai * gai);
            } else {
              avg = std::sqrt(si);
            }
            avg = avg + eps;
            if constexpr (momentum) {
              const T mi = mb[i] * mom + gi / avg;
              mb[i] = mi;
              p[i] = p[i] + (-lr) * mi;
            } else {
              p[i] = p[i] + (-lr) * (gi / avg);
            }
          }
        });
      });
    });
  });
}

void adagrad_update(const Tensor& param, const Tensor& grad, const Tensor& state_sum, int64_t step,
                    const AdagradOptions& o) {
  const double clr = o.lr / (1 + double(step - 1) * o.lr_decay);
  visit_floating(param.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* const P = param.data<T>();
    const T* const G = grad.data<T>();
    T* const S = state_sum.data<T>();
    const T wd = T(o.weight_decay), eps = T(o.eps), c = T(clr);
    const T sign = o.maximize ? T(-1) : T(1);
    const bool decay = o.weight_decay != 0;
    for_range(param.numel(), [=](int64_t b, int64_t e) {
      T* __restrict p = P;
      const T* __restrict g = G;
      T* __restrict s = S;
      for (int64_t i = b; i < e; ++i) {
        T gi = sign * g[i];
        if (decay) gi = gi + wd * p[i];
        const T si = s[i] + T(1) * gi * gi;
        s[i] = si;
        const T std_ = std::sqrt(si) + eps;
        p[i] = p[i] + (-c) * (gi / std_);
      }
    });
  });
}

}  // namespace tg::kernels::TG_CPU_CAPABILITY
