// mpi_check.cpp — the data-parallel checks, run by ctest under `mpirun -np 2` (CMakeLists.txt) where
// the build has MPI. One program, one mode per test:
//   train       two ranks train the STS-B LSTM on a 300-pair subset for a few epochs (4 steps per epoch
//               of global batch 64), run Blindspot and the relearning count, and predict; rank 0 then
//               repeats everything as one process (exchange_world) and compares: parameters to float
//               tolerance, predictions, step counts exactly. Every rank must also hold the same weights.
//   experiment  the shrunk stsb-lstm experiment under two ranks and then as one process on rank 0; the
//               two results.json must agree number for number (relative 1e-4: the summation order of the
//               gradients differs) apart from the wall-clock fields; the membership-inference fractions,
//               counts of SVM decisions, may differ by 2 of their 100 samples (kMiaAbs).
//   compare A B compares two results.json files that way (for the command-line check in README.md).
//   die         rank 1 fails after a few all-reduces; the job must end with its message, not hang.
//   hang        rank 1 stops answering; rank 0's watchdog (DRU_COMM_TIMEOUT) must end the job.
//   rendezvous  without mpirun: processes started with torchrun's variables (RANK, WORLD_SIZE,
//               MASTER_ADDR, MASTER_PORT) pass 128 bytes from rank 0 to the others over the TCP
//               rendezvous that carries NCCL's id (or, alone as rank 1, time out with a message).
// Prints "ok: ..." lines and exits 0 on success; a failed check prints "FAIL: ..." and exits 1.
#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "data/stsb.h"
#include "engine/arena.h"
#include "engine/comm.h"
#include "engine/comm_impl.h"
#include "engine/ops.h"
#include "engine/rng.h"
#include "tests/tiny_experiment.h"
#include "unlearn/experiment.h"
#include "unlearn/methods.h"
#include "unlearn/metrics.h"

using namespace dru;
namespace fs = std::filesystem;

namespace {

int g_failures = 0;

void check(bool ok, const std::string& what) {
  if (world().is_root() || !ok) std::printf("%s: rank %d: %s\n", ok ? "ok" : "FAIL", world().rank(), what.c_str());
  std::fflush(stdout);
  if (!ok) ++g_failures;
}

// ---- train ----------------------------------------------------------------------------------------

// 300 training pairs: batches of 64, the last of 44 (shards of 22).
Task tiny_task() { return dru::test::tiny_stsb_task(300, 100); }

struct Outcome {
  std::vector<double> params, blindspot, pred;
  std::vector<double> train_losses, val_losses;
  int64_t relearn = 0;
};

std::vector<double> flat(const Model& m) {
  std::vector<double> v;
  for (auto& [name, t] : m.state_dict()) {
    std::vector<double> x = t.to_vector();
    v.insert(v.end(), x.begin(), x.end());
  }
  return v;
}

Outcome train_run(const Task& task) {
  MethodSettings s = default_settings("original");
  s.epochs = 3;
  s.quiet = true;
  MethodResult o = train_original(task, s);
  Outcome out;
  out.params = flat(*o.model);
  for (const auto& e : o.fit.epochs) {
    out.train_losses.push_back(e.train_loss);
    out.val_losses.push_back(e.val_loss);
  }
  MethodSettings b = default_settings("blindspot");
  b.quiet = true;
  out.blindspot = flat(*unlearn("blindspot", task, *o.model, b).model);
  out.pred = predict(*o.model, task, task.test.forget);
  // An unreachable target: one epoch's steps, the cap.
  out.relearn = relearn_steps(task, *o.model, 0.0, 0.01, default_ain_cap(task) / 10);
  return out;
}

// The largest |a - b| over max(|b|) + tiny: a relative error of the whole vector.
double rel_error(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return HUGE_VAL;
  double diff = 0, scale = 1e-12;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::fabs(a[i] - b[i]));
    scale = std::max(scale, std::fabs(b[i]));
  }
  return diff / scale;
}

void compare_vec(const std::string& what, const std::vector<double>& a, const std::vector<double>& b, double tol) {
  const double e = rel_error(a, b);

  check(e <= tol, fmt::format("{}: {} values, relative error {:.3g} (tolerance {:g})", what, b.size(), e, tol));
}

