// api.h — how the CUDA launchers of engine/cuda/ are declared for plain C++ callers.
//
// Each op family declares its launchers (raw device pointers, f32, queued on the engine's stream)
// with DRU_CUDA_API. In a build with CUDA these are ordinary declarations defined in the family's .cu
// file; in a build without CUDA they become inline functions that throw, so the ops' CUDA branches
// still compile and link (a tensor can never reach them there: allocating on CUDA fails first).
#pragma once

#include <cstdint>

namespace dru::cuda {
[[noreturn]] void not_built();
}

#ifdef DRU_HAVE_CUDA
#define DRU_CUDA_API(...) __VA_ARGS__;
#else
#define DRU_CUDA_API(...) \
  [[noreturn]] inline __VA_ARGS__ { ::dru::cuda::not_built(); }
#endif
