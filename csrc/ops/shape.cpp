// Shape ops (views where NumPy makes views), joins and splits, and indexing.
#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <numeric>

#include "ops/op_utils.h"

namespace tg {

namespace {
Shape contiguous_strides_of(const Shape& shape) {
  Shape st(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) { st[i] = s; s *= std::max<int64_t>(shape[i], 1); }
  return st;
}

// Strides that let `x` be seen with `shape` without copying, if there are any
// (the algorithm of PyTorch's computeStride: merge runs of dims that are contiguous
// with each other, then split them again).
bool view_strides(const Tensor& x, const Shape& shape, Shape& out) {
  if (x.numel() == 0 || x.is_contiguous()) { out = contiguous_strides_of(shape); return true; }
  const Shape& os = x.shape();
  const Shape& ost = x.strides();
  out = Shape(shape.size());
  int64_t view_d = int64_t(shape.size()) - 1;
  int64_t chunk_base_stride = ost.empty() ? 1 : ost.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = int64_t(os.size()) - 1; d >= 0; --d) {
    tensor_numel *= os[size_t(d)];
    if (d == 0 || (os[size_t(d - 1)] != 1 && ost[size_t(d - 1)] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[size_t(view_d)] == 1)) {
        out[size_t(view_d)] = view_numel * chunk_base_stride;
        view_numel *= shape[size_t(view_d)];
        --view_d;
      }
      if (view_numel != tensor_numel) return false;
      if (d > 0) { chunk_base_stride = ost[size_t(d - 1)]; tensor_numel = 1; view_numel = 1; }
    }
  }
  return view_d == -1;
}

Shape infer_shape(const Shape& requested, int64_t numel, const char* op, const Tensor& x) {
  Shape s = requested;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      TG_CHECK(infer < 0, ValueError, op, ": only one dimension can be -1, got ", shape_str(requested));
      infer = int64_t(i);
    } else {
      TG_CHECK(s[i] >= 0, ValueError, op, ": invalid size ", s[i], " in ", shape_str(requested));
      TG_CHECK(s[i] == 0 || known <= (int64_t(1) << 62) / s[i], ValueError, op, ": shape ", shape_str(requested),
               " has too many elements");
      known *= s[i];
    }
  }
  if (infer >= 0) {
    TG_CHECK(known != 0 && numel % known == 0, ValueError, op, ": cannot reshape ", describe(x), " into ",
             shape_str(requested));
    s[size_t(infer)] = numel / known;
  } else {
    TG_CHECK(known == numel, ValueError, op, ": cannot reshape ", describe(x), " (", numel, " elements) into ",
             shape_str(requested));
  }
  return s;
}

// Whether no two elements of x share a memory location (so a position in x can be
// told from a memory offset).
bool non_overlapping(const Tensor& x) {
  if (x.is_contiguous()) return true;
  SmallVec<std::pair<int64_t, int64_t>, 6> dims;  // (|stride|, size) of the dims that vary
  for (int64_t d = 0; d < x.dim(); ++d)
    if (x.shape()[size_t(d)] > 1) dims.push_back({std::abs(x.strides()[size_t(d)]), x.shape()[size_t(d)]});
  std::sort(dims.begin(), dims.end());
  int64_t reach = 0;  // the furthest offset the smaller-stride dims get to
  for (const auto& [stride, size] : dims) {
    if (stride <= reach) return false;
    reach += stride * (size - 1);
  }
  return true;
}

