// test_kill_resume.cpp — a run that dies at any moment resumes to the numbers of an uninterrupted run.
//
// Each case starts `dru experiment` as a child process (the real binary, DRU_BINARY) on a short stsb-lstm
// --quick configuration and kills it: with SIGKILL at a failpoint (engine/failpoint.h: inside the
// original's training, right after an epoch's state is on disk, between a stage's weights and its JSON),
// or with SIGINT (exit 130 after the stage in flight). Then it runs the same command again and compares
// every number of results.json with an uninterrupted run's; only wall-clock fields and the provenance
// (which says what was resumed) may differ.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/temp_dir.h"
#include "tests/util.h"

namespace {

using dru::test::read_file;
namespace fs = std::filesystem;

struct Exit {
  bool signaled = false;
  int code = -1;    // the exit status when not signaled
  int signal = 0;   // the signal when signaled
  std::string err;  // what it wrote to stderr
};

// The experiment every case runs: seconds, not minutes, on 2 cores.
std::vector<std::string> experiment_args(const std::string& out) {
  return {"experiment", "stsb-lstm", "--quick", "--device", "cpu", "--out", out, "--resume",
          "--set", "original.epochs=3", "--set", "gold.epochs=3", "--set", "finetune.epochs=1",
          "--set", "gaussian-amnesiac.epochs=1", "--set", "blindspot.epochs=1",
          "--set", "blindspot.blindspot_epochs=1", "--ain-cap", "25"};
}

// Starts dru with args (and DRU_FAILPOINT = failpoint when not empty); returns the child's pid. Its stderr
// goes to err_path.
pid_t start_dru(const std::vector<std::string>& args, const std::string& failpoint, const std::string& err_path) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {  // the child: only async-signal-safe work until exec
    if (failpoint.empty())
      ::unsetenv("DRU_FAILPOINT");
    else
      ::setenv("DRU_FAILPOINT", failpoint.c_str(), 1);
    ::setenv("OMP_NUM_THREADS", "1", 1);  // ctest runs two tests at once on 2 cores
    std::FILE* err = std::freopen(err_path.c_str(), "w", stderr);
    std::FILE* out = std::freopen("/dev/null", "w", stdout);
    (void)err;
    (void)out;
    std::vector<char*> argv;
    std::string bin = DRU_BINARY;
    argv.push_back(bin.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(bin.c_str(), argv.data());
    ::_exit(127);
  }
  return pid;
}

Exit wait_for(pid_t pid, const std::string& err_path) {
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  Exit e;
  e.signaled = WIFSIGNALED(status);
  e.signal = e.signaled ? WTERMSIG(status) : 0;
  e.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  e.err = read_file(err_path);
  return e;
}

Exit run_dru(const std::vector<std::string>& args, const std::string& failpoint, const std::string& err_path) {
  return wait_for(start_dru(args, failpoint, err_path), err_path);
}

// results.json without what legitimately differs between an interrupted and an uninterrupted run.
nlohmann::json comparable(nlohmann::json j) {
  if (j.is_object()) {
    for (const char* k : {"seconds", "speedup", "provenance"}) j.erase(k);
    for (auto& [k, v] : j.items()) v = comparable(v);
  } else if (j.is_array()) {
    for (auto& v : j) v = comparable(v);
  }
  return j;
}

// Every path at which a and b differ (numbers compared exactly: the CPU engine is deterministic).
void differences(const nlohmann::json& a, const nlohmann::json& b, const std::string& path, std::vector<std::string>& out) {
  if (a.type() != b.type() || (!a.is_structured() && a != b)) {
    out.push_back(path + ": " + a.dump() + " vs " + b.dump());
    return;
  }
  if (a.is_object()) {
    for (auto& [k, v] : a.items()) {
      if (!b.contains(k))
        out.push_back(path + "/" + k + ": missing after the resume");
      else
        differences(v, b.at(k), path + "/" + k, out);
    }
  } else if (a.is_array()) {
    if (a.size() != b.size()) {
      out.push_back(path + ": " + std::to_string(a.size()) + " vs " + std::to_string(b.size()) + " entries");
      return;
    }
    for (size_t i = 0; i < a.size(); ++i) differences(a[i], b[i], path + "[" + std::to_string(i) + "]", out);
  }
}

struct Reference {
  dru::test::TempDir dir{"kill_reference"};
  nlohmann::json results;
};

// The uninterrupted run, once per process.
const Reference& reference() {
  static const Reference* r = [] {
    auto* ref = new Reference;
    const Exit e = run_dru(experiment_args(ref->dir.file("out")), "", ref->dir.file("err.txt"));
    INFO(e.err);
    REQUIRE(e.code == 0);
    ref->results = nlohmann::json::parse(read_file(ref->dir.file("out/results.json")));
    return ref;
  }();
  return *r;
}

// Kills a run at failpoint, resumes it, and checks every number against the uninterrupted run.
nlohmann::json kill_and_resume(const std::string& tag, const std::string& failpoint) {
  const Reference& ref = reference();
  dru::test::TempDir dir(tag);
  const std::string out = dir.file("out");
  const Exit killed = run_dru(experiment_args(out), failpoint, dir.file("err1.txt"));
  INFO("killed run's stderr: " << killed.err);
  CHECK(killed.signaled);
  CHECK(killed.signal == SIGKILL);
  CHECK_FALSE(fs::exists(out + "/results.json"));
  const Exit resumed = run_dru(experiment_args(out), "", dir.file("err2.txt"));
  INFO("resumed run's stderr: " << resumed.err);
  REQUIRE(resumed.code == 0);
  const nlohmann::json got = nlohmann::json::parse(read_file(out + "/results.json"));
  std::vector<std::string> diffs;
  differences(comparable(ref.results), comparable(got), "", diffs);
  for (size_t i = 0; i < diffs.size() && i < 10; ++i) MESSAGE("differs: " << diffs[i]);
  CHECK(diffs.empty());
  CHECK(got.at("provenance").at("resumed").get<bool>());
  return got.at("provenance");
}

}  // namespace