// The gradient of one global batch (the last of epoch 1: 44 rows, shards of 22): this rank's shard's
// share of the loss, backward, the arena's all-reduce (as fit does).
std::vector<double> batch_gradient(const Task& task) {
  std::unique_ptr<Model> m = fresh_model(task, 5);
  ParamArena arena;
  arena.finalize(m->parameters());
  arena.zero_grad();
  BatchOrder order(task.data.train.size(), task.batch, true, 9);
  order.begin_epoch(1);
  TrainShard sh = shard_batch(task, task.data.train, order.indices(order.batches() - 1), 0);
  {
    ShardScope scope(sh.scope());
    Tensor loss = task_loss(task, m->forward(sh.in, Mode::train).pred, sh.batch.y);
    mul(loss, double(sh.rows) / double(sh.total)).backward();
  }
  world().all_reduce(arena.grads);
  return arena.grads.to_vector();
}

int mode_train() {
  const Task task = tiny_task();
  const std::vector<double> grad = batch_gradient(task);
  const auto t0 = std::chrono::steady_clock::now();
  const Outcome par = train_run(task);
  const double par_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // Every rank holds the same weights: rank 0's, bit for bit.
  std::vector<double> mine = par.params, root = par.params;
  Tensor t = Tensor::from(root, Shape{int64_t(root.size())}, DType::f64);
  world().broadcast(t, 0);
  root = t.to_vector();
  double same = mine == root ? 1.0 : 0.0;
  same = world().all_reduce(same);
  check(same == double(world().size()), fmt::format("all {} ranks hold identical parameters", world().size()));
  if (world().is_root()) {
    auto parallel_world = exchange_world(make_single_communicator());
    const auto t1 = std::chrono::steady_clock::now();
    const std::vector<double> grad_one = batch_gradient(task);
    const Outcome one = train_run(task);
    const double one_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    exchange_world(std::move(parallel_world));
    std::printf("parallel run %.1f s, single-process run %.1f s\n", par_s, one_s);
    compare_vec("the gradient of a 44-row batch (dropout on)", grad, grad_one, 1e-6);
    // Adam divides by sqrt(v): a parameter whose gradient is rounding noise moves by up to lr per step
    // either way, so the weights agree less closely than the gradients, losses and predictions.
    compare_vec("original model parameters after 3 epochs (15 steps)", par.params, one.params, 1e-3);
    compare_vec("training losses per epoch", par.train_losses, one.train_losses, 1e-5);
    compare_vec("validation losses per epoch", par.val_losses, one.val_losses, 1e-5);
    compare_vec("Blindspot model parameters", par.blindspot, one.blindspot, 1e-3);
    compare_vec("predictions on the test forget set", par.pred, one.pred, 1e-5);
    check(par.relearn == one.relearn, fmt::format("relearning steps {} and {}", par.relearn, one.relearn));
  }
  return 0;
}

// ---- experiment ------------------------------------------------------------------------------------

ExperimentOptions tiny_stsb(const std::string& out) {
  ExperimentOptions o = dru::test::tiny_stsb(out);
  o.fresh = true;
  return o;
}

bool timing_key(const std::string& k) { return k == "seconds" || k == "speedup" || k == "started"; }

// The membership-inference fractions and the attack's own accuracy and AUC count SVM decisions: a loss that
// moves by a rounding error can cross the boundary and change the count by one sample. They may differ by
// this much (2 of 100 samples).
constexpr double kMiaAbs = 0.02;

// Walks a and b together; numbers must agree to rel (absolute below 1e-9; MIA fractions to kMiaAbs),
// everything else exactly. Differences within the MIA allowance are listed in notes.
void compare_json(const nlohmann::json& a, const nlohmann::json& b, const std::string& path, double rel, int& numbers,
                  std::vector<std::string>& diffs, std::vector<std::string>& notes) {
  if (a.is_number() && b.is_number()) {
    ++numbers;
    const double x = a.get<double>(), y = b.get<double>();
    if (std::fabs(x - y) <= rel * std::max(std::fabs(x), std::fabs(y)) + 1e-9) return;
    const bool mia = path.find("/mia_") != std::string::npos || path.find("attack") != std::string::npos;
    (mia && std::fabs(x - y) <= kMiaAbs ? notes : diffs).push_back(fmt::format("{}: {} vs {}", path, x, y));
    return;
  }
  if (a.type() != b.type() || a.size() != b.size()) {
    diffs.push_back(fmt::format("{}: {} vs {}", path, a.dump(), b.dump()));
    return;
  }
  if (a.is_object()) {
    for (auto& [k, v] : a.items()) {
      if (timing_key(k)) continue;
      if (!b.contains(k))
        diffs.push_back(path + "/" + k + ": missing in the second file");
      else
        compare_json(v, b.at(k), path + "/" + k, rel, numbers, diffs, notes);
    }
  } else if (a.is_array()) {
    for (size_t i = 0; i < a.size(); ++i)
      compare_json(a[i], b[i], fmt::format("{}[{}]", path, i), rel, numbers, diffs, notes);
  } else if (a != b) {
    diffs.push_back(fmt::format("{}: {} vs {}", path, a.dump(), b.dump()));
  }
}

