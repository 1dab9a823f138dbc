// test_unlearn_experiment.cpp — the experiment runner and its report: the .npy writer, the markdown
// table, presets and stage keys, and the stage cache (a second run reuses every stage; a run stopped
// after the gold stage and resumed equals an uninterrupted one) on a tiny STS-B configuration.
#include <doctest/doctest.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "tests/temp_dir.h"
#include "tests/tiny_experiment.h"
#include "tests/util.h"
#include "unlearn/experiment.h"
#include "engine/checkpoint.h"
#include "unlearn/report.h"

namespace {

using dru::test::read_file;
using dru::test::seconds_since;
using dru::test::tiny_stsb;

// results.json without what says how this run went (its start, what it reused), not what it measured.
nlohmann::json without_start(nlohmann::json j) {
  for (const char* k : {"started", "resumed", "reused_stages", "continued_training"}) j["provenance"].erase(k);
  return j;
}

// results.json without the wall-clock fields, which differ between runs.
nlohmann::json without_timing(nlohmann::json j) {
  if (j.is_object()) {
    for (const char* k : {"seconds", "speedup", "started", "resumed", "reused_stages", "continued_training"}) j.erase(k);
    for (auto& [k, v] : j.items()) v = without_timing(v);
  } else if (j.is_array()) {
    for (auto& v : j) v = without_timing(v);
  }
  return j;
}

}  // namespace

TEST_CASE("npy: header bytes and round trip") {
  const std::vector<double> v{1.5, -2.25, 3e10};
  const std::string b = dru::npy_bytes(v);
  CHECK(b.compare(0, 6, "\x93NUMPY") == 0);
  CHECK(b[6] == 1);
  CHECK(b[7] == 0);
  const size_t len = size_t(uint8_t(b[8])) | size_t(uint8_t(b[9])) << 8;
  CHECK((10 + len) % 16 == 0);
  const std::string header = b.substr(10, len);
  CHECK(header.rfind("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", 0) == 0);
  CHECK(header.back() == '\n');
  CHECK(b.size() == 10 + len + 3 * 8);
  double first;
  std::memcpy(&first, b.data() + 10 + len, 8);
  CHECK(first == 1.5);
  dru::test::TempDir tmp("npy");
  dru::write_npy(tmp.file("a.npy"), v);
  CHECK(dru::read_npy(tmp.file("a.npy")) == v);
  dru::write_npy(tmp.file("empty.npy"), {});
  CHECK(dru::read_npy(tmp.file("empty.npy")).empty());
}

namespace {

dru::ModelMetrics row(const std::string& method, double retain, double forget, double seed_shift) {
  dru::ModelMetrics m;
  m.method = method;
  m.retain_loss = retain + seed_shift;
  m.forget_loss = forget;
  m.train_forget_loss = forget + 1;
  m.w1 = 0.5;
  m.rel_diff = 0.75;
  m.mia_forget = 0.25;
  m.mia_per_class = 100;
  m.mia_accuracy = 0.6;
  m.mia_accuracy_lo = 0.55;
  m.mia_accuracy_hi = 0.65;
  m.mia_auc = 0.62;
  m.seconds = 10;
  m.speedup = 0.5;
  return m;
}

dru::ResultSet fixed_results(int seeds) {
  dru::ResultSet r;
  r.preset = "stsb-lstm";
  r.device = "cpu";
  r.rule = "score<2";
  r.loss = "MSE";
  r.quick = true;
  for (int k = 0; k < seeds; ++k) {
    dru::SeedResult s;
    s.seed = uint64_t(k);
    dru::ModelMetrics o = row("Original", 2, 1, k), g = row("Retrain", 1, 6, 0.5 * k), b = row("Blindspot", 1, 5, k);
    g.has_ain = b.has_ain = true;
    g.ain_steps = g.ain_gold_steps = b.ain_gold_steps = 24;
    g.ain = 1;
    g.ain_cap = b.ain_cap = 200;
    b.ain_steps = 12;
    b.ain = 0.5;
    o.mia_accuracy_lo = 0.45;  // the Original's attack cannot tell
    s.rows = {o, g, b};
    s.ain_plan = {{"lr", 0.001}, {"target", 2.5}, {"cap", 200}, {"from_ladder", true}, {"tried", {{0.01, 1}, {0.003, 5}, {0.001, 24}}}};
    r.seeds.push_back(s);
  }
  return r;
}

}  // namespace

