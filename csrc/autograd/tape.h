#pragma once
// GradientTape support. A tape is a recording scope on the one engine: while it is
// active (a thread-local stack, linked through the tapes), an op records when one of its inputs is on the tape —
// a watched tensor, a trainable variable the block touches, or the output of a node
// recorded on the tape. Each tape keeps the set of its nodes (and keeps them alive);
// tape.gradient sweeps only through that set, so ops run outside the block, or for
// another tape, never contribute.
#include <vector>

#include "autograd/engine.h"

namespace tg {

class Tape {
 public:
  Tape(bool persistent, bool watch_accessed_variables)
      : persistent_(persistent), watch_accessed_(watch_accessed_variables) {
    keep_alive_.reserve(32);  // a typical block's nodes without regrowing
  }
  ~Tape();

  void push();  // enter the block
  void pop();   // leave it
  void watch(const Tensor& t);
  bool on_tape(const Tensor& t) const;
  bool on_tape_node(const Node* n) const { return n->held_by(this); }
  void add_node(Node* n);
  void set_recording(bool on) { recording_ = on; }
  bool recording() const { return recording_ && active_; }
  bool watch_accessed() const { return watch_accessed_; }
  Tape* below() const { return below_; }  // the next active tape down this thread's stack
  void reset();
  const std::vector<Tensor>& watched() const { return watched_; }

  // Gradients of sum(targets * seeds) w.r.t. sources; undefined where unconnected.
  std::vector<Tensor> gradient(const std::vector<Tensor>& targets, const std::vector<Tensor>& seeds,
                               const std::vector<Tensor>& sources, bool keep_for_more_calls);

 private:
  void forget_nodes();

  std::vector<Ref<Node>> keep_alive_;
  std::vector<Tensor> watched_;
  Tape* below_ = nullptr;
  Tape** owner_top_ = nullptr;  // the entering thread's stack top and count
  int* owner_count_ = nullptr;
  bool persistent_;
  bool watch_accessed_;
  bool recording_ = true;
  bool active_ = false;
  bool used_ = false;
};

}  // namespace tg