// A view made while grad mode is on follows its root base (TensorImpl::view_base), so an
// in-place write through it can rewrite the base's history. Not for a base whose elements
// overlap (an expanded tensor), whose positions a view's memory does not determine.
// One made under no_grad does not follow it, but is marked (TensorImpl::no_grad_view), as
// are views of it.
void track_view(const Tensor& out, const Tensor& x) {
  using NoGradView = TensorImpl::NoGradView;
  const NoGradView inherited = x.impl()->no_grad_view;
  if (!GradMode::is_enabled()) {
    if (is_floating(x.dtype()))
      out.impl()->no_grad_view = inherited != NoGradView::No ? inherited
                                 : x.requires_grad()         ? NoGradView::OfRequiresGrad
                                                             : NoGradView::OfConstant;
    return;
  }
  out.impl()->no_grad_view = inherited;
  const Ref<TensorImpl>& root = x.impl()->view_base ? x.impl()->view_base : x.impl_ref();
  if (!non_overlapping(Tensor(root))) return;
  out.impl()->view_base = root;
  out.impl()->view_version.store(out.version(), std::memory_order_relaxed);
}
}  // namespace

struct ReshapeBackward final : Node {
  Shape input_shape;
  const char* name() const override { return "ReshapeBackward"; }
  GradList apply(GradList& g) override { return {reshape(g[0], input_shape)}; }
};
static Tensor reshape_impl(const Tensor& x, const Shape& requested, bool must_view, const char* op) {
  const Shape shape = infer_shape(requested, x.numel(), op, x);
  Shape strides;
  Tensor out;
  if (view_strides(x, shape, strides)) {
    out = x.alias(shape, strides, x.offset());
  } else {
    TG_CHECK(!must_view, RuntimeError, op, ": ", describe(x), " with strides ", shape_str(x.strides()),
             " cannot be viewed as ", shape_str(shape), "; use reshape() (which copies) instead");
    Tensor c = Tensor::empty(x.shape(), x.dtype());
    kernels::copy(x, c);
    out = c.alias(shape, contiguous_strides_of(shape), 0);
  }
  if (should_record(x)) record<ReshapeBackward>(out, x)->input_shape = x.shape();
  if (out.storage() == x.storage()) track_view(out, x);
  return out;
}
Tensor reshape(const Tensor& x, const Shape& shape) { return reshape_impl(x, shape, false, "reshape"); }
Tensor view(const Tensor& x, const Shape& shape) { return reshape_impl(x, shape, true, "view"); }

Tensor flatten(const Tensor& x, int64_t start, int64_t end) {
  if (x.dim() == 0) return reshape(x, Shape{1});
  const int64_t s = normalize_axis(start, x.dim(), "flatten"), e = normalize_axis(end, x.dim(), "flatten");
  TG_CHECK(s <= e, ValueError, "flatten: start_dim ", start, " comes after end_dim ", end);
  Shape shape;
  for (int64_t d = 0; d < s; ++d) shape.push_back(x.shape()[size_t(d)]);
  int64_t n = 1;
  for (int64_t d = s; d <= e; ++d) n *= x.shape()[size_t(d)];
  shape.push_back(n);
  for (int64_t d = e + 1; d < x.dim(); ++d) shape.push_back(x.shape()[size_t(d)]);
  return reshape(x, shape);
}

Tensor squeeze(const Tensor& x, std::optional<Axes> axes) {
  const SmallVec<bool, 6> named = axis_mask(x, axes, "squeeze");
  Shape shape;  // a named non-unit axis stays, as in PyTorch
  for (int64_t d = 0; d < x.dim(); ++d)
    if (!named[size_t(d)] || x.shape()[size_t(d)] != 1) shape.push_back(x.shape()[size_t(d)]);
  return reshape(x, shape);
}

Tensor unsqueeze(const Tensor& x, int64_t axis) {
  const int64_t d = normalize_axis(axis, x.dim() + 1, "unsqueeze");
  Shape shape = x.shape();
  shape.insert(size_t(d), 1);
  return reshape(x, shape);
}