TEST_CASE("report: markdown table of one seed") {
  dru::ResultSet r = fixed_results(1);
  r.sets = {"blindspot.beta=10"};
  const std::string md = dru::render_markdown(r);
  MESSAGE(md);
  CHECK(md.rfind("| Method | Retain MSE (test) | Forget MSE (test) | Forget MSE (train) | W1 to Retrain (train forget) | "
                 "Rel. diff. to Retrain (median) | MIA forget | Attack accuracy [95 % CI] | Attack AUC | AIN | AIN steps "
                 "(model / gold) | Time (s) | Speed-up vs Retrain |\n",
                 0) == 0);
  CHECK(md.find("| Original | 2.0000 | 1.0000 | 2.0000 | 0.5000 | 0.750 | 0.250 (uninformative) | 0.600 [0.450, 0.650] | "
                "0.620 | – | – | 10.0 | 0.5x |\n") != std::string::npos);
  CHECK(md.find("| Blindspot | 1.0000 | 5.0000 | 6.0000 | 0.5000 | 0.750 | 0.250 | 0.600 [0.550, 0.650] | 0.620 | 0.500 "
                "| 12 / 24 | 10.0 | 0.5x |\n") != std::string::npos);
  CHECK(md.find("(uninformative): the attack's own held-out balanced accuracy") != std::string::npos);
  CHECK(md.find("Settings changed with --set: blindspot.beta=10.") != std::string::npos);
  CHECK(md.find("seed 0: lr 0.001 (ladder: 0.01 → 1, 0.003 → 5, 0.001 → 24), target 2.5, cap 200 steps") !=
        std::string::npos);
  CHECK(md.find("Paired difference") == std::string::npos);  // one seed: no intervals
  CHECK(md.find("≤") == std::string::npos);
  CHECK(md.find("≥") == std::string::npos);

  // Flags: a count of 1 (an upper bound), a count at the cap (a lower bound), a gold count below the minimum.
  r.seeds[0].rows[2].ain_steps = 1;
  CHECK(dru::render_markdown(r).find("| ≤0.500 |") != std::string::npos);
  r.seeds[0].rows[2].ain_steps = 0;  // already at the target: the floor too
  CHECK(dru::render_markdown(r).find("| ≤0.500 |") != std::string::npos);
  r.seeds[0].rows[2].ain_steps = 200;
  CHECK(dru::render_markdown(r).find("| ≥0.500 |") != std::string::npos);
  r.seeds[0].rows[2].ain_gold_steps = 3;
  const std::string flagged = dru::render_markdown(r);
  CHECK(flagged.find("| ≥0.500* |") != std::string::npos);
  CHECK(flagged.find("\\* the gold model's relearning count") != std::string::npos);
  const std::string csv = dru::render_csv(r);
  const size_t at = csv.find("\n0,Blindspot,1,5,6,0.5,0.75,0.25,0,0,100,");
  REQUIRE(at != std::string::npos);
  // ... the attack's accuracy, interval and AUC at full precision, then ain, steps, gold, cap, lr, flags, planted.
  CHECK(csv.find(",0.5,200,3,200,0,0,0,,10,0.5\n", at) != std::string::npos);
}

TEST_CASE("report: several seeds give t-intervals and paired differences to Retrain") {
  const dru::ResultSet r = fixed_results(3);
  const std::string md = dru::render_markdown(r);
  MESSAGE(md);
  // Retain losses 2, 3, 4 for the Original: mean 3, sd 1, half-width t(2) / sqrt(3) = 2.484.
  CHECK(md.find("| Original | 3.0000 ± 2.4842 |") != std::string::npos);
  CHECK(md.find("3 seeds (mean ± half-width of the 95 % Student-t interval)") != std::string::npos);
  CHECK(md.find("(uninformative in 3/3)") != std::string::npos);
  // Blindspot − Retrain retain losses per seed: 0, 0.5, 1 -> mean 0.5, sd 0.5, half-width 1.242.
  CHECK(md.find("Paired difference to Retrain") != std::string::npos);
  CHECK(md.find("| Blindspot | +0.5000 [-0.7421, +1.7421] | -1.0000 [-1.0000, -1.0000] |") != std::string::npos);
  const nlohmann::json j = dru::to_json(r);
  CHECK(j["runs"].size() == 3);
  CHECK(j["summary"]["Original"]["retain_loss"]["mean"].get<double>() == 3.0);
  CHECK(j["summary"]["Original"]["retain_loss"]["ci95"][0].get<double>() == doctest::Approx(3 - 2.48417).epsilon(1e-4));
  CHECK(j["summary"]["Blindspot"]["paired_difference_to_retrain"]["retain_loss"]["mean"].get<double>() ==
        doctest::Approx(0.5));
  CHECK(j["summary"]["Original"]["attack_uninformative_seeds"].get<int64_t>() == 3);
}

