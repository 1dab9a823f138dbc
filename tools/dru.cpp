// dru.cpp — the command line: `dru info` (version, backends, devices; with --model a model's table),
// `dru demo` (an MLP on the diabetes table, trained end to end on the CPU engine) and `dru experiment
// PRESET` (the paper's pipeline as cached stages, unlearn/experiment.h), and `dru train`, `dru unlearn`, `dru eval`
// (its single steps on safetensors checkpoints, tools/steps.h). Exit codes: 0 success, 1 failure, 2 usage
// error, 130 interrupted. Errors are one line on stderr.
#include <CLI/CLI.hpp>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <omp.h>

#include "engine/comm.h"
#include "engine/cuda_runtime.h"
#include "models/model.h"
#include "tools/comm_check.h"
#include "tools/dataset_info.h"
#include "tools/demo.h"
#include "tools/steps.h"
#include "unlearn/experiment.h"

namespace {

// Accepts a finite number greater than zero; the message names the value as typed.
const CLI::Validator kPositive(
    [](std::string& s) {
      char* end = nullptr;
      double v = std::strtod(s.c_str(), &end);
      if (end != s.c_str() && *end == '\0' && std::isfinite(v) && v > 0) return std::string();
      return "expected a positive number, got '" + s + "'";
    },
    "POSITIVE");

// Accepts a finite number >= 0 (CLI::NonNegativeNumber lets NaN through: NaN < 0 is false).
const CLI::Validator kNonNegative(
    [](std::string& s) {
      char* end = nullptr;
      double v = std::strtod(s.c_str(), &end);
      if (end != s.c_str() && *end == '\0' && std::isfinite(v) && v >= 0) return std::string();
      return "expected a finite number >= 0, got '" + s + "'";
    },
    "NONNEGATIVE");

// Accepts the digits of a whole number that fits in 64 bits: CLI11 reads "-1" into a uint64_t as
// 18446744073709551615, so a negative seed would silently become a huge one.
const CLI::Validator kSeed(
    [](std::string& s) {
      errno = 0;
      char* end = nullptr;
      std::strtoull(s.c_str(), &end, 10);  // only its range check (errno) is wanted
      if (!s.empty() && s.find_first_not_of("0123456789") == std::string::npos && *end == '\0' && errno == 0)
        return std::string();
      return "expected a whole number from 0 to 18446744073709551615, got '" + s + "'";
    },
    "SEED");

// Refuses an explicitly empty value: --data '' or --forget '' ran with the defaults, --gold '' without a gold
// model. kNonEmpty for flags with a default, kNonEmptyPath for those that name a file.
CLI::Validator non_empty(const std::string& hint) {
  return CLI::Validator(
      [hint](std::string& s) { return s.empty() ? "the value is empty; " + hint : std::string(); }, "TEXT");
}
const CLI::Validator kNonEmpty = non_empty("leave the flag out for the default");
const CLI::Validator kNonEmptyPath = non_empty("give a file name");

// Applies `--input` (the primary input's shape without the batch) to a model configuration.
void apply_input_shape(dru::ModelConfig& cfg, const std::vector<int64_t>& dims) {
  if (dims.empty()) return;
  auto want = [&](size_t n, const char* form) {
    DRU_CHECK(dims.size() == n, "--input for {} takes {} (got {} numbers)", cfg.name, form, dims.size());
  };
  if (cfg.name == "allcnn" || cfg.name == "resnet18") {
    want(3, "C,H,W");
    DRU_CHECK(dims[0] == 3 && dims[1] == dims[2], "--input for {}: images are 3,S,S (got {},{},{})", cfg.name,
              dims[0], dims[1], dims[2]);
    cfg.image_size = dims[1];
  } else if (cfg.name == "stsb-lstm") {
    want(2, "T,D (tokens per sentence, word-vector size)");
    cfg.seq_len = dims[0];
    cfg.embed_dim = dims[1];
  } else if (cfg.name == "bert-lite") {
    want(1, "T (sequence length)");
    cfg.seq_len = dims[0];
  } else if (cfg.name == "electricity-lstm") {
    want(1, "T (hours of history)");
    cfg.history = dims[0];
  }
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& x : v) out += (out.empty() ? "" : ", ") + x;
  return out;
}
std::string method_names_text() { return joined(dru::method_names()); }
std::string setting_keys_text() { return joined(dru::setting_keys()); }