struct PermuteBackward final : Node {
  Axes inverse;
  const char* name() const override { return "PermuteBackward"; }
  GradList apply(GradList& g) override { return {permute(g[0], inverse)}; }
};
Tensor permute(const Tensor& x, const Axes& dims) {
  TG_CHECK(int64_t(dims.size()) == x.dim(), ValueError, "permute: got ", dims.size(), " dims for ", describe(x));
  Shape sizes(dims.size()), strides(dims.size());
  Axes inverse(dims.size(), -1);
  for (size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = normalize_axis(dims[i], x.dim(), "permute");
    TG_CHECK(inverse[size_t(d)] < 0, ValueError, "permute: dim ", dims[i], " repeats in the permutation");
    inverse[size_t(d)] = int64_t(i);
    sizes[i] = x.shape()[size_t(d)];
    strides[i] = x.strides()[size_t(d)];
  }
  Tensor out = x.alias(sizes, strides, x.offset());
  if (should_record(x)) record<PermuteBackward>(out, x)->inverse = inverse;
  track_view(out, x);
  return out;
}

Tensor transpose(const Tensor& x, int64_t a, int64_t b) {
  if (x.dim() < 2 && (a == 0 || a == -1) && (b == 0 || b == -1)) return permute(x, x.dim() ? Axes{0} : Axes{});
  Axes dims(size_t(x.dim()));
  std::iota(dims.begin(), dims.end(), 0);
  std::swap(dims[size_t(normalize_axis(a, x.dim(), "transpose"))], dims[size_t(normalize_axis(b, x.dim(), "transpose"))]);
  return permute(x, dims);
}

struct ExpandBackward final : Node {
  Shape input_shape;
  const char* name() const override { return "ExpandBackward"; }
  GradList apply(GradList& g) override { return {sum_to(g[0], input_shape)}; }
};
Tensor expand(const Tensor& x, const Shape& requested) {
  TG_CHECK(requested.size() >= size_t(x.dim()), ValueError, "expand: cannot expand ", describe(x), " to ",
           shape_str(requested), " (fewer dimensions)");
  const size_t lead = requested.size() - size_t(x.dim());
  Shape sizes(requested.size()), strides(requested.size());
  for (size_t i = 0; i < requested.size(); ++i) {
    if (i < lead) {
      TG_CHECK(requested[i] >= 0, ValueError, "expand: invalid size ", requested[i], " in ", shape_str(requested));
      sizes[i] = requested[i];
      strides[i] = 0;
      continue;
    }
    const int64_t have = x.shape()[i - lead];
    TG_CHECK(requested[i] >= -1, ValueError, "expand: invalid size ", requested[i], " in ", shape_str(requested));
    const int64_t want = requested[i] == -1 ? have : requested[i];
    TG_CHECK(have == want || have == 1, ValueError, "expand: cannot expand ", describe(x), " to ",
             shape_str(requested), " (size ", have, " at dim ", i - lead, " is not 1)");
    sizes[i] = want;
    strides[i] = have == want ? x.strides()[i - lead] : 0;
  }
  if (sizes == x.shape()) return x;
  Tensor out = x.alias(sizes, strides, x.offset());
  if (should_record(x)) record<ExpandBackward>(out, x)->input_shape = x.shape();
  track_view(out, x);
  return out;
}
Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  Shape s = shape;  // -1 keeps a size, as in expand (PyTorch's broadcast_to is expand)
  if (s.size() >= size_t(x.dim())) {
    const size_t lead = s.size() - size_t(x.dim());
    for (size_t i = lead; i < s.size(); ++i)
      if (s[i] == -1) s[i] = x.shape()[i - lead];
  }
  broadcast_shapes(x.shape(), s, "broadcast_to");
  return expand(x, s);
}

// ---- basic indexing ---------------------------------------------------------------------

static void index_geometry(const Tensor& x, const BasicIndex& idx, Shape& sizes, Shape& strides, int64_t& offset) {
  offset = x.offset();
  for (size_t d = 0; d < idx.dims.size(); ++d) {
    const auto& s = idx.dims[d];
    offset += s.start * x.strides()[d];
    if (s.drop) continue;
    sizes.push_back(s.size);
    strides.push_back(s.step * x.strides()[d]);
  }
  for (int64_t pos : idx.new_axes) { sizes.insert(size_t(pos), 1); strides.insert(size_t(pos), 0); }
}

