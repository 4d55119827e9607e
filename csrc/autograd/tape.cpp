#include "autograd/tape.h"

namespace tg {
namespace tape_stack {

thread_local int active_count = 0;
// The innermost active tape; each links to the one below it. A plain pointer: a
// thread_local with a constructor would cost an initialisation check on every op.
thread_local Tape* top = nullptr;

bool wants(const Tensor& t) {
  bool on = false;
  for (Tape* tape = top; tape; tape = tape->below()) {
    if (!tape->recording()) continue;
    if (tape->on_tape(t)) { on = true; continue; }
    if (t.impl()->trainable_variable && tape->watch_accessed() && t.is_leaf()) {
      tape->watch(t);
      on = true;
    }
  }
  return on;
}

void note_recorded(Node* n) {
  for (Tape* tape = top; tape; tape = tape->below()) {
    if (!tape->recording()) continue;
    for (const Edge& e : n->next_edges)
      if (e.fn && tape->on_tape_node(e.fn.get())) { tape->add_node(n); break; }
  }
}

void note_replaced(const Node* old_fn, Node* n) {
  for (const void* tape : old_fn->tapes) static_cast<Tape*>(const_cast<void*>(tape))->add_node(n);
}

bool any_recording() {
  for (Tape* tape = top; tape; tape = tape->below()) if (tape->recording()) return true;
  return false;
}

}  // namespace tape_stack

Tape::~Tape() {
  if (active_) pop();
  forget_nodes();
}

void Tape::forget_nodes() {
  for (const Ref<Node>& n : keep_alive_) {
    auto& t = n->tapes;
    for (size_t i = 0; i < t.size(); ++i)
      if (t[i] == this) { t.erase(i); break; }
  }
  keep_alive_.clear();
}

void Tape::push() {
  TG_CHECK(!active_, RuntimeError, "GradientTape: this tape is already active (tapes cannot be re-entered while open)");
  active_ = true;
  owner_top_ = &tape_stack::top;
  owner_count_ = &tape_stack::active_count;
  below_ = tape_stack::top;
  tape_stack::top = this;
  ++tape_stack::active_count;
}

void Tape::pop() {
  if (!active_) return;
  // Unlinked from the stack of the thread that entered it (usually its top), even
  // when the block is left, or the tape destroyed, on another thread.
  for (Tape** link = owner_top_; *link; link = &(*link)->below_)
    if (*link == this) { *link = below_; --*owner_count_; break; }
  below_ = nullptr;
  active_ = false;
}

void Tape::watch(const Tensor& t) {
  TG_CHECK(t.defined(), TypeError, "GradientTape.watch: expected a tensor");
  if (!is_floating(t.dtype())) return;  // integer tensors are never differentiable
  add_node(gradient_edge_for_watch(t).fn.get());
  for (const Tensor& w : watched_) if (w.same(t)) return;
  watched_.push_back(t);
}

bool Tape::on_tape(const Tensor& t) const {
  t.sync_view();
  const TensorImpl* impl = t.impl();
  const Node* fn = impl->grad_fn ? impl->grad_fn.get()
                                 : (impl->autograd ? impl->autograd->grad_accumulator : nullptr);
  return fn && fn->held_by(this);
}

void Tape::add_node(Node* n) {
  if (n->held_by(this)) return;
  n->tapes.push_back(this);
  keep_alive_.push_back(Ref<Node>(n));
}

void Tape::reset() {
  forget_nodes();
  watched_.clear();
  used_ = false;
}

std::vector<Tensor> Tape::gradient(const std::vector<Tensor>& targets, const std::vector<Tensor>& seeds,
                                   const std::vector<Tensor>& sources, bool keep_for_more_calls) {
  TG_CHECK(!used_, RuntimeError,
           "A non-persistent GradientTape can only be used to compute one set of gradients (or jacobians); "
           "use GradientTape(persistent=True) to call gradient() more than once");
  std::vector<Edge> roots;
  std::vector<Tensor> root_grads;
  for (size_t i = 0; i < targets.size(); ++i) {
    const Tensor& t = targets[i];
    if (!t.defined() || !on_tape(t) || !t.grad_fn()) continue;
    roots.push_back(Edge{t.grad_fn(), t.impl()->output_nr});
    root_grads.push_back(seeds[i]);
  }
  std::vector<Edge> capture;
  for (const Tensor& s : sources) {
    s.sync_view();
    const TensorImpl* impl = s.impl();
    if (impl->grad_fn) capture.push_back(Edge{impl->grad_fn, impl->output_nr});
    else if (impl->autograd && impl->autograd->grad_accumulator)
      capture.push_back(Edge{Ref<Node>(impl->autograd->grad_accumulator), 0});
    else capture.push_back(Edge{});
    if (capture.back().fn && !capture.back().fn->held_by(this)) capture.back() = Edge{};
  }
  std::vector<Tensor> result(sources.size());
  if (!roots.empty()) {
    BackwardOptions opts;
    // Inside an (outer) recording tape the gradient computation is itself recorded,
    // which is how nested tapes give higher derivatives.
    opts.create_graph = tape_stack::any_recording();
    opts.keep_graph = true;  // saved values are freed below, where nobody else needs them
    opts.accumulate_into_leaves = false;
    opts.restrict_to_tape = this;
    result = run_backward(roots, root_grads, capture, opts);
  }
  if (!persistent_ && !keep_for_more_calls) {
    // A non-persistent tape frees its graph after one gradient: the saved values of
    // nodes that only this tape holds and that no backward() can reach, then its
    // references (reference counting frees the rest once the user drops the outputs).
    if (!tape_stack::any_recording())
      for (const Ref<Node>& n : keep_alive_)
        if (n->tapes.size() == 1 && !n->feeds_autograd) { n->release_saved(); n->saved_released = true; }
    used_ = true;
    forget_nodes();
  }
  return result;
}

}  // namespace tg
