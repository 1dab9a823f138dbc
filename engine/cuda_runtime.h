// cuda_runtime.h — the few CUDA runtime calls the Tensor needs (allocation, copies, device count).
//
// Compiled against the CUDA runtime when the build has CUDA (DRU_HAVE_CUDA); otherwise every call
// that needs a GPU throws a message that says the build has no CUDA. device_count() returns 0
// where there is no driver or no device ("insufficient driver", error 35, means no GPU here).
#pragma once

#include <cstddef>

#include "engine/tensor.h"

namespace dru::cuda {

bool compiled();
int device_count();
std::string device_name(int index);  // "NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB)"
void* malloc_device(size_t bytes);
void free_device(void* p);
void copy(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes);

}  // namespace dru::cuda
