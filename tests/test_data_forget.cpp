// test_data_forget.cpp — forget rules (parsing, selection, counts, errors) and batching (seeded
// orders, gathering) on small hand-made splits.
#include <doctest/doctest.h>

#include <fstream>
#include <set>

#include "data/batching.h"
#include "data/forget.h"
#include "tests/temp_dir.h"
#include "tests/util.h"

using namespace dru;

namespace {

// n samples with labels 0..n-1, groups g0/g1 alternating, keys k0..k(n-1), x = label as f32 (n, 2).
Samples make_samples(int64_t n) {
  Samples s;
  std::vector<double> xv;
  for (int64_t i = 0; i < n; ++i) {
    s.label.push_back(double(i));
    s.group.push_back(i % 2 ? "g1" : "g0");
    s.key.push_back("k" + std::to_string(i));
    xv.push_back(double(i));
    xv.push_back(double(-i));
  }
  s.x = Tensor::from(xv, Shape{n, 2});
  s.y = Tensor::from(s.label, Shape{n, 1});
  return s;
}

DataSet make_dataset() {
  DataSet ds;
  ds.name = "toy";
  ds.label_name = "age";
  ds.train = make_samples(100);
  ds.val = make_samples(20);
  ds.test = make_samples(30);
  return ds;
}

int64_t count(const std::vector<bool>& m) {
  int64_t c = 0;
  for (bool b : m) c += b;
  return c;
}

}  // namespace

TEST_CASE("forget: thresholds and ranges select by label") {
  Samples s = make_samples(100);
  CHECK(count(forget_mask(parse_forget_rule("age<=30", "age"), s)) == 31);
  CHECK(count(forget_mask(parse_forget_rule("age<30", "age"), s)) == 30);
  CHECK(count(forget_mask(parse_forget_rule("age>=70", "age"), s)) == 30);
  CHECK(count(forget_mask(parse_forget_rule("age>70", "age"), s)) == 29);
  CHECK(count(forget_mask(parse_forget_rule("30..70", "age"), s)) == 41);  // inclusive
  CHECK(count(forget_mask(parse_forget_rule("age=30..70", "age"), s)) == 41);
  CHECK(count(forget_mask(parse_forget_rule(" age<=2.5 ", "age"), s)) == 3);
}

TEST_CASE("forget: split keeps order and every field") {
  Samples s = make_samples(10);
  ForgetSplit fs = split_forget(s, parse_forget_rule("age<=2", "age"));
  CHECK(fs.forget.size() == 3);
  CHECK(fs.retain.size() == 7);
  CHECK(fs.forget.key == std::vector<std::string>{"k0", "k1", "k2"});
  CHECK(fs.retain.x.shape() == Shape{7, 2});
  CHECK(fs.retain.x.to_vector()[0] == 3.0);
  CHECK(fs.retain.y.to_vector().back() == 9.0);
  CHECK(fs.retain.group[0] == "g1");
}

TEST_CASE("forget: groups / random fractions / id files") {
  Samples s = make_samples(100);
  CHECK(count(forget_mask(parse_forget_rule("customer=g1", "load"), s)) == 50);
  CHECK(count(forget_mask(parse_forget_rule("group=g0,g1", "load"), s)) == 100);
  ForgetRule r = parse_forget_rule("random=0.25:7", "age");
  std::vector<bool> a = forget_mask(r, s, 0), b = forget_mask(r, s, 0), c = forget_mask(r, s, 1);
  CHECK(a == b);  // seeded
  CHECK(a != c);  // splits draw differently
  CHECK(count(a) > 10);
  CHECK(count(a) < 40);
  CHECK(forget_mask(parse_forget_rule("random=0.25:8", "age"), s, 0) != a);
  test::TempDir dir("forget_ids");
  std::ofstream(dir.file("ids.txt")) << "k3\n\nk5\n  k7  \n";
  CHECK(count(forget_mask(parse_forget_rule("ids=" + dir.file("ids.txt"), "age"), s)) == 3);
}