// One test case (one process under ctest), so the uninterrupted reference run is made once.
TEST_CASE("kill and resume: every number of results.json equals the uninterrupted run's") {
 SUBCASE("kill -9 inside the original's training, then --resume") {
  // 21 batches an epoch: batch 30 is in the original's second epoch, after epoch 1's state was saved.
  const nlohmann::json p = kill_and_resume("kill_in_training", "fit.batch@30");
  REQUIRE(p.at("continued_training").size() == 1);
  CHECK(p.at("continued_training")[0].at("stage").get<std::string>() == "seed0/original");
  CHECK(p.at("continued_training")[0].at("after_epoch").get<int>() == 1);
 }
 SUBCASE("kill -9 right after an epoch's training state is written, then --resume") {
  // The gold model's second epoch (the original trains 3 epochs first).
  const nlohmann::json p = kill_and_resume("kill_after_epoch", "fit.epoch_saved@5");
  REQUIRE(p.at("continued_training").size() == 1);
  CHECK(p.at("continued_training")[0].at("stage").get<std::string>() == "seed0/gold");
  CHECK(p.at("continued_training")[0].at("after_epoch").get<int>() == 2);
 }
 SUBCASE("kill -9 between a stage's weights and its record, then a rerun") {
  // The third stage (finetune) has its weights on disk but no JSON: it is not finished, so it reruns.
  const nlohmann::json p = kill_and_resume("kill_between_files", "stage.weights_saved@3");
  CHECK(p.at("reused_stages") == nlohmann::json::array({"seed0/original", "seed0/gold"}));
 }
 SUBCASE("Ctrl-C stops after the stage in flight with exit 130, and a rerun finishes the same") {
  const Reference& ref = reference();
  dru::test::TempDir dir("sigint");
  const std::string out = dir.file("out");
  const pid_t pid = start_dru(experiment_args(out), "", dir.file("err1.txt"));
  // Interrupt once the original is saved (its record exists): the gold stage is then in flight.
  const auto t0 = std::chrono::steady_clock::now();
  while (!fs::exists(out + "/seed0/original.json") &&
         std::chrono::steady_clock::now() - t0 < std::chrono::seconds(120))
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  REQUIRE(fs::exists(out + "/seed0/original.json"));
  ::kill(pid, SIGINT);
  const Exit e = wait_for(pid, dir.file("err1.txt"));
  INFO(e.err);
  CHECK_FALSE(e.signaled);
  CHECK(e.code == 130);
  CHECK(e.err.find("interrupted after the") != std::string::npos);
  CHECK(fs::exists(out + "/seed0/gold.json"));  // the stage in flight was finished and saved
  const Exit again = run_dru(experiment_args(out), "", dir.file("err2.txt"));
  INFO(again.err);
  REQUIRE(again.code == 0);
  std::vector<std::string> diffs;
  differences(comparable(ref.results), comparable(nlohmann::json::parse(read_file(out + "/results.json"))), "", diffs);
  for (size_t i = 0; i < diffs.size() && i < 10; ++i) MESSAGE("differs: " << diffs[i]);
  CHECK(diffs.empty());
 }
}

TEST_CASE("two runs into one output folder: the second is refused while the first runs") {
  dru::test::TempDir dir("two_runs");
  const std::string out = dir.file("out");
  const pid_t first = start_dru(experiment_args(out), "", dir.file("err1.txt"));
  const auto t0 = std::chrono::steady_clock::now();
  // The seed's folder is made after the lock is taken.
  while (!fs::exists(out + "/seed0") && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(60))
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  REQUIRE(fs::exists(out + "/seed0"));
  const Exit second = run_dru(experiment_args(out), "", dir.file("err2.txt"));
  CHECK(second.code == 1);
  CHECK(second.err.find("another dru experiment (process ") != std::string::npos);
  ::kill(first, SIGKILL);
  wait_for(first, dir.file("err1.txt"));
}
