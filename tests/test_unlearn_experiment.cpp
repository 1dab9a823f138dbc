// test_unlearn_experiment.cpp — the experiment runner and its report: the .npy writer, the markdown
// table, presets and stage keys, and the stage cache (a second run reuses every stage; a run stopped
// after the gold stage and resumed equals an uninterrupted one) on a tiny STS-B configuration.
#include <doctest/doctest.h>

#include <chrono>
#include <cstring>
#include <filesystem>

#include "tests/temp_dir.h"
#include "tests/tiny_experiment.h"
#include "tests/util.h"
#include "unlearn/experiment.h"
#include "unlearn/report.h"

namespace {

using dru::test::read_file;
using dru::test::seconds_since;
using dru::test::tiny_stsb;

// results.json without the wall-clock fields, which differ between runs.
nlohmann::json without_timing(nlohmann::json j) {
  if (j.is_object()) {
    j.erase("seconds");
    j.erase("speedup");
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

TEST_CASE("report: markdown table of a fixed result set") {
  dru::ResultSet r;
  r.preset = "stsb-lstm";
  r.device = "cpu";
  r.rule = "score<2";
  r.loss = "MSE";
  r.quick = true;
  for (uint64_t seed : {0, 1}) {
    dru::SeedResult s;
    s.seed = seed;
    dru::ModelMetrics o;
    o.method = "Original";
    o.retain_loss = 2 + double(seed);
    o.forget_loss = 1;
    o.w1 = 0.5;
    o.rel_diff = 0.75;
    o.mia_forget = 0.25;
    o.seconds = 10;
    o.speedup = 0.5;
    dru::ModelMetrics b;
    b.method = "Blindspot";
    b.retain_loss = 1;
    b.forget_loss = 6 + 2 * double(seed);
    b.w1 = 0.125;
    b.rel_diff = 0.25 * double(seed + 1);
    b.mia_forget = 0.5;
    b.has_ain = true;
    b.ain = 0.5;
    b.ain_steps = 1;
    b.ain_gold_steps = 2;
    b.seconds = 1;
    b.speedup = 5;
    s.rows = {o, b};
    r.seeds.push_back(s);
  }
  const std::string md = dru::render_markdown(r);
  CHECK(md.rfind("| Method | Retain MSE (test) | Forget MSE (test) | W1 to Retrain (train forget) | Rel. diff. to "
                 "Retrain (median) | MIA forget | AIN | AIN steps (unlearned / gold) | Time (s) | Speed-up vs Retrain "
                 "|\n|---|---|---|---|---|---|---|---|---|---|\n",
                 0) == 0);
  CHECK(md.find("| Original | 2.5000 ± 0.7071 | 1.0000 ± 0.0000 | 0.5000 ± 0.0000 | 0.750 ± 0.000 | 0.250 ± 0.000 | – "
                "| – | 10.0 ± 0.0 | 0.5 ± 0.0x |\n") != std::string::npos);
  CHECK(md.find("| Blindspot | 1.0000 ± 0.0000 | 7.0000 ± 1.4142 | 0.1250 ± 0.0000 | 0.375 ± 0.177 | 0.500 ± 0.000 | "
                "0.500 ± 0.000 | 1.0 / 2.0 | 1.0 ± 0.0 | 5.0 ± 0.0x |\n") != std::string::npos);
  CHECK(md.find("2 seeds (mean ± sd), preset stsb-lstm --quick, forget score<2") != std::string::npos);
  CHECK(md.find("floor") == std::string::npos);  // no AIN at the floor
  const std::string csv = dru::render_csv(r);
  CHECK(csv.find("\n1,Blindspot,1,8,0.125,0.5,0.5,0,0,0.5,1,2,0,0,1,5\n") != std::string::npos);
  const nlohmann::json j = dru::to_json(r);
  CHECK(j["summary"]["Blindspot"]["forget_loss"]["mean"].get<double>() == 7.0);
  CHECK(j["runs"].size() == 2);
  // One seed: plain numbers, and the floor footnote when both step counts are 1.
  r.seeds.resize(1);
  r.seeds[0].rows[1].ain_floor = true;
  const std::string one = dru::render_markdown(r);
  CHECK(one.find("| Blindspot | 1.0000 | 6.0000 | 0.1250 | 0.250 | 0.500 | 0.500* | 1 / 2 | 1.0 | 5.0x |") != std::string::npos);
  CHECK(one.find("(the floor)") != std::string::npos);
}

TEST_CASE("report: mean and sample sd") {
  dru::MeanSd m = dru::mean_sd({1, 2, 3, 4});
  CHECK(m.mean == 2.5);
  CHECK(m.sd == doctest::Approx(1.2909944487));
  CHECK(dru::format_mean_sd(dru::mean_sd({3}), 2) == "3.00");
  const std::vector<double> d = dru::density({0.1, 0.1, 0.6, 5.0}, 0, 1, 2);
  CHECK(d[0] == doctest::Approx(1.0));  // 2 of 4 values in a bin of width 0.5
  CHECK(d[1] == doctest::Approx(0.5));
}

TEST_CASE("experiment: presets and stage keys") {
  for (const auto& name : dru::preset_names()) {
    const dru::Preset paper = dru::make_preset(name, false);
    const dru::Preset quick = dru::make_preset(name, true);
    CHECK(paper.original.epochs == 100);
    // The paper's rate (PAPER.md §2.2), except BERT-lite, which has no paper run: 1/100 of it.
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
  CHECK(read_file(tmp.file("results.json")) == json1);

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