TEST_CASE("report: mean and sample sd") {
  dru::MeanSd m = dru::mean_sd({1, 2, 3, 4});
  CHECK(m.mean == 2.5);
  CHECK(m.sd == doctest::Approx(1.2909944487));
  CHECK(dru::format_mean_ci({3}, 2) == "3.00");
  const std::vector<double> d = dru::density({0.1, 0.1, 0.6, 5.0}, 0, 1, 2);
  CHECK(d[0] == doctest::Approx(1.0));  // 2 of 4 values in a bin of width 0.5
  CHECK(d[1] == doctest::Approx(0.5));
}

TEST_CASE("experiment: presets and stage keys") {
  for (const auto& name : dru::preset_names()) {
    const dru::Preset paper = dru::make_preset(name, false);
    const dru::Preset quick = dru::make_preset(name, true);
    CHECK(paper.original.epochs == 100);
    // The paper's rate (docs/paper.md §2.2), except BERT-lite, which has no paper run: 1/100 of it.
    CHECK(paper.gold.lr == (name == "stsb-bertlite" ? 1e-4 : 0.01));
    CHECK(quick.original.epochs < paper.original.epochs);
    CHECK(paper.methods.size() == dru::method_names().size());
    CHECK(dru::preset_json(paper) != dru::preset_json(quick));
  }
  CHECK(dru::make_preset("stsb-lstm", false).loss == dru::LossKind::mse);
  CHECK(dru::make_preset("stsb-lstm", false).rule == "score<2");
  CHECK(dru::make_preset("electricity-lstm", false).loss == dru::LossKind::quantile);
  CHECK(dru::make_preset("agedb-allcnn", false).rule == "age<=30");
  try {
    dru::make_preset("mnist-mlp", false);
    CHECK(false);
  } catch (const dru::UsageError& e) {
    CHECK(std::string(e.what()) ==
          "unknown preset 'mnist-mlp': choose one of stsb-lstm, stsb-bertlite, electricity-lstm, utkface-allcnn, "
          "agedb-allcnn, agedb-resnet18, imdbwiki-resnet18");
  }
  // FNV-1a 64 known values.
  CHECK(dru::hash_hex("") == "cbf29ce484222325");
  CHECK(dru::hash_hex("a") == "af63dc4c8601ec8c");
}

TEST_CASE("experiment: a second run reuses every stage and writes the same results") {
  dru::test::TempDir tmp("exp_cache");
  const auto t0 = std::chrono::steady_clock::now();
  dru::ExperimentSummary a = dru::run_experiment(tiny_stsb(tmp.str()));
  const double first = seconds_since(t0);
  CHECK(a.stages_run == 7);
  CHECK(a.stages_cached == 0);
  REQUIRE(a.results.seeds.size() == 1);
  CHECK(a.results.seeds[0].rows.size() == 6);
  const std::string json1 = read_file(tmp.file("results.json"));
  CHECK(std::filesystem::exists(tmp.file("results.md")));
  CHECK(std::filesystem::exists(tmp.file("results.csv")));
  CHECK(dru::read_npy(tmp.file("seed0/predictions/blindspot.npy")).size() ==
        dru::read_npy(tmp.file("seed0/predictions/targets.npy")).size());

  const auto t1 = std::chrono::steady_clock::now();
  dru::ExperimentSummary b = dru::run_experiment(tiny_stsb(tmp.str()));
  const double second = seconds_since(t1);
  MESSAGE("first run " << first << " s, cached run " << second << " s");
  CHECK(b.stages_run == 0);
  CHECK(b.stages_cached == 7);
  // The same numbers, timings included (they are the stages' own); only the run's start time is new.
  const auto again = nlohmann::json::parse(read_file(tmp.file("results.json")));
  CHECK(without_start(again) == without_start(nlohmann::json::parse(json1)));
  CHECK(again["provenance"]["resumed"].get<bool>());
  CHECK(again["provenance"]["reused_stages"].size() == 7);
  CHECK_FALSE(nlohmann::json::parse(json1)["provenance"]["resumed"].get<bool>());

  // A changed method setting reruns that method and the metrics only.
  dru::ExperimentOptions o = tiny_stsb(tmp.str());
  auto shrink = o.adjust;
  o.adjust = [shrink](dru::Preset& p) {
    shrink(p);
    p.methods["finetune"].lr = 0.002;
  };
  dru::ExperimentSummary c = dru::run_experiment(o);
  CHECK(c.stages_run == 2);
  CHECK(c.stages_cached == 5);
}