// The command line as typed (for results.json), each argument quoted when it needs it.
std::string command_text(int argc, char** argv) {
  std::string out;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    const bool plain = !a.empty() && a.find_first_of(" \t'\"<>|&;$*?()") == std::string::npos;
    if (!plain) {
      std::string q = "'";
      for (char c : a) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
      a = q + "'";
    }
    out += (i ? " " : "") + a;
  }
  return out;
}

int cmd_model_info(dru::ModelConfig cfg, const std::vector<int64_t>& input) {
  apply_input_shape(cfg, input);
  auto model = dru::make_model(cfg);
  std::vector<dru::LayerRow> rows = model->summary();
  size_t w0 = 5, w1 = 6;
  for (auto& r : rows) {
    w0 = std::max(w0, r.layer.size());
    w1 = std::max(w1, r.output.size());
  }
  std::printf("model: %s\n", model->name().c_str());
  std::printf("%-*s  %-*s  %12s\n", int(w0), "layer", int(w1), "output", "parameters");
  for (auto& r : rows) std::printf("%-*s  %-*s  %12lld\n", int(w0), r.layer.c_str(), int(w1), r.output.c_str(),
                                   static_cast<long long>(r.params));
  std::printf("parameters: %lld\n", static_cast<long long>(model->num_parameters()));
  return 0;
}

int cmd_info() {
  std::printf("dru %s — deep regression unlearning engine\n", DRU_VERSION);
  std::printf("backends: cpu (OpenMP, %d threads)", omp_get_max_threads());
#ifdef DRU_HAVE_CUDA
  std::printf(", cuda");
#endif
#ifdef DRU_HAVE_CUDNN
  std::printf(", cudnn");
#endif
#ifdef DRU_HAVE_NCCL
  std::printf(", nccl");
#endif
  if (dru::mpi_compiled()) std::printf(", mpi");
  std::printf("\n");
  int n = dru::cuda_device_count();
  if (!dru::cuda_compiled())
    std::printf("devices: cpu (this build has no CUDA backend)\n");
  else if (n == 0)
    std::printf("devices: cpu (no GPU visible: no driver or no device)\n");
  else
    for (int i = 0; i < n; ++i) std::printf("devices: cuda:%d %s\n", i, dru::cuda::device_name(i).c_str());
  return 0;
}

int cmd_demo(const dru::DemoConfig& cfg) {
  std::printf("demo: MLP (2 hidden layers of %d) on %s\n", cfg.hidden,
              cfg.data_path.empty() ? dru::default_demo_data().c_str() : cfg.data_path.c_str());
  std::printf("      epochs %d, batch %d, Adam lr %g, L1 loss, seed %llu, device cpu\n", cfg.epochs, cfg.batch, cfg.lr,
              static_cast<unsigned long long>(cfg.seed));
  dru::DemoResult r = dru::run_demo(cfg);
  std::printf("train %lld rows, validation %lld rows, %lld parameters\n", static_cast<long long>(r.n_train),
              static_cast<long long>(r.n_val), static_cast<long long>(r.n_params));
  std::printf("best validation L1 %.2f at epoch %d (predicting the training median: %.2f)\n", r.val_l1,
              r.fit.best_epoch, r.baseline_val_l1);
  return 0;
}

}  // namespace

