// test_steps.cpp — the checks of `dru train`, `dru unlearn` and `dru eval` (tools/steps.h): a checkpoint's
// recorded model configuration against the model the preset builds now; --out checked before training.
// The round trip of the steps themselves runs as a command-line test (CMakeLists.txt, "cli: steps: ...").
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <filesystem>

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