TEST_CASE("forget: counts per split and empty sets are errors") {
  DataSet ds = make_dataset();
  auto c = count_forget(ds, parse_forget_rule("age<=30", "age"));
  REQUIRE(c.size() == 3);
  CHECK(c[0].split == "train");
  CHECK(c[0].forget == 31);
  CHECK(c[0].retain == 69);
  CHECK(c[1].forget == 20);  // val labels 0..19 are all <= 30
  CHECK(c[2].forget == 30);
  CHECK_THROWS_WITH_AS(count_forget(ds, parse_forget_rule("age>1000", "age")),
                       doctest::Contains("selects no training sample"), Error);
  CHECK_THROWS_WITH_AS(count_forget(ds, parse_forget_rule("age>=0", "age")),
                       doctest::Contains("selects all 100 training samples"), Error);
  test::TempDir dir("forget_missing");
  std::ofstream(dir.file("ids.txt")) << "train:k3\nnope\n";
  CHECK_THROWS_WITH_AS(count_forget(ds, parse_forget_rule("ids=" + dir.file("ids.txt"), "age")),
                       doctest::Contains("1 of the 2 listed ids are not in the data set (first: 'nope')"), Error);
}

TEST_CASE("forget: a whole data set splits as its splits do and with count_forget's errors") {
  DataSet ds = make_dataset();
  const ForgetRule rule = parse_forget_rule("random=0.3:5", "age");  // salted per split
  ForgetSplits all = split_forget(ds, rule);
  const std::pair<const char*, const ForgetSplit*> parts[] = {{"train", &all.train}, {"val", &all.val},
                                                               {"test", &all.test}};
  for (auto [name, got] : parts) {
    const ForgetSplit one = split_forget(ds.split(name), rule, split_salt(name));
    CHECK(got->forget.key == one.forget.key);
    CHECK(got->retain.key == one.retain.key);
  }
  // Nothing to forget, nothing to keep, an id not in the data: count_forget's very errors.
  test::TempDir dir("forget_split_missing");
  std::ofstream(dir.file("ids.txt")) << "train:k3\nnope\n";
  for (const std::string& bad : {std::string("age>1000"), std::string("age>=0"), "ids=" + dir.file("ids.txt")}) {
    const ForgetRule r = parse_forget_rule(bad, "age");
    const std::string error = test::error_of([&] { split_forget(ds, r); });
    CHECK(error != "(no error)");
    CHECK(error == test::error_of([&] { count_forget(ds, r); }));
  }
}

TEST_CASE("forget: ids name one sample each, SPLIT:KEY picks the split") {
  DataSet ds = make_dataset();  // keys k0, k1, ... restart in every split, as STS-B's pair indices do
  test::TempDir dir("forget_ids_unique");
  // An unqualified key of several splits is ambiguous: refused, with the way to say which.
  std::ofstream(dir.file("bare.txt")) << "k3\n";
  CHECK_THROWS_WITH_AS(count_forget(ds, parse_forget_rule("ids=" + dir.file("bare.txt"), "age")),
                       doctest::Contains("id 'k3' is a sample of the train and the val split; write it as train:k3"),
                       Error);
  // Qualified, each line names one split's sample.
  std::ofstream(dir.file("qualified.txt")) << "train:k3\ntrain:k50\nval:k3\ntest:k29\n";
  const ForgetRule r = parse_forget_rule("ids=" + dir.file("qualified.txt"), "age");
  const auto c = count_forget(ds, r);
  CHECK(c[0].forget == 2);
  CHECK(c[1].forget == 1);
  CHECK(c[2].forget == 1);
  CHECK(split_forget(ds.train, r, split_salt("train")).forget.key == std::vector<std::string>{"k3", "k50"});
  // A key only one split has needs no qualifier (k50: train only).
  std::ofstream(dir.file("single.txt")) << "k50\n";
  CHECK(count_forget(ds, parse_forget_rule("ids=" + dir.file("single.txt"), "age"))[0].forget == 1);
  // A key repeated within a split cannot name one sample.
  ds.train.key[7] = "k3";
  CHECK_THROWS_WITH_AS(count_forget(ds, r), doctest::Contains("id 'k3' names 2 samples of the train split"), Error);
  // The validation and test parts must have forget and retain samples before an experiment trains.
  DataSet clean = make_dataset();
  std::ofstream(dir.file("train_only.txt")) << "train:k3\n";
  const ForgetRule t = parse_forget_rule("ids=" + dir.file("train_only.txt"), "age");
  CHECK_NOTHROW(count_forget(clean, t));  // `dru info` still counts it
  CHECK_THROWS_WITH_AS(check_every_split(count_forget(clean, t), t), doctest::Contains("selects no validation sample"),
                       Error);
  CHECK_THROWS_WITH_AS(split_forget(clean, t), doctest::Contains("selects no validation sample"), Error);
  std::ofstream(dir.file("no_test.txt")) << "train:k3\nval:k3\n";
  const ForgetRule nt = parse_forget_rule("ids=" + dir.file("no_test.txt"), "age");
  CHECK_THROWS_WITH_AS(check_every_split(count_forget(clean, nt), nt), doctest::Contains("selects no test sample"),
                       Error);
}

