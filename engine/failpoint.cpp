// failpoint.cpp — see failpoint.h.
#include "engine/failpoint.h"

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

namespace dru {

namespace {

struct Target {
  std::string name;
  long hit = 0;  // 0: no failpoint
};

const Target& target() {
  static const Target t = [] {
    Target t;
    const char* env = std::getenv("DRU_FAILPOINT");
    if (!env || !*env) return t;
    std::string s(env);
    const size_t at = s.find('@');
    t.name = s.substr(0, at);
    t.hit = at == std::string::npos ? 1 : std::strtol(s.c_str() + at + 1, nullptr, 10);
    if (t.hit < 1) t.hit = 1;
    return t;
  }();
  return t;
}

}  // namespace

void failpoint(const char* name) {
  const Target& t = target();
  if (t.name.empty() || t.name != name) return;
  static long hits = 0;  // of the one named point
  if (++hits == t.hit) std::raise(SIGKILL);
}

}  // namespace dru
