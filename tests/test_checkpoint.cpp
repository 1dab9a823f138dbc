// test_checkpoint.cpp — safetensors round trips, hostile and truncated files, atomic writes.
//
// Hostile cases each write a small hand-made file and check that loading throws dru::Error naming
// both the file and the problem; a sweep over every truncation and many one-byte corruptions of a
// valid file checks that nothing but dru::Error (no crash, no other exception) ever comes out.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "tests/temp_dir.h"
#include "tests/util.h"
#include "engine/checkpoint.h"

using namespace dru;
using dru::test::read_file;
using dru::test::same_bytes;
using dru::test::write_file;
namespace fs = std::filesystem;

namespace {

using dru::test::TempDir;

std::string u64_le(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = char((n >> (8 * i)) & 0xff);
  return s;
}

// A file with the given header text (length field computed) and `data_bytes` zero bytes of data.
std::string file_with(const std::string& header, size_t data_bytes = 0) {
  return u64_le(header.size()) + header + std::string(data_bytes, '\0');
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> out;
  for (auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("safetensors: round trip of every dtype / scalars / empty tensors and metadata") {
  TempDir dir("ckpt_roundtrip");
  TensorFile f;
  f.tensors["w.f32"] = Tensor::from(std::vector<double>{1.5, -2, 3.25, 1e-30, -0.0, 7}, Shape{2, 3});
  f.tensors["w.f64"] = Tensor::from(std::vector<double>{0.1, -1e300, 3}, Shape{3}, DType::f64);
  f.tensors["idx"] = Tensor::from(std::vector<int64_t>{-5, 0, int64_t(1) << 60}, Shape{3, 1});
  f.tensors["mask"] = Tensor::from(std::vector<double>{0, 1, 255, 7}, Shape{1, 2, 2}, DType::u8);
  f.tensors["scalar"] = Tensor::scalar(42.5);
  f.tensors["empty"] = Tensor::zeros(Shape{0, 3});
  f.metadata = {{"format", "pt"}, {"epoch", "12"}, {"note", "quotes \" and \\ and ünïcode"}};
  std::string path = dir.file("model.safetensors");
  save_safetensors(path, f);

  TensorFile g = load_safetensors(path);
  CHECK(g.metadata == f.metadata);
  REQUIRE(g.tensors.size() == f.tensors.size());
  for (auto& [name, t] : f.tensors) {
    CAPTURE(name);
    REQUIRE(g.tensors.count(name));
    CHECK(same_bytes(g.tensors[name], t));
  }
  CHECK(g.tensors["scalar"].ndim() == 0);

  // The reference layout: the header is padded with spaces so the data starts 8-byte aligned.
  std::string bytes = read_file(path);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  CHECK(n % 8 == 0);
  CHECK(bytes[8] == '{');
  CHECK(bytes[8 + n - 1] != '\0');
  CHECK(names_in(dir.path) == std::vector<std::string>{"model.safetensors"});
}

TEST_CASE("safetensors: a file with no tensors and no metadata") {
  TempDir dir("ckpt_empty");
  save_safetensors(dir.file("e.safetensors"), TensorFile{});
  TensorFile g = load_safetensors(dir.file("e.safetensors"));
  CHECK(g.tensors.empty());
  CHECK(g.metadata.empty());
}

namespace {

void expect_rejected(const TempDir& dir, const std::string& bytes, const char* problem) {
  static int counter = 0;
  std::string path = dir.file("bad" + std::to_string(counter++) + ".safetensors");
  write_file(path, bytes);
  CAPTURE(problem);
  CHECK_THROWS_WITH_AS(load_safetensors(path), doctest::Contains(problem), Error);
  std::string quoted = "'" + path + "'";
  CHECK_THROWS_WITH_AS(load_safetensors(path), doctest::Contains(quoted.c_str()), Error);
}

}  // namespace

TEST_CASE("safetensors: hostile and truncated headers give clear errors") {
  TempDir dir("ckpt_hostile");
  CHECK_THROWS_WITH_AS(load_safetensors(dir.file("missing.safetensors")), doctest::Contains("cannot open"), Error);
  expect_rejected(dir, "", "too short for the 8-byte header length");
  expect_rejected(dir, "abc", "too short for the 8-byte header length");
  expect_rejected(dir, u64_le(1000) + "{}", "header length 1000 exceeds the 2 bytes");
  expect_rejected(dir, u64_le(uint64_t(1) << 40) + "{}", "is absurd");
  expect_rejected(dir, u64_le(~uint64_t(0)) + "{}", "is absurd");
  expect_rejected(dir, file_with("{not json"), "header is not valid JSON");
  expect_rejected(dir, file_with(""), "header is not valid JSON");
  expect_rejected(dir, file_with("[1, 2]"), "header JSON is not an object (found array)");
  expect_rejected(dir, file_with(std::string(50, '[') + std::string(50, ']')), "nested deeper than");
  expect_rejected(dir, file_with(R"({"a": 3})"), "tensor 'a' is not a JSON object");
  expect_rejected(dir, file_with(R"({"a": {"shape": [1], "data_offsets": [0, 4]}})", 4), "tensor 'a' has no \"dtype\"");
  expect_rejected(dir, file_with(R"({"a": {"dtype": "F32", "data_offsets": [0, 4]}})", 4), "has no \"shape\"");
  expect_rejected(dir, file_with(R"({"a": {"dtype": "F32", "shape": [1]}})", 4), "has no \"data_offsets\"");
  expect_rejected(dir, file_with(R"({"a": {"dtype": "BF16", "shape": [1], "data_offsets": [0, 2]}})", 2),
                  "unsupported dtype \"BF16\"");
  expect_rejected(dir, file_with(R"({"a": {"dtype": 5, "shape": [1], "data_offsets": [0, 4]}})", 4),
                  "dtype that is not a string");
  expect_rejected(dir, file_with(R"({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", 4),
                  "shape entry -1 that is not a non-negative integer");
  expect_rejected(dir, file_with(R"({"a": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}})", 4),
                  "shape entry 1.5 that is not");
  expect_rejected(dir, file_with(R"({"a": {"dtype": "F32", "shape": "12", "data_offsets": [0, 4]}})", 4),
                  "shape that is not a list");
  expect_rejected(dir, file_with(R"({"a": {"dtype": "F32", "shape": [1,1,1,1,1,1], "data_offsets": [0, 4]}})", 4),
                  "has 6 dimensions, dru supports at most 5");
  expect_rejected(dir, file_with(R"({"a": {"dtype": "U8", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}})"),
                  "whose size overflows");
  expect_rejected(dir, file_with(R"({"a": {"dtype": "F64", "shape": [4611686018427387904], "data_offsets": [0, 0]}})"),
                  "whose size overflows");
  expect_rejected(dir, file_with(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}})", 4),
                  "data_offsets [0, 4] (4 bytes) but shape [2] of F32 needs 8 bytes");
  expect_rejected(dir, file_with(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}})", 4),
                  "needs 4 bytes");
  expect_rejected(dir, file_with(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}})", 4),
                  "data_offsets that are not two non-negative integers");
  expect_rejected(dir, file_with(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0]}})", 4),
                  "data_offsets that are not two non-negative integers");
  expect_rejected(dir, file_with(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", 4),
                  "beyond the 4 data bytes in the file");
  expect_rejected(dir,
                  file_with(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})", 12),
                  "overlaps tensor 'a' ending at 8");
  expect_rejected(dir,
                  file_with(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                                "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}})", 12),
                  "tensor 'b' starts at 8 leaving a gap after byte 4");
  expect_rejected(dir, file_with(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", 8),
                  "the tensors cover 4 data bytes but the file holds 8");
  expect_rejected(dir, file_with(R"({"__metadata__": {"k": 1}})"), "__metadata__ value for 'k' is not a string");
  expect_rejected(dir, file_with(R"({"__metadata__": [1]})"), "__metadata__ is not a JSON object");
}

