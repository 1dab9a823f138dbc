// dataset_info.h — `dru info --dataset NAME`: a data set's split sizes and, with a forget rule, the
// forget/retain counts per split. Counting reads labels only where it can (csv and tsv files), so it
// answers in well under a second even for AgeDB's csv without its images.
#pragma once

#include <string>

namespace dru {

// name: stsb, electricity or images; path: the data (empty = the copy shipped in data/, where one
// exists); rule: a forget rule (empty = sizes only). Prints a table to stdout.
void print_dataset_info(const std::string& name, const std::string& path, const std::string& rule);

}  // namespace dru
