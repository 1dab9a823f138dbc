// image_cache.cpp — the decoded-image cache (see images.h): one safetensors file holding each split's
// x (N, 3, S, S) u8 and y (N, 1) f32 as "train.x", "train.y", ..., and in its metadata the format tag,
// the cache key, S, each split's keys (JSON), the csv paths skipped when it was built (JSON) and a
// 64-bit hash of each split's pixel bytes. Nothing in the file is trusted: every field is checked
// against the csv rows before the splits are handed out.
#include <nlohmann/json.hpp>

#include <cstring>
#include <set>

#include "data/images_internal.h"
#include "engine/checkpoint.h"

namespace dru::images_detail {

using json = nlohmann::json;

namespace {

std::string hex(uint64_t v) { return fmt::format("{:016x}", v); }

// FNV-1a over 64-bit little-endian words in four interleaved lanes (the byte-wise loop ran at ~1 GB/s,
// a second per 224x224 AgeDB load), finished by byte-wise FNV-1a over the tail and the lanes.
uint64_t bytes_hash(const Tensor& x) {
  const unsigned char* p = static_cast<const unsigned char*>(x.raw());
  const size_t n = x.nbytes(), blocks = n / 32;
  uint64_t lane[4] = {kFnvBasis, kFnvBasis ^ 1, kFnvBasis ^ 2, kFnvBasis ^ 3};
  for (size_t b = 0; b < blocks; ++b)
    for (int k = 0; k < 4; ++k) {
      uint64_t w;
      std::memcpy(&w, p + b * 32 + size_t(k) * 8, 8);
      lane[k] = (lane[k] ^ w) * 0x100000001b3ull;
      lane[k] ^= lane[k] >> 29;
    }
  uint64_t h = fnv1a64(p + blocks * 32, n - blocks * 32);
  return fnv1a64(lane, sizeof(lane), h);
}

}  // namespace

void save_image_cache(const CacheSpec& spec, const DataSet& data, const std::vector<std::string>& skipped_keys) {
  TensorFile f;
  json keys = json::object(), hashes = json::object();
  for (int k = 0; k < 3; ++k) {
    const char* s = kSplits[k];
    const Samples& sm = split_at(data, k);
    f.tensors[std::string(s) + ".x"] = sm.x;
    f.tensors[std::string(s) + ".y"] = sm.y;
    keys[s] = sm.key;
    hashes[s] = hex(bytes_hash(sm.x));
  }
  f.metadata["format"] = kCacheFormat;
  f.metadata["key"] = hex(spec.key);
  f.metadata["size"] = std::to_string(spec.size);
  f.metadata["keys"] = keys.dump();
  f.metadata["skipped"] = json(skipped_keys).dump();
  f.metadata["x_hash"] = hashes.dump();
  save_safetensors(spec.file, f);
}

bool load_image_cache(const CacheSpec& spec, DataSet& out, std::vector<std::string>& skipped_keys, std::string& why) {
  try {
    TensorFile f = load_safetensors(spec.file);
    auto meta = [&](const char* k) -> const std::string& {
      auto it = f.metadata.find(k);
      if (it == f.metadata.end()) throw std::runtime_error(fmt::format("no '{}' in its metadata", k));
      return it->second;
    };
    if (meta("format") != kCacheFormat)
      throw std::runtime_error("format '" + meta("format") + "' is not " + kCacheFormat);
    if (meta("key") != hex(spec.key)) throw std::runtime_error("it was built from another csv");
    if (meta("size") != std::to_string(spec.size)) throw std::runtime_error("it holds another image size");
    const json keys = json::parse(meta("keys")), hashes = json::parse(meta("x_hash"));
    skipped_keys = json::parse(meta("skipped")).get<std::vector<std::string>>();
    const std::set<std::string> skipped(skipped_keys.begin(), skipped_keys.end());
    std::set<std::string> all_paths;
    for (const FaceRow& r : *spec.rows) all_paths.insert(r.path);
    for (auto& k : skipped)
      if (!all_paths.count(k)) throw std::runtime_error("a skipped path is not in the csv");
    DataSet d;
    for (const char* s : kSplits) {
      Samples& sm = d.split(s);
      for (const FaceRow& r : *spec.rows) {
        if (r.split != s || skipped.count(r.path)) continue;
        sm.key.push_back(r.path);
        sm.label.push_back(r.age);
      }
      const int64_t n = sm.size();
      auto xt = f.tensors.find(std::string(s) + ".x");
      auto yt = f.tensors.find(std::string(s) + ".y");
      if (xt == f.tensors.end() || yt == f.tensors.end()) throw std::runtime_error(fmt::format("no tensors for {}", s));
      sm.x = xt->second;
      sm.y = yt->second;
      if (sm.x.dtype() != DType::u8 || sm.x.shape() != Shape{n, 3, spec.size, spec.size})
        throw std::runtime_error(fmt::format("{}.x is {} {}, expected u8 ({}, 3, {}, {})", s, dtype_name(sm.x.dtype()),
                                             sm.x.shape().str(), n, spec.size, spec.size));
      if (sm.y.dtype() != DType::f32 || sm.y.shape() != Shape{n, 1})
        throw std::runtime_error(fmt::format("{}.y is {} {}, expected f32 ({}, 1)", s, dtype_name(sm.y.dtype()),
                                             sm.y.shape().str(), n));
      if (keys.at(s).get<std::vector<std::string>>() != sm.key)
        throw std::runtime_error(fmt::format("its {} keys differ from the csv", s));
      const float* y = sm.y.data<float>();
      for (int64_t i = 0; i < n; ++i)
        if (y[i] != float(sm.label[size_t(i)]))
          throw std::runtime_error(fmt::format("its {} ages differ from the csv", s));
      if (hashes.at(s).get<std::string>() != hex(bytes_hash(sm.x)))
        throw std::runtime_error(fmt::format("its {} pixel bytes fail their hash", s));
    }
    out = std::move(d);
    return true;
  } catch (const std::exception& e) {
    why = e.what();
    return false;
  }
}

}  // namespace dru::images_detail
