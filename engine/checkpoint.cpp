// checkpoint.cpp — safetensors reading and writing, and atomic file writes (see checkpoint.h).
//
// Layout written: u64 little-endian n | n bytes of compact JSON, padded with spaces to a multiple of 8
// (as the reference implementation does, so the data section starts 8-byte aligned) | the tensors'
// bytes back to back in name order. Reading follows the reference validation: every tensor's
// data_offsets must match its shape and dtype, and sorted by offset the tensors must tile the data
// section exactly (no overlap, no gap, no trailing bytes).
#include "engine/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <vector>

namespace dru {

namespace {

using json = nlohmann::json;

// A header larger than this is not a checkpoint of ours; refusing it early keeps a hostile length
// from making us allocate gigabytes before the JSON parser rejects it.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;
// Entries are at most {"name": {"shape": [..]}}: depth 3. Deeper JSON is refused while parsing so
// hostile nesting cannot exhaust the stack.
constexpr int kMaxJsonDepth = 8;

const char* safetensors_dtype(DType t) {
  switch (t) {
    case DType::f32: return "F32";
    case DType::f64: return "F64";
    case DType::i64: return "I64";
    case DType::u8: return "U8";
  }
  return "?";
}

bool parse_dtype(const std::string& s, DType& out) {
  for (DType t : {DType::f32, DType::f64, DType::i64, DType::u8})
    if (s == safetensors_dtype(t)) {
      out = t;
      return true;
    }
  return false;
}

// One tensor's header entry once validated.
struct HeaderEntry {
  std::string name;
  DType dtype = DType::f32;
  Shape shape;
  uint64_t begin = 0, end = 0;
};

// Reads a JSON number that must be a non-negative integer fitting in int64.
bool as_count(const json& j, uint64_t& out) {
  if (j.is_number_unsigned()) {
    out = j.get<uint64_t>();
    return out <= uint64_t(std::numeric_limits<int64_t>::max());
  }
  return false;  // negative integers, floats and everything else
}

HeaderEntry parse_entry(const std::string& path, const std::string& name, const json& j) {
  auto fail = [&](const std::string& what) -> void {
    DRU_FAIL("load_safetensors: '{}': tensor '{}' {}", path, name, what);
  };
  HeaderEntry e;
  e.name = name;
  if (!j.is_object()) fail("is not a JSON object");
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!j.contains(key)) fail(fmt::format("has no \"{}\"", key));
  const json& dt = j["dtype"];
  if (!dt.is_string()) fail("has a dtype that is not a string");
  if (!parse_dtype(dt.get<std::string>(), e.dtype))
    fail(fmt::format("has unsupported dtype \"{}\" (dru reads F32, F64, I64, U8)", dt.get<std::string>()));

  const json& sh = j["shape"];
  if (!sh.is_array()) fail("has a shape that is not a list");
  if (sh.size() > size_t(kMaxDims)) fail(fmt::format("has {} dimensions, dru supports at most {}", sh.size(), kMaxDims));
  std::vector<int64_t> dims;
  int64_t numel = 1;
  for (const json& d : sh) {
    uint64_t v = 0;
    if (!as_count(d, v)) fail(fmt::format("has shape entry {} that is not a non-negative integer", d.dump()));
    if (__builtin_mul_overflow(numel, int64_t(v), &numel)) fail(fmt::format("has shape {} whose size overflows", sh.dump()));
    dims.push_back(int64_t(v));
  }
  e.shape = Shape(dims);
  int64_t nbytes = 0;
  if (__builtin_mul_overflow(numel, int64_t(dtype_size(e.dtype)), &nbytes))
    fail(fmt::format("has shape {} whose size overflows", sh.dump()));