TEST_CASE("experiment: stopped after the gold stage and resumed equals an uninterrupted run") {
  dru::test::TempDir whole("exp_whole"), parts("exp_parts");
  dru::run_experiment(tiny_stsb(whole.str()));
  dru::ExperimentOptions stop = tiny_stsb(parts.str());
  stop.stop_after = "gold";
  CHECK_THROWS_AS(dru::run_experiment(stop), dru::Interrupted);
  CHECK(std::filesystem::exists(parts.file("seed0/gold.json")));
  CHECK_FALSE(std::filesystem::exists(parts.file("seed0/finetune.json")));
  dru::ExperimentSummary resumed = dru::run_experiment(tiny_stsb(parts.str()));
  CHECK(resumed.stages_cached == 2);
  CHECK(resumed.stages_run == 5);
  const auto a = nlohmann::json::parse(read_file(whole.file("results.json")));
  const auto b = nlohmann::json::parse(read_file(parts.file("results.json")));
  CHECK(without_timing(a) == without_timing(b));
}

TEST_CASE("experiment: bad options are usage errors") {
  dru::test::TempDir tmp("exp_bad");
  dru::ExperimentOptions o = tiny_stsb(tmp.str());
  o.forget = "age<=30";  // STS-B's label is the score
  CHECK_THROWS_AS(dru::run_experiment(o), dru::UsageError);
  o = tiny_stsb(tmp.str());
  o.data = tmp.file("nowhere");
  CHECK_THROWS_AS(dru::run_experiment(o), dru::UsageError);
  o = tiny_stsb(tmp.str());
  o.stop_after = "lunch";
  CHECK_THROWS_AS(dru::run_experiment(o), dru::UsageError);
  if (dru::cuda_device_count() == 0) {  // with a GPU, cuda is a valid device
    o = tiny_stsb(tmp.str());
    o.device = "cuda";
    CHECK_THROWS_WITH_AS(dru::run_experiment(o), doctest::Contains("--device cuda: "), dru::Error);
  }
  o = tiny_stsb(tmp.str());
  o.device = "tpu";
  CHECK_THROWS_AS(dru::run_experiment(o), dru::UsageError);
}

TEST_CASE("experiment: --set changes one setting of one stage, and refuses anything else") {
  dru::Preset p = dru::make_preset("stsb-lstm", true);
  dru::apply_setting(p, "blindspot.beta=10");
  dru::apply_setting(p, "original.epochs=3");
  dru::apply_setting(p, "retrain.lr=0.02");  // the gold model's other name
  dru::apply_setting(p, "finetune.restore_best=false");
  dru::apply_setting(p, "blindspot.blindspot_restore_best=0");
  dru::apply_setting(p, "gaussian-amnesiac.batch=32");
  dru::apply_setting(p, "planted.epochs=40");
  CHECK(p.methods["blindspot"].beta == 10);
  CHECK(p.original.epochs == 3);
  CHECK(p.gold.lr == 0.02);
  CHECK_FALSE(p.methods["finetune"].restore_best);
  CHECK_FALSE(p.methods["blindspot"].blindspot_restore_best);
  CHECK(p.methods["gaussian-amnesiac"].batch == 32);
  CHECK(dru::planted_settings(p).epochs == 40);
  CHECK_FALSE(dru::planted_settings(p).restore_best);  // the audit keeps its last epoch
  dru::apply_setting(p, "planted.epochs=60");
  CHECK(dru::planted_settings(p).epochs == 60);         // the last assignment wins
  CHECK(dru::planted_settings(dru::make_preset("stsb-lstm", true)).epochs == 40);    // at least 40
  CHECK(dru::planted_settings(dru::make_preset("stsb-lstm", false)).epochs == 100);  // or the original's
  CHECK(dru::planted_settings(p).plateau.patience >= 1000000);                       // a constant rate
  CHECK(p.original.epochs == 3);                        // planted.* leaves the original alone
  for (const char* bad : {"blindspot.beta", "beta=10", "lunch.epochs=3", "finetune.speed=3", "finetune.epochs=0",
                          "finetune.epochs=2.5", "finetune.epochs=", "finetune.lr=-1", "finetune.lr=nan",
                          "finetune.lr=1e400", "blindspot.beta=inf", "finetune.restore_best=maybe",
                          "original.plateau_factor=1.5"}) {
    INFO(bad);
    CHECK_THROWS_AS(dru::apply_setting(p, bad), dru::UsageError);
  }
  try {
    dru::apply_setting(p, "finetune.speed=3");
  } catch (const dru::UsageError& e) {
    const std::string what = e.what();
    CHECK(what.find("unknown setting 'speed'") != std::string::npos);
    CHECK(what.find("epochs, lr, batch") != std::string::npos);  // the valid keys are listed
    CHECK(what.find('\n') == std::string::npos);                 // one line
  }
}

