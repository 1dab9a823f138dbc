// bert_slice.cpp — the test-only tokenizer described in bert_slice.h.
#include "tests/bert_slice.h"

#include <algorithm>

#include "engine/check.h"

namespace dru::test {

int64_t WordVocab::id(const std::string& word) const {
  auto it = ids.find(word);
  return it == ids.end() ? unk : it->second;
}

WordVocab build_word_vocab(const std::vector<StsbPair>& pairs, size_t max_words) {
  std::map<std::string, int64_t> counts;
  for (auto& p : pairs)
    for (auto* s : {&p.sentence1, &p.sentence2})
      for (auto& w : tokenize(*s)) ++counts[w];
  std::vector<std::pair<std::string, int64_t>> ranked(counts.begin(), counts.end());
  // Most frequent first; std::map already ordered ties alphabetically and stable_sort keeps that order.
  std::stable_sort(ranked.begin(), ranked.end(), [](auto& a, auto& b) { return a.second > b.second; });
  WordVocab v;
  for (size_t i = 0; i < std::min(max_words, ranked.size()); ++i) v.ids[ranked[i].first] = 4 + int64_t(i);
  return v;
}

BertBatch encode_pairs(const std::vector<StsbPair>& pairs, const WordVocab& vocab, int64_t max_len) {
  DRU_CHECK(max_len >= 3, "encode_pairs: max_len {} leaves no room for [CLS] and two [SEP]", max_len);
  const int64_t n = int64_t(pairs.size());
  std::vector<int64_t> ids(size_t(n * max_len), WordVocab::pad), seg(size_t(n * max_len), 0);
  std::vector<double> mask(size_t(n * max_len), 0.0), scores;
  for (int64_t r = 0; r < n; ++r) {
    std::vector<std::string> a = tokenize(pairs[size_t(r)].sentence1), b = tokenize(pairs[size_t(r)].sentence2);
    while (int64_t(a.size() + b.size()) + 3 > max_len) (a.size() >= b.size() ? a : b).pop_back();
    std::vector<int64_t> row{WordVocab::cls};
    for (auto& w : a) row.push_back(vocab.id(w));
    row.push_back(WordVocab::sep);
    const size_t second = row.size();
    for (auto& w : b) row.push_back(vocab.id(w));
    row.push_back(WordVocab::sep);
    for (size_t j = 0; j < row.size(); ++j) {
      size_t i = size_t(r * max_len) + j;
      ids[i] = row[j];
      seg[i] = j >= second ? 1 : 0;
      mask[i] = 1.0;
    }
    scores.push_back(pairs[size_t(r)].score);
  }
  return {Tensor::from(ids, Shape{n, max_len}), Tensor::from(seg, Shape{n, max_len}),
          Tensor::from(mask, Shape{n, max_len}, DType::u8), Tensor::from(scores, Shape{n, 1})};
}

}  // namespace dru::test