TEST_CASE("forget: every group a rule names must be in the data") {
  DataSet ds = make_dataset();  // groups g0 and g1
  CHECK(count_forget(ds, parse_forget_rule("group=g1", "load"))[0].forget == 50);
  // One name known, one mistyped: refused, not the known one forgotten alone.
  CHECK_THROWS_WITH_AS(
      count_forget(ds, parse_forget_rule("customer=g1,MT_999", "load")),
      doctest::Contains("forget rule 'customer=g1,MT_999': customer 'MT_999' is not in the data (customers: g0, g1)"),
      Error);
  CHECK_THROWS_WITH_AS(split_forget(ds, parse_forget_rule("group=x,y", "load")),
                       doctest::Contains("forget rule 'group=x,y': groups 'x', 'y' are not in the data (groups: g0, g1)"),
                       Error);
  // Many groups: the first and the last.
  for (auto* s : {&ds.train, &ds.val, &ds.test})
    for (size_t i = 0; i < s->group.size(); ++i) s->group[i] = fmt::format("MT_{:03}", 1 + i % 10);
  CHECK_THROWS_WITH_AS(count_forget(ds, parse_forget_rule("customer=MT_003,MT_999", "load")),
                       doctest::Contains("forget rule 'customer=MT_003,MT_999': customer 'MT_999' is not in the data "
                                         "(customers: MT_001 … MT_010, 10 in all)"),
                       Error);
}

TEST_CASE("forget: a random rule's seed is read as a whole number, all 64 bits of it") {
  Samples s = make_samples(200);
  // Through a double, 10^19 and 10^19 + 1 (and every seed near them) were one value, so one stream.
  const ForgetRule a = parse_forget_rule("random=0.5:10000000000000000000", "age");
  const ForgetRule b = parse_forget_rule("random=0.5:10000000000000000001", "age");
  CHECK(a.seed == 10000000000000000000ull);
  CHECK(b.seed == 10000000000000000001ull);
  CHECK(forget_mask(a, s) != forget_mask(b, s));
  CHECK(parse_forget_rule("random=0.5:18446744073709551615", "age").seed == UINT64_MAX);
}

