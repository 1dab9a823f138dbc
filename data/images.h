// images.h — face-age image data sets (AgeDB, IMDB-Wiki, UTKFace) from a csv and an image folder.
//
// The csv has a header naming at least the columns `path`, `age` and `split`, in any order; other
// columns are ignored (AgeDB's agedb.csv is `age,path,split`, UTKFace's labels.csv is
// `path,age,gender,race,split`). `path` is relative to the image root (default: the csv's folder),
// `age` a number of years in [0, 150], `split` train, val or test (valid, validation and dev also mean val;
// training means train; case is ignored). Fields may be double-quoted as in RFC 4180, on one line. An
// image may appear in one row only (not twice, not in two splits).
//
// Each image is decoded with stb_image (JPEG, PNG, BMP, ...) as RGB on a pool of threads, resized to
// S x S by exact area averaging (kernels/resize/resize.h) and kept as bytes: Samples::x is (N, 3, S, S)
// u8, Samples::y the age (N, 1) f32, label the age, key the csv's path. Row order within a split is the
// csv's. Augmentation and normalisation happen per batch (data/augment.h).
//
// Cache: the decoded splits are saved as one safetensors file per (csv bytes, image root, S, each
// image's size and modification time) in the cache folder, so a second load reads ~15 MB instead of
// decoding 5,000 JPEGs. The file is written atomically and checked on load (format, key, shapes, every key
// and age against the csv, a hash of the pixel bytes); a file that fails any check is rebuilt with a
// warning. An image replaced, rewritten, deleted or added on disk changes the key (one stat per row), so
// the images are decoded again and a missing one is reported.
//
// Errors (dru::Error, one line): missing csv or column, a malformed row or bad age or split, an image
// listed twice (csv:line), a missing or undecodable image (named, with its csv line; skip_bad skips such images and
// lists them on stderr), no rows, or nothing decodable.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace dru {

struct FaceRow {
  std::string path;   // as written in the csv, relative to the image root
  double age = 0;
  std::string split;  // "train", "val" or "test" (aliases already mapped)
  int64_t line = 0;   // 1-based line in the csv (the header is line 1)
};

// Reads and checks the csv alone (no images): every row, in file order. Throws naming file:line.
std::vector<FaceRow> read_face_csv(const std::string& csv_path);

struct ImageDataOptions {
  std::string csv;                       // the label file
  std::string image_root;                // "": the csv's folder
  int size = 32;                         // S: images become S x S, S >= 8 (the paper: 32; also 64, 224)
  std::optional<std::string> cache_dir;  // unset: default_image_cache_dir(); "": no cache
  bool skip_bad = false;                 // skip missing or undecodable images instead of failing
  int threads = 0;                       // decoding threads; 0: std::thread::hardware_concurrency()
  bool quiet = false;                    // no progress or summary line (skipped files are still listed)
};

struct ImageLoadReport {
  std::vector<std::string> skipped;  // "FILE: reason" for each image skipped under skip_bad
  bool from_cache = false;           // the splits came from the cache file
  std::string cache_file;            // the cache file read or written; "" without a cache
  int64_t decoded = 0;               // images decoded in this call (0 when read from the cache)
  int threads = 0;                   // decoding threads used
  double seconds = 0;                // wall time of the whole load
  double cache_seconds = 0;          // of which reading or writing the cache file
};

// Builds the "images" DataSet (label_name "age"). report, when given, says what happened.
// $XDG_CACHE_HOME/dru, else $HOME/.cache/dru, else <csv folder>/.dru-cache.
std::string default_image_cache_dir(const std::string& csv_dir);

DataSet load_face_images(const ImageDataOptions& opts, ImageLoadReport* report = nullptr);

}  // namespace dru
