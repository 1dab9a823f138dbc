// tokenizer.cpp — WordPiece training by pair merges, greedy longest-match encoding, the vocab file
// (see tokenizer.h).
#include "data/tokenizer.h"

#include <algorithm>
#include <fstream>
#include <optional>
#include <queue>
#include <unordered_set>

#include "data/stsb.h"
#include "engine/check.h"

namespace dru {

namespace {

const char* const kSpecials[] = {"[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"};
const char kAlphabet[] = "'abcdefghijklmnopqrstuvwxyz";  // everything clean_text can leave in a word
const std::unordered_set<std::string> kNoStopwords;

// A pair of adjacent piece ids, left one in the high half: comparing keys compares (left, right).
using PairKey = uint64_t;
PairKey pair_key(int64_t a, int64_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }

struct Candidate {
  int64_t count;
  PairKey key;
  // The heap's top: the highest count, then the smallest pair.
  bool operator<(const Candidate& o) const { return count < o.count || (count == o.count && key > o.key); }
};

// The merge state: every distinct training word as piece ids, with its count.
class MergeTrainer {
 public:
  MergeTrainer(std::vector<std::string>& vocab, std::unordered_map<std::string, int64_t>& ids)
      : vocab_(vocab), ids_(ids) {}

  void add_word(const std::string& w, int64_t count) {
    std::vector<int32_t> s;
    for (size_t i = 0; i < w.size(); ++i)
      s.push_back(int32_t(ids_.at(i == 0 ? w.substr(0, 1) : "##" + w.substr(i, 1))));
    const int32_t wi = int32_t(words_.size());
    words_.push_back(std::move(s));
    freq_.push_back(count);
    stamp_.push_back(0);
    count_pairs(wi, +1);
  }

  // Merges until the vocabulary holds max_size tokens or the best pair is rarer than min_count.
  void run(int64_t max_size, int64_t min_count) {
    touched_.clear();
    for (auto& [k, c] : counts_) heap_.push({c, k});
    int64_t round = 0;
    while (int64_t(vocab_.size()) < max_size) {
      std::optional<Candidate> best;
      while (!heap_.empty()) {
        Candidate c = heap_.top();
        heap_.pop();
        auto it = counts_.find(c.key);
        if (it != counts_.end() && it->second == c.count) {  // not a stale entry
          best = c;
          break;
        }
      }
      if (!best || best->count < min_count) return;
      merge(best->key, ++round);
    }
  }

 private:
  void count_pairs(int32_t wi, int64_t sign) {
    const std::vector<int32_t>& s = words_[size_t(wi)];
    for (size_t j = 0; j + 1 < s.size(); ++j) {
      PairKey k = pair_key(s[j], s[j + 1]);
      int64_t& c = counts_[k];
      c += sign * freq_[size_t(wi)];
      if (sign > 0) where_[k].push_back(wi);
      touched_.push_back(k);
    }
  }

  void merge(PairKey key, int64_t round) {
    const int32_t a = int32_t(key >> 32), b = int32_t(key & 0xffffffffu);
    // b is never a word's first piece, so it starts with "##"; the merged piece keeps a's start.
    std::string merged = vocab_[size_t(a)] + vocab_[size_t(b)].substr(2);
    auto [it, fresh] = ids_.try_emplace(merged, int64_t(vocab_.size()));
    if (fresh) vocab_.push_back(merged);
    const int32_t z = int32_t(it->second);
    std::vector<int32_t> list = std::move(where_[key]);
    where_.erase(key);
    touched_.clear();
    for (int32_t wi : list) {
      if (stamp_[size_t(wi)] == round) continue;  // listed more than once
      stamp_[size_t(wi)] = round;
      std::vector<int32_t>& s = words_[size_t(wi)];
      count_pairs(wi, -1);
      std::vector<int32_t> out;
      for (size_t j = 0; j < s.size();) {
        if (j + 1 < s.size() && s[j] == a && s[j + 1] == b) {
          out.push_back(z);
          j += 2;
        } else {
          out.push_back(s[j++]);
        }
      }
      s = std::move(out);
      count_pairs(wi, +1);
    }
    for (PairKey k : touched_) {
      auto c = counts_.find(k);
      if (c == counts_.end()) continue;
      if (c->second > 0)
        heap_.push({c->second, k});
      else
        counts_.erase(c);
    }
  }

