#pragma once
// Optimizer updates over one parameter tensor at a time, in place, with the formulas
// and operation order of torch.optim's single-tensor implementations. float64 results
// match torch to ~1e-15; float32 ones can differ by an ulp where torch's kernels fuse a
// multiply-add. Tensors are contiguous and of one dtype.
#include <optional>

#include "tensor/tensor.h"

namespace tg::kernels {

struct SgdOptions { double lr, momentum, dampening, weight_decay; bool nesterov, maximize; };
// momentum_buffer: nullptr when momentum == 0; `fresh` when it was just created (holds zeros).
void sgd_update(const Tensor& param, const Tensor& grad, const Tensor* momentum_buffer, bool fresh,
                const SgdOptions& o);

struct AdamOptions {
  double lr, beta1, beta2, eps, weight_decay;
  bool amsgrad, decoupled_weight_decay, maximize;
};
void adam_update(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                 const Tensor* max_exp_avg_sq, int64_t step, const AdamOptions& o);

struct RmspropOptions { double lr, alpha, eps, weight_decay, momentum; bool centered, maximize; };
void rmsprop_update(const Tensor& param, const Tensor& grad, const Tensor& square_avg, const Tensor* momentum_buffer,
                    const Tensor* grad_avg, const RmspropOptions& o);

struct AdagradOptions { double lr, lr_decay, weight_decay, eps; bool maximize; };
void adagrad_update(const Tensor& param, const Tensor& grad, const Tensor& state_sum, int64_t step,
                    const AdagradOptions& o);

}  // namespace tg::kernels
