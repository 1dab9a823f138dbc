// hd.h — marks functions that both the CPU reference and the CUDA kernels compile (DESIGN decision 1).
#pragma once

#if defined(__CUDACC__)
#define DRU_HD __host__ __device__ __forceinline__
#else
#define DRU_HD inline
#endif
