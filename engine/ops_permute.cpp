// ops_permute.cpp — permute: reorder the dimensions of a tensor into a new contiguous tensor.
//
// out[i_0, ..., i_{n-1}] = x[j] with j[dims[k]] = i_k, so out.shape[k] = x.shape[dims[k]] (torch.permute,
// followed by .contiguous(): this engine's tensors are always row-major). The copy walks the output in
// order and reads the input with strides. Trailing dimensions that the permutation leaves in place
// form one contiguous block per step, copied with memcpy — for the head split of multi-head attention,
// (N, T, H, Dh) -> (N, H, T, Dh), that is one Dh-row per step. The backward is the same copy with the
// inverse permutation. On CUDA (any dtype, moved as bytes) one gather kernel walks the output with
// the input strides of engine/cuda/index.cu, which merges the dimensions that stay neighbours and
// moves the innermost contiguous run in words of up to 16 bytes.
#include <cstring>

#include "engine/cuda/index.h"
#include "engine/ops.h"

namespace dru {

namespace {

struct PermutePlan {
  int m = 0;                       // leading output dimensions walked one by one
  int64_t out_shape[kMaxDims]{};   // their extents
  int64_t src_stride[kMaxDims]{};  // the input stride (elements) of each of them
  int64_t block = 1;               // elements of the untouched trailing block
};

PermutePlan plan_of(const Shape& in, const std::vector<int>& perm) {
  PermutePlan p;
  int n = in.ndim;
  int64_t stride[kMaxDims];
  int64_t s = 1;
  for (int i = n - 1; i >= 0; --i) {
    stride[i] = s;
    s *= in[i];
  }
  int m = n;
  while (m > 0 && perm[size_t(m - 1)] == m - 1) {
    p.block *= in[m - 1];
    --m;
  }
  p.m = m;
  for (int k = 0; k < m; ++k) {
    p.out_shape[k] = in[perm[size_t(k)]];
    p.src_stride[k] = stride[perm[size_t(k)]];
  }
  return p;
}

// E is an element-sized type when the block is one element (a typed load), char otherwise (memcpy).
template <class E>
void permute_copy(const char* src, char* dst, const PermutePlan& p, size_t es) {
  const size_t bb = size_t(p.block) * es;
  if (p.m == 0) {
    std::memcpy(dst, src, bb);
    return;
  }
  const int last = p.m - 1;
  const int64_t inner = p.out_shape[last], inner_stride = p.src_stride[last];
  int64_t outer = 1;
  for (int k = 0; k < last; ++k) outer *= p.out_shape[k];
  int64_t idx[kMaxDims]{};
  for (int64_t o = 0; o < outer; ++o) {
    int64_t base = 0;
    for (int k = 0; k < last; ++k) base += idx[k] * p.src_stride[k];
    if constexpr (sizeof(E) > 1) {
      const E* s = reinterpret_cast<const E*>(src) + base;
      E* d = reinterpret_cast<E*>(dst);
      for (int64_t j = 0; j < inner; ++j) d[j] = s[j * inner_stride];
      dst += size_t(inner) * sizeof(E);
    } else {
      for (int64_t j = 0; j < inner; ++j, dst += bb)
        std::memcpy(dst, src + size_t(base + j * inner_stride) * es, bb);
    }
    for (int k = last - 1; k >= 0; --k) {  // odometer over the outer output dimensions
      if (++idx[k] < p.out_shape[k]) break;
      idx[k] = 0;
    }
  }
}

void permute_cuda(const Tensor& x, Tensor& out, const std::vector<int>& perm) {
  static_assert(cuda::PermutePlan::kDims == kMaxDims);
  const Shape& in = x.shape();
  int64_t stride[kMaxDims];
  int64_t s = 1;
  for (int i = in.ndim - 1; i >= 0; --i) {
    stride[i] = s;
    s *= in[i];
  }
  cuda::PermutePlan p;
  p.ndim = in.ndim;
  for (int k = 0; k < in.ndim; ++k) {
    p.shape[k] = in[perm[size_t(k)]];
    p.src_stride[k] = stride[perm[size_t(k)]];
  }
  cuda::permute_copy(x.raw(), out.raw(), p, int(dtype_size(x.dtype())));
}

Tensor permute_raw(const Tensor& x, const std::vector<int>& perm) {
  Shape out_shape = x.shape();
  for (int k = 0; k < x.ndim(); ++k) out_shape[k] = x.shape()[perm[size_t(k)]];
  Tensor out = Tensor::empty(out_shape, x.dtype(), x.device());
  if (x.numel() == 0) return out;
  if (on_cuda(x)) {
    permute_cuda(x, out, perm);
    return out;
  }
  PermutePlan p = plan_of(x.shape(), perm);
  const char* src = static_cast<const char*>(x.raw());
  char* dst = static_cast<char*>(out.raw());
  size_t es = dtype_size(x.dtype());
  if (p.block == 1 && es == 4)
    permute_copy<uint32_t>(src, dst, p, es);
  else if (p.block == 1 && es == 8)
    permute_copy<uint64_t>(src, dst, p, es);
  else
    permute_copy<char>(src, dst, p, es);
  return out;
}

}  // namespace

Tensor permute(const Tensor& x, const std::vector<int>& dims) {
  const char* op = "permute";
  DRU_CHECK(x.defined(), "permute: input is undefined");
  const int n = x.ndim();
  std::string given;
  for (int d : dims) given += (given.empty() ? "" : ", ") + std::to_string(d);
  DRU_CHECK(int(dims.size()) == n, "permute: dims ({}) name {} dimensions; input of shape {} has {}", given,
            dims.size(), x.shape().str(), n);
  std::vector<int> perm(static_cast<size_t>(n), 0), inverse(static_cast<size_t>(n), -1);
  for (int k = 0; k < n; ++k) {
    int d = dims[size_t(k)] < 0 ? dims[size_t(k)] + n : dims[size_t(k)];
    DRU_CHECK(d >= 0 && d < n && inverse[size_t(d)] < 0,
              "permute: dims ({}) is not a permutation of the {} dimensions of shape {}", given, n, x.shape().str());
    perm[size_t(k)] = d;
    inverse[size_t(d)] = k;
  }
  Tensor out = permute_raw(x, perm);
  return record(op, out, {x}, [inverse](const Tensor& g) {
    return std::vector<Tensor>{permute_raw(g, inverse)};
  });
}

}  // namespace dru