  std::vector<std::string>& vocab_;
  std::unordered_map<std::string, int64_t>& ids_;
  std::vector<std::vector<int32_t>> words_;
  std::vector<int64_t> freq_, stamp_;
  std::unordered_map<PairKey, int64_t> counts_;
  std::unordered_map<PairKey, std::vector<int32_t>> where_;  // words holding the pair (maybe stale, repeated)
  std::vector<PairKey> touched_;
  std::priority_queue<Candidate> heap_;  // lazy: entries whose count changed since are skipped
};

}  // namespace

Tokenizer Tokenizer::train(const std::vector<std::string>& texts, const TokenizerOptions& options) {
  std::vector<std::string> vocab(std::begin(kSpecials), std::end(kSpecials));
  for (const char* c = kAlphabet; *c; ++c) vocab.push_back(std::string(1, *c));
  for (const char* c = kAlphabet; *c; ++c) vocab.push_back("##" + std::string(1, *c));
  DRU_CHECK(options.vocab_size >= int64_t(vocab.size()),
            "tokenizer: vocab_size {} is too small; the special tokens and the alphabet alone take {}",
            options.vocab_size, vocab.size());
  DRU_CHECK(options.min_pair_count >= 1, "tokenizer: min_pair_count is {}, must be at least 1", options.min_pair_count);

  std::unordered_map<std::string, int64_t> counts;
  for (const std::string& t : texts)
    for (std::string& w : clean_text(t, kNoStopwords))
      if (int64_t(w.size()) <= kMaxWordChars) ++counts[std::move(w)];
  DRU_CHECK(!counts.empty(), "tokenizer: the {} training texts hold no word", texts.size());
  std::vector<std::pair<std::string, int64_t>> sorted(counts.begin(), counts.end());
  std::sort(sorted.begin(), sorted.end());  // a fixed order: training must not depend on hashing

  std::unordered_map<std::string, int64_t> ids;
  for (size_t i = 0; i < vocab.size(); ++i) ids.emplace(vocab[i], int64_t(i));
  MergeTrainer trainer(vocab, ids);
  for (auto& [w, c] : sorted) trainer.add_word(w, c);
  trainer.run(options.vocab_size, options.min_pair_count);

  Tokenizer tok;
  tok.set_vocabulary(std::move(vocab), "tokenizer training");
  return tok;
}

void Tokenizer::set_vocabulary(std::vector<std::string> vocab, const std::string& source) {
  vocab_ = std::move(vocab);
  ids_.clear();
  for (size_t i = 0; i < vocab_.size(); ++i) ids_.emplace(vocab_[i], int64_t(i));
  DRU_CHECK(!vocab_.empty() && vocab_[0] == "[PAD]", "{}: the first token must be [PAD] (id 0 pads sequences)", source);
  pad_ = 0;
  cls_ = id("[CLS]");
  sep_ = id("[SEP]");
  unk_ = id("[UNK]");
  mask_ = id("[MASK]");
  DRU_CHECK(cls_ >= 0 && sep_ >= 0 && unk_ >= 0, "{}: the vocabulary lacks [CLS], [SEP] or [UNK]", source);
}

Tokenizer Tokenizer::load(const std::string& path) {
  std::ifstream in(path);
  DRU_CHECK(in.good(), "{}: cannot open the tokenizer vocabulary (check the path)", path);
  std::vector<std::string> vocab;
  std::unordered_map<std::string, int64_t> seen;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const int64_t lineno = int64_t(vocab.size()) + 1;
    DRU_CHECK(!line.empty(), "{}:{}: an empty token (one token a line, the line number minus one is its id)", path,
              lineno);
    DRU_CHECK(line.find_first_of(" \t") == std::string::npos, "{}:{}: token '{}' holds whitespace", path, lineno, line);
    auto [it, fresh] = seen.try_emplace(line, lineno);
    DRU_CHECK(fresh, "{}:{}: token '{}' already appeared at line {}", path, lineno, line, it->second);
    vocab.push_back(line);
  }
  DRU_CHECK(!in.bad(), "{}: read error", path);
  DRU_CHECK(!vocab.empty(), "{}: the vocabulary file is empty", path);
  Tokenizer tok;
  tok.set_vocabulary(std::move(vocab), path);
  return tok;
}