// The gradient of an index view: zeros of the input's shape with g written through the
// same view. It is an op of its own so that it can be differentiated again.
Tensor index_backward(const Tensor& g, const BasicIndex& idx, const Shape& input_shape);
struct IndexBackwardBackward final : Node {
  BasicIndex idx;
  const char* name() const override { return "IndexBackwardBackward"; }
  GradList apply(GradList& g) override { return {basic_index(g[0], idx)}; }
};
Tensor index_backward(const Tensor& g, const BasicIndex& idx, const Shape& input_shape) {
  Tensor out = zeros(input_shape, g.dtype());
  Shape sizes, strides;
  int64_t offset;
  index_geometry(out, idx, sizes, strides, offset);
  kernels::copy(g, out.alias(sizes, strides, offset));
  if (should_record(g)) record<IndexBackwardBackward>(out, g)->idx = idx;
  return out;
}
struct IndexBackward final : Node {
  BasicIndex idx;
  Shape input_shape;
  const char* name() const override { return "IndexBackward"; }
  GradList apply(GradList& g) override { return {index_backward(g[0], idx, input_shape)}; }
};
Tensor basic_index(const Tensor& x, const BasicIndex& idx) {
  TG_CHECK(int64_t(idx.dims.size()) == x.dim(), IndexError, "index: expected ", x.dim(), " dims, got ", idx.dims.size());
  for (size_t d = 0; d < idx.dims.size(); ++d) {
    const auto& s = idx.dims[d];
    const int64_t n = x.shape()[d];
    TG_CHECK(s.size >= 0 && (s.size == 0 || (s.start >= 0 && s.start < n && s.start + (s.size - 1) * s.step >= 0 &&
                                               s.start + (s.size - 1) * s.step < n)),
             IndexError, "index: selection out of range for dim ", d, " of ", describe(x));
  }
  Shape sizes, strides;
  int64_t offset;
  index_geometry(x, idx, sizes, strides, offset);
  Tensor out = x.alias(sizes, strides, offset);
  if (should_record(x)) {
    auto* n = record<IndexBackward>(out, x);
    n->idx = idx;
    n->input_shape = x.shape();
  }
  track_view(out, x);
  return out;
}

Tensor narrow(const Tensor& x, int64_t axis, int64_t start, int64_t length) {
  const int64_t d = normalize_axis(axis, x.dim(), "narrow");
  BasicIndex idx;
  for (int64_t i = 0; i < x.dim(); ++i)
    idx.dims.push_back(i == d ? BasicIndex::DimSel{start, 1, length, false} : BasicIndex::DimSel{0, 1, x.shape()[size_t(i)], false});
  return basic_index(x, idx);
}

// ---- joins and splits ---------------------------------------------------------------------

