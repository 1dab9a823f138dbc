// stsb_load.cpp — STS-B data sets: GloVe sentence vectors and WordPiece ids (see stsb.h).
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "data/glove.h"
#include "data/stsb.h"
#include "engine/check.h"

namespace dru {

namespace {

const char* const kSplits[] = {"train", "val", "test"};
// Below this share of the sentences' word occurrences known to the vectors, load_stsb_vectors warns (the
// shipped GloVe subset knows about 99 %).
constexpr double kLowCoverage = 0.10;

// y, label and key of a split's rows; the caller fills x, x2 and mask.
Samples labels_of(const std::vector<StsbRow>& rows) {
  Samples s;
  const int64_t n = int64_t(rows.size());
  s.y = Tensor::empty(Shape{n, 1});
  float* y = s.y.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    y[i] = float(rows[size_t(i)].score);
    s.label.push_back(rows[size_t(i)].score);
    s.key.push_back(rows[size_t(i)].index);
  }
  return s;
}

std::vector<StsbRow>& rows_of(StsbSplits& s, int i) { return i == 0 ? s.train : i == 1 ? s.val : s.test; }

}  // namespace

StsbOptions StsbOptions::from_root(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path p(path);
  std::error_code ec;
  DRU_CHECK(!fs::is_regular_file(p, ec),
            "stsb: {} is a file; give the folder that holds train_new.tsv, dev_new.tsv and test_new.tsv (e.g. "
            "data/stsb, or data/ above it)", path);
  const fs::path stsb = fs::exists(p / "train_new.tsv") ? p : p / "stsb";
  StsbOptions o;
  o.folder = stsb.lexically_normal().string();
  o.stopwords = (stsb / "english_stopwords.txt").lexically_normal().string();
  o.glove = (stsb / ".." / "glove" / "glove.6B.100d.stsb_vocab.txt.gz").lexically_normal().string();
  return o;
}

std::string StsbOptions::split_path(const std::string& split) const {
  const char* file = split == "train"  ? "train_new.tsv"
                     : split == "val"  ? "dev_new.tsv"
                     : split == "test" ? "test_new.tsv"
                                       : nullptr;
  DRU_CHECK(file != nullptr, "stsb: no split named '{}' (train, val, test)", split);
  DRU_CHECK(!folder.empty(), "stsb: no data folder given (it holds train_new.tsv, dev_new.tsv, test_new.tsv)");
  return (std::filesystem::path(folder) / file).string();
}

StsbSplits read_stsb_splits(const StsbOptions& o) {
  StsbSplits s;
  for (int i = 0; i < 3; ++i) rows_of(s, i) = read_stsb_tsv(o.split_path(kSplits[i]));
  return s;
}

