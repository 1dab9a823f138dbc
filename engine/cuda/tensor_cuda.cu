// tensor_cuda.cu — the Tensor's own device work: fill, dtype conversion and the block copies of slice.
#include "engine/cuda/common.cuh"
#include "engine/cuda_runtime.h"

namespace dru::cuda {

namespace {

template <class T> __global__ void fill_kernel(T* p, int64_t n, T v) {
  DRU_GRID_LOOP(i, n) p[i] = v;
}

template <class D, class S> __global__ void convert_kernel(D* d, const S* s, int64_t n) {
  DRU_GRID_LOOP(i, n) d[i] = D(s[i]);
}

template <class S> void convert_from(void* dst, DType dt, const S* s, int64_t n) {
  unsigned g = grid_for(n);
  switch (dt) {
    case DType::f32: convert_kernel<<<g, kThreads, 0, stream()>>>(static_cast<float*>(dst), s, n); break;
    case DType::f64: convert_kernel<<<g, kThreads, 0, stream()>>>(static_cast<double*>(dst), s, n); break;
    case DType::i64: convert_kernel<<<g, kThreads, 0, stream()>>>(static_cast<int64_t*>(dst), s, n); break;
    case DType::u8: convert_kernel<<<g, kThreads, 0, stream()>>>(static_cast<uint8_t*>(dst), s, n); break;
  }
  DRU_CUDA_LAUNCHED();
}

__global__ void increment_kernel(int64_t* p) { *p += 1; }

}  // namespace

void increment_i64(int64_t* p) {
  increment_kernel<<<1, 1, 0, stream()>>>(p);
  DRU_CUDA_LAUNCHED();
}

void fill(void* p, DType t, int64_t n, double value) {
  if (n == 0) return;
  if (value == 0.0) {  // all-zero bits in every dtype
    DRU_CUDA_CHECK(cudaMemsetAsync(p, 0, size_t(n) * dtype_size(t), stream()));
    return;
  }
  unsigned g = grid_for(n);
  switch (t) {
    case DType::f32: fill_kernel<<<g, kThreads, 0, stream()>>>(static_cast<float*>(p), n, float(value)); break;
    case DType::f64: fill_kernel<<<g, kThreads, 0, stream()>>>(static_cast<double*>(p), n, value); break;
    case DType::i64: fill_kernel<<<g, kThreads, 0, stream()>>>(static_cast<int64_t*>(p), n, int64_t(value)); break;
    case DType::u8: fill_kernel<<<g, kThreads, 0, stream()>>>(static_cast<uint8_t*>(p), n, uint8_t(value)); break;
  }
  DRU_CUDA_LAUNCHED();
}

void convert(void* dst, DType dst_t, const void* src, DType src_t, int64_t n) {
  if (n == 0) return;
  switch (src_t) {
    case DType::f32: convert_from(dst, dst_t, static_cast<const float*>(src), n); break;
    case DType::f64: convert_from(dst, dst_t, static_cast<const double*>(src), n); break;
    case DType::i64: convert_from(dst, dst_t, static_cast<const int64_t*>(src), n); break;
    case DType::u8: convert_from(dst, dst_t, static_cast<const uint8_t*>(src), n); break;
  }
}

void copy_blocks(void* dst, int64_t n_dst, int64_t dst_start, const void* src, int64_t n_src, int64_t src_start,
                 int64_t count, int64_t outer, int64_t inner, size_t es) {
  if (outer == 0 || count == 0 || inner == 0) return;
  // One 2-D copy: `outer` rows of count*inner elements, each with its own pitch.
  DRU_CUDA_CHECK(cudaMemcpy2DAsync(static_cast<char*>(dst) + size_t(dst_start * inner) * es, size_t(n_dst * inner) * es,
                                   static_cast<const char*>(src) + size_t(src_start * inner) * es,
                                   size_t(n_src * inner) * es, size_t(count * inner) * es, size_t(outer),
                                   cudaMemcpyDeviceToDevice, stream()));
}

}  // namespace dru::cuda