struct ConcatBackward final : Node {
  int64_t axis = 0;
  std::vector<int64_t> sizes;
  std::vector<DType> dtypes;
  const char* name() const override { return "CatBackward"; }
  GradList apply(GradList& g) override {
    GradList r;
    int64_t start = 0;
    for (size_t i = 0; i < sizes.size(); ++i) {
      r.push_back(needs_input_grad(i) ? to_dtype(narrow(g[0], axis, start, sizes[i]), dtypes[i]) : Tensor());
      start += sizes[i];
    }
    return r;
  }
};
Tensor concat(const std::vector<Tensor>& xs, int64_t axis) {
  TG_CHECK(!xs.empty(), ValueError, "concat: expected a non-empty list of tensors");
  const Tensor& first = xs[0];
  TG_CHECK(first.dim() > 0, ValueError, "concat: zero-dimensional tensors cannot be concatenated (use stack)");
  const int64_t d = normalize_axis(axis, first.dim(), "concat");
  DType dt = first.dtype();
  Shape shape = first.shape();
  shape[size_t(d)] = 0;
  for (const Tensor& t : xs) {
    TG_CHECK(t.dim() == first.dim(), ValueError, "concat: all tensors need the same number of dims, got ",
             describe(first), " and ", describe(t));
    for (int64_t i = 0; i < t.dim(); ++i)
      TG_CHECK(i == d || t.shape()[size_t(i)] == first.shape()[size_t(i)], ValueError,
               "concat: sizes must match except along axis ", d, ", got ", describe(first), " and ", describe(t));
    shape[size_t(d)] += t.shape()[size_t(d)];
    dt = promote_types(dt, t.dtype());
  }
  Tensor out = Tensor::empty(shape, dt);
  int64_t start = 0;
  for (const Tensor& t : xs) {
    const int64_t n = t.shape()[size_t(d)];
    Shape off_sizes = out.shape();
    off_sizes[size_t(d)] = n;
    kernels::copy(t, out.alias(off_sizes, out.strides(), start * out.strides()[size_t(d)]));
    start += n;
  }
  if (should_record_all(xs)) {
    auto* n = record_list<ConcatBackward>({out}, xs);
    n->axis = d;
    for (const Tensor& t : xs) { n->sizes.push_back(t.shape()[size_t(d)]); n->dtypes.push_back(t.dtype()); }
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& xs, int64_t axis) {
  TG_CHECK(!xs.empty(), ValueError, "stack: expected a non-empty list of tensors");
  const int64_t d = normalize_axis(axis, xs[0].dim() + 1, "stack");
  std::vector<Tensor> parts;
  for (const Tensor& t : xs) {
    TG_CHECK(t.shape() == xs[0].shape(), ValueError, "stack: all tensors need the same shape, got ", describe(xs[0]),
             " and ", describe(t));
    parts.push_back(unsqueeze(t, d));
  }
  return concat(parts, d);
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t axis) {
  const int64_t d = normalize_axis(axis, x.dim(), "split");
  TG_CHECK(x.dim() > 0, ValueError, "split: cannot split a 0-d tensor");
  int64_t total = 0;
  for (int64_t s : sizes) {
    TG_CHECK(s >= 0, ValueError, "split: negative section size ", s);
    total += s;
  }
  TG_CHECK(total == x.shape()[size_t(d)], ValueError, "split: sections sum to ", total, " but axis ", d, " of ",
           describe(x), " has size ", x.shape()[size_t(d)]);
  std::vector<Tensor> out;
  int64_t start = 0;
  for (int64_t s : sizes) { out.push_back(narrow(x, d, start, s)); start += s; }
  return out;
}

// ---- advanced indexing (flat logical positions) ------------------------------------------

namespace {
// Physical element offset of logical flat position i of x.
struct FlatToOffset {
  const Tensor& x;
  int64_t operator()(int64_t i) const {
    int64_t off = x.offset();
    for (int64_t d = x.dim() - 1; d >= 0; --d) {
      const int64_t n = x.shape()[size_t(d)];
      off += (i % n) * x.strides()[size_t(d)];
      i /= n;
    }
    return off;
  }
};
void check_flat_index(const Tensor& idx, int64_t numel, const char* op) {
  TG_CHECK(idx.dtype() == DType::Int64 && (idx.is_contiguous() || idx.numel() == 0), TypeError, op,
           ": index must be a contiguous int64 tensor");
  const int64_t* p = idx.data<int64_t>();
  for (int64_t i = 0; i < idx.numel(); ++i)
    TG_CHECK(p[i] >= 0 && p[i] < numel, IndexError, op, ": flat index ", p[i], " out of range for ", numel, " elements");
}
}  // namespace

struct TakeBackward final : Node {
  SavedTensor index;
  Shape input_shape;
  const char* name() const override { return "IndexBackward"; }
  GradList apply(GradList& g) override { return {index_add_flat(input_shape, index.unpack(this), g[0])}; }
  void release_saved() override { index.reset(); }
};
Tensor take(const Tensor& x, const Tensor& flat_index, const Shape& out_shape) {
  check_flat_index(flat_index, x.numel(), "index");
  Tensor out = Tensor::empty(out_shape, x.dtype());
  TG_CHECK(out.numel() == flat_index.numel(), ValueError, "index: index has ", flat_index.numel(),
           " entries for an output of shape ", shape_str(out_shape));
  const int64_t* idx = flat_index.data<int64_t>();
  FlatToOffset to_offset{x};
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* src = static_cast<const T*>(x.storage()->data());
    T* dst = out.data<T>();
    if (x.is_contiguous())
      for (int64_t i = 0; i < out.numel(); ++i) dst[i] = src[x.offset() + idx[i]];
    else
      for (int64_t i = 0; i < out.numel(); ++i) dst[i] = src[to_offset(idx[i])];
  });
  if (should_record(x)) {
    auto* n = record<TakeBackward>(out, x);
    n->index = SavedTensor(flat_index, false);
    n->input_shape = x.shape();
  }
  return out;
}

