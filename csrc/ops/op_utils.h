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

// Flat positions in `base` of the elements of v, a view of base's memory (an int64
// tensor of v's shape).
Tensor positions_in(const Tensor& base, const Tensor& v);
// Record out = x with x.flat[index] = values (out is x itself for a write in place).
void record_index_put(const Tensor& out, const Tensor& x, const Tensor& index, const Tensor& values, const char* label);
// After a write of `values` into the view v (at its flat positions `index`, or all of it
// when undefined), give v's base the history of the write and v the base's new history.
// values undefined: a constant was written.
void rebase_view(const Tensor& v, const Tensor& index, const Tensor& values);

// Which of x's dims `axes` names (every dim for nullopt), as a mask; an axis out of range
// or named twice raises, naming `op` (reductions, squeeze).
SmallVec<bool, 6> axis_mask(const Tensor& x, const OptAxes& axes, const char* op);

// Refuse to write a float value into an int64 tensor that cannot hold it (full, fill_).
void check_fits(Scalar value, DType dtype, const char* op);

// A node that saves one tensor and maybe a parameter (most unary rules).
struct UnaryNode : Node {
  SavedTensor saved;
  double param = 0;
  void release_saved() override { saved.reset(); }
};

}  // namespace tg
