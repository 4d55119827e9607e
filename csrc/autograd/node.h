#pragma once
// The recorded graph. A Node is one recorded op: its derivative rule (apply), what the
// rule saved, and edges to the nodes that produced its inputs. Leaves that require grad
// end in an AccumulateGrad node. Nodes are freed iteratively (release_ref), so a
// million-op chain tears down without deep recursion.
#include <cstdint>
#include <memory>
#include <vector>

#include "autograd/grad_mode.h"
#include "tensor/tensor.h"

namespace tg {

class Node;

struct Edge {
  Ref<Node> fn;
  uint32_t input_nr = 0;
  bool valid() const { return bool(fn); }
};

using GradList = SmallVec<Tensor, 2>;

// A tensor kept for the backward pass, with the version it had when saved so that a
// later in-place change is caught instead of giving a silently wrong gradient.
// Outputs of the node itself are saved without their grad_fn (that would be a
// reference cycle) and are relinked to the node when unpacked; save them after
// record() has given them their history.
class SavedTensor {
 public:
  SavedTensor() = default;
  SavedTensor(const Tensor& t, bool is_output);
  Tensor unpack(const Node* owner) const;
  void reset() { data_ = Tensor(); released_ = true; }
  bool defined() const { return data_.defined() || released_; }

 private:
  Tensor data_;
  uint32_t saved_version_ = 0;
  uint32_t output_nr_ = 0;
  bool is_output_ = false;
  bool requires_grad_ = false;
  bool released_ = false;
};

class Node : public RefCounted {
 public:
  Node();
  virtual ~Node();
  virtual const char* name() const = 0;
  // grads: one per output of this node (undefined means zero); returns one gradient
  // per next edge (undefined where that input needs none).
  virtual GradList apply(GradList& grads) = 0;
  // Free what the rule saved (after a backward without retain_graph).
  virtual void release_saved() {}
  // Hooks to run on the gradient of output k before apply (tensor.register_hook).
  virtual std::vector<Ref<GradHook>>* hooks_for_output(uint32_t k);
  virtual bool is_accumulator() const { return false; }

  bool needs_input_grad(size_t i) const { return i < next_edges.size() && next_edges[i].fn; }
  std::vector<Ref<GradHook>>& output_hooks(uint32_t k);

  // Edges are added only while the node is recorded (add_edge), so that its sequence
  // number stays above every producer's: the engine then sweeps in decreasing
  // sequence_nr without counting dependencies first.
  void add_edge(Edge e) {
    if (e.fn && e.fn->sequence_nr >= sequence_nr) sequence_nr = e.fn->sequence_nr + 1;  // recorded on another thread
    next_edges.push_back(std::move(e));
  }
  SmallVec<Edge, 2> next_edges;
  uint64_t sequence_nr;
  uint32_t num_outputs = 1;
  bool saved_released = false;
  // Whether an output requires grad (so backward() may still come), and the tapes that
  // hold this node (usually 0-2, so a short list beats a hash set on the per-op path):
  // a tape may free saved values only of nodes nobody else needs.
  bool feeds_autograd = false;
  SmallVec<const void*, 2> tapes;
  bool held_by(const void* tape) const {
    for (const void* t : tapes) if (t == tape) return true;
    return false;
  }

  // Scratch owned by the engine during one backward pass.
  uint64_t graph_epoch = 0;  // scheduled in this pass
  GradList input_buffer;
  uint64_t capture_epoch = 0;

  // Rarely used extras live behind a pointer so the common node stays small.
  struct Extras {
    std::vector<std::vector<Ref<GradHook>>> hooks;  // per output
    std::string creation_trace;                     // anomaly mode: where it was recorded
  };
  std::unique_ptr<Extras> extras;
};

// The sink for a leaf's gradient: accumulates into leaf.grad (AccumulateGrad in PyTorch).
class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(Ref<TensorImpl> leaf);
  ~AccumulateGrad() override;
  const char* name() const override { return "AccumulateGrad"; }
  GradList apply(GradList& grads) override;
  std::vector<Ref<GradHook>>* hooks_for_output(uint32_t k) override;
  bool is_accumulator() const override { return true; }
  const Ref<TensorImpl>& leaf() const { return leaf_; }
 private:
  Ref<TensorImpl> leaf_;
};

