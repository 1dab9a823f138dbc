// stsb.h — STS-B sentence pairs with similarity scores 0-5: the tsv reader, the paper's text cleaning,
// GloVe sentence vectors for the siamese LSTM and WordPiece ids for BERT-lite.
//
// Files: the "DIR" splits the paper's code uses, FOLDER/{train_new,dev_new,test_new}.tsv (5,249 / 1,000 /
// 1,000 pairs in the shipped data/stsb). Tab-separated with a header naming the columns (index genre
// filename year old_index source1 source2 sentence1 sentence2 score); the reader needs sentence1,
// sentence2 and score, and takes the sample key from `index` where there is one (the row number
// otherwise). Fields are split on TAB only, with no quote processing: sentences contain quote
// characters, and a CSV reader with default quoting merges lines and loses rows (the paper's notebook
// read 5,109 training pairs for that reason, docs/paper.md §1.2 and §6.14). Every row must have the header's
// field count and a finite score in [0, 5]; otherwise one error names file:line. Blank lines are
// skipped; a CR before the newline and a UTF-8 byte-order mark are tolerated.
//
// Cleaning (the paper's utils.clean_text, docs/paper.md §1.2), applied in this order:
//   1. lower-case (ASCII; Python's Unicode lower() differs only on letters that STS-B does not contain)
//   2. every "http" and the non-whitespace after it becomes a space (the regex http\S+; Python's \s,
//      so Unicode spaces such as U+00A0 end a URL too)
//   3. every run of characters other than a-z, apostrophe and space becomes one space ([^a-z' ]+; a
//      UTF-8 character counts as one, as in Python)
//   4. an apostrophe not inside a word goes, with its neighbour: the regex [^a-z]'|'[^a-z] over the text
//      padded by a space each side, matched left to right without overlap as Python's re.sub does — so
//      "'quoted'" -> "quoted", "don't" stays, and "''a" keeps "'a" (the first match eats "''"'s first
//      apostrophe and the space before it; the second apostrophe then sits before a letter)
//   5. split on whitespace and drop the words in the stop-word list (NLTK's 179 English words, shipped
//      as data/stsb/english_stopwords.txt; they include "not", "no" and the contractions "isn't", ...).
// This gave the Python code's words exactly on all 14,498 STS-B sentences and on 50,000 random strings
// of letters, apostrophes, URL parts and Unicode spaces (checked once, during development).
//
// Sentence vectors (load_stsb_vectors), as the paper's notebook: each cleaned word takes its GloVe vector;
// a word the vectors lack takes the mean of the known words of the whole sentence (zeros when none is
// known), computed before truncation as the notebook's text_embed does; then the first T words are kept,
// or the sentence is pre-padded with zero vectors to T (T = 10 in the paper).
//
// DataSet layout (dataset.h). Shape letters: N pairs, T words or tokens, D vector size.
//   vectors: x (N, T, D) f32 sentence 1, x2 (N, T, D) f32 sentence 2, y (N, 1) f32 score
//   tokens:  x (N, T) i64 ids "[CLS] a [SEP] b [SEP]" padded with [PAD], x2 (N, T) i64 segment ids
//            (0 up to the first [SEP], 1 after), mask (N, T) u8 (1 = token, 0 = padding), y (N, 1) f32
//   both:    label = score (the word "score" in forget rules), key = the index column (unique within a
//            split; the DIR splits each number from 0, so keys repeat across splits), train/val/test =
//            train_new/dev_new/test_new, in file order.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <unordered_set>
#include <vector>

#include "data/dataset.h"
#include "data/tokenizer.h"

namespace dru {

struct WordVectors;

struct StsbRow {
  std::string index;  // the index column, or the 0-based row number when the header has none
  std::string sentence1, sentence2;
  double score = 0;  // in [0, 5]
  int64_t line = 0;  // 1-based line in the file, for messages
};

// Every row of one split file. `name` is what messages call the stream ("name:line: ...").
std::vector<StsbRow> read_stsb_tsv(const std::string& path);
std::vector<StsbRow> parse_stsb_tsv(std::istream& in, const std::string& name);

// A word list, one word a line (blank lines and surrounding whitespace ignored); throws when the file
// is missing or holds no word.
std::unordered_set<std::string> read_word_list(const std::string& path);

// Steps 1-5 above. An empty stop-word set keeps every word (the tokenizer's cleaning).
std::vector<std::string> clean_text(const std::string& text, const std::unordered_set<std::string>& stopwords);

// (T, D) row-major into out (T * D floats): the paper's unknown-word, truncation and pre-padding rules.
// Returns how many of the sentence's words the vectors know.
int64_t embed_words(const std::vector<std::string>& words, const WordVectors& vectors, int64_t steps, float* out);

struct StsbOptions {
  std::string folder;     // holds train_new.tsv, dev_new.tsv, test_new.tsv
  std::string glove;      // GloVe-format vectors, plain text or .gz (load_stsb_vectors only)
  std::string stopwords;  // the stop-word list (load_stsb_vectors only)
  int64_t steps = 10;     // T: words per sentence (load_stsb_vectors)

  // The shipped layout under a data root: PATH/stsb/*.tsv, PATH/stsb/english_stopwords.txt and
  // PATH/glove/glove.6B.100d.stsb_vocab.txt.gz, for PATH = data/ or ../shared/data. PATH may also
  // be the stsb folder itself (the GloVe file is then looked for in PATH/../glove). A file (train_new.tsv
  // given for its folder) is refused, saying a folder is expected.
  static StsbOptions from_root(const std::string& path);
  std::string split_path(const std::string& split) const;  // "train", "val" or "test" -> its tsv
};

// The three splits' rows, keyed "train", "val", "test" in that order.
struct StsbSplits {
  std::vector<StsbRow> train, val, test;
};
StsbSplits read_stsb_splits(const StsbOptions& o);

// What load_stsb_vectors saw, for reports (dru info).
struct StsbVectorStats {
  int64_t dim = 0;                               // D
  int64_t glove_lines = 0;                       // vector lines in the GloVe file
  int64_t spaced_words = 0, repeated_words = 0;  // see glove.h
  int64_t distinct_words = 0;                    // distinct cleaned words over the three splits
  int64_t distinct_known = 0;                    // ... of which the vectors know
  int64_t words = 0, known = 0;                  // word occurrences over every sentence, and the known ones
  int64_t empty_sentences = 0;                   // sentences with no word left after cleaning (all-zero input)
};

// GloVe sentence vectors (x, x2 (N, T, D) f32). Only the vectors of words that occur in the cleaned
// sentences are kept in memory, so the paper's 5.6 GB 840B.300d file loads too. Vectors that know none of
// the words are refused (every input would be zeros); below 10 % of the word occurrences known, a warning
// on stderr gives the coverage.
DataSet load_stsb_vectors(const StsbOptions& o, StsbVectorStats* stats = nullptr);

// A WordPiece tokenizer trained on the training split's sentences (both columns); see tokenizer.h.
Tokenizer train_stsb_tokenizer(const StsbOptions& o, const TokenizerOptions& options = {});

// WordPiece ids for BERT-lite (x, x2, mask (N, T) i64 / i64 / u8, T = max_len); see tokenizer.h.
DataSet load_stsb_tokens(const StsbOptions& o, const Tokenizer& tokenizer, int64_t max_len);

}  // namespace dru