bool compare_results(const std::string& fa, const std::string& fb) {
  std::ifstream ia(fa), ib(fb);
  if (!ia || !ib) {
    check(false, "cannot read " + (ia ? fb : fa));
    return false;
  }
  const nlohmann::json a = nlohmann::json::parse(ia), b = nlohmann::json::parse(ib);
  int numbers = 0;
  std::vector<std::string> diffs, notes;
  compare_json(a, b, "", 1e-4, numbers, diffs, notes);
  for (const auto& d : notes) std::printf("  within the MIA allowance (%g): %s\n", kMiaAbs, d.c_str());
  for (const auto& d : diffs) std::printf("  differs: %s\n", d.c_str());
  check(diffs.empty(), fmt::format("{} and {}: {} numbers compared (relative 1e-4, MIA fractions {}, wall-clock fields "
                                   "skipped), {} differ",
                                   fa, fb, numbers, kMiaAbs, diffs.size()));
  return diffs.empty();
}

int mode_experiment(const std::string& dir) {
  const std::string par = dir + "/parallel", one = dir + "/single";
  run_experiment(tiny_stsb(par));
  if (world().is_root()) {
    check(fs::exists(par + "/results.json"), "rank 0 wrote the parallel run's results.json");
    auto parallel_world = exchange_world(make_single_communicator());
    run_experiment(tiny_stsb(one));
    exchange_world(std::move(parallel_world));
    compare_results(par + "/results.json", one + "/results.json");
  }
  return 0;
}

// ---- failures ---------------------------------------------------------------------------------------

int mode_die() {
  Tensor t = Tensor::ones(Shape{1000});
  for (int step = 1; step <= 5; ++step) {
    if (step == 3 && world().rank() == 1) throw Error("rank 1: injected failure at step 3");
    world().all_reduce(t);
  }
  check(false, "the job went on after rank 1 failed");
  return 1;
}

int mode_hang() {
  Tensor t = Tensor::ones(Shape{1000});
  world().all_reduce(t);
  if (world().rank() == 1) std::this_thread::sleep_for(std::chrono::seconds(120));  // stops answering
  world().all_reduce(t);
  check(false, "the all-reduce returned without rank 1");
  return 1;
}

// ---- rendezvous -------------------------------------------------------------------------------------

int mode_rendezvous() {
  const WorldInfo w = detect_world();
  std::array<unsigned char, 128> buf{};
  auto payload = [](size_t i) { return static_cast<unsigned char>((i * 37 + 11) & 0xff); };
  if (w.rank == 0)
    for (size_t i = 0; i < buf.size(); ++i) buf[i] = payload(i);
  comm_detail::tcp_rendezvous(buf.data(), buf.size(), w);
  bool same = true;
  for (size_t i = 0; i < buf.size(); ++i) same = same && buf[i] == payload(i);
  std::printf("%s: rendezvous rank %d of %d (%s): 128 bytes %s\n", same ? "ok" : "FAIL", w.rank, w.size,
              w.launcher.c_str(), same ? "as rank 0 sent them" : "differ from rank 0's");
  return same ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "compare" && argc == 4) return compare_results(argv[2], argv[3]) ? 0 : 1;
  if (mode == "rendezvous") {
    try {
      return mode_rendezvous();
    } catch (const std::exception& e) {
      std::printf("rendezvous failed: %s\n", e.what());
      return 1;
    }
  }
  try {
    init_distributed(Device::cpu);
    if (world().size() < 2 && mode != "compare")
      std::printf("note: one rank only (run under mpirun -np 2 for the data-parallel checks)\n");
    int rc = 2;
    if (mode == "train")
      rc = mode_train();
    else if (mode == "experiment" && argc == 3)
      rc = mode_experiment(argv[2]);
    else if (mode == "die")
      rc = mode_die();
    else if (mode == "hang")
      rc = mode_hang();
    else
      std::fprintf(stderr, "usage: dru_mpi_check train | experiment DIR | compare A.json B.json | die | hang\n");
    finalize_distributed();
    return rc != 0 ? rc : (g_failures ? 1 : 0);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dru_mpi_check: rank %d of %d: %s\n", world().rank(), world().size(), e.what());
    std::fflush(stderr);
    if (world().size() > 1) world().abort(1);
    return 1;
  }
}