// Where the gradient of t flows: its grad_fn, its leaf accumulator, or nowhere.
Edge gradient_edge(const Tensor& t);
// The same, creating an accumulator for any leaf (a tape watching a constant).
Edge gradient_edge_for_watch(const Tensor& t);

// Anomaly mode captures the forward location of each recorded node.
struct AnomalyMode {
  static bool is_enabled() { return enabled_; }
  static void set_enabled(bool on) { enabled_ = on; }
  static bool check_nan() { return check_nan_; }
  static void set_check_nan(bool on) { check_nan_ = on; }
  // Set by the bindings: returns the current Python stack as text.
  static std::string (*capture_trace)();
 private:
  static bool enabled_;
  static bool check_nan_;
};

// ---- recording ------------------------------------------------------------------------
// An op records when grad mode is on and an input requires grad or is on an active
// GradientTape (tape.h). The output takes the node as grad_fn and requires grad when
// an input does; the node gets one edge per input (empty for inputs without grad).

namespace tape_stack {
extern thread_local int active_count;
bool wants(const Tensor& t);     // on a recording tape? (watches trainable variables on use)
void note_recorded(Node* n);     // put a new node on the tapes its inputs are on
// A view's regenerated history stays on the tapes that held the one it replaces.
void note_replaced(const Node* old_fn, Node* n);
bool any_recording();
}  // namespace tape_stack

inline bool wants_grad(const Tensor& t) {
  if (!t.defined()) return false;
  // Ask the tapes even when t requires grad: a tape must still watch a parameter it touches.
  const bool on_tape = tape_stack::active_count && tape_stack::wants(t);
  return t.requires_grad() || on_tape;
}
inline bool should_record(const Tensor& a) { return GradMode::is_enabled() && wants_grad(a); }
inline bool should_record(const Tensor& a, const Tensor& b) {
  return GradMode::is_enabled() && (wants_grad(a) | wants_grad(b));
}
template <typename Range>
bool should_record_all(const Range& ts) {
  if (!GradMode::is_enabled()) return false;
  bool any = false;
  for (const Tensor& t : ts) any |= wants_grad(t);
  return any;
}

void set_history(const Tensor& out, const Ref<Node>& node, uint32_t output_nr, bool requires_grad);
// Gives t the grad_fn (fn, output_nr), after an in-place op or when a view's history is
// regenerated. Its retain_grad() hook moves along; hooks registered before stay on the
// old grad_fn, for the gradient of the value t had then (PyTorch's rule for both).
void set_grad_fn(TensorImpl* t, Ref<Node> fn, uint32_t output_nr);
void note_creation(Node* node);  // anomaly mode: remember where it was recorded
inline void finish_record(Node* node) {
  if (tape_stack::active_count) tape_stack::note_recorded(node);
  if (AnomalyMode::is_enabled()) note_creation(node);
}
inline bool input_requires_grad(const Tensor& t) { return t.defined() && t.requires_grad(); }

template <typename NodeT, typename... Inputs>
NodeT* record(const Tensor& out, const Inputs&... inputs) {
  NodeT* node = new NodeT();
  Ref<Node> holder(node);
  (node->add_edge(gradient_edge(inputs)), ...);
  set_history(out, holder, 0, (input_requires_grad(inputs) || ...));
  finish_record(node);
  return node;
}

// For ops with a list of inputs and/or several outputs.
template <typename NodeT>
NodeT* record_list(const std::vector<Tensor>& outs, const std::vector<Tensor>& inputs) {
  NodeT* node = new NodeT();
  Ref<Node> holder(node);
  bool requires_grad = false;
  for (const Tensor& t : inputs) {
    node->add_edge(gradient_edge(t));
    requires_grad |= input_requires_grad(t);
  }
  node->num_outputs = uint32_t(outs.size());
  for (size_t i = 0; i < outs.size(); ++i) set_history(outs[i], holder, uint32_t(i), requires_grad);
  finish_record(node);
  return node;
}

}  // namespace tg
