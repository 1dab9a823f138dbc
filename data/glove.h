// glove.h — word vectors from any GloVe-format text file, plain or gzip-compressed.
//
// Format: one word a line, "word v1 v2 ... vD", fields separated by spaces, no header (glove.6B.*.txt,
// glove.840B.300d.txt, the shipped glove.6B.100d.stsb_vocab.txt.gz). D is read from the first line.
// zlib's gzopen reads both plain and .gz files, so the reader does not look at the file name.
//
// Lines that do not fit, decided here (the paper's loader silently ignored lines whose vector was not
// (300,); we drop nothing silently):
//   * a line with fewer than D + 1 fields, or a value that is not a finite number: an error naming
//     file:line. A file that ends inside a gzip stream is an error too.
//   * a line with more than D + 1 fields: the last D fields are the vector and everything before them,
//     spaces included, is the word. glove.840B.300d.txt has such words (". . .", "at name@domain.com");
//     the paper's loader read them as a shorter word with a malformed vector and ignored them, and since
//     cleaned text never holds a space, the result is the same here. They are counted in `spaced_words`.
//   * a word that repeats: the last line wins (as the paper's Python dict), counted in `repeated_words`.
// Blank lines are skipped; a CR before the newline and trailing spaces are tolerated. A first line of
// two positive integers is word2vec's text header "count D" (fastText's .vec files have it too): it sets
// D, and the file must then hold exactly `count` vector lines.
//
// With `wanted`, only the vectors of those words are kept (the 840B file holds 2.2 M words, 2.6 GB as
// floats; STS-B needs about 16 k). The other lines are checked for their field count only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace dru {

struct WordVectors {
  int64_t dim = 0;                                 // D
  std::vector<std::string> words;                  // in file order (first appearance)
  std::vector<float> values;                       // (words.size(), D) row-major
  std::unordered_map<std::string, int64_t> index;  // word -> row
  int64_t lines = 0;                               // vector lines read (blank lines not counted)
  int64_t spaced_words = 0;                        // lines whose word holds spaces (see above)
  int64_t repeated_words = 0;                      // lines whose word had appeared before

  int64_t size() const { return int64_t(words.size()); }
  // The word's D values, or nullptr when the vectors lack it.
  const float* find(const std::string& word) const {
    auto it = index.find(word);
    return it == index.end() ? nullptr : values.data() + it->second * dim;
  }
};

// Throws (one line naming the file, and file:line for a bad line) when the file is missing, empty,
// truncated or malformed.
WordVectors read_glove(const std::string& path, const std::unordered_set<std::string>* wanted = nullptr);

// The same rules over text already in memory; `name` is what messages call it.
WordVectors parse_glove(std::string_view text, const std::string& name,
                        const std::unordered_set<std::string>* wanted = nullptr);

}  // namespace dru