DataSet load_stsb_vectors(const StsbOptions& o, StsbVectorStats* stats) {
  DRU_CHECK(o.steps >= 1, "stsb: steps (words per sentence) is {}, must be at least 1", o.steps);
  DRU_CHECK(!o.glove.empty(), "stsb: no GloVe file given (any 'word v1 ... vD' text file, plain or .gz)");
  DRU_CHECK(!o.stopwords.empty(), "stsb: no stop-word list given (data/stsb/english_stopwords.txt is shipped)");
  StsbSplits splits = read_stsb_splits(o);
  const std::unordered_set<std::string> stop = read_word_list(o.stopwords);

  // Clean every sentence first: the GloVe reader then keeps only the vectors these words need.
  std::vector<std::vector<std::string>> cleaned[3][2];
  std::unordered_set<std::string> wanted;
  for (int i = 0; i < 3; ++i)
    for (const StsbRow& r : rows_of(splits, i))
      for (int c = 0; c < 2; ++c) {
        cleaned[i][c].push_back(clean_text(c == 0 ? r.sentence1 : r.sentence2, stop));
        wanted.insert(cleaned[i][c].back().begin(), cleaned[i][c].back().end());
      }
  const WordVectors wv = read_glove(o.glove, &wanted);
  const int64_t t = o.steps, d = wv.dim;
  // Vectors of another language or vocabulary know none of the words: every sentence would embed as
  // zeros and the model would train on nothing.
  DRU_CHECK(wv.size() > 0,
            "{}: none of its {} words occurs in the STS-B sentences ({} distinct words after cleaning, e.g. '{}'); "
            "give English GloVe vectors (glove.6B.*, glove.840B.300d)",
            o.glove, wv.lines, wanted.size(), wanted.empty() ? std::string() : *std::min_element(wanted.begin(), wanted.end()));

  StsbVectorStats st;
  st.dim = d;
  st.glove_lines = wv.lines;
  st.spaced_words = wv.spaced_words;
  st.repeated_words = wv.repeated_words;
  st.distinct_words = int64_t(wanted.size());
  st.distinct_known = wv.size();
  DataSet ds;
  ds.name = "stsb";
  ds.label_name = "score";
  for (int i = 0; i < 3; ++i) {
    const std::vector<StsbRow>& rows = rows_of(splits, i);
    const int64_t n = int64_t(rows.size());
    Samples s = labels_of(rows);
    Tensor x[2];
    for (int c = 0; c < 2; ++c) {
      x[c] = Tensor::empty(Shape{n, t, d});
      float* out = x[c].data<float>();
      for (int64_t r = 0; r < n; ++r) {
        const std::vector<std::string>& words = cleaned[i][c][size_t(r)];
        st.known += embed_words(words, wv, t, out + r * t * d);
        st.words += int64_t(words.size());
        st.empty_sentences += words.empty();
      }
    }
    s.x = x[0];
    s.x2 = x[1];
    ds.split(kSplits[i]) = std::move(s);
  }
  // A few known words still give mostly mean-filled or zero inputs: train, but say so.
  const double coverage = st.words > 0 ? double(st.known) / double(st.words) : 0;
  if (coverage < kLowCoverage)
    std::fprintf(stderr,
                 "stsb: warning: %s knows %.1f%% of the words in the sentences (%lld of %lld; %lld of %lld distinct): "
                 "most inputs are the sentence mean or zeros; check that these are the intended vectors\n",
                 o.glove.c_str(), 100 * coverage, (long long)st.known, (long long)st.words, (long long)st.distinct_known,
                 (long long)st.distinct_words);
  if (stats) *stats = st;
  return ds;
}

Tokenizer train_stsb_tokenizer(const StsbOptions& o, const TokenizerOptions& options) {
  std::vector<std::string> texts;
  for (const StsbRow& r : read_stsb_tsv(o.split_path("train"))) {
    texts.push_back(r.sentence1);
    texts.push_back(r.sentence2);
  }
  return Tokenizer::train(texts, options);
}

DataSet load_stsb_tokens(const StsbOptions& o, const Tokenizer& tokenizer, int64_t max_len) {
  DRU_CHECK(max_len >= 3, "stsb: max_len {} cannot hold [CLS] a [SEP] b [SEP] (at least 3)", max_len);
  StsbSplits splits = read_stsb_splits(o);
  DataSet ds;
  ds.name = "stsb";
  ds.label_name = "score";
  for (int i = 0; i < 3; ++i) {
    const std::vector<StsbRow>& rows = rows_of(splits, i);
    const int64_t n = int64_t(rows.size());
    Samples s = labels_of(rows);
    s.x = Tensor::empty(Shape{n, max_len}, DType::i64);
    s.x2 = Tensor::empty(Shape{n, max_len}, DType::i64);
    s.mask = Tensor::empty(Shape{n, max_len}, DType::u8);
    int64_t* ids = s.x.data<int64_t>();
    int64_t* seg = s.x2.data<int64_t>();
    uint8_t* mask = s.mask.data<uint8_t>();
    for (int64_t r = 0; r < n; ++r)
      tokenizer.encode_pair_into(rows[size_t(r)].sentence1, rows[size_t(r)].sentence2, max_len, ids + r * max_len,
                                 seg + r * max_len, mask + r * max_len);
    ds.split(kSplits[i]) = std::move(s);
  }
  return ds;
}

}  // namespace dru
