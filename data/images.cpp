// images.cpp — see images.h: decoding on a thread pool, assembling the splits, the cache round.
// stb_image comes from Debian's libstb (a shared library), so no STB_IMAGE_IMPLEMENTATION here.
#include "data/images.h"

#include <cstdlib>

#include <stb_image.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "data/images_internal.h"
#include "engine/check.h"
#include "kernels/resize/resize.h"

namespace dru {

using namespace images_detail;
namespace fs = std::filesystem;

namespace {

constexpr int kMinSize = 8;
constexpr int kMaxSize = 1024;

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Decodes file as RGB and area-resizes it into dst (3, S, S). Returns "" or why it failed.
std::string decode_one(const std::string& file, int S, uint8_t* dst) {
  std::error_code ec;
  if (fs::is_directory(file, ec)) return "is a folder, not an image file";
  if (!fs::is_regular_file(file, ec)) return "does not exist";
  std::ifstream in(file, std::ios::binary);
  if (!in.good()) return fmt::format("cannot be opened ({})", std::strerror(errno));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.empty()) return "is empty";
  if (bytes.size() > size_t(INT32_MAX)) return "is larger than 2 GiB";
  int w = 0, h = 0, channels = 0;
  unsigned char* px = stbi_load_from_memory(reinterpret_cast<const unsigned char*>(bytes.data()), int(bytes.size()),
                                            &w, &h, &channels, 3);
  if (!px) return fmt::format("cannot be decoded ({})", stbi_failure_reason());
  bool ok = area_resize_rgb_cpu(px, w, h, dst, S);
  stbi_image_free(px);
  return ok ? "" : fmt::format("has an impossible size {}x{}", w, h);
}

// Runs job(i) for i in [0, n) on `threads` threads. Draws a progress line on stderr while it runs when
// stderr is a terminal. stop: once set by a job, no new indices are handed out.
template <class Job>
void run_pool(int64_t n, int threads, bool progress, std::atomic<bool>& stop, Job&& job) {
  std::atomic<int64_t> next{0}, done{0};
  std::atomic<int> running{threads};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      for (int64_t i; !stop.load(std::memory_order_relaxed) && (i = next.fetch_add(1)) < n;) {
        job(i);
        done.fetch_add(1, std::memory_order_relaxed);
      }
      running.fetch_sub(1);
    });
  auto t0 = Clock::now();
  while (running.load() > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (progress) {
      int64_t d = done.load();
      std::fprintf(stderr, "\rimages: decoding %lld/%lld (%d%%) %.1f s ", (long long)d, (long long)n,
                   int(100 * d / std::max<int64_t>(n, 1)), seconds_since(t0));
      std::fflush(stderr);
    }
  }
  for (auto& th : pool) th.join();
  if (progress) std::fprintf(stderr, "\r\033[K");
}

struct Decoded {
  DataSet data;
  std::vector<std::string> skipped_keys;   // csv paths of the images skipped
  std::vector<std::string> skipped_lines;  // "FILE (csv line L): reason"
};

