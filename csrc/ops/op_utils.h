#pragma once
// Helpers shared by the op families (not part of the public op set).
#include "autograd/node.h"
#include "ops/ops.h"

namespace tg {

// What a derivative rule needs to hand back a gradient in its input's shape and dtype.
struct InputMeta {
  Shape shape;
  DType dtype = DType::Float32;
  InputMeta() = default;
  explicit InputMeta(const Tensor& t) : shape(t.shape()), dtype(t.dtype()) {}
};

// Sum a broadcast gradient back to the input's shape and cast it to the input's dtype.
inline Tensor fit_grad(const Tensor& g, const InputMeta& m) {
  Tensor r = sum_to(g, m.shape);
  return r.dtype() == m.dtype ? r : to_dtype(r, m.dtype);
}


// A node that saves one tensor and maybe a parameter (most unary rules).
struct UnaryNode : Node {
  SavedTensor saved;
  double param = 0;
  void release_saved() override { saved.reset(); }
};

}  // namespace tg