// Ends the run after an error. In a data-parallel run (more than one rank) the error may be this
// rank's alone while the others wait in a collective, so the message names the rank and the whole job is
// ended (MPI_Abort, or an exit the launcher acts on); usage errors and interruptions happen on every rank
// alike and end normally, reported once by rank 0.
int finish_with_error(int code, const char* what, bool all_ranks_alike) {
  dru::Communicator& w = dru::world();
  if (w.size() == 1) {
    std::fprintf(stderr, "dru: %s\n", what);
    return code;
  }
  if (!all_ranks_alike) {
    std::fprintf(stderr, "dru: rank %d of %d: %s\n", w.rank(), w.size(), what);
    w.abort(code);
  }
  if (w.is_root()) std::fprintf(stderr, "dru: %s\n", what);
  dru::finalize_distributed();
  return code;
}

int main(int argc, char** argv) {
  CLI::App app{"dru — deep regression unlearning: train, unlearn and measure regression models"};
  app.set_version_flag("--version", std::string("dru ") + DRU_VERSION);
  app.require_subcommand(0, 1);

  auto* info = app.add_subcommand("info", "Print the version, the compiled backends and the visible devices; with "
                                          "--model a model's layers, output shapes and parameter count; with "
                                          "--dataset a data set's split sizes and forget/retain counts");
  dru::ModelConfig model_cfg;
  std::vector<int64_t> model_input;
  std::string model_list;
  for (auto& n : dru::model_names()) model_list += (model_list.empty() ? "" : ", ") + n;
  info->add_option("--model", model_cfg.name, "Print this model's architecture table: " + model_list)
      ->check(CLI::IsMember(dru::model_names()));
  info->add_option("--input", model_input,
                   "The model's input shape without the batch, comma-separated (allcnn/resnet18: 3,S,S; "
                   "stsb-lstm: T,D; bert-lite: T; electricity-lstm: T)")
      ->delimiter(',')
      ->check(kPositive);
  info->add_flag("--small-stem", model_cfg.small_stem, "resnet18: 3x3 stride-1 stem without max-pool (32x32 images)");
  std::string dataset, data_path, forget_rule;
  info->add_option("--dataset", dataset, "Print a data set's split sizes: stsb, electricity or images")
      ->check(CLI::IsMember({"stsb", "electricity", "images"}));
  info->add_option("--data", data_path,
                   "With --dataset: the data (stsb: a folder; electricity: LD2011_2014.txt or an hourly csv; images: "
                   "a csv with path, age, split). Default: the copy shipped in data/ (stsb, electricity)")
      ->check(kNonEmpty);
  info->add_option("--forget", forget_rule,
                   "With --dataset: also count forget/retain samples per split for this rule, e.g. age<=30, score<2, "
                   "30..70, customer=MT_003, random=0.1:7, ids=FILE")
      ->check(kNonEmpty);

  dru::DemoConfig demo_cfg;
  auto* demo = app.add_subcommand("demo", "Train a small MLP regressor on the diabetes table and print L1 per epoch");
  demo->add_option("--data", demo_cfg.data_path, "Whitespace- or comma-separated table with a 'target' column")
      ->default_str("data/diabetes/diabetes.txt (shipped)")
      ->check(kNonEmpty);
  demo->add_option("--epochs", demo_cfg.epochs, "Training epochs")->capture_default_str()->check(kPositive);
  demo->add_option("--batch", demo_cfg.batch, "Batch size")->capture_default_str()->check(kPositive);
  demo->add_option("--hidden", demo_cfg.hidden, "Hidden units per layer")->capture_default_str()->check(kPositive);
  demo->add_option("--lr", demo_cfg.lr, "Adam learning rate")->capture_default_str()->check(kPositive);
  demo->add_option("--seed", demo_cfg.seed, "Seed for the split, the initialisation and the shuffles")
      ->capture_default_str()
      ->check(kSeed);
  demo->add_option("--checkpoint-dir", demo_cfg.checkpoint_dir, "Folder for best/last weights and optimiser state")
      ->check(kNonEmpty);
  demo->add_flag("--resume", demo_cfg.resume, "Continue from --checkpoint-dir's last state");
  demo->add_flag("--quiet", demo_cfg.quiet, "No per-epoch lines");

  dru::ExperimentOptions exp_opt;
  auto* experiment = app.add_subcommand(
      "experiment",
      "Run a preset end to end: train the original and the retrained (gold) model, run every unlearning method, "
      "measure them and write results.json, results.md, results.csv, predictions (.npy) and plots into --out. "
      "Finished stages are reused when their settings match; Ctrl-C stops after the stage in flight (exit 130)");
  experiment->add_option("preset", exp_opt.preset, "One of:\n" + dru::preset_help())->required();
  experiment->add_flag("--quick", exp_opt.quick, "Few epochs and small subsets: minutes on a CPU");
  experiment->add_option("--device", exp_opt.device, "cpu or cuda")->capture_default_str();
  experiment->add_flag("--graphs", exp_opt.graphs,
                       "With --device cuda, one process: replay each full batch's training step from one CUDA "
                       "graph (same results; Blindspot's unlearning loop stays eager)");
  experiment->add_option("--seeds", exp_opt.seeds, "Run this many seeds and report mean ± sd")
      ->capture_default_str()
      ->check(kPositive);
  experiment->add_option("--seed", exp_opt.first_seed, "The first seed (seeds are SEED, SEED+1, ...)")
      ->capture_default_str()
      ->check(kSeed);
  experiment->add_option("--out", exp_opt.out, "Output folder")
      ->default_str("results/PRESET (results/PRESET-quick)")
      ->check(kNonEmpty);
  experiment->add_flag("--resume", exp_opt.resume,
                       "Also continue an interrupted original/gold training from its per-epoch checkpoint "
                       "(finished stages are always reused)");
  experiment->add_flag("--fresh", exp_opt.fresh, "Recompute every stage, ignoring finished ones in --out");
  experiment->add_option("--forget", exp_opt.forget,
                         "Forget rule instead of the preset's (score<2, age<=30, customer=MT_003, 30..70, "
                         "random=0.1:7, ids=FILE)")
      ->check(kNonEmpty);
  experiment->add_option("--data", exp_opt.data,
                         "Data instead of the preset's default (stsb: a folder; electricity: a csv or "
                         "LD2011_2014.txt; images: a labels csv)")
      ->check(kNonEmpty);
  experiment->add_flag("--skip-bad", exp_opt.skip_bad,
                       "Image presets: skip undecodable or missing images (they are listed) instead of stopping");
  experiment->add_option("--ain-lr", exp_opt.ain_lr,
                         "Adam learning rate of the AIN relearning; default: the largest of 0.01, 0.003, 0.001, ... "
                         "1e-5 at which the retrained model needs at least 20 steps (the notebook used 0.01)")
      ->check(kPositive);
  experiment->add_option("--ain-alpha", exp_opt.ain_alpha,
                         "AIN target: (1 + alpha) x the original's validation forget loss (paper: 0.05)")
      ->check(kNonNegative)  // CLI::Range lets NaN through too
      ->check(CLI::Range(0.0, 10.0));
  experiment->add_option("--ain-cap", exp_opt.ain_cap,
                         "Most relearning steps per model (default: 10 epochs of the training set, the paper's)")
      ->check(CLI::Range(int64_t(1), int64_t(100000000)));
  experiment->add_option("--attack-members", exp_opt.mia_members,
                         "The membership attack's members: train (the paper's: the whole training set, forget "
                         "samples included) or retain")
      ->check(CLI::IsMember({"train", "retain"}));
  experiment->add_option("--set", exp_opt.sets,
                         "STAGE.KEY=VALUE: change one setting of one stage (repeatable). Stages: original, gold "
                         "(or retrain), " + method_names_text() + "; keys: " + setting_keys_text())
      ->take_all();
  experiment->add_option("--audit", exp_opt.audit,
                         "planted: also train an original where a seeded tenth of the training targets is shifted "
                         "by +2 sd, unlearn that tenth with every method, and report how much of the shift survives")
      ->check(CLI::IsMember({"planted"}));
  experiment->add_option("--stop-after", exp_opt.stop_after,
                         "Stop (exit 130, as Ctrl-C) once this stage of the first seed is saved: original, gold, a "
                         "method name or metrics");

  // Single steps on checkpoints (tools/steps.h).
  const std::string kDataOverride =
      "The data, where it is not at the path the checkpoint records (a moved checkout); the preset, forget rule, "
      "seed and model must still match";
  dru::StepOptions train_opt, unlearn_opt, eval_opt;
  auto* train = app.add_subcommand(
      "train", "Train a preset's original model (or with --retain-only its retrained gold model) and save it as "
               "safetensors with the task in its metadata");
  train->add_option("preset", train_opt.preset, "One of:\n" + dru::preset_help())->required();
  train->add_flag("--quick", train_opt.quick, "The preset's --quick variant");
  train->add_option("--data", train_opt.data, "Data instead of the preset's default")->check(kNonEmpty);
  train->add_option("--forget", train_opt.forget, "Forget rule instead of the preset's")->check(kNonEmpty);
  train->add_flag("--retain-only", train_opt.retain_only, "Train the gold model: fresh, on the retain set only");
  train->add_option("--epochs", train_opt.epochs, "Epochs instead of the preset's")->check(kPositive);
  train->add_option("--lr", train_opt.lr, "Adam learning rate instead of the preset's")->check(kPositive);
  train->add_option("--seed", train_opt.seed, "Seed for data order and initialisation")
      ->capture_default_str()
      ->check(kSeed);
  train->add_option("--out", train_opt.out, "The model file to write (.safetensors)")->required()->check(kNonEmptyPath);
  train->add_flag("--quiet", train_opt.quiet, "No per-epoch lines");

  std::string method_list;
  for (auto& n : dru::method_names()) method_list += (method_list.empty() ? "" : ", ") + n;
  auto* unlearn_cmd = app.add_subcommand(
      "unlearn", "Run one unlearning method on an original model from dru train and save the result");
  unlearn_cmd->add_option("preset", unlearn_opt.preset, "The preset the model was trained for")->required();
  unlearn_cmd->add_option("--method", unlearn_opt.method, "One of " + method_list)
      ->required()
      ->check(CLI::IsMember(dru::method_names()));
  unlearn_cmd->add_option("--model", unlearn_opt.model, "The original model (from dru train)")
      ->required()
      ->check(kNonEmptyPath);
  unlearn_cmd->add_option("--out", unlearn_opt.out, "The model file to write (.safetensors)")
      ->required()
      ->check(kNonEmptyPath);
  unlearn_cmd->add_option("--data", unlearn_opt.data, kDataOverride)->check(kNonEmpty);
  unlearn_cmd->add_option("--epochs", unlearn_opt.epochs, "Epochs instead of the preset's")->check(kPositive);
  unlearn_cmd->add_option("--lr", unlearn_opt.lr, "Adam learning rate instead of the preset's")->check(kPositive);
  unlearn_cmd->add_option("--beta", unlearn_opt.beta, "Blindspot's attention-transfer weight (paper: 50)")
      ->check(kNonNegative);
  unlearn_cmd->add_flag("--quiet", unlearn_opt.quiet, "No per-epoch lines");

  auto* eval = app.add_subcommand(
      "eval", "Print a model's retain and forget test loss; with --gold also the Wasserstein-1 distance to the gold "
              "model's predictions and the membership-inference fraction on the training forget set");
  eval->add_option("preset", eval_opt.preset, "The preset the model was trained for")->required();
  eval->add_option("--model", eval_opt.model, "The model to measure (from dru train or dru unlearn)")
      ->required()
      ->check(kNonEmptyPath);
  eval->add_option("--gold", eval_opt.gold, "The gold model (dru train --retain-only)")->check(kNonEmptyPath);
  eval->add_option("--data", eval_opt.data, kDataOverride)->check(kNonEmpty);

  dru::CommCheckOptions comm_opt;
  auto* comm_check = app.add_subcommand(
      "comm-check", "Check and time the data-parallel collectives (all-reduce, broadcast, barrier) under the launcher "
                    "that started dru: mpirun, torchrun, srun or none (see README: multi-GPU and multi-node)");
  comm_check->add_option("--device", comm_opt.device, "cpu (MPI) or cuda (NCCL)")->capture_default_str();
  comm_check->add_flag("--nccl", comm_opt.nccl, "With --device cuda: NCCL even for a single process");
  comm_check->add_option("--mib", comm_opt.mib, "Size of the timed all-reduce in MiB")->capture_default_str()->check(kPositive);
  comm_check->add_option("--iters", comm_opt.iters, "Timed all-reduces")->capture_default_str()->check(kPositive);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "dru: %s (see dru --help)\n", e.what());
    return 2;
  }
  if (app.get_subcommands().empty()) {
    std::fprintf(stderr, "dru: a subcommand is required: info, demo, experiment, train, unlearn or eval (see dru --help)\n");
    return 2;
  }
  try {
    if (*info) {
      if (!dataset.empty() && !model_cfg.name.empty()) {
        std::fprintf(stderr, "dru: --dataset and --model are separate questions; ask one at a time\n");
        return 2;
      }
      if (!dataset.empty()) {
        dru::print_dataset_info(dataset, data_path, forget_rule);
        return 0;
      }
      if (!data_path.empty() || !forget_rule.empty()) {
        std::fprintf(stderr, "dru: --data and --forget need --dataset (see dru info --help)\n");
        return 2;
      }
      if (!model_cfg.name.empty()) return cmd_model_info(model_cfg, model_input);
      if (!model_input.empty() || model_cfg.small_stem) {
        std::fprintf(stderr, "dru: --input and --small-stem need --model (see dru info --help)\n");
        return 2;
      }
      return cmd_info();
    }
    if (*demo) {
      if (demo_cfg.resume && demo_cfg.checkpoint_dir.empty()) {
        std::fprintf(stderr, "dru: --resume needs --checkpoint-dir (see dru demo --help)\n");
        return 2;
      }
      return cmd_demo(demo_cfg);
    }
    if (*experiment) {
      exp_opt.data_root = dru::shipped_path("data");
      exp_opt.command_line = command_text(argc, argv);
      dru::install_sigint_handler();
      // Under mpirun, torchrun or srun: one rank of a data-parallel run (engine/comm.h).
      dru::init_distributed(exp_opt.device == "cuda" ? dru::Device::cuda : dru::Device::cpu);
      dru::ExperimentSummary sum = dru::run_experiment(exp_opt);
      if (dru::world().is_root()) {
        for (const auto& n : sum.plot_notes) std::fprintf(stderr, "dru: %s\n", n.c_str());
        std::fprintf(stderr, "dru: %d stages run, %d reused; results in %s\n", sum.stages_run, sum.stages_cached,
                     sum.out.c_str());
        std::fputs(dru::render_markdown(sum.results).c_str(), stdout);
        std::fflush(stdout);
      }
      dru::finalize_distributed();
      return 0;
    }
    if (*comm_check) return dru::run_comm_check(comm_opt);
    if (dru::detect_world().size > 1) {
      std::fprintf(stderr, "dru: %s runs as one process; only dru experiment runs data parallel (start it without "
                           "mpirun, torchrun or srun)\n", app.get_subcommands().front()->get_name().c_str());
      return 2;
    }
    if (*train || *unlearn_cmd || *eval) {
      const std::string root = dru::shipped_path("data");
      if (*train) {
        train_opt.data_root = root;
        dru::run_train_step(train_opt);
      } else if (*unlearn_cmd) {
        unlearn_opt.data_root = root;
        dru::run_unlearn_step(unlearn_opt);
      } else {
        eval_opt.data_root = root;
        dru::run_eval_step(eval_opt);
      }
      return 0;
    }
  } catch (const dru::UsageError& e) {
    return finish_with_error(2, e.what(), true);
  } catch (const dru::Interrupted& e) {
    return finish_with_error(130, e.what(), true);
  } catch (const std::exception& e) {
    return finish_with_error(1, e.what(), false);
  }
  return 0;
}