Decoded decode_all(const std::vector<FaceRow>& rows, const ImageDataOptions& opts, const fs::path& root, int threads,
                   bool progress) {
  const int S = opts.size;
  const int64_t per = int64_t(3) * S * S;
  const int64_t n = int64_t(rows.size());
  // Decode straight into each split's tensor: slot[i] is row i's place in its split.
  int64_t count[3] = {0, 0, 0};
  std::vector<int> split_of(rows.size());
  std::vector<int64_t> slot(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    int s = rows[i].split == "train" ? 0 : rows[i].split == "val" ? 1 : 2;
    split_of[i] = s;
    slot[i] = count[s]++;
  }
  Tensor x[3];
  for (int s = 0; s < 3; ++s) x[s] = Tensor::empty(Shape{count[s], 3, S, S}, DType::u8);
  std::vector<std::string> error(rows.size());
  std::atomic<bool> stop{false};
  run_pool(n, threads, progress, stop, [&](int64_t i) {
    const std::string file = (root / rows[size_t(i)].path).string();
    uint8_t* dst = x[split_of[size_t(i)]].data<uint8_t>() + slot[size_t(i)] * per;
    std::string why = decode_one(file, S, dst);
    if (!why.empty()) {
      error[size_t(i)] = fmt::format("{} (csv line {}) {}", file, rows[size_t(i)].line, why);
      if (!opts.skip_bad) stop = true;
    }
  });

  Decoded out;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (error[i].empty()) continue;
    DRU_CHECK(opts.skip_bad, "{}: image {}; fix the file or its row, or skip such images with --skip-bad", opts.csv,
              error[i]);
    out.skipped_keys.push_back(rows[i].path);
    out.skipped_lines.push_back(error[i]);
  }
  // Compact each split over the skipped rows and fill labels and keys.
  for (int s = 0; s < 3; ++s) {
    Samples& sm = split_at(out.data, s);
    std::vector<float> ages;
    std::vector<int64_t> kept_slots;
    for (size_t i = 0; i < rows.size(); ++i) {
      if (split_of[i] != s || !error[i].empty()) continue;
      kept_slots.push_back(slot[i]);
      ages.push_back(float(rows[i].age));
      sm.label.push_back(rows[i].age);
      sm.key.push_back(rows[i].path);
    }
    const int64_t k = int64_t(kept_slots.size());
    if (k == count[s]) {
      sm.x = x[s];
    } else {
      sm.x = Tensor::empty(Shape{k, 3, S, S}, DType::u8);
      for (int64_t j = 0; j < k; ++j)
        std::memcpy(sm.x.data<uint8_t>() + j * per, x[s].data<uint8_t>() + kept_slots[size_t(j)] * per, size_t(per));
    }
    sm.y = Tensor::from(ages, Shape{k, 1});
  }
  return out;
}

// Each row's file size and modification time (to the nanosecond), or its errno when stat fails, hashed
// in row order from h. One stat(2) per image: about 1 s for IMDB-Wiki's 500k files on a cold disk, far
// less than decoding them.
uint64_t image_files_hash(const std::vector<FaceRow>& rows, const fs::path& root, uint64_t h) {
  for (const FaceRow& r : rows) {
    struct ::stat st {};
    int64_t stamp[4] = {0, 0, 0, 0};
    if (::stat((root / r.path).c_str(), &st) == 0) {
      stamp[0] = int64_t(st.st_size);
      stamp[1] = int64_t(st.st_mtim.tv_sec);
      stamp[2] = int64_t(st.st_mtim.tv_nsec);
    } else {
      stamp[3] = errno;
    }
    h = fnv1a64(stamp, sizeof stamp, h);
  }
  return h;
}

}  // namespace

std::string default_image_cache_dir(const std::string& csv_dir) {
  // The user's cache folder, not the data's: data folders are often shared or read-only.
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return std::string(xdg) + "/dru";
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.cache/dru";
  return csv_dir + "/.dru-cache";
}

