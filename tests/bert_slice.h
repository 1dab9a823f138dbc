// bert_slice.h — a test-only word-level tokenizer that turns STS-B pairs into bert-lite inputs, for the
// "training loss falls" test (the real tokenizer belongs to the data issue). The pairs are read and the
// text split into words by tests/sequence_slices.h (tabs only, lowercase, split on non-letters).
//
// Vocabulary: [PAD] = 0, [CLS] = 1, [SEP] = 2, [UNK] = 3, then the most frequent words of the given pairs
// (ties in alphabetical order), at most max_words of them. A pair becomes "[CLS] a [SEP] b [SEP]",
// segment 0 up to and including the first [SEP] and 1 after it, padded with [PAD] (mask 0) to max_len;
// longer pairs drop words from the end of the longer sentence first (BERT's "longest first").
#pragma once

#include <map>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "tests/sequence_slices.h"

namespace dru::test {

struct WordVocab {
  static constexpr int64_t pad = 0, cls = 1, sep = 2, unk = 3;
  std::map<std::string, int64_t> ids;  // words only; specials are the constants above
  int64_t size() const { return 4 + int64_t(ids.size()); }
  int64_t id(const std::string& word) const;
};
WordVocab build_word_vocab(const std::vector<StsbPair>& pairs, size_t max_words);

struct BertBatch {
  Tensor ids;       // (N, T) i64
  Tensor segments;  // (N, T) i64
  Tensor mask;      // (N, T) u8
  Tensor scores;    // (N, 1) f32
};
BertBatch encode_pairs(const std::vector<StsbPair>& pairs, const WordVocab& vocab, int64_t max_len);

}  // namespace dru::test
