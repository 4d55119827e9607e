#include "kernels/optimizer.h"

#include <cmath>

#include "kernels/parallel.h"

namespace tg::kernels {
namespace {

template <typename F>
void for_range(int64_t n, F&& f) {
  parallel_for(n, kParallelGrain, [&](int64_t b, int64_t e) { f(b, e); });
}

template <typename T>
T* ptr(const Tensor* t) { return t ? t->data<T>() : nullptr; }

}  // namespace

void sgd_update(const Tensor& param, const Tensor& grad, const Tensor* buf, bool fresh, const SgdOptions& o) {
  visit_floating(param.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* p = param.data<T>();
    const T* g = grad.data<T>();
    T* m = ptr<T>(buf);
    const T lr = T(o.lr), mom = T(o.momentum), damp = T(1 - o.dampening), wd = T(o.weight_decay);
    for_range(param.numel(), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        T d = o.maximize ? -g[i] : g[i];
        if (o.weight_decay != 0) d = d + wd * p[i];
        if (m) {
          m[i] = fresh ? d : m[i] * mom + damp * d;
          d = o.nesterov ? d + mom * m[i] : m[i];
        }
        p[i] = p[i] + (-lr) * d;
      }
    });
  });
}

void adam_update(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                 const Tensor* max_sq, int64_t step, const AdamOptions& o) {
  const double bc1 = 1 - std::pow(o.beta1, double(step));
  const double bc2_sqrt = std::sqrt(1 - std::pow(o.beta2, double(step)));
  visit_floating(param.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* p = param.data<T>();
    const T* g = grad.data<T>();
    T* m = exp_avg.data<T>();
    T* v = exp_avg_sq.data<T>();
    T* vmax = ptr<T>(max_sq);
    const T w1 = T(1 - o.beta1), b2 = T(o.beta2), w2 = T(1 - o.beta2), wd = T(o.weight_decay);
    const T decay = T(1 - o.lr * o.weight_decay), step_size = T(o.lr / bc1), bc2s = T(bc2_sqrt), eps = T(o.eps);
    for_range(param.numel(), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        T gi = o.maximize ? -g[i] : g[i];
        if (o.weight_decay != 0) {
          if (o.decoupled_weight_decay) p[i] = p[i] * decay;
          else gi = gi + wd * p[i];
        }
        m[i] = m[i] + w1 * (gi - m[i]);  // torch's lerp for weights < 0.5
        v[i] = v[i] * b2 + w2 * gi * gi;
        T second = v[i];
        if (vmax) { vmax[i] = vmax[i] > v[i] ? vmax[i] : v[i]; second = vmax[i]; }
        const T denom = std::sqrt(second) / bc2s + eps;
        p[i] = p[i] + (-step_size) * (m[i] / denom);
      }
    });
  });
}

void rmsprop_update(const Tensor& param, const Tensor& grad, const Tensor& square_avg, const Tensor* buf,
                    const Tensor* grad_avg, const RmspropOptions& o) {
  visit_floating(param.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* p = param.data<T>();
    const T* g = grad.data<T>();
    T* sq = square_avg.data<T>();
    T* mb = ptr<T>(buf);
    T* ga = ptr<T>(grad_avg);
    const T alpha = T(o.alpha), w = T(1 - o.alpha), eps = T(o.eps), wd = T(o.weight_decay), lr = T(o.lr),
            mom = T(o.momentum);
    for_range(param.numel(), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        T gi = o.maximize ? -g[i] : g[i];
        if (o.weight_decay != 0) gi = gi + wd * p[i];
        sq[i] = sq[i] * alpha + w * gi * gi;
        T avg;
        if (ga) {
          ga[i] = ga[i] + w * (gi - ga[i]);
          avg = std::sqrt(sq[i] + T(-1) * ga[i] * ga[i]);
        } else {
          avg = std::sqrt(sq[i]);
        }
        avg = avg + eps;
        if (mb) {
          mb[i] = mb[i] * mom + gi / avg;
          p[i] = p[i] + (-lr) * mb[i];
        } else {
          p[i] = p[i] + (-lr) * (gi / avg);
        }
      }
    });
  });
}

void adagrad_update(const Tensor& param, const Tensor& grad, const Tensor& state_sum, int64_t step,
                    const AdagradOptions& o) {
  const double clr = o.lr / (1 + double(step - 1) * o.lr_decay);
  visit_floating(param.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* p = param.data<T>();
    const T* g = grad.data<T>();
    T* s = state_sum.data<T>();
    const T wd = T(o.weight_decay), eps = T(o.eps), c = T(clr);
    for_range(param.numel(), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        T gi = o.maximize ? -g[i] : g[i];
        if (o.weight_decay != 0) gi = gi + wd * p[i];
        s[i] = s[i] + T(1) * gi * gi;
        const T std_ = std::sqrt(s[i]) + eps;
        p[i] = p[i] + (-c) * (gi / std_);
      }
    });
  });
}

}  // namespace tg::kernels
