// tokenizer.h — a WordPiece tokenizer for BERT-lite, trained on the STS-B training sentences.
//
// Why WordPiece: it is what BERT uses, and it never needs [UNK] for a word it has not seen — a rare or
// new word ("cheetahs", a name in the test split) is split into known pieces ("cheetah", "##s") instead
// of collapsing to one unknown id, which a word-level vocabulary would do for 10-20 % of the dev/test
// words at any useful size (STS-B's training split has about 12 k distinct words, many seen once).
// The vocabulary file is BERT's vocab.txt format (one token a line, id = line number), so it is small,
// readable and kept beside the model.
//
// Text: the paper's cleaning steps 1-4 (stsb.h: lower-case, URLs out, only a-z and apostrophes, stray
// apostrophes out) but no stop-word removal — the NLTK list holds "not", "no", "nor" and "isn't",
// which decide similarity for a model that reads whole sentences (the LSTM's GloVe input keeps the
// paper's stop-word removal).
//
// Training (train): word counts over the texts; the initial vocabulary is the special tokens, then every
// character of the cleaned alphabet (a-z and the apostrophe) as a word start ("a") and as a continuation
// ("##a"), so every cleaned word can be encoded; then pairs of adjacent pieces are merged, most frequent
// pair first (counts weighted by word frequency; ties to the pair of smaller ids), and each merged piece
// joins the vocabulary ("c" + "##at" -> "cat", "##a" + "##t" -> "##at") until vocab_size tokens or no
// pair occurs min_pair_count times. The result is deterministic.
//
// Encoding (as BERT's WordpieceTokenizer): each word greedily, longest vocabulary piece first from the
// left; a word with a part no piece covers, or longer than 100 characters, becomes [UNK].
//
// Ids: [PAD] 0, [CLS] 1, [SEP] 2, [UNK] 3, [MASK] 4 (reserved for masked-LM pre-training) in trained
// vocabularies. A loaded vocabulary may order them differently (a BERT vocab.txt) but must hold the
// first four, with [PAD] at 0 (padding ids are zeros).
//
// Pairs (encode_pair): "[CLS] a [SEP] b [SEP]" then [PAD] up to max_len; segment ids 0 through the first
// [SEP] and 1 after it (0 on padding); mask 1 on tokens, 0 on padding. Too long a pair is cut as BERT's
// longest-first truncation: one token at a time from the end of the longer sentence (b on ties).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace dru {

struct TokenizerOptions {
  int64_t vocab_size = 8192;   // at most this many tokens, specials included (BERT-lite's default V)
  int64_t min_pair_count = 2;  // stop merging when the most frequent pair occurs fewer times
};

struct EncodedPair {
  std::vector<int64_t> ids, segments;  // (T)
  std::vector<uint8_t> mask;           // (T) 1 token, 0 padding
};

class Tokenizer {
 public:
  static constexpr int64_t kMaxWordChars = 100;

  static Tokenizer train(const std::vector<std::string>& texts, const TokenizerOptions& options = {});
  // Throws naming file:line for an empty or repeated token or one with whitespace, and naming the file
  // when a special token is missing or [PAD] is not id 0.
  static Tokenizer load(const std::string& path);
  void save(const std::string& path) const;

  // Cleaned words (no stop-word removal), then WordPiece pieces and their ids.
  std::vector<std::string> words(const std::string& text) const;
  std::vector<std::string> pieces(const std::string& text) const;
  std::vector<int64_t> encode(const std::string& text) const;
  EncodedPair encode_pair(const std::string& a, const std::string& b, int64_t max_len) const;
  // The same written into ids, segments, mask (max_len values each): the loaders' path, no allocation
  // per pair beyond the pieces.
  void encode_pair_into(const std::string& a, const std::string& b, int64_t max_len, int64_t* ids, int64_t* segments,
                        uint8_t* mask) const;

  int64_t size() const { return int64_t(vocab_.size()); }
  const std::string& token(int64_t id) const;
  int64_t id(const std::string& token) const;  // -1 when absent
  const std::vector<std::string>& vocabulary() const { return vocab_; }
  int64_t pad_id() const { return pad_; }
  int64_t cls_id() const { return cls_; }
  int64_t sep_id() const { return sep_; }
  int64_t unk_id() const { return unk_; }
  int64_t mask_id() const { return mask_; }  // -1 when the vocabulary has no [MASK]

 private:
  void set_vocabulary(std::vector<std::string> vocab, const std::string& source);
  void append_word_ids(const std::string& word, std::vector<int64_t>& out) const;

  std::vector<std::string> vocab_;
  std::unordered_map<std::string, int64_t> ids_;
  int64_t pad_ = 0, cls_ = -1, sep_ = -1, unk_ = -1, mask_ = -1;
};

}  // namespace dru
