// util.h — small helpers the CPU tests share: wall-clock seconds for the timing messages, whole-file
// reads and writes for the tests that build or corrupt input files, the message of a dru::Error, and a
// bit-for-bit tensor comparison.
#pragma once

#include <chrono>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include "engine/check.h"
#include "engine/tensor.h"

namespace dru::test {

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// path's bytes; "" when it cannot be opened (the test's own checks then say what is missing).
inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// Replaces path's contents with bytes.
inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), std::streamsize(bytes.size()));
}

// The message of the dru::Error that f throws, "(no error)" when it throws none.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// Same dtype, same shape and the same bytes (a CPU tensor's storage, as written).
inline bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

}  // namespace dru::test
