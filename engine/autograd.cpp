// autograd.cpp — recording nodes and running the tape backward.
#include "engine/autograd.h"

#include <unordered_map>

#include "engine/ops.h"

namespace dru {

static thread_local bool g_grad_enabled = true;

bool grad_enabled() { return g_grad_enabled; }
NoGradGuard::NoGradGuard() : prev_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = prev_; }

bool needs_grad(std::initializer_list<const Tensor*> inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor* t : inputs)
    if (t->requires_grad()) return true;
  return false;
}

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.requires_grad()) return true;
  return false;
}

Tensor record(const char* name, Tensor out, std::vector<Tensor> inputs, BackwardFn backward) {
  if (!needs_grad(inputs)) return out;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->inputs = std::move(inputs);
  node->backward = std::move(backward);
  // The output is a fresh handle: an op may return a view of an input (reshape, slice), and the
  // node must belong to the view, not to the input's impl.
  out.impl->grad_fn = std::move(node);
  out.impl->requires_grad = true;
  return out;
}

// Adds g into acc. A node's first gradient is taken as it is (no copy); a second one makes a new
// sum rather than adding in place, because backward closures may return the same tensor for several
// inputs (add returns its gradient twice), so an in-place add could change another input's gradient.
static void accumulate_node(Tensor& acc, const Tensor& g) { acc = acc.defined() ? add(acc, g) : g; }

// Leaves own their gradient: the first one is copied, later ones (and the arena's pre-bound
// buffers) are added in place.
static void accumulate_leaf(Tensor& acc, const Tensor& g) {
  if (!acc.defined())
    acc = g.detach().clone();
  else
    add_(acc, g);
}

void run_backward(const Tensor& root, const Tensor& grad_output) {
  DRU_CHECK(root.requires_grad(), "backward: the tensor does not require a gradient (no input had requires_grad, or it "
                              "was computed under NoGradGuard)");
  DRU_CHECK(grad_output.shape() == root.shape(), "backward: gradient shape {} differs from output shape {}",
        grad_output.shape().str(), root.shape().str());
  NoGradGuard no_grad;  // backward closures build no graph of their own

  if (!root.grad_fn()) {  // a leaf: its gradient is the given one
    accumulate_leaf(root.impl->grad, grad_output);
    return;
  }

  // Topological order by iterative depth-first search (deep LSTM graphs would overflow recursion).
  std::vector<Node*> order;
  std::unordered_map<Node*, int> state;  // 1 = on stack, 2 = done
  std::vector<std::pair<Node*, size_t>> stack{{root.grad_fn().get(), 0}};
  state[root.grad_fn().get()] = 1;
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    if (next < node->inputs.size()) {
      Node* child = node->inputs[next++].impl->grad_fn.get();
      if (child && !state.count(child)) {
        state[child] = 1;
        stack.push_back({child, 0});
      }
    } else {
      state[node] = 2;
      order.push_back(node);
      stack.pop_back();
    }
  }

  std::unordered_map<Node*, Tensor> grads;
  grads[root.grad_fn().get()] = grad_output;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node* node = *it;
    auto found = grads.find(node);
    if (found != grads.end() && node->backward) {
      Tensor g = found->second;
      grads.erase(found);
      std::vector<Tensor> in_grads = node->backward(g);
      DRU_CHECK(in_grads.size() == node->inputs.size(), "backward of {}: returned {} gradients for {} inputs", node->name,
            in_grads.size(), node->inputs.size());
      for (size_t i = 0; i < in_grads.size(); ++i) {
        const Tensor& in = node->inputs[i];
        if (!in.requires_grad() || !in_grads[i].defined()) continue;
        DRU_CHECK(in_grads[i].shape() == in.shape(), "backward of {}: gradient {} has shape {}, input has shape {}",
              node->name, i, in_grads[i].shape().str(), in.shape().str());
        if (in.impl->grad_fn)
          accumulate_node(grads[in.impl->grad_fn.get()], in_grads[i]);
        else
          accumulate_leaf(in.impl->grad, in_grads[i]);
      }
    }
  }
  // Free the graph: drop every node's inputs and saved tensors.
  for (Node* node : order) {
    node->inputs.clear();
    node->backward = nullptr;
  }
}

}  // namespace dru