DataSet load_face_images(const ImageDataOptions& opts, ImageLoadReport* report) {
  const auto t0 = Clock::now();
  ImageLoadReport local;
  ImageLoadReport& rep = report ? *report : local;
  rep = ImageLoadReport{};
  DRU_CHECK(!opts.csv.empty(), "images: no csv given (a file with path, age and split columns)");
  DRU_CHECK(opts.size >= kMinSize && opts.size <= kMaxSize,
            "images: size {} is out of range (use {} to {}; the paper uses 32)", opts.size, kMinSize, kMaxSize);
  const std::string text = read_csv_text(opts.csv);
  const std::vector<FaceRow> rows = parse_face_csv(text, opts.csv);

  const fs::path csv_dir = fs::absolute(fs::path(opts.csv)).parent_path();
  const fs::path root = opts.image_root.empty() ? csv_dir : fs::absolute(fs::path(opts.image_root));
  std::error_code ec;
  DRU_CHECK(fs::is_directory(root, ec), "images: the image folder {} {} (set the image root)", root.string(),
            fs::exists(root, ec) ? "is a file, not a folder" : "does not exist");
  const std::string root_key = fs::weakly_canonical(root, ec).string();

  // The cache key: the csv's bytes, the image folder, S, the file format and every image's size and
  // modification time, so that an image replaced or deleted under an unchanged csv is decoded again
  // (a missing file then fails, or is skipped, there) instead of being read stale from the cache.
  uint64_t key = fnv1a64(text.data(), text.size());
  key = fnv1a64(root_key.data(), root_key.size() + 1, key);  // with the terminating zero as a separator
  const std::string tail = fmt::format("{}|{}", opts.size, kCacheFormat);
  key = fnv1a64(tail.data(), tail.size(), key);
  key = image_files_hash(rows, root, key);
  const std::string cache_dir = opts.cache_dir ? *opts.cache_dir : default_image_cache_dir(csv_dir.string());
  CacheSpec spec;
  spec.key = key;
  spec.size = opts.size;
  spec.rows = &rows;
  if (!cache_dir.empty())
    spec.file = (fs::path(cache_dir) / fmt::format("faces-{:016x}-s{}.safetensors", key, opts.size)).string();
  rep.cache_file = spec.file;

  const bool tty = ::isatty(STDERR_FILENO) == 1;
  auto list_skipped = [&](const std::vector<std::string>& lines) {
    if (lines.empty()) return;
    std::fprintf(stderr, "images: skipped %zu missing or undecodable image%s (--skip-bad):\n", lines.size(),
                 lines.size() == 1 ? "" : "s");
    for (auto& l : lines) std::fprintf(stderr, "  %s\n", l.c_str());
  };

  if (!spec.file.empty() && fs::exists(spec.file, ec)) {
    DataSet cached;
    std::vector<std::string> skipped_keys;
    std::string why;
    const auto tc = Clock::now();
    const bool loaded = load_image_cache(spec, cached, skipped_keys, why);
    rep.cache_seconds = seconds_since(tc);
    if (!loaded) {
      std::fprintf(stderr, "images: warning: ignoring the cache %s (%s); rebuilding it\n", spec.file.c_str(),
                   why.c_str());
    } else if (!skipped_keys.empty() && !opts.skip_bad) {
      // Built under skip_bad: decode again so that a bad image is an error now (or is fixed).
    } else {
      cached.name = "images";
      cached.label_name = "age";
      for (auto& k : skipped_keys) rep.skipped.push_back((root / k).string() + " (skipped when the cache was built)");
      list_skipped(rep.skipped);
      rep.from_cache = true;
      rep.seconds = seconds_since(t0);
      if (!opts.quiet)
        std::fprintf(stderr, "images: %lld images (%lld/%lld/%lld) at %dx%d from the cache %s in %.2f s\n",
                     (long long)(cached.train.size() + cached.val.size() + cached.test.size()),
                     (long long)cached.train.size(), (long long)cached.val.size(), (long long)cached.test.size(),
                     opts.size, opts.size, spec.file.c_str(), rep.seconds);
      return cached;
    }
  }

  int threads = opts.threads > 0 ? opts.threads : int(std::max(1u, std::thread::hardware_concurrency()));
  threads = int(std::min<int64_t>(threads, int64_t(rows.size())));
  rep.threads = threads;
  Decoded dec = decode_all(rows, opts, root, threads, tty && !opts.quiet);
  dec.data.name = "images";
  dec.data.label_name = "age";
  rep.skipped = dec.skipped_lines;
  rep.decoded = int64_t(rows.size() - dec.skipped_keys.size());
  list_skipped(rep.skipped);
  DRU_CHECK(rep.decoded > 0, "{}: none of its {} images could be decoded (an empty data set)", opts.csv, rows.size());

  std::string cache_note = "no cache";
  if (!spec.file.empty()) {
    try {
      const auto tc = Clock::now();
      fs::create_directories(cache_dir);
      save_image_cache(spec, dec.data, dec.skipped_keys);
      rep.cache_seconds = seconds_since(tc);
      cache_note = "cache written to " + spec.file;
    } catch (const std::exception& e) {
      rep.cache_file.clear();
      cache_note = "no cache written";
      std::fprintf(stderr, "images: warning: cannot write the cache in %s (%s); the next load decodes again\n",
                   cache_dir.c_str(), e.what());
    }
  }
  rep.seconds = seconds_since(t0);
  if (!opts.quiet)
    std::fprintf(stderr, "images: decoded %lld images (%lld/%lld/%lld) at %dx%d in %.2f s on %d thread%s; %s\n",
                 (long long)rep.decoded, (long long)dec.data.train.size(), (long long)dec.data.val.size(),
                 (long long)dec.data.test.size(), opts.size, opts.size, rep.seconds, threads, threads == 1 ? "" : "s",
                 cache_note.c_str());
  return std::move(dec.data);
}

}  // namespace dru
