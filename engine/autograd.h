// autograd.h — a tape of coarse ops.
//
// Every differentiable op that sees an input with requires_grad records one Node on its output: the
// inputs (handles, so the graph stays alive while the output does) and a backward closure that maps
// the output gradient to one gradient per input (undefined where an input needs none). Closures keep
// only what they need, and they capture detached tensors, never the output itself, so no reference
// cycle forms. backward() walks the nodes in reverse topological order, accumulates gradients into
// leaves (in place where a gradient buffer is already bound, as in the parameter arena) and then
// frees the graph: every visited node drops its inputs and closure.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace dru {

using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

struct Node {
  const char* name = "";
  std::vector<Tensor> inputs;
  BackwardFn backward;
};

// Gradient recording is on by default; NoGradGuard turns it off for a scope (thread-local).
bool grad_enabled();
struct NoGradGuard {
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

// True when recording is on and any input requires a gradient.
bool needs_grad(std::initializer_list<const Tensor*> inputs);
bool needs_grad(const std::vector<Tensor>& inputs);

// Attaches a node to out when needs_grad(inputs); returns out. Ops call it last.
Tensor record(const char* name, Tensor out, std::vector<Tensor> inputs, BackwardFn backward);

// Runs backward from root with the given output gradient (root's shape).
void run_backward(const Tensor& root, const Tensor& grad_output);

}  // namespace dru
