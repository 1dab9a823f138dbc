// checkpoint.h — safetensors files and atomic writes (DESIGN decision 8).
//
// A safetensors file is: 8 bytes little-endian header length n; n bytes of JSON mapping each tensor
// name to {"dtype": "F32"|"F64"|"I64"|"U8", "shape": [...], "data_offsets": [begin, end]} plus an
// optional "__metadata__" object of string to string; then the raw little-endian data, offsets
// relative to the end of the header. PyTorch users open these files with the safetensors package.
// Reading is hostile-input safe: header length, JSON, dtypes, shape products and data offsets are
// all bounds-checked against the file size, and every failure names the file and what is wrong.
// Writing goes to a temporary file in the same folder and is renamed into place, so an interrupted
// run never leaves a half-written file.
#pragma once

#include <map>
#include <string>

#include "engine/tensor.h"

namespace dru {

struct TensorFile {
  std::map<std::string, Tensor> tensors;            // CPU tensors
  std::map<std::string, std::string> metadata;      // the "__metadata__" object
};

// Writes tensors (copied to the host as needed) and metadata to path atomically.
void save_safetensors(const std::string& path, const TensorFile& file);
// Reads a whole file; throws dru::Error naming path and the problem.
TensorFile load_safetensors(const std::string& path);
// Writes bytes to path through a temporary file and rename(2).
void write_file_atomic(const std::string& path, const std::string& bytes);

}  // namespace dru
