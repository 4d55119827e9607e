#include "autograd/node.h"

#include <algorithm>
#include <mutex>
#include <utility>
#include <vector>

#include "ops/ops.h"

namespace tg {

thread_local bool GradMode::enabled_ = true;
bool AnomalyMode::enabled_ = false;
bool AnomalyMode::check_nan_ = true;
std::string (*AnomalyMode::capture_trace)() = nullptr;

namespace {
thread_local uint64_t next_sequence_nr = 0;
// Note [iterative teardown]: destroying a node releases the nodes it points to; done
// recursively, a long chain would overflow the stack. While one teardown runs on this
// thread, further nodes whose count reaches zero are queued and deleted by the loop.
thread_local bool tearing_down = false;
thread_local std::vector<Node*> pending_deletes;
std::mutex accumulator_mutex;
}  // namespace

void release_ref(Node* n) noexcept {
  if (!n->decref()) return;
  if (tearing_down) { pending_deletes.push_back(n); return; }
  tearing_down = true;
  delete n;
  while (!pending_deletes.empty()) {
    Node* m = pending_deletes.back();
    pending_deletes.pop_back();
    delete m;
  }
  tearing_down = false;
}

Node::Node() : sequence_nr(next_sequence_nr++) {}
Node::~Node() = default;

std::vector<Ref<GradHook>>* Node::hooks_for_output(uint32_t k) {
  if (!extras || k >= extras->hooks.size() || extras->hooks[k].empty()) return nullptr;
  return &extras->hooks[k];
}

std::vector<Ref<GradHook>>& Node::output_hooks(uint32_t k) {
  if (!extras) extras = std::make_unique<Extras>();
  if (extras->hooks.size() <= k) extras->hooks.resize(k + 1);
  return extras->hooks[k];
}

// ---- SavedTensor ----------------------------------------------------------------------

SavedTensor::SavedTensor(const Tensor& t, bool is_output)
    : saved_version_(t.version()), output_nr_(t.impl()->output_nr), is_output_(is_output),
      requires_grad_(t.requires_grad()) {
  if (!is_output && !t.impl()->view_base) { data_ = t; return; }
  data_ = t.detached();
  if (is_output) return;
  // A view is kept without its base, whose history may come to lead back to this node
  // (x.mul_(view_of_x)): that would be a reference cycle. The version check makes the
  // history it has now the only one it can be unpacked with.
  data_.impl()->grad_fn = t.grad_fn();
  data_.impl()->output_nr = t.impl()->output_nr;
  data_.impl()->requires_grad = requires_grad_;
}

Tensor SavedTensor::unpack(const Node* owner) const {
  if (released_)
    throw RuntimeError(str_cat(
        owner->name(), ": trying to backward through the graph a second time (or to use saved values after "
        "they were freed). Saved values are freed after backward(); pass retain_graph=True to backward() or "
        "autograd.grad() the first time if you need to backward through the graph again."));
  if (!data_.defined()) return data_;
  if (data_.version() != saved_version_)
    throw RuntimeError(str_cat(
        owner->name(), ": one of the tensors needed for gradient computation (", describe(data_),
        ") has been modified by an in-place operation: it is at version ", data_.version(), ", expected version ",
        saved_version_, ". Clone it before modifying it in place, or do the in-place op after backward."));
  if (!is_output_ || !GradMode::is_enabled()) return data_;
  // Under create_graph the output is relinked to its node so that its use in the
  // derivative is itself differentiated.
  Tensor t = data_.detached();
  t.impl()->requires_grad = requires_grad_;
  t.impl()->grad_fn = Ref<Node>(const_cast<Node*>(owner));
  t.impl()->output_nr = output_nr_;
  return t;
}

// ---- AccumulateGrad -------------------------------------------------------------------

AccumulateGrad::AccumulateGrad(Ref<TensorImpl> leaf) : leaf_(std::move(leaf)) {}

AccumulateGrad::~AccumulateGrad() {
  std::lock_guard<std::mutex> lk(accumulator_mutex);
  if (leaf_->autograd && leaf_->autograd->grad_accumulator == this) leaf_->autograd->grad_accumulator = nullptr;
}

std::vector<Ref<GradHook>>* AccumulateGrad::hooks_for_output(uint32_t) {
  if (!leaf_->autograd || leaf_->autograd->hooks.empty()) return nullptr;
  return &leaf_->autograd->hooks;
}

GradList AccumulateGrad::apply(GradList& grads) {
  Tensor g = grads[0];
  // A tensor that was only watched by a tape (requires_grad off) never gets .grad.
  if (!g.defined() || !leaf_->requires_grad) return {};
  AutogradMeta& m = leaf_->meta();
  if (GradMode::is_enabled()) {  // create_graph: keep the gradient's own history
    m.grad = m.grad.defined() ? add(m.grad, g) : g;
  } else if (!m.grad.defined()) {
    // Steal the buffer when nothing else refers to it; otherwise keep a private copy.
    const bool sole = g.impl()->use_count() == 2 && g.storage()->use_count() == 1 && g.is_contiguous();
    m.grad = sole ? g.detached() : clone(g);
  } else {
    add_(m.grad, g);  // accumulate in place: a reference to .grad sees the sum
  }
  return {};
}

Edge gradient_edge(const Tensor& t) {
  if (!t.defined()) return Edge{};
  t.sync_view();
  TensorImpl* impl = t.impl();
  if (impl->grad_fn) return Edge{impl->grad_fn, impl->output_nr};
  // A leaf that doesn't require grad still has an accumulator while a tape watches it.
  if (!impl->requires_grad && !(impl->autograd && impl->autograd->grad_accumulator)) return Edge{};
  return gradient_edge_for_watch(t);
}

Edge gradient_edge_for_watch(const Tensor& t) {
  t.sync_view();
  TensorImpl* impl = t.impl();
  if (impl->grad_fn) return Edge{impl->grad_fn, impl->output_nr};
  std::lock_guard<std::mutex> lk(accumulator_mutex);
  AutogradMeta& m = impl->meta();
  if (m.grad_accumulator) return Edge{Ref<Node>(m.grad_accumulator), 0};
  // A watched leaf is a variable of its own: a view stops following its base (whose
  // history could come to hold this accumulator, a reference cycle through the view).
  impl->view_base = nullptr;
  impl->no_grad_view = TensorImpl::NoGradView::No;
  Ref<Node> acc(new AccumulateGrad(t.impl_ref()));
  m.grad_accumulator = acc.get();
  return Edge{std::move(acc), 0};
}

void set_history(const Tensor& out, const Ref<Node>& node, uint32_t output_nr, bool requires_grad) {
  TensorImpl* impl = out.impl();
  // A tensor given a history of its own (an op's output that is a view of the op's
  // scratch) no longer follows a base: a view's history must come from its base's.
  impl->view_base = nullptr;
  impl->no_grad_view = TensorImpl::NoGradView::No;
  set_grad_fn(impl, node, output_nr);
  impl->requires_grad = requires_grad;
  node->feeds_autograd |= requires_grad;
}

void set_grad_fn(TensorImpl* t, Ref<Node> fn, uint32_t output_nr) {
  Ref<Node> old = std::exchange(t->grad_fn, std::move(fn));
  const uint32_t old_nr = std::exchange(t->output_nr, output_nr);
  if (!t->autograd || !t->autograd->retain_grad_hook || !old || !t->grad_fn) return;
  const Ref<GradHook>& h = t->autograd->retain_grad_hook;
  auto& from = old->output_hooks(old_nr);
  from.erase(std::remove(from.begin(), from.end(), h), from.end());
  t->grad_fn->output_hooks(output_nr).push_back(h);
}

void note_creation(Node* node) {
  if (!AnomalyMode::capture_trace) return;
  if (!node->extras) node->extras = std::make_unique<Node::Extras>();
  node->extras->creation_trace = AnomalyMode::capture_trace();
}

}  // namespace tg
