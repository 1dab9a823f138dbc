// dataset_info.cpp — see dataset_info.h.
#include "tools/dataset_info.h"

#include <cstdio>

#include "data/electricity.h"
#include "data/forget.h"
#include "data/images.h"
#include "data/stsb.h"
#include "tools/demo.h"

namespace dru {

namespace {

// Label-only samples: enough for sizes and forget counts.
template <class Row, class Label, class Key>
void fill_labels(DataSet& ds, const std::vector<Row>& rows, const char* split, Label label, Key key) {
  Samples& s = ds.split(split);
  for (const Row& r : rows) {
    s.label.push_back(label(r));
    s.key.push_back(key(r));
  }
}

DataSet stsb_labels(const std::string& path) {
  StsbOptions o = StsbOptions::from_root(path.empty() ? shipped_path("data/stsb") : path);
  StsbSplits sp = read_stsb_splits(o);
  DataSet ds;
  ds.name = "stsb (" + o.folder + ")";
  ds.label_name = "score";
  auto label = [](const StsbRow& r) { return r.score; };
  auto key = [](const StsbRow& r) { return r.index; };
  fill_labels(ds, sp.train, "train", label, key);
  fill_labels(ds, sp.val, "val", label, key);
  fill_labels(ds, sp.test, "test", label, key);
  return ds;
}

DataSet image_labels(const std::string& path) {
  DRU_CHECK(!path.empty(), "--dataset images needs --data CSV (a csv with path, age and split columns, e.g. "
                           "agedb.csv or UTKFace's labels.csv)");
  DataSet ds;
  ds.name = "images (" + path + ")";
  ds.label_name = "age";
  for (const FaceRow& r : read_face_csv(path)) {
    Samples& s = ds.split(r.split);
    s.label.push_back(r.age);
    s.key.push_back(r.path);
  }
  return ds;
}

DataSet electricity_windows(const std::string& path) {
  ElectricityOptions o;
  o.path = path.empty() ? shipped_path("data/electricity/ld2011_2014_mt001-010_hourly.csv") : path;
  DataSet ds = load_electricity(o);
  ds.name = "electricity windows (" + o.path + ")";
  return ds;
}

}  // namespace

void print_dataset_info(const std::string& name, const std::string& path, const std::string& rule) {
  DataSet ds = name == "stsb"          ? stsb_labels(path)
               : name == "images"      ? image_labels(path)
               : name == "electricity" ? electricity_windows(path)
                                       : throw Error("--dataset must be stsb, electricity or images, not '" + name + "'");
  if (rule.empty()) {
    std::printf("dataset: %s\n", ds.name.c_str());
    std::printf("%-6s %9s\n", "split", "samples");
    for (const char* s : {"train", "val", "test"}) std::printf("%-6s %9lld\n", s, static_cast<long long>(ds.split(s).size()));
    return;
  }
  ForgetRule r = parse_forget_rule(rule, ds.label_name);
  std::vector<ForgetCounts> counts = count_forget(ds, r);  // errors before any output
  std::printf("dataset: %s\nforget rule: %s\n", ds.name.c_str(), r.text.c_str());
  std::printf("%-6s %9s %9s %9s\n", "split", "samples", "forget", "retain");
  for (const ForgetCounts& c : counts)
    std::printf("%-6s %9lld %9lld %9lld\n", c.split.c_str(), static_cast<long long>(c.total),
                static_cast<long long>(c.forget), static_cast<long long>(c.retain));
}

}  // namespace dru
