// table.h — a numeric table read from a whitespace- or comma-separated text file with a header row.
//
// Every row must have as many fields as the header, and every field must parse completely as a finite
// number; otherwise the reader throws one message naming the file, line and column. Nothing is skipped
// silently.
#pragma once

#include <string>
#include <vector>

namespace dru {

struct Table {
  std::vector<std::string> columns;
  std::vector<std::vector<double>> rows;
  int column(const std::string& name) const;  // index, or throws naming the columns that exist
};

Table read_table(const std::string& path);

}  // namespace dru