TEST_CASE("safetensors: every truncation and many corruptions of a valid file throw only dru::Error") {
  TempDir dir("ckpt_fuzz");
  TensorFile f;
  f.tensors["a"] = Tensor::arange(5);
  f.tensors["b"] = Tensor::from(std::vector<int64_t>{1, 2}, Shape{2});
  f.metadata["k"] = "v";
  std::string good_path = dir.file("good.safetensors");
  save_safetensors(good_path, f);
  const std::string good = read_file(good_path);
  std::string path = dir.file("cut.safetensors");

  int rejected = 0;
  for (size_t len = 0; len < good.size(); ++len) {
    write_file(path, good.substr(0, len));
    CAPTURE(len);
    CHECK_THROWS_AS(load_safetensors(path), Error);
    ++rejected;
  }
  // Replace each header byte by a few troublesome characters: the result either loads or throws Error.
  int loaded = 0, other = 0;
  for (size_t i = 0; i < good.size(); ++i) {
    for (char c : {'\0', '9', '-', '"', '}', '\xff'}) {
      std::string bad = good;
      bad[i] = c;
      write_file(path, bad);
      try {
        load_safetensors(path);
        ++loaded;
      } catch (const Error&) {
        ++rejected;
      } catch (...) {
        ++other;
      }
    }
  }
  MESSAGE("truncations and corruptions: " << rejected << " rejected, " << loaded << " loaded, " << other << " other");
  CHECK(other == 0);
}

TEST_CASE("safetensors: atomic write replaces the file / leaves no temporary and keeps the old file on failure") {
  TempDir dir("ckpt_atomic");
  std::string path = dir.file("state.bin");
  write_file_atomic(path, "old contents");
  write_file_atomic(path, "new contents");
  CHECK(read_file(path) == "new contents");
  CHECK(names_in(dir.path) == std::vector<std::string>{"state.bin"});

  // A missing folder is named in the message.
  CHECK_THROWS_WITH_AS(write_file_atomic(dir.file("no/such/folder/x.bin"), "x"), doctest::Contains("does not exist"),
                       Error);

  // The temporary cannot be created (a folder sits at its name): the old file survives untouched.
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  fs::create_directory(tmp);
  CHECK_THROWS_WITH_AS(write_file_atomic(path, "newer"), doctest::Contains("cannot create temporary file"), Error);
  CHECK(read_file(path) == "new contents");
  fs::remove(tmp);

  // The rename fails (the target is a non-empty folder): the temporary is removed again.
  fs::create_directories(dir.path / "target" / "inside");
  CHECK_THROWS_WITH_AS(write_file_atomic(dir.file("target"), "x"), doctest::Contains("cannot write"), Error);
  CHECK(names_in(dir.path) == std::vector<std::string>{"state.bin", "target"});

  // save_safetensors goes through the same path.
  TensorFile f;
  f.tensors["x"] = Tensor::ones(Shape{3});
  save_safetensors(path, f);
  CHECK(same_bytes(load_safetensors(path).tensors["x"], f.tensors["x"]));
  CHECK(names_in(dir.path) == std::vector<std::string>{"state.bin", "target"});
}