TEST_CASE("experiment: forget sets must cover every split before any training") {
  dru::test::TempDir tmp("exp_forget");
  // An ids= file of training pairs only: the validation and test forget sets would be empty.
  {
    std::ofstream ids(tmp.file("train_ids.txt"));
    for (int i = 0; i < 20; ++i) ids << "train:" << i * 5249 / 300 << "\n";  // the tiny subset's pairs
  }
  dru::ExperimentOptions o = tiny_stsb(tmp.file("out1"));
  o.forget = "ids=" + tmp.file("train_ids.txt");
  const auto t0 = std::chrono::steady_clock::now();
  CHECK_THROWS_WITH_AS(dru::run_experiment(o), doctest::Contains("selects no validation sample"), dru::UsageError);
  CHECK(seconds_since(t0) < 20);  // refused after loading the data, before any training
  CHECK_FALSE(std::filesystem::exists(tmp.file("out1/seed0")));
  // Validation pairs too, but no test pair: the test forget set would be empty.
  {
    std::ofstream ids(tmp.file("train_val_ids.txt"));
    for (int i = 0; i < 20; ++i) ids << "train:" << i * 5249 / 300 << "\nval:" << i * 1000 / 120 << "\n";
  }
  o.forget = "ids=" + tmp.file("train_val_ids.txt");
  CHECK_THROWS_WITH_AS(dru::run_experiment(o), doctest::Contains("selects no test sample"), dru::UsageError);
  // Unqualified STS-B indices name a pair of every split: ambiguous.
  {
    std::ofstream ids(tmp.file("bare_ids.txt"));
    ids << "0\n";  // pair 0 of every split
  }
  o.forget = "ids=" + tmp.file("bare_ids.txt");
  CHECK_THROWS_WITH_AS(dru::run_experiment(o), doctest::Contains("write it as train:0"), dru::UsageError);
}

TEST_CASE("experiment: results.json records provenance and the metrics' own checks") {
  dru::test::TempDir tmp("exp_prov");
  dru::ExperimentOptions o = tiny_stsb(tmp.str());
  o.command_line = "dru experiment stsb-lstm --quick";
  o.sets = {"finetune.epochs=2"};
  dru::run_experiment(o);
  const auto j = nlohmann::json::parse(read_file(tmp.file("results.json")));
  const auto& pv = j.at("provenance");
  CHECK(pv.at("command").get<std::string>() == "dru experiment stsb-lstm --quick");
  CHECK(pv.at("dru_version").get<std::string>() == DRU_VERSION);
  CHECK_FALSE(pv.at("commit").get<std::string>().empty());
  CHECK(pv.at("counts").at("train").at("total").get<int64_t>() == 300);
  CHECK(pv.at("counts").at("train").at("forget").get<int64_t>() + pv.at("counts").at("train").at("retain").get<int64_t>() ==
        300);
  CHECK(pv.at("counts").at("test").at("forget").get<int64_t>() > 0);
  CHECK(j.at("set") == nlohmann::json::array({"finetune.epochs=2"}));
  CHECK(j.at("settings").at("methods").at("finetune").at("epochs").get<int>() == 2);
  CHECK(j.at("settings").at("metrics").at("attack").at("members").get<std::string>() == "train");
  const auto& run = j.at("runs").at(0);
  CHECK(run.at("ain_plan").at("tried").size() >= 1);
  for (const auto& m : run.at("methods")) {
    INFO(m.at("method").get<std::string>());
    CHECK(m.contains("train_forget_loss"));
    // Equal classes: 100 members and 100 non-members (the test split holds 120 pairs).
    CHECK(m.at("attack").at("per_class").get<int64_t>() == 100);
    CHECK(m.at("attack").at("ci95").at(0).get<double>() <= m.at("attack").at("balanced_accuracy").get<double>());
  }
  const std::string md = read_file(tmp.file("results.md"));
  CHECK(md.find("Forget MSE (train)") != std::string::npos);
  CHECK(md.find("Settings changed with --set: finetune.epochs=2.") != std::string::npos);
}

