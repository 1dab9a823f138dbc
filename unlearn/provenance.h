// provenance.h — what results.json records about the run that made it: the dru version and the commit it
// was built from, the command line, the machine (CPU model, threads), the start time (UTC).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace dru {

// The git commit the build came from ("unknown" outside a git checkout; "-dirty" when tracked files had
// uncommitted changes at build time).
std::string build_commit();
// The CPU model name (/proc/cpuinfo), or "unknown".
std::string cpu_model();
nlohmann::json provenance_json(const std::string& command_line);

}  // namespace dru
