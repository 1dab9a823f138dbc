// sequence_slices.h — small readers of the real STS-B, GloVe and electricity files, for the sequence
// models' "training loss falls" tests only (the dataset loaders proper live in data/, a later issue).
//
// STS-B: "*_new.tsv", tab-separated with a header naming sentence1, sentence2 and score; fields are
// split on tabs only, with no quote handling (sentences contain quote characters; a CSV reader with
// quoting merges lines). Text: lowercase, split on anything that is not a letter a-z. Each sentence
// becomes (T, D) word vectors: the first T tokens, pre-padded with zero vectors; a token missing from
// the vectors takes the mean of the sentence's known vectors (zeros if none), as the paper's notebook.
// GloVe: text "word v1 ... vD" lines, gzip-compressed, read with zlib (gzopen also reads plain text).
//
// Electricity: the hourly CSV (first column "YYYY-MM-DD HH:MM:SS", then one column per customer); each
// customer's series is standardised over the whole file. A window is 168 past hours of (load,
// hour / 23, weekday / 6, Monday = 0) for one customer and the next 24 loads as its target.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "engine/rng.h"
#include "engine/tensor.h"

namespace dru::test {

struct StsbPair {
  std::string sentence1, sentence2;
  double score = 0;
};
// The first max_rows pairs of the file; throws naming the file and line on a malformed row.
std::vector<StsbPair> read_stsb_pairs(const std::string& path, size_t max_rows);

struct WordVectors {
  int64_t dim = 0;
  std::unordered_map<std::string, std::vector<float>> vectors;
};
// Every line whose vector has the first line's length (others are skipped, as the paper's loader does).
WordVectors read_glove(const std::string& path);

std::vector<std::string> tokenize(const std::string& text);
// (steps * dim) values, row-major (T, D).
std::vector<float> embed_sentence(const std::vector<std::string>& tokens, const WordVectors& wv, int64_t steps);

struct ElectricitySeries {
  std::vector<int> hour, weekday;         // per row
  std::vector<std::vector<double>> load;  // [customer][row], standardised
};
ElectricitySeries read_electricity(const std::string& path);

struct ForecastWindows {
  Tensor x;       // (N, history, 3) f32
  Tensor ids;     // (N) i64 customer index
  Tensor target;  // (N, horizon) f32, standardised load
};
// n windows at random customers and start hours drawn from gen.
ForecastWindows electricity_windows(const ElectricitySeries& s, int64_t n, int64_t history, int64_t horizon,
                                    Generator& gen);

}  // namespace dru::test
