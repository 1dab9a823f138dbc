// test_steps.cpp — the checks of `dru train`, `dru unlearn` and `dru eval` (tools/steps.h): a checkpoint's
// recorded model configuration against the model the preset builds now; checkpoints of another task or
// stage, without metadata or with NaN weights; --out checked before training; --data for a moved
// checkout. The round trip of the steps themselves runs as a command-line test (CMakeLists.txt, "cli:
// steps: ...").
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <functional>

#include "engine/checkpoint.h"
#include "models/model.h"
#include "tests/temp_dir.h"
#include "tests/util.h"
#include "tools/steps.h"
#include "unlearn/experiment.h"

using namespace dru;

namespace {

// bert-lite at ModelConfig's default sizes (vocab 8192, 4 layers, hidden 256, 4 heads, ffn 1024, 128
// positions, dropout 0.1). No model is built: only the recorded values are compared.
ModelConfig bert() {
  ModelConfig c;
  c.name = "bert-lite";
  return c;
}

}  // namespace

TEST_CASE("steps: a bert-lite size mismatch is named field by field") {
  const ModelConfig saved = bert();
  const std::string text = model_config_text(saved);
  CHECK(model_config_differences(text, saved).empty());
  ModelConfig now = saved;
  now.hidden = 64;
  CHECK(model_config_differences(text, now) == std::vector<std::string>{"hidden 256 in the checkpoint, 64 now"});
  now = saved;
  now.layers = 2;
  now.vocab = 4096;
  now.dropout = 0.2;
  CHECK(model_config_differences(text, now) ==
        std::vector<std::string>{"dropout 0.1 in the checkpoint, 0.2 now", "layers 4 in the checkpoint, 2 now",
                                 "vocab 8192 in the checkpoint, 4096 now"});
}

TEST_CASE("steps: a model_config written before the bert-lite sizes still matches") {
  nlohmann::json old = nlohmann::json::parse(model_config_text(bert()));
  for (const char* key : {"vocab", "layers", "hidden", "heads", "ffn", "max_positions", "dropout"}) old.erase(key);
  ModelConfig now = bert();
  now.hidden = 64;  // not recorded in such a file: the preset and --quick fixed it
  CHECK(model_config_differences(old.dump(), now).empty());
  now.seq_len = 11;  // recorded: still compared
  CHECK(model_config_differences(old.dump(), now) == std::vector<std::string>{"seq_len 10 in the checkpoint, 11 now"});
  CHECK(model_config_differences("[1]", now) == std::vector<std::string>{"model_config is not a JSON object: [1]"});
}

TEST_CASE("steps: eval refuses a stsb-bertlite checkpoint of another size with the size named") {
  // A checkpoint whose model_config records one bert-lite size, hidden 48, where the quick preset
  // builds 64; the check fails before any tensor is read, so the file holds none.
  test::TempDir dir("steps_bert_size");
  TensorFile f;
  f.metadata = {{"format", "dru-step-1"}, {"preset", "stsb-bertlite"}, {"quick", "true"}, {"data", ""},
                {"rule", "score<2"}, {"seed", "0"}, {"model_config", R"({"name":"bert-lite","hidden":48})"}};
  save_safetensors(dir.file("bert.safetensors"), f);
  StepOptions opt;
  opt.preset = "stsb-bertlite";
  opt.data_root = DRU_SOURCE_DIR "/data";
  opt.model = dir.file("bert.safetensors");
  std::string message = "(no error)";
  try {
    run_eval_step(opt);
  } catch (const UsageError& e) {
    message = e.what();
  }
  INFO(message);
  CHECK(message.find(opt.model + ": its model does not match preset stsb-bertlite --quick on ") == 0);
  CHECK(message.find(": hidden 48 in the checkpoint, 64 now") != std::string::npos);
}