TEST_CASE("forget: malformed rules give one clear error") {
  CHECK_THROWS_WITH_AS(parse_forget_rule("", "age"), doctest::Contains("forget rule is empty"), Error);
  CHECK_THROWS_WITH_AS(parse_forget_rule("score<2", "age"), doctest::Contains("this data set's label is 'age'"), Error);
  CHECK_THROWS_WITH_AS(parse_forget_rule("age<=x", "age"), doctest::Contains("'x' is not a number"), Error);
  CHECK_THROWS_WITH_AS(parse_forget_rule("70..30", "age"), doctest::Contains("the range is empty"), Error);
  CHECK_THROWS_WITH_AS(parse_forget_rule("random=1.5", "age"), doctest::Contains("between 0 and 1"), Error);
  for (const char* seed : {"18446744073709551616", "100000000000000000000", "-1", "1e3", "2.5", "7x", ""})
    CHECK_THROWS_WITH_AS(parse_forget_rule(std::string("random=0.1:") + seed, "age"),
                         doctest::Contains(fmt::format("the seed '{}' must be a whole number from 0 to "
                                                       "18446744073709551615", seed).c_str()),
                         Error);
  CHECK_THROWS_WITH_AS(parse_forget_rule("ids=/nonexistent/ids.txt", "age"), doctest::Contains("cannot open"), Error);
  CHECK_THROWS_WITH_AS(parse_forget_rule("older", "age"), doctest::Contains("is not understood"), Error);
  Samples no_groups = make_samples(3);
  no_groups.group.clear();
  CHECK_THROWS_WITH_AS(forget_mask(parse_forget_rule("customer=MT_001", "age"), no_groups),
                       doctest::Contains("has no groups"), Error);
}

TEST_CASE("samples: tensor bytes and a move to a device keep every field") {
  Samples s = make_samples(10);
  CHECK(s.tensor_bytes() == 10 * 2 * 4 + 10 * 1 * 4);  // x (10, 2) and y (10, 1) in f32
  Samples moved = s.to(Device::cpu);                    // the experiment's move, here to the same device
  CHECK(moved.size() == s.size());
  CHECK(moved.x.to_vector() == s.x.to_vector());
  CHECK(moved.y.to_vector() == s.y.to_vector());
  CHECK_FALSE(moved.x2.defined());
  CHECK(moved.key == s.key);
  CHECK(moved.group == s.group);
  // A batch gathered from the moved samples is the same batch.
  Tensor idx = Tensor::from(std::vector<int64_t>{7, 2, 9}, Shape{3});
  CHECK(gather_batch(moved, idx).x.to_vector() == gather_batch(s, idx).x.to_vector());
}

TEST_CASE("batching: seeded orders cover every sample once per epoch") {
  BatchOrder a(10, 4, true, 3), b(10, 4, true, 3);
  CHECK(a.batches() == 3);
  for (int epoch : {1, 2}) {
    a.begin_epoch(epoch);
    b.begin_epoch(epoch);
    std::multiset<int64_t> seen;
    for (int64_t i = 0; i < a.batches(); ++i) {
      CHECK(a.indices(i).to_vector() == b.indices(i).to_vector());  // same seed, same batches
      for (double v : a.indices(i).to_vector()) seen.insert(int64_t(v));
    }
    CHECK(seen.size() == 10);
    CHECK(std::set<int64_t>(seen.begin(), seen.end()).size() == 10);
  }
  CHECK(a.indices(2).numel() == 2);  // the last batch keeps the remainder
  a.begin_epoch(1);
  std::vector<double> e1 = a.indices(0).to_vector();
  a.begin_epoch(2);
  CHECK(a.indices(0).to_vector() != e1);  // a new order each epoch
  BatchOrder fixed(5, 2, false, 0);
  fixed.begin_epoch(7);
  CHECK(fixed.indices(1).to_vector() == std::vector<double>{2, 3});
  CHECK_THROWS_AS(BatchOrder(0, 4, true, 0), Error);
}

TEST_CASE("batching: gather_batch takes the rows of every tensor field") {
  Samples s = make_samples(6);
  Batch b = gather_batch(s, Tensor::from(std::vector<int64_t>{4, 1}, Shape{2}));
  CHECK(b.x.to_vector() == std::vector<double>{4, -4, 1, -1});
  CHECK(b.y.to_vector() == std::vector<double>{4, 1});
  CHECK(!b.x2.defined());
}