  const json& off = j["data_offsets"];
  if (!off.is_array() || off.size() != 2 || !as_count(off[0], e.begin) || !as_count(off[1], e.end))
    fail("has data_offsets that are not two non-negative integers");
  if (e.end < e.begin || e.end - e.begin != uint64_t(nbytes))
    fail(fmt::format("has data_offsets [{}, {}] ({} bytes) but shape {} of {} needs {} bytes", e.begin, e.end,
                     int64_t(e.end - e.begin), sh.dump(), dt.get<std::string>(), nbytes));
  return e;
}

void parse_metadata(const std::string& path, const json& j, std::map<std::string, std::string>& out) {
  DRU_CHECK(j.is_object(), "load_safetensors: '{}': __metadata__ is not a JSON object", path);
  for (auto& [k, v] : j.items()) {
    DRU_CHECK(v.is_string(), "load_safetensors: '{}': __metadata__ value for '{}' is not a string", path, k);
    out[k] = v.get<std::string>();
  }
}

// Sorted by offset, the tensors must tile [0, data_bytes) exactly, as the reference reader demands.
void check_tiling(const std::string& path, std::vector<HeaderEntry>& entries, uint64_t data_bytes) {
  std::sort(entries.begin(), entries.end(),
            [](const HeaderEntry& a, const HeaderEntry& b) { return std::tie(a.begin, a.end) < std::tie(b.begin, b.end); });
  uint64_t pos = 0;
  const std::string* prev = nullptr;
  for (auto& e : entries) {
    DRU_CHECK(e.end <= data_bytes,
              "load_safetensors: '{}': tensor '{}' has data_offsets [{}, {}] beyond the {} data bytes in the file "
              "(truncated file?)",
              path, e.name, e.begin, e.end, data_bytes);
    DRU_CHECK(e.begin >= pos, "load_safetensors: '{}': tensor '{}' at [{}, {}] overlaps tensor '{}' ending at {}", path,
              e.name, e.begin, e.end, prev ? *prev : "", pos);
    DRU_CHECK(e.begin == pos, "load_safetensors: '{}': tensor '{}' starts at {} leaving a gap after byte {}", path,
              e.name, e.begin, pos);
    pos = e.end;
    prev = &e.name;
  }
  DRU_CHECK(pos == data_bytes, "load_safetensors: '{}': the tensors cover {} data bytes but the file holds {}", path,
            pos, data_bytes);
}

json parse_header(const std::string& path, const std::string& text) {
  json::parser_callback_t depth_guard = [&](int depth, json::parse_event_t, json&) {
    DRU_CHECK(depth <= kMaxJsonDepth, "load_safetensors: '{}': header JSON is nested deeper than {} levels", path,
              kMaxJsonDepth);
    return true;
  };
  json j;
  try {
    j = json::parse(text, depth_guard);
  } catch (const json::exception& ex) {
    DRU_FAIL("load_safetensors: '{}': header is not valid JSON ({})", path, ex.what());
  }
  DRU_CHECK(j.is_object(), "load_safetensors: '{}': header JSON is not an object (found {})", path, j.type_name());
  return j;
}

void read_exact(std::ifstream& in, const std::string& path, char* dst, uint64_t n, uint64_t at) {
  in.seekg(std::streamoff(at));
  in.read(dst, std::streamsize(n));
  DRU_CHECK(in.good() || (n == 0), "load_safetensors: '{}': read of {} bytes at offset {} failed", path, n, at);
}

[[noreturn]] void fail_errno(const char* what, const std::string& path, int err) {
  DRU_FAIL("{} '{}': {}", what, path, std::strerror(err));
}

}  // namespace

