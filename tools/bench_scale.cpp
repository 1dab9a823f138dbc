// bench_scale.cpp — data-parallel scaling of a ResNet-18 epoch (BENCHMARKS.md, "Data parallel").
//
// IMDB-Wiki-sized: the IMDB-WIKI-DIR training split (191,509 images) at the presets' 32x32 with the
// small-image stem, global batch 64 (the paper's), synthetic images (timing does not depend on pixel
// values). Each step does what fit does under W ranks: this rank's shard of the global batch, forward in
// train mode, L1 loss scaled by its share of the rows, backward, one all-reduce of the whole gradient
// arena, Adam. After one warm-up step, --steps steps are timed; the epoch time is the mean step times
// the epoch's steps. Prints one JSON row (rank 0) with the compute and all-reduce split and the
// all-reduce cost model beside it: bytes = 4 P per step, of which a ring all-reduce moves 2(W-1)/W
// over each rank's link, divided by the bandwidth dru comm-check measures (pass it as --link-gbs).
//
//   mpirun -np W bench_scale [--steps N] [--batch B] [--images N] [--link-gbs GB/s]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <omp.h>

#include "engine/arena.h"
#include "engine/comm.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "engine/rng.h"
#include "models/model.h"

using namespace dru;

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct Options {
  int steps = 4;
  int64_t batch = 64, images = 191509;
  double link_gbs = 0;  // 0: no model row
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const char* v = argv[i + 1];
    if (k == "--steps")
      o.steps = std::atoi(v);
    else if (k == "--batch")
      o.batch = std::atoll(v);
    else if (k == "--images")
      o.images = std::atoll(v);
    else if (k == "--link-gbs")
      o.link_gbs = std::atof(v);
    else
      DRU_FAIL("bench_scale: unknown option {} (--steps, --batch, --images, --link-gbs)", k);
  }
  DRU_CHECK(o.steps > 0 && o.batch > 0 && o.images > 0, "bench_scale: steps, batch and images must be positive");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options opt = parse(argc, argv);
    init_distributed(Device::cpu);
    Communicator& comm = world();
    ModelConfig mc;
    mc.name = "resnet18";
    mc.small_stem = true;
    mc.image_size = 32;
    std::unique_ptr<Model> model = make_model(mc);
    ParamArena arena;
    arena.finalize(model->parameters());
    Adam adam(arena, AdamConfig{.lr = 1e-3});
    // One synthetic global batch, the same on every rank (seeded); each rank takes its rows.
    Generator gen(7);
    Tensor x = Tensor::empty(Shape{opt.batch, 3, 32, 32});
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = float(gen.normal(0, 1));
    Tensor y = Tensor::empty(Shape{opt.batch, 1});
    for (int64_t i = 0; i < y.numel(); ++i) y.data<float>()[i] = float(20 + 40 * gen.uniform());
    const auto [lo, hi] = shard_range(opt.batch, comm.rank(), comm.size());
    const Tensor xs = x.slice(0, lo, hi), ys = y.slice(0, lo, hi);
    const double share = double(hi - lo) / double(opt.batch);

    double compute = 0, reduce = 0, total = 0;
    for (int step = 0; step <= opt.steps; ++step) {
      comm.barrier();
      const auto t0 = Clock::now();
      adam.zero_grad();
      Tensor pred = model->forward(ModelInput{xs, Tensor(), Tensor()}, Mode::train).pred;
      mul(l1_loss(pred, ys), share).backward();
      const double c = since(t0);
      const auto t1 = Clock::now();
      comm.all_reduce(arena.grads);
      const double r = since(t1);
      adam.step();
      const double s = since(t0);
      if (step == 0) continue;  // warm-up
      compute += c;
      reduce += r;
      total += s;
    }
    // The slowest rank sets the pace: take the maximum over ranks.
    std::vector<double> t{compute / opt.steps, reduce / opt.steps, total / opt.steps};
    std::vector<double> worst = t;
    {
      Tensor m = Tensor::from(t, Shape{3}, DType::f64);
      // max over ranks via broadcast of each rank's values in turn (the interface has sum and mean only)
      for (int r = 0; r < comm.size(); ++r) {
        Tensor v = m.clone();
        comm.broadcast(v, r);
        std::vector<double> got = v.to_vector();
        for (size_t i = 0; i < 3; ++i) worst[i] = std::max(worst[i], got[i]);
      }
    }
    const int64_t steps_per_epoch = (opt.images + opt.batch - 1) / opt.batch;
    if (comm.is_root()) {
      const double params = double(arena.size()), bytes = 4 * params;
      const int w = comm.size();
      const double link_bytes = bytes * 2.0 * (w - 1) / w;
      std::printf(
          "{\"bench\": \"scale_resnet18\", \"ranks\": %d, \"threads_per_rank\": %d, \"global_batch\": %lld, "
          "\"params\": %.0f, \"step_s\": %.4f, \"compute_s\": %.4f, \"allreduce_s\": %.4f, \"epoch_steps\": %lld, "
          "\"epoch_s\": %.1f, \"allreduce_bytes\": %.0f, \"ring_link_bytes_per_rank\": %.0f",
          w, omp_get_max_threads(), static_cast<long long>(opt.batch), params, worst[2], worst[0], worst[1],
          static_cast<long long>(steps_per_epoch), worst[2] * double(steps_per_epoch), bytes, link_bytes);
      if (opt.link_gbs > 0) std::printf(", \"model_allreduce_s\": %.4f", link_bytes / (opt.link_gbs * 1e9));
      std::printf("}\n");
    }
    finalize_distributed();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_scale: rank %d: %s\n", world().rank(), e.what());
    if (world().size() > 1) world().abort(1);
    return 1;
  }
}
