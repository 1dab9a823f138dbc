// experiment_data.cpp — load_preset_data (experiment.h): where each preset's data comes from, with
// the errors that tell the user what to pass, and the quick presets' evenly spaced subsets.
#include <filesystem>

#include <fmt/format.h>

#include "data/electricity.h"
#include "data/forget.h"
#include "data/images.h"
#include "data/stsb.h"
#include "data/tokenizer.h"
#include "unlearn/experiment.h"

namespace dru {
namespace fs = std::filesystem;

namespace {

// At most max samples, evenly spaced through the split (file order kept, no randomness).
Samples subset(const Samples& s, int64_t max) {
  if (max <= 0 || s.size() <= max) return s;
  std::vector<int64_t> idx(static_cast<size_t>(max));
  for (int64_t i = 0; i < max; ++i) idx[size_t(i)] = i * s.size() / max;
  return s.select(idx);
}

std::string absolute(const std::string& p) { return fs::absolute(fs::path(p)).lexically_normal().string(); }

// Both STS-B presets (GloVe vectors and tokens) read the same folder: resolves it into p.data and
// refuses, with what to pass, when it holds no training split.
StsbOptions stsb_options(Preset& p, const ExperimentOptions& opt) {
  p.data = absolute(opt.data.empty() ? opt.data_root : opt.data);
  if (fs::is_regular_file(p.data))  // from_root would look for PATH/stsb/train_new.tsv under the file
    throw UsageError(fmt::format("{}: {} is a file; the STS-B presets take the folder that holds train_new.tsv, "
                                 "dev_new.tsv and test_new.tsv (pass --data FOLDER)", p.name, p.data));
  StsbOptions o = StsbOptions::from_root(p.data);
  if (!fs::exists(o.split_path("train")))
    throw UsageError(fmt::format(
        "{}: no STS-B data at {} (expected train_new.tsv there or in its stsb/ folder; pass --data FOLDER)", p.name,
        p.data));
  return o;
}

}  // namespace

// Resolves p.data and loads the data set; fills the model configuration's data-dependent sizes.
// stsb-tokens: the WordPiece tokenizer is trained on the training split on every run (deterministic,
// a few seconds) and returned in *tokenizer; its vocabulary's hash goes into the stage keys.
DataSet load_preset_data(Preset& p, const ExperimentOptions& opt, ModelConfig& cfg, bool quiet, Tokenizer* tokenizer,
                         std::vector<std::string>* skipped) {
  cfg.name = p.model;
  DataSet ds;
  if (p.dataset == "stsb-tokens") {
    const StsbOptions o = stsb_options(p, opt);
    TokenizerOptions to;
    to.vocab_size = p.vocab_size;
    *tokenizer = train_stsb_tokenizer(o, to);
    std::string vocab;
    for (const auto& t : tokenizer->vocabulary()) vocab += t + "\n";
    p.tokenizer_hash = hash_hex(vocab);
    ds = load_stsb_tokens(o, *tokenizer, p.max_len);
    cfg.vocab = tokenizer->size();
    cfg.seq_len = p.max_len;
    cfg.max_positions = std::max<int64_t>(p.max_len, 128);
    cfg.layers = p.layers;
    cfg.hidden = p.hidden;
    cfg.heads = p.heads;
    cfg.ffn = p.ffn;
    cfg.dropout = p.dropout;
  } else if (p.dataset == "stsb") {
    const StsbOptions o = stsb_options(p, opt);
    ds = load_stsb_vectors(o);
    cfg.seq_len = ds.train.x.size(1);
    cfg.embed_dim = ds.train.x.size(2);
  } else if (p.dataset == "electricity") {
    p.data = absolute(opt.data.empty() ? opt.data_root + "/electricity/ld2011_2014_mt001-010_hourly.csv" : opt.data);
    if (fs::is_directory(p.data))
      throw UsageError(fmt::format("{}: {} is a folder; pass --data the file inside it (LD2011_2014.txt or an hourly "
                                   "csv)", p.name, p.data));
    if (!fs::is_regular_file(p.data))
      throw UsageError(fmt::format("{}: no electricity file at {} (pass --data LD2011_2014.txt or an hourly csv)",
                                   p.name, p.data));
    ElectricityOptions o;
    o.path = p.data;
    o.history = p.history;
    o.horizon = p.horizon;
    o.stride = p.stride;
    ElectricityScaler sc;
    ds = load_electricity(o, &sc);
    cfg.customers = int64_t(sc.customers.size());
    cfg.history = p.history;
    cfg.horizon = p.horizon;
  } else {
    if (opt.data.empty()) {
      if (p.name == "agedb-allcnn" || p.name == "agedb-resnet18")
        throw UsageError(fmt::format(
            "{} needs --data PATH/agedb.csv with the AgeDB images beside it: AgeDB is distributed on "
            "request by its authors (https://ibug.doc.ic.ac.uk/resources/agedb/); the split file is "
            "../shared/data/agedb/agedb.csv",
            p.name));
      if (p.name == "imdbwiki-resnet18")
        throw UsageError(
            "imdbwiki-resnet18 needs --data PATH/imdbwiki.csv, a csv with path, age and split (train, val, test) "
            "columns and the IMDB-WIKI face crops (https://data.vision.ee.ethz.ch/cvl/rrothe/imdb-wiki/) at the "
            "paths it names, relative to the csv");
      p.data = absolute((fs::path(opt.data_root).parent_path().parent_path() / "shared/data/faces/utkface-5k/labels.csv")
                            .string());
    } else {
      p.data = absolute(opt.data);
    }
    if (fs::is_directory(p.data))
      throw UsageError(fmt::format("{}: {} is a folder; pass --data the label csv inside it (path, age, split columns)",
                                   p.name, p.data));
    if (!fs::is_regular_file(p.data))
      throw UsageError(fmt::format("{}: no label csv at {} (pass --data LABELS.csv with path, age, split columns)",
                                   p.name, p.data));
    ImageDataOptions o;
    o.csv = p.data;
    o.size = p.image_size;
    o.quiet = quiet;
    o.skip_bad = opt.skip_bad;
    ImageLoadReport report;
    ds = load_face_images(o, &report);
    if (skipped) *skipped = report.skipped;
    cfg.image_size = p.image_size;
    cfg.small_stem = p.small_stem;
  }
  ds.train = subset(ds.train, p.max_train);
  ds.val = subset(ds.val, p.max_val);
  ds.test = subset(ds.test, p.max_test);
  return ds;
}

ForgetRule preset_forget_rule(const Preset& p, const DataSet& data) {
  try {
    return parse_forget_rule(p.rule, data.label_name);
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
}

}  // namespace dru