TensorFile load_safetensors(const std::string& path) {
  std::error_code ec;
  uint64_t file_bytes = std::filesystem::file_size(path, ec);
  DRU_CHECK(!ec, "load_safetensors: cannot open '{}': {}", path, ec.message());
  std::ifstream in(path, std::ios::binary);
  DRU_CHECK(in.is_open(), "load_safetensors: cannot open '{}': {}", path, std::strerror(errno));
  DRU_CHECK(file_bytes >= 8, "load_safetensors: '{}' is {} bytes, too short for the 8-byte header length", path,
            file_bytes);

  unsigned char len_bytes[8];
  read_exact(in, path, reinterpret_cast<char*>(len_bytes), 8, 0);
  uint64_t header_bytes = 0;
  for (int i = 7; i >= 0; --i) header_bytes = (header_bytes << 8) | len_bytes[i];
  DRU_CHECK(header_bytes <= kMaxHeaderBytes, "load_safetensors: '{}': header length {} is absurd (limit {} bytes)", path,
            header_bytes, kMaxHeaderBytes);
  DRU_CHECK(header_bytes <= file_bytes - 8,
            "load_safetensors: '{}': header length {} exceeds the {} bytes after the length field (truncated file?)",
            path, header_bytes, file_bytes - 8);

  std::string text(header_bytes, '\0');
  read_exact(in, path, text.data(), header_bytes, 8);
  json header = parse_header(path, text);

  TensorFile out;
  std::vector<HeaderEntry> entries;
  for (auto& [name, value] : header.items()) {
    if (name == "__metadata__")
      parse_metadata(path, value, out.metadata);
    else
      entries.push_back(parse_entry(path, name, value));
  }
  uint64_t data_start = 8 + header_bytes;
  check_tiling(path, entries, file_bytes - data_start);

  for (auto& e : entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype);
    read_exact(in, path, static_cast<char*>(t.raw()), e.end - e.begin, data_start + e.begin);
    out.tensors[e.name] = t;
  }
  return out;
}

void save_safetensors(const std::string& path, const TensorFile& file) {
  json header = json::object();
  if (!file.metadata.empty()) header["__metadata__"] = file.metadata;
  std::vector<Tensor> host;
  uint64_t pos = 0;
  for (auto& [name, t] : file.tensors) {
    DRU_CHECK(name != "__metadata__", "save_safetensors: '{}': a tensor may not be named __metadata__", path);
    DRU_CHECK(t.defined(), "save_safetensors: '{}': tensor '{}' is undefined", path, name);
    Tensor h = t.device() == Device::cpu ? t : t.detach().to(Device::cpu);
    header[name] = {{"dtype", safetensors_dtype(h.dtype())},
                    {"shape", h.shape().vec()},
                    {"data_offsets", {pos, pos + h.nbytes()}}};
    pos += h.nbytes();
    host.push_back(h);
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');

  std::string bytes;
  bytes.reserve(8 + text.size() + pos);
  for (int i = 0; i < 8; ++i) bytes.push_back(char((uint64_t(text.size()) >> (8 * i)) & 0xff));
  bytes += text;
  // std::map iteration order is the order the offsets were assigned in above.
  for (auto& h : host) bytes.append(static_cast<const char*>(h.raw()), h.nbytes());
  write_file_atomic(path, bytes);
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  // Same folder as the target, so rename(2) is atomic (no cross-filesystem copy); the pid keeps two
  // processes writing the same file from sharing a temporary.
  std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    int e = errno;
    std::string dir = std::filesystem::path(path).parent_path().string();
    DRU_CHECK(e != ENOENT, "write_file_atomic: cannot write '{}': folder '{}' does not exist (create it first)", path,
              dir.empty() ? "." : dir);
    fail_errno("write_file_atomic: cannot create temporary file", tmp, e);
  }
  size_t done = 0;
  int err = 0;
  while (done < bytes.size() && !err) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno != EINTR) err = errno;
    if (n == 0) err = EIO;  // no progress and no error: give up rather than spin
    if (n > 0) done += size_t(n);
  }
  // fsync before rename: otherwise a crash can leave the new name pointing at empty blocks.
  if (!err && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && !err) err = errno;
  if (!err && std::rename(tmp.c_str(), path.c_str()) != 0) err = errno;
  if (err) {
    ::unlink(tmp.c_str());
    fail_errno("write_file_atomic: cannot write", path, err);
  }
  // Make the rename itself durable; failure here loses nothing already written, so it is not fatal.
  std::string dir = std::filesystem::path(path).parent_path().string();
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace dru