void Tokenizer::save(const std::string& path) const {
  std::ofstream out(path, std::ios::binary);
  DRU_CHECK(out.good(), "{}: cannot write the tokenizer vocabulary (check the folder exists)", path);
  for (const std::string& t : vocab_) out << t << '\n';
  out.close();
  DRU_CHECK(out.good(), "{}: writing the tokenizer vocabulary failed (disk full?)", path);
}

const std::string& Tokenizer::token(int64_t id) const {
  DRU_CHECK(id >= 0 && id < size(), "tokenizer: id {} is outside the vocabulary of {}", id, size());
  return vocab_[size_t(id)];
}

int64_t Tokenizer::id(const std::string& token) const {
  auto it = ids_.find(token);
  return it == ids_.end() ? -1 : it->second;
}

std::vector<std::string> Tokenizer::words(const std::string& text) const { return clean_text(text, kNoStopwords); }

void Tokenizer::append_word_ids(const std::string& word, std::vector<int64_t>& out) const {
  const size_t n = word.size(), before = out.size();
  if (int64_t(n) > kMaxWordChars) {
    out.push_back(unk_);
    return;
  }
  std::string piece;
  for (size_t start = 0; start < n;) {
    int64_t found = -1;
    size_t end = n;
    for (; end > start; --end) {
      piece.assign(start > 0 ? "##" : "");
      piece.append(word, start, end - start);
      if ((found = id(piece)) >= 0) break;
    }
    if (found < 0) {  // no piece covers word[start]: the whole word is unknown
      out.resize(before);
      out.push_back(unk_);
      return;
    }
    out.push_back(found);
    start = end;
  }
}

std::vector<int64_t> Tokenizer::encode(const std::string& text) const {
  std::vector<int64_t> ids;
  for (const std::string& w : words(text)) append_word_ids(w, ids);
  return ids;
}

std::vector<std::string> Tokenizer::pieces(const std::string& text) const {
  std::vector<std::string> out;
  for (int64_t i : encode(text)) out.push_back(vocab_[size_t(i)]);
  return out;
}

void Tokenizer::encode_pair_into(const std::string& a, const std::string& b, int64_t max_len, int64_t* ids,
                                 int64_t* segments, uint8_t* mask) const {
  DRU_CHECK(max_len >= 3, "tokenizer: max_len {} cannot hold [CLS] a [SEP] b [SEP] (at least 3)", max_len);
  std::vector<int64_t> ea = encode(a), eb = encode(b);
  while (int64_t(ea.size() + eb.size()) > max_len - 3) (ea.size() > eb.size() ? ea : eb).pop_back();
  int64_t t = 0;
  auto put = [&](int64_t id, int64_t seg) {
    ids[t] = id;
    segments[t] = seg;
    mask[t] = 1;
    ++t;
  };
  put(cls_, 0);
  for (int64_t i : ea) put(i, 0);
  put(sep_, 0);
  for (int64_t i : eb) put(i, 1);
  put(sep_, 1);
  for (; t < max_len; ++t) {
    ids[t] = pad_;
    segments[t] = 0;
    mask[t] = 0;
  }
}

EncodedPair Tokenizer::encode_pair(const std::string& a, const std::string& b, int64_t max_len) const {
  EncodedPair p;
  DRU_CHECK(max_len >= 3, "tokenizer: max_len {} cannot hold [CLS] a [SEP] b [SEP] (at least 3)", max_len);
  p.ids.resize(size_t(max_len));
  p.segments.resize(size_t(max_len));
  p.mask.resize(size_t(max_len));
  encode_pair_into(a, b, max_len, p.ids.data(), p.segments.data(), p.mask.data());
  return p;
}

}  // namespace dru
