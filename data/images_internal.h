// images_internal.h — pieces of the image loader shared by its .cpp files (not a public API).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/images.h"

namespace dru::images_detail {

// The csv's bytes; throws naming path when it is missing, a folder or unreadable.
std::string read_csv_text(const std::string& path);
// Parses the csv text (already read from path, which only names it in errors).
std::vector<FaceRow> parse_face_csv(const std::string& text, const std::string& path);

// 64-bit FNV-1a, continuing from h.
constexpr uint64_t kFnvBasis = 0xcbf29ce484222325ull;
uint64_t fnv1a64(const void* data, size_t n, uint64_t h = kFnvBasis);

// The cache file's format tag (its metadata "format"); part of the cache key too.
inline constexpr char kCacheFormat[] = "dru-face-images/1";

// The three splits in the order the cache and the loader use.
inline const char* const kSplits[3] = {"train", "val", "test"};
inline const Samples& split_at(const DataSet& d, int s) { return s == 0 ? d.train : s == 1 ? d.val : d.test; }
inline Samples& split_at(DataSet& d, int s) { return s == 0 ? d.train : s == 1 ? d.val : d.test; }

// What a cache file must match: its key, S, and the rows it was built from.
struct CacheSpec {
  std::string file;
  uint64_t key = 0;
  int size = 0;
  const std::vector<FaceRow>* rows = nullptr;
};

// Reads spec.file into out (train/val/test) and the csv paths skipped when it was built. Returns false
// with why set when the file is absent or fails any check (then the caller rebuilds it).
bool load_image_cache(const CacheSpec& spec, DataSet& out, std::vector<std::string>& skipped_keys, std::string& why);
// Writes the cache atomically; throws dru::Error when it cannot.
void save_image_cache(const CacheSpec& spec, const DataSet& data, const std::vector<std::string>& skipped_keys);

}  // namespace dru::images_detail
