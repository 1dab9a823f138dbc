// test_gpu_eval.cpp — the evaluation helpers of unlearn/task.h with the model on the GPU: predict and
// sample_losses match the CPU and read their results back to the host once per evaluated set (the
// batches' predictions stay on the device until the last batch is done), not once per batch.
#include <doctest/doctest.h>

#include "engine/cuda_runtime.h"
#include "tests/gpu/gpu_util.h"
#include "unlearn/task.h"

using namespace dru;
using namespace dru::gpu_test;

namespace {

// n random sentence pairs for stsb-lstm (T 5, D 8) with scores in [0, 5) as labels and targets.
Samples sentence_pairs(int64_t n, uint64_t seed) {
  Samples s;
  s.x = randn(Shape{n, 5, 8}, seed);
  s.x2 = randn(Shape{n, 5, 8}, seed + 1);
  s.y = uniform(Shape{n, 1}, seed + 2, 0, 5);
  for (double v : s.y.to_vector()) s.label.push_back(v);
  return s;
}

// stsb-lstm on 150 training pairs in batches of 16, forget score < 2: the retain set spans several
// batches and ends in a smaller one.
Task small_task() {
  DataSet ds;
  ds.name = "stsb";
  ds.label_name = "score";
  ds.train = sentence_pairs(150, 1);
  ds.val = sentence_pairs(20, 4);
  ds.test = sentence_pairs(20, 7);
  ModelConfig mc;
  mc.name = "stsb-lstm";
  mc.embed_dim = 8;
  mc.seq_len = 5;
  return make_task(std::move(ds), "score<2", mc, LossKind::mse, 16, 0);
}

}  // namespace

TEST_CASE("gpu: predict and sample_losses read back once per set and match the CPU") {
  const Task cpu = small_task();
  std::unique_ptr<Model> on_cpu = fresh_model(cpu, 3);
  // The samples on the host (each batch copied as it is gathered), then resident on the GPU as the
  // experiment keeps them when they fit (the targets then come back too: one more read).
  for (bool resident : {false, true}) {
    Task gpu = cpu;
    gpu.device = Device::cuda;
    if (resident) gpu.train.retain = gpu.train.retain.to(Device::cuda);
    std::unique_ptr<Model> on_gpu = fresh_model(gpu, 3);
    const Samples& s = gpu.train.retain;
    REQUIRE(s.size() % cpu.batch != 0);
    using Eval = std::vector<double> (*)(Model&, const Task&, const Samples&);
    const std::pair<const char*, Eval> helpers[] = {{"predict", predict}, {"sample_losses", sample_losses}};
    for (auto [name, eval] : helpers) {
      const std::vector<double> want = eval(*on_cpu, cpu, cpu.train.retain);
      const int64_t before = cuda::host_syncs();
      const std::vector<double> got = eval(*on_gpu, gpu, s);
      const int64_t syncs = cuda::host_syncs() - before;
      const std::string what = std::string(name) + (resident ? " (resident samples)" : "");
      fmt::print("  {:<48} host syncs over {} batches: {}\n", what, (s.size() + cpu.batch - 1) / cpu.batch, syncs);
      CHECK_MESSAGE(syncs <= (resident ? 2 : 1), what << " synchronised " << syncs << " times");
      REQUIRE(got.size() == want.size());
      const Shape n{int64_t(want.size())};
      expect_close(what + " of the retain set", Tensor::from(got, n).to(Device::cuda), Tensor::from(want, n), 1e-4);
    }
  }
}
