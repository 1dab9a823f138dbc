// check.h — error checking that throws with file:line and a message that says what to do.
//
// DRU_CHECK(cond, fmt, args...) throws dru::Error when cond is false. The message is formatted with
// fmt, so callers name the op, the shapes and the fix: DRU_CHECK(a == b, "add: shapes {} and {} differ", ...).
// Command-line tools catch dru::Error at the top, print its message on one line and exit non-zero.
#pragma once

#include <fmt/format.h>
#include <stdexcept>
#include <string>

namespace dru {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] inline void fail_at(const char* file, int line, const std::string& msg) {
  // Strip the directory: the file name is enough to find the check and keeps messages short.
  std::string f(file);
  auto slash = f.find_last_of('/');
  if (slash != std::string::npos) f = f.substr(slash + 1);
  throw Error(fmt::format("{} ({}:{})", msg, f, line));
}

}  // namespace dru

#define DRU_CHECK(cond, ...)                                                     \
  do {                                                                         \
    if (!(cond)) ::dru::fail_at(__FILE__, __LINE__, fmt::format(__VA_ARGS__)); \
  } while (0)

#define DRU_FAIL(...) ::dru::fail_at(__FILE__, __LINE__, fmt::format(__VA_ARGS__))