namespace {

// The message of the UsageError (exit 2) that f throws; "(no error)" when it throws none. A dru::Error
// (exit 1) propagates and fails the test case.
template <class F>
std::string usage_error_of(F&& f) {
  try {
    f();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "(no error)";
}

StepOptions stsb_quick(const std::string& preset = "stsb-lstm") {
  StepOptions o;
  o.preset = preset;
  o.quick = true;
  o.data_root = DRU_SOURCE_DIR "/data";
  o.epochs = 1;
  o.quiet = true;
  return o;
}

// A copy of the checkpoint at from, with edit applied, saved as to.
void save_variant(const std::string& from, const std::string& to, const std::function<void(TensorFile&)>& edit) {
  TensorFile f = load_safetensors(from);
  edit(f);
  save_safetensors(to, f);
}

}  // namespace

TEST_CASE("steps: --out is checked before any training: empty, a folder, not writable, the --model itself") {
  test::TempDir dir("steps_out");
  std::filesystem::create_directories(dir.file("folder"));
  test::write_file(dir.file("a_file"), "x");
  StepOptions t = stsb_quick();
  for (const auto& [out, want] : std::vector<std::pair<std::string, std::string>>{
           {"", "--out is empty: give the model file to write (.safetensors)"},
           {dir.file("folder"), "--out " + dir.file("folder") + " is a folder: give a file name, e.g. " +
                                    dir.file("folder") + "/model.safetensors"},
           {dir.file("a_file/m.safetensors"), "--out " + dir.file("a_file/m.safetensors") +
                                                  ": cannot create its folder " + dir.file("a_file")}}) {
    t.out = out;
    const std::string message = usage_error_of([&] { run_train_step(t); });
    INFO(message);
    CHECK(message.find(want) == 0);
  }
  CHECK(std::filesystem::is_empty(dir.file("folder")));  // nothing written, not even the probe file
  // unlearn: the same checks after the checkpoint's own, before its data is loaded (the file holds
  // metadata only: loading it would fail).
  TensorFile f;
  f.metadata = {{"format", "dru-step-1"}, {"preset", "stsb-lstm"}, {"quick", "true"}, {"data", "/nowhere"},
                {"rule", "score<2"}, {"seed", "0"}, {"model_config", "{}"}, {"stage", "original"}};
  save_safetensors(dir.file("orig.safetensors"), f);
  StepOptions u = stsb_quick();
  u.method = "finetune";
  u.model = dir.file("orig.safetensors");
  u.out = dir.file("folder");
  CHECK(usage_error_of([&] { run_unlearn_step(u); }).find("--out " + dir.file("folder") + " is a folder") == 0);
  for (const std::string& same : {dir.file("orig.safetensors"), dir.file("folder/../orig.safetensors")}) {
    u.out = same;
    CHECK(usage_error_of([&] { run_unlearn_step(u); }) ==
          "--out " + same + " is the --model file: unlearning would overwrite the original model; write to another file");
  }
  std::filesystem::create_symlink(dir.file("orig.safetensors"), dir.file("link.safetensors"));
  u.out = dir.file("link.safetensors");
  CHECK(usage_error_of([&] { run_unlearn_step(u); }).find("is the --model file") != std::string::npos);
  // A good --out passes the checks (the data path recorded, /nowhere, is what fails next).
  u.out = dir.file("new/sub/unlearned.safetensors");
  CHECK(usage_error_of([&] { run_unlearn_step(u); }).find("no STS-B data at /nowhere") != std::string::npos);
  CHECK(std::filesystem::is_empty(dir.file("new/sub")));
}

TEST_CASE("steps: checkpoints of another task or stage, without metadata or with NaN weights are refused") {
  test::TempDir dir("steps_meta");
  const std::string orig = dir.file("orig.safetensors");
  StepOptions t = stsb_quick();
  t.out = orig;
  run_train_step(t);  // one epoch of the quick LSTM: a real original model
  StepOptions e = stsb_quick();
  e.model = orig;
  CHECK(std::isfinite(run_eval_step(e).forget_loss));

  // eval --gold: a gold model of another forget rule, of another seed, or not a gold model at all.
  const std::string rule = dir.file("gold_rule.safetensors"), seed = dir.file("gold_seed.safetensors");
  save_variant(orig, rule, [](TensorFile& f) {
    f.metadata["stage"] = "gold";
    f.metadata["rule"] = "score<3";
  });
  save_variant(orig, seed, [](TensorFile& f) {
    f.metadata["stage"] = "gold";
    f.metadata["seed"] = "1";
  });
  e.gold = rule;
  CHECK(usage_error_of([&] { run_eval_step(e); }) ==
        "--gold " + rule + " and --model " + orig + " were trained on different tasks: forget rule 'score<3' against "
        "'score<2'");
  e.gold = seed;
  CHECK(usage_error_of([&] { run_eval_step(e); }) ==
        "--gold " + seed + " and --model " + orig + " were trained on different tasks: seed 1 against 0");
  e.gold = orig;
  CHECK(usage_error_of([&] { run_eval_step(e); }) ==
        "--gold " + orig + " is not a gold model (its stage is 'original'); --gold takes the retrained model (dru "
        "train --retain-only)");
  e.gold.clear();

  // unlearn from a gold model or an unlearned one.
  StepOptions u = stsb_quick();
  u.method = "finetune";
  u.out = dir.file("unlearned.safetensors");
  for (const std::string stage : {"gold", "blindspot"}) {
    u.model = dir.file(stage + ".safetensors");
    save_variant(orig, u.model, [&](TensorFile& f) { f.metadata["stage"] = stage; });
    CHECK(usage_error_of([&] { run_unlearn_step(u); }) ==
          "--model " + u.model + " is a '" + stage +
              "' model; unlearning starts from an original model (dru train without --retain-only)");
  }
  CHECK_FALSE(std::filesystem::exists(u.out));

  // A safetensors file without dru's metadata, or missing one key of it.
  e.model = dir.file("bare.safetensors");
  save_variant(orig, e.model, [](TensorFile& f) { f.metadata.clear(); });
  CHECK(usage_error_of([&] { run_eval_step(e); }) ==
        e.model + ": not a dru train/unlearn checkpoint (no 'preset' in its metadata)");
  save_variant(orig, e.model, [](TensorFile& f) { f.metadata.erase("rule"); });
  CHECK(usage_error_of([&] { run_eval_step(e); }) ==
        e.model + ": not a dru train/unlearn checkpoint (no 'rule' in its metadata)");

  // A NaN or an infinity among the weights: refused naming the tensor, not evaluated to "nan".
  e.model = dir.file("nan.safetensors");
  std::string tensor;
  save_variant(orig, e.model, [&](TensorFile& f) {
    auto& [name, w] = *f.tensors.begin();
    tensor = name;
    w.data<float>()[1] = std::nanf("");
    w.data<float>()[2] = INFINITY;
  });
  const std::string nan_error = test::error_of([&] { run_eval_step(e); });
  CHECK(nan_error.find(fmt::format("{}: tensor '{}' holds 2 NaN or infinite values (of {}): the model diverged or the "
                                 "file is damaged; train it again",
                                 e.model, tensor, load_safetensors(orig).tensors.at(tensor).numel())) == 0);

  // A moved checkout: the recorded data path is gone; --data points at the data instead, and the rest of the
  // metadata must still match.
  e.model = dir.file("moved.safetensors");
  save_variant(orig, e.model, [](TensorFile& f) { f.metadata["data"] = "/moved/away/data"; });
  CHECK(usage_error_of([&] { run_eval_step(e); }).find("no STS-B data at /moved/away/data") != std::string::npos);
  e.data = DRU_SOURCE_DIR "/data";
  CHECK(std::isfinite(run_eval_step(e).retain_loss));
  e.preset = "stsb-bertlite";
  CHECK(usage_error_of([&] { run_eval_step(e); }) ==
        e.model + " was trained for preset 'stsb-lstm', not 'stsb-bertlite'");
}
