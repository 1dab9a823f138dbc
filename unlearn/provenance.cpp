// provenance.cpp — see provenance.h. The commit comes from a header the build regenerates whenever HEAD
// or the working tree's state changes (cmake/commit.cmake), so only this file recompiles.
#include "unlearn/provenance.h"

#include <omp.h>

#include <chrono>
#include <ctime>
#include <fstream>

#include "dru_commit.h"

namespace dru {

std::string build_commit() { return DRU_COMMIT; }

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
    }
  return "unknown";
}

nlohmann::json provenance_json(const std::string& command_line) {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return {{"dru_version", DRU_VERSION}, {"commit", build_commit()}, {"command", command_line},
          {"cpu", cpu_model()},         {"threads", omp_get_max_threads()}, {"started", when}};
}

}  // namespace dru