struct IndexAddBackward final : Node {
  SavedTensor index;
  Shape src_shape;
  const char* name() const override { return "IndexAddBackward"; }
  GradList apply(GradList& g) override { return {Tensor(), take(g[0], index.unpack(this), src_shape)}; }
  void release_saved() override { index.reset(); }
};
Tensor index_add_flat(const Shape& shape, const Tensor& flat_index, const Tensor& src) {
  Tensor out = zeros(shape, src.dtype());
  check_flat_index(flat_index, out.numel(), "index_add");
  TG_CHECK(src.numel() == flat_index.numel(), ValueError, "index_add: ", flat_index.numel(), " indices for ", describe(src));
  Tensor s = contiguous(detach(src));
  const int64_t* idx = flat_index.data<int64_t>();
  visit_dtype(src.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* dst = out.data<T>();
    const T* v = s.data<T>();
    for (int64_t i = 0; i < s.numel(); ++i) {
      if constexpr (std::is_same_v<T, bool>) dst[idx[i]] = dst[idx[i]] || v[i];
      else dst[idx[i]] += v[i];
    }
  });
  if (should_record(src)) {
    Tensor none;
    auto* n = record<IndexAddBackward>(out, none, src);
    n->index = SavedTensor(flat_index, false);
    n->src_shape = src.shape();
  }
  return out;
}

// x.flat[index] = values, with values broadcast to index's shape.
static void scatter_into(const Tensor& x, const Tensor& index, const Tensor& values) {
  check_flat_index(index, x.numel(), "index_put");
  Tensor s = clone(cast(expand(detach(values), index.shape()), x.dtype()));  // a private copy: values may alias x
  const int64_t* idx = index.data<int64_t>();
  FlatToOffset to_offset{x};
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* dst = static_cast<T*>(x.storage()->data());
    const T* v = s.data<T>();
    for (int64_t i = 0; i < s.numel(); ++i) dst[to_offset(idx[i])] = v[i];
  });
}

// Where positions repeat the last write wins; the values' gradient is still gathered for
// every write, as torch.index_put_ gives it. The positions are ours alone (no one can
// change them), part of the node like a view's geometry: not freed after a backward.
struct IndexPutBackward final : Node {
  Tensor index;
  InputMeta values_meta;
  const char* label = "IndexPutBackward";
  const char* name() const override { return label; }
  GradList apply(GradList& g) override {
    GradList r(2);
    if (needs_input_grad(0)) r[0] = index_put(g[0], index, zeros({}, g[0].dtype()));
    if (needs_input_grad(1)) r[1] = fit_grad(take(g[0], index, index.shape()), values_meta);
    return r;
  }
};
void record_index_put(const Tensor& out, const Tensor& x, const Tensor& index, const Tensor& values, const char* label) {
  auto* n = record<IndexPutBackward>(out, x, values);
  n->index = index;
  if (values.defined()) n->values_meta = InputMeta(values);
  n->label = label;
}
Tensor index_put(const Tensor& x, const Tensor& index, const Tensor& values) {
  Tensor out = clone(detach(x));
  scatter_into(out, index, values);
  if (should_record(x, values)) record_index_put(out, x, index, values, "IndexPutBackward");
  return out;
}
void index_put_(Tensor& x, const Tensor& index, const Tensor& values) {
  check_inplace(x, "__setitem__", values);
  scatter_into(x, index, values);
  x.bump_version();
  if (x.impl()->view_base) rebase_view(x, index, values);
  else if (should_record(x, values)) record_index_put(x, x, index, values, "IndexPutBackward");
}

