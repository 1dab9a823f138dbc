// forget.cpp — see forget.h.
#include "data/forget.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>

#include <fmt/ranges.h>

#include "kernels/rng/philox.h"

namespace dru {

namespace {

// An ids= line: "KEY", or "SPLIT:KEY" for one split's sample (SPLIT is train, val or test).
struct IdRef {
  std::string split, key;
};
IdRef id_ref(const std::string& line) {
  const size_t colon = line.find(':');
  if (colon != std::string::npos) {
    const std::string split = line.substr(0, colon);
    if (split == "train" || split == "val" || split == "test") return {split, line.substr(colon + 1)};
  }
  return {"", line};
}

double parse_number(const std::string& s, const std::string& rule) {
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  DRU_CHECK(!s.empty() && end == s.c_str() + s.size() && errno == 0 && std::isfinite(v),
            "forget rule '{}': '{}' is not a number", rule, s);
  return v;
}

std::vector<std::string> split_list(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(sep, start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

ForgetRule parse_range(ForgetRule r, const std::string& body) {
  size_t dots = body.find("..");
  r.kind = ForgetRule::Kind::range;
  r.a = parse_number(body.substr(0, dots), r.text);
  r.b = parse_number(body.substr(dots + 2), r.text);
  DRU_CHECK(r.a <= r.b, "forget rule '{}': the range is empty ({} > {})", r.text, r.a, r.b);
  return r;
}

ForgetRule parse_ids(ForgetRule r, const std::string& path) {
  r.kind = ForgetRule::Kind::ids;
  std::ifstream in(path);
  DRU_CHECK(in.good(), "forget rule '{}': cannot open {} (a file of sample ids, one per line)", r.text, path);
  std::string line;
  while (std::getline(in, line)) {
    line = trim(line);
    if (!line.empty()) r.names.push_back(line);
  }
  DRU_CHECK(!r.names.empty(), "forget rule '{}': {} lists no sample ids", r.text, path);
  return r;
}

ForgetRule parse_random(ForgetRule r, const std::string& body) {
  r.kind = ForgetRule::Kind::random;
  size_t colon = body.find(':');
  r.a = parse_number(body.substr(0, colon), r.text);
  DRU_CHECK(r.a > 0 && r.a < 1, "forget rule '{}': the fraction must be between 0 and 1", r.text);
  if (colon != std::string::npos) {
    // Digits only, read as an integer: through a double, seeds of 1e20 and above all became one value
    // (and 2^53 + 1 rounded to its neighbour), so distinct seeds drew the same samples.
    const std::string s = body.substr(colon + 1);
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), r.seed);
    DRU_CHECK(!s.empty() && s.find_first_not_of("0123456789") == std::string::npos && ec == std::errc() &&
                  end == s.data() + s.size(),
              "forget rule '{}': the seed '{}' must be a whole number from 0 to {}", r.text, s, UINT64_MAX);
  }
  return r;
}

}  // namespace

ForgetRule parse_forget_rule(const std::string& text_in, const std::string& label_name) {
  ForgetRule r;
  r.text = trim(text_in);
  const std::string& t = r.text;
  DRU_CHECK(!t.empty(), "forget rule is empty; examples: {}<=30, {}=30..70, random=0.1, ids=FILE", label_name,
            label_name);
  if (t.rfind("ids=", 0) == 0) return parse_ids(r, t.substr(4));
  if (t.rfind("random=", 0) == 0) return parse_random(r, t.substr(7));
  for (const char* g : {"customer=", "group="})
    if (t.rfind(g, 0) == 0) {
      r.kind = ForgetRule::Kind::group;
      r.names = split_list(t.substr(std::string(g).size()), ',');
      DRU_CHECK(!r.names.empty(), "forget rule '{}': no group names after '='", t);
      return r;
    }
  if (t.find("..") != std::string::npos) {
    std::string body = t;
    if (t.rfind(label_name + "=", 0) == 0) body = t.substr(label_name.size() + 1);
    DRU_CHECK(body.find('=') == std::string::npos,
              "forget rule '{}': a range is written {}=A..B or A..B for this data set", t, label_name);
    return parse_range(r, body);
  }
  for (const char* op : {"<=", ">=", "<", ">"}) {
    size_t at = t.find(op);
    if (at == std::string::npos) continue;
    std::string word = t.substr(0, at);
    DRU_CHECK(word == label_name, "forget rule '{}': this data set's label is '{}', not '{}'", t, label_name, word);
    r.kind = ForgetRule::Kind::threshold;
    r.op = op;
    r.a = parse_number(t.substr(at + std::string(op).size()), t);
    return r;
  }
  DRU_FAIL("forget rule '{}' is not understood; examples: {}<=30, {}<2, {}=30..70, customer=MT_003, random=0.1:7, "
           "ids=FILE",
           t, label_name, label_name, label_name);
}

std::vector<bool> forget_mask(const ForgetRule& r, const Samples& s, uint64_t salt) {
  const int64_t n = s.size();
  std::vector<bool> m(size_t(n), false);
  using K = ForgetRule::Kind;
  if (r.kind == K::group) {
    DRU_CHECK(int64_t(s.group.size()) == n, "forget rule '{}': this data set has no groups (customers)", r.text);
    std::set<std::string> names(r.names.begin(), r.names.end());
    for (int64_t i = 0; i < n; ++i) m[size_t(i)] = names.count(s.group[size_t(i)]) > 0;
    return m;
  }
  if (r.kind == K::ids) {
    DRU_CHECK(int64_t(s.key.size()) == n, "forget rule '{}': this data set has no sample ids", r.text);
    const std::string split = salt == 0 ? "train" : salt == 1 ? "val" : "test";
    std::set<std::string> names;
    for (const auto& id : r.names) {
      const IdRef ref = id_ref(id);
      if (ref.split.empty() || ref.split == split) names.insert(ref.key);
    }
    for (int64_t i = 0; i < n; ++i) m[size_t(i)] = names.count(s.key[size_t(i)]) > 0;
    return m;
  }
  for (int64_t i = 0; i < n; ++i) {
    const double v = s.label[size_t(i)];
    bool f = false;
    switch (r.kind) {
      case K::threshold:
        f = r.op == "<=" ? v <= r.a : r.op == "<" ? v < r.a : r.op == ">=" ? v >= r.a : v > r.a;
        break;
      case K::range: f = v >= r.a && v <= r.b; break;
      case K::random:
        // Sample i of a split is forgotten when its Philox draw falls below the fraction: the choice
        // depends only on (seed, split, index), never on the order samples are visited in.
        f = double(uniform01_f32(philox4x32(uint64_t(i), salt, r.seed).v[0])) < r.a;
        break;
      default: break;
    }
    m[size_t(i)] = f;
  }
  return m;
}

uint64_t split_salt(const std::string& split) { return split == "train" ? 0 : split == "val" ? 1 : 2; }

namespace {

ForgetSplit split_by_mask(const Samples& s, const std::vector<bool>& m) {
  std::vector<int64_t> f, r;
  for (int64_t i = 0; i < s.size(); ++i) (m[size_t(i)] ? f : r).push_back(i);
  return {s.select(f), s.select(r)};
}

ForgetCounts counts_of(const char* split, const std::vector<bool>& m) {
  ForgetCounts c{split, int64_t(m.size()), 0, 0};
  for (bool b : m) c.forget += b ? 1 : 0;
  c.retain = c.total - c.forget;
  return c;
}

// A mistyped id must not vanish silently (every id the rule lists is some split's sample), and an id must
// name one sample: not a key repeated within a split, and, unqualified, not a key of several splits.
void check_ids(const DataSet& ds, const ForgetRule& rule) {
  if (rule.kind != ForgetRule::Kind::ids) return;
  std::map<std::string, std::map<std::string, int64_t>> count;  // split -> key -> samples
  for (const char* name : {"train", "val", "test"})
    for (auto& k : ds.split(name).key) ++count[name][k];
  int64_t missing = 0;
  std::string first;
  for (auto& id : rule.names) {
    const IdRef ref = id_ref(id);
    std::vector<std::string> in;  // the splits the id names a sample of
    for (const char* name : {"train", "val", "test"}) {
      if (!ref.split.empty() && ref.split != name) continue;
      auto it = count[name].find(ref.key);
      if (it == count[name].end()) continue;
      DRU_CHECK(it->second == 1,
                "forget rule '{}': id '{}' names {} samples of the {} split; an id must name one sample (this data "
                "set's keys repeat, so it cannot be forgotten by id)",
                rule.text, ref.key, it->second, name);
      in.push_back(name);
    }
    DRU_CHECK(in.size() <= 1,
              "forget rule '{}': id '{}' is a sample of the {} and the {} split; write it as {}:{} (or the other "
              "split's name) to say which",
              rule.text, ref.key, in[0], in[1], in[0], ref.key);
    if (in.empty() && missing++ == 0) first = id;
  }
  DRU_CHECK(missing == 0, "forget rule '{}': {} of the {} listed ids are not in the data set (first: '{}')",
            rule.text, missing, rule.names.size(), first);
}

// A mistyped group name must not vanish silently either: customer=MT_003,MT_999 would forget MT_003 alone.
// Every name must be a group of some split; the message lists the unknown names and the known ones.
void check_groups(const DataSet& ds, const ForgetRule& rule) {
  if (rule.kind != ForgetRule::Kind::group) return;
  std::set<std::string> known;
  for (const char* name : {"train", "val", "test"}) known.insert(ds.split(name).group.begin(), ds.split(name).group.end());
  std::vector<std::string> unknown;
  for (const auto& n : rule.names)
    if (!known.count(n)) unknown.push_back("'" + n + "'");
  if (unknown.empty()) return;
  const std::string word = rule.text.rfind("customer=", 0) == 0 ? "customer" : "group";
  std::string list;  // every known name when few, else the first and the last
  if (known.size() <= 4)
    for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
  else
    list = fmt::format("{} … {}, {} in all", *known.begin(), *known.rbegin(), known.size());
  DRU_FAIL("forget rule '{}': {} {} {} not in the data ({}s: {})", rule.text,
           unknown.size() == 1 ? word : word + "s", fmt::join(unknown, ", "), unknown.size() == 1 ? "is" : "are",
           word, known.empty() ? "none" : list);
}

// The masks of train, val and test, after count_forget's checks; counts receives their counts.
std::vector<std::vector<bool>> checked_masks(const DataSet& ds, const ForgetRule& rule,
                                             std::vector<ForgetCounts>& counts) {
  std::vector<std::vector<bool>> masks;
  for (const char* name : {"train", "val", "test"}) {
    masks.push_back(forget_mask(rule, ds.split(name), split_salt(name)));
    counts.push_back(counts_of(name, masks.back()));
  }
  check_ids(ds, rule);
  check_groups(ds, rule);
  const ForgetCounts& train = counts[0];
  DRU_CHECK(train.forget > 0, "forget rule '{}' selects no training sample: there is nothing to forget", rule.text);
  DRU_CHECK(train.retain > 0, "forget rule '{}' selects all {} training samples: nothing would be left to learn from",
            rule.text, train.total);
  return masks;
}

}  // namespace

ForgetSplit split_forget(const Samples& s, const ForgetRule& rule, uint64_t salt) {
  return split_by_mask(s, forget_mask(rule, s, salt));
}

std::vector<ForgetCounts> count_forget(const DataSet& ds, const ForgetRule& rule) {
  std::vector<ForgetCounts> counts;
  checked_masks(ds, rule, counts);
  return counts;
}

void check_every_split(const std::vector<ForgetCounts>& counts, const ForgetRule& rule) {
  for (const ForgetCounts& c : counts) {
    if (c.split == "train") continue;  // count_forget's checks
    const char* name = c.split == "val" ? "validation" : "test";
    DRU_CHECK(c.forget > 0,
              "forget rule '{}' selects no {} sample ({} in that split): the metrics measure the forget part of the "
              "validation and test splits too{}",
              rule.text, name, c.total,
              rule.kind == ForgetRule::Kind::ids ? "; list some of its samples in the ids file as well (e.g. "
                                                   "val:KEY, test:KEY)"
                                                 : "; choose a rule that covers every split");
    DRU_CHECK(c.retain > 0, "forget rule '{}' selects all {} {} samples: the metrics need retained ones too",
              rule.text, c.total, name);
  }
}

ForgetSplits split_forget(const DataSet& ds, const ForgetRule& rule) {
  std::vector<ForgetCounts> counts;
  const std::vector<std::vector<bool>> m = checked_masks(ds, rule, counts);
  check_every_split(counts, rule);
  return {split_by_mask(ds.train, m[0]), split_by_mask(ds.val, m[1]), split_by_mask(ds.test, m[2])};
}

}  // namespace dru
