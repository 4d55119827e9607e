#pragma once
// The backward sweep. Nodes run in decreasing sequence number, which puts every node
// after all its consumers (PyTorch's ready queue uses the same order); gradients wait
// in each node's input buffer until it runs, and saved values are freed as each node
// finishes unless the graph is kept. Nothing recurses, so graph depth is limited only
// by memory.
#include <vector>

#include "autograd/node.h"

namespace tg {

struct BackwardOptions {
  bool keep_graph = false;
  bool create_graph = false;
  bool accumulate_into_leaves = true;  // backward(): write .grad; grad(): return captures
  // GradientTape: sweep only through the nodes this tape holds (Node::held_by).
  const void* restrict_to_tape = nullptr;
};

// Runs backward from `roots` seeded with `root_grads`; returns the gradients that
// reached each `capture` edge (undefined where none arrived).
std::vector<Tensor> run_backward(const std::vector<Edge>& roots, const std::vector<Tensor>& root_grads,
                                 const std::vector<Edge>& capture, const BackwardOptions& opts);

// Anomaly mode: set by the bindings to raise when a rule returns NaN/Inf.
bool tensor_has_nonfinite(const Tensor& t);

}  // namespace tg
