// bench_images.cpp — times the face-image loader (data/images.h): decoding, resizing and caching every
// image of a csv, then loading the same splits back from the cache, and a batch of the training
// augmentation (data/augment.h).
//
//   bench_images [CSV] [--size S] [--threads T]
// CSV defaults to ../shared/data/faces/utkface-5k/labels.csv beside the source tree (5,003 UTKFace
// images); without it the bench prints why and exits 0. The cache goes to a fresh temporary folder, so
// the first load always decodes. The loader's own progress and summary lines go to stderr; the
// table and one JSON row per measurement go to stdout.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include "data/augment.h"
#include "data/images.h"

using namespace dru;
namespace fs = std::filesystem;

int main(int argc, char** argv) {
  std::string csv = std::string(DRU_SOURCE_DIR) + "/../shared/data/faces/utkface-5k/labels.csv";
  int size = 32, threads = 0;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--size") && i + 1 < argc) size = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      std::printf("usage: bench_images [CSV] [--size S (32)] [--threads T (0: all cores)]\n");
      return 0;
    } else csv = argv[i];
  }
  if (!fs::exists(csv)) {
    std::printf("bench_images: skipped, %s is absent (the UTKFace subset lives in ../shared/data)\n", csv.c_str());
    return 0;
  }
  const fs::path cache = fs::temp_directory_path() / ("dru_bench_images_" + std::to_string(::getpid()));
  fs::remove_all(cache);
  try {
    ImageDataOptions opts;
    opts.csv = csv;
    opts.size = size;
    opts.threads = threads;
    opts.cache_dir = cache.string();
    ImageLoadReport cold, warm;
    DataSet a = load_face_images(opts, &cold);
    DataSet b = load_face_images(opts, &warm);
    const int64_t n = a.train.size() + a.val.size() + a.test.size();
    const double mb = double(fs::file_size(warm.cache_file)) / 1e6;

    // Augment one batch of 256 training images (median of 20 after 3 warm-ups).
    const int64_t batch = std::min<int64_t>(256, a.train.size());
    Tensor x = a.train.x.slice(0, 0, batch);
    std::vector<double> ms;
    for (int r = 0; r < 23; ++r) {
      auto t0 = std::chrono::steady_clock::now();
      Tensor out = augment_images(x, true, 0, uint64_t(r));
      const double t = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (r >= 3) ms.push_back(t);
    }
    std::sort(ms.begin(), ms.end());

    std::printf("images: %s\n", csv.c_str());
    std::printf("  %lld images (%lld / %lld / %lld), %dx%d, %d decoding threads, %u cores\n", (long long)n,
                (long long)a.train.size(), (long long)a.val.size(), (long long)a.test.size(), size, size, cold.threads,
                std::thread::hardware_concurrency());
    std::printf("  decode + resize + write cache   %8.2f s  (%.0f images/s; writing the cache %.2f s)\n", cold.seconds,
                double(n) / cold.seconds, cold.cache_seconds);
    std::printf("  load from cache (%.1f MB)       %8.3f s  (from cache: %s)\n", mb, warm.seconds,
                warm.from_cache ? "yes" : "NO");
    std::printf("  augment a batch of %lld          %8.3f ms\n", (long long)batch, ms[ms.size() / 2]);
    std::printf("{\"bench\": \"images_decode_cache\", \"images\": %lld, \"size\": %d, \"threads\": %d, \"s\": %.3f, "
                "\"cache_write_s\": %.3f}\n",
                (long long)n, size, cold.threads, cold.seconds, cold.cache_seconds);
    std::printf("{\"bench\": \"images_cached_load\", \"images\": %lld, \"size\": %d, \"mb\": %.1f, \"s\": %.4f}\n",
                (long long)n, size, mb, warm.seconds);
    std::printf("{\"bench\": \"images_augment_batch\", \"batch\": %lld, \"size\": %d, \"ms\": %.4f}\n",
                (long long)batch, size, ms[ms.size() / 2]);
    fs::remove_all(cache);
    return warm.from_cache ? 0 : 1;
  } catch (const std::exception& e) {
    fs::remove_all(cache);
    std::fprintf(stderr, "bench_images: %s\n", e.what());
    return 1;
  }
}