// ---- views and in-place writes ------------------------------------------------------------

Tensor positions_in(const Tensor& base, const Tensor& v) {
  Tensor pos = Tensor::empty(v.shape(), DType::Int64);
  int64_t* p = pos.data<int64_t>();
  FlatToOffset at{v};
  if (base.is_contiguous()) {
    for (int64_t i = 0; i < v.numel(); ++i) p[i] = at(i) - base.offset();
    return pos;
  }
  if (v.numel() == 0) return pos;
  // A strided base: invert its layout (memory offset -> position) over the span it
  // covers. Its elements do not overlap (track_view), so the inverse is a function.
  int64_t lo = base.offset(), hi = base.offset();
  for (int64_t d = 0; d < base.dim(); ++d) {
    const int64_t reach = (base.shape()[size_t(d)] - 1) * base.strides()[size_t(d)];
    (reach < 0 ? lo : hi) += reach;
  }
  std::vector<int64_t> position_at(size_t(hi - lo + 1));
  FlatToOffset base_at{base};
  for (int64_t j = 0; j < base.numel(); ++j) position_at[size_t(base_at(j) - lo)] = j;
  for (int64_t i = 0; i < v.numel(); ++i) p[i] = position_at[size_t(at(i) - lo)];
  return pos;
}

// A view's history regenerated from its base's: the gradient goes to the view's
// positions in the base (its geometry, kept for any number of backward passes).
struct AsStridedBackward final : Node {
  Tensor positions;
  Shape base_shape;
  const char* name() const override { return "AsStridedBackward"; }
  GradList apply(GradList& g) override { return {index_add_flat(base_shape, positions, g[0])}; }
};
// A view whose memory was written since its grad_fn was set takes the base's current
// history: a gather of its positions (PyTorch's AsStridedBackward). Reading a tensor
// may get here, so threads sharing a view take turns, and the version is stored last.
void sync_view_history(TensorImpl* view) {
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  const uint32_t version = view->storage->version();
  if (view->view_version.load(std::memory_order_relaxed) == version) return;  // another thread did it
  Tensor v{Ref<TensorImpl>(view)}, base{view->view_base};
  if (!gradient_edge(base).valid()) {  // the base has no history: neither has the view
    view->grad_fn = nullptr;
    view->requires_grad = false;
  } else {
    Tensor out = v.detached();  // recorded on a stand-in: set_history would untrack the view
    auto* n = record<AsStridedBackward>(out, base);
    n->positions = positions_in(base, v);
    n->base_shape = base.shape();
    if (view->grad_fn) tape_stack::note_replaced(view->grad_fn.get(), n);
    set_grad_fn(view, out.impl()->grad_fn, 0);
    view->requires_grad = out.impl()->requires_grad;
  }
  view->view_version.store(version, std::memory_order_release);
}

Tensor nonzero_flat(const Tensor& mask) {
  Tensor m = contiguous(cast(mask, DType::Bool));
  const bool* p = m.data<bool>();
  int64_t count = 0;
  for (int64_t i = 0; i < m.numel(); ++i) count += p[i];
  Tensor out = Tensor::empty(Shape{count}, DType::Int64);
  int64_t* o = out.data<int64_t>();
  for (int64_t i = 0, k = 0; i < m.numel(); ++i) if (p[i]) o[k++] = i;
  return out;
}

}  // namespace tg