TEST_CASE("experiment: a stage reruns when any input of its key changes") {
  namespace fs = std::filesystem;
  dru::test::TempDir tmp("exp_keys");
  // A private copy of the shipped STS-B data (the GloVe file linked), so it can be edited.
  fs::create_directories(tmp.path / "data/stsb");
  fs::create_directories(tmp.path / "data/glove");
  for (const char* f : {"train_new.tsv", "dev_new.tsv", "test_new.tsv", "english_stopwords.txt"})
    fs::copy_file(fs::path(DRU_SOURCE_DIR) / "data/stsb" / f, tmp.path / "data/stsb" / f);
  fs::create_symlink(fs::path(DRU_SOURCE_DIR) / "data/glove/glove.6B.100d.stsb_vocab.txt.gz",
                     tmp.path / "data/glove/glove.6B.100d.stsb_vocab.txt.gz");
  auto options = [&] {
    dru::ExperimentOptions o = tiny_stsb(tmp.file("out"));
    o.data = tmp.file("data");
    return o;
  };
  dru::ExperimentSummary first = dru::run_experiment(options());
  CHECK(first.stages_run == 7);
  CHECK(dru::run_experiment(options()).stages_cached == 7);

  // The original's settings: the original and every method (they start from it) and the metrics rerun; the
  // gold model does not read the original.
  dru::ExperimentOptions o = options();
  o.sets = {"original.lr=0.005"};
  dru::ExperimentSummary s = dru::run_experiment(o);
  CHECK(s.stages_run == 6);
  CHECK(s.stages_cached == 1);
  // Another forget rule: everything.
  o = options();
  o.forget = "score<1.5";
  CHECK(dru::run_experiment(o).stages_run == 7);
  // The data's contents under the same path: one score edited in the training file (pair 0, which the tiny
  // subset keeps) -> everything reruns.
  {
    std::string text = read_file(tmp.file("data/stsb/train_new.tsv"));
    const size_t line = text.find('\n') + 1;             // the first data row
    const size_t score = text.rfind('\t', text.find('\n', line)) + 1;
    text.replace(score, text.find('\n', line) - score, "4.9");
    dru::test::write_file(tmp.file("data/stsb/train_new.tsv"), text);
  }
  CHECK(dru::run_experiment(options()).stages_run == 7);
  CHECK(dru::run_experiment(options()).stages_cached == 7);
  // An ids= file's contents under the same name: every stage reruns.
  {
    std::ofstream ids(tmp.file("ids.txt"));
    for (int i = 0; i < 40; ++i) ids << "train:" << i * 5249 / 300 << "\nval:" << i * 1000 / 120 << "\ntest:" << i * 1000 / 120 << "\n";
  }
  o = options();
  o.forget = "ids=" + tmp.file("ids.txt");
  CHECK(dru::run_experiment(o).stages_run == 7);
  {
    std::ofstream ids(tmp.file("ids.txt"));
    for (int i = 1; i < 40; ++i) ids << "train:" << i * 5249 / 300 << "\nval:" << i * 1000 / 120 << "\ntest:" << i * 1000 / 120 << "\n";
  }
  CHECK(dru::run_experiment(o).stages_run == 7);
  // A weights file whose own key is stale (a kill between the two writes of a stage, or a hand copy): the
  // stage reruns even though its JSON matches.
  o = options();
  dru::run_experiment(o);
  fs::copy_file(tmp.file("out/seed0/finetune.safetensors"), tmp.file("out/seed0/blindspot.safetensors"),
                fs::copy_options::overwrite_existing);
  dru::ExperimentSummary stale = dru::run_experiment(o);
  // Blindspot alone: recomputed, it has the same key, so the metrics computed from it still hold.
  CHECK(stale.stages_run == 1);
  CHECK(dru::load_safetensors(tmp.file("out/seed0/blindspot.safetensors")).metadata.at("stage") == "blindspot");
}
