// ops_index.cpp — indexing ops: embedding, concat, index_select (gather rows by an index list),
// masked_select (rows where a boolean mask is set) and dropout.
//
// All of them move whole rows (the product of the trailing dimensions), so forward and backward are
// memcpy-sized loops. Backward of a gather is a scatter-add; repeated indices accumulate in index
// order, which keeps the result deterministic.
//
// On CUDA (engine/cuda/index.cu) a gather takes its indices on the device: CPU indices are checked
// here and uploaded; device indices cannot be checked without a host sync, so they are trusted (an
// id out of range reads a row of zeros and adds no gradient). The scatter-add sorts the indices
// stably and sums each run of equal ones in index order: the same sums, in the same order, as the
// CPU, with no atomics. masked_select is the exception that syncs: its output's row count comes
// from the mask, so a device mask is read back to the host. concat copies with cuda::copy_blocks.
#include <cstring>

#include "engine/comm.h"
#include "engine/cuda/index.h"
#include "engine/cuda_runtime.h"
#include "engine/ops.h"

namespace dru {

namespace {

// Reads an index tensor (i64 or u8, CPU, 1-D or any shape) into a vector.
std::vector<int64_t> read_indices(const char* op, const Tensor& idx) {
  DRU_CHECK(idx.defined(), "{}: index tensor is undefined", op);
  check_cpu(op, idx);
  DRU_CHECK(idx.dtype() == DType::i64 || idx.dtype() == DType::u8,
            "{}: indices of shape {} have dtype {}; expected i64 (or u8 for masks)", op, idx.shape().str(),
            dtype_name(idx.dtype()));
  std::vector<int64_t> v(size_t(idx.numel()));
  if (idx.dtype() == DType::i64)
    std::memcpy(v.data(), idx.data<int64_t>(), v.size() * sizeof(int64_t));
  else
    for (size_t i = 0; i < v.size(); ++i) v[i] = idx.data<uint8_t>()[i];
  return v;
}

int64_t row_size(const Tensor& x) { return x.ndim() == 0 ? 1 : x.numel() / std::max<int64_t>(x.size(0), 1); }

// out row r = x row rows[r]; the scatter-add backward is shared by embedding and index_select.
Tensor gather_rows(const Tensor& x, const std::vector<int64_t>& rows, Shape out_shape) {
  Tensor out = Tensor::empty(out_shape, x.dtype());
  size_t rb = size_t(row_size(x)) * dtype_size(x.dtype());
  const char* src = static_cast<const char*>(x.raw());
  char* dst = static_cast<char*>(out.raw());
  for (size_t r = 0; r < rows.size(); ++r) std::memcpy(dst + r * rb, src + size_t(rows[r]) * rb, rb);
  return out;
}

Tensor scatter_add_rows(const Tensor& g, const std::vector<int64_t>& rows, const Shape& x_shape) {
  Tensor gx = Tensor::zeros(x_shape, g.dtype());
  int64_t rs = x_shape.numel() / std::max<int64_t>(x_shape[0], 1);
  dispatch_float(g.dtype(), "scatter_add", [&](auto tag) {
    using T = decltype(tag);
    const T* pg = g.data<T>();
    T* px = gx.data<T>();
    for (size_t r = 0; r < rows.size(); ++r)
      for (int64_t j = 0; j < rs; ++j) px[rows[r] * rs + j] += pg[int64_t(r) * rs + j];
  });
  return gx;
}

Tensor gather_op(const char* op, const Tensor& x, std::vector<int64_t> rows, Shape out_shape) {
  Tensor out = gather_rows(x, rows, out_shape);
  Shape xs = x.shape();
  return record(op, out, {x}, [rows = std::move(rows), xs](const Tensor& g) {
    return std::vector<Tensor>{scatter_add_rows(g, rows, xs)};
  });
}

// The gather on CUDA: x on the device (any dtype; gradients f32), idx an i64 device tensor of rows.
Tensor gather_op_cuda(const char* op, const Tensor& x, const Tensor& idx, const Shape& out_shape) {
  Tensor out = Tensor::empty(out_shape, x.dtype(), Device::cuda);
  const int64_t rs = row_size(x);
  cuda::gather_rows(x.raw(), idx.data<int64_t>(), out.raw(), idx.numel(), x.size(0), rs, int(dtype_size(x.dtype())));
  if (!needs_grad({&x})) return out;
  Shape xs = x.shape();
  // The backward keeps its own copy of the indices, as the CPU path does (the caller may reuse its buffer).
  Tensor rows = idx.detach().clone();
  return record(op, out, {x}, [op, rows, xs, rs](const Tensor& g) {
    check_cuda_f32(op, g);
    Tensor gx = Tensor::zeros(xs, DType::f32, Device::cuda);
    cuda::scatter_add_rows(g.data<float>(), rows.data<int64_t>(), gx.data<float>(), rows.numel(), xs[0], rs);
    return std::vector<Tensor>{gx};
  });
}

// Indices for a CUDA gather: device indices as they are (their dtype is checked by the caller), CPU
// indices passed one by one to the caller's range check, then uploaded.
template <class Check> Tensor device_indices(const char* op, const Tensor& idx, Check&& check) {
  if (on_cuda(idx)) return idx.detach();
  for (int64_t r : read_indices(op, idx)) check(r);
  return idx.detach().to(Device::cuda);
}

// A CPU op given indices on the device: name the mismatch rather than a missing CUDA implementation.
void check_indices_on_cpu(const char* op, const Tensor& x, const Tensor& idx) {
  DRU_CHECK(!on_cuda(idx), "{}: indices of shape {} are on cuda but the input of shape {} is on cpu; move both to "
            "one device", op, idx.shape().str(), x.shape().str());
}

}  // namespace

Tensor embedding(const Tensor& ids, const Tensor& weight) {
  const char* op = "embedding";
  check_float(op, weight);
  DRU_CHECK(weight.ndim() == 2, "embedding: weight has shape {}; expected (V, D)", weight.shape().str());
  DRU_CHECK(ids.defined() && ids.dtype() == DType::i64, "embedding: ids must be an i64 tensor");
  DRU_CHECK(ids.ndim() < kMaxDims, "embedding: ids of shape {} leave no room for the embedding dimension",
            ids.shape().str());
  std::vector<int64_t> dims = ids.shape().vec();
  dims.push_back(weight.size(1));
  auto check_id = [&](int64_t r) {
    DRU_CHECK(r >= 0 && r < weight.size(0), "embedding: id {} is outside the vocabulary [0, {})", r, weight.size(0));
  };
  if (on_cuda(weight)) {
    check_cuda_f32(op, weight);
    return gather_op_cuda(op, weight, device_indices(op, ids, check_id), Shape(dims));
  }
  check_indices_on_cpu(op, weight, ids);
  std::vector<int64_t> rows = read_indices(op, ids);
  for (int64_t r : rows) check_id(r);
  return gather_op(op, weight, std::move(rows), Shape(dims));
}

Tensor index_select(const Tensor& x, const Tensor& idx) {
  const char* op = "index_select";
  DRU_CHECK(x.defined(), "index_select: input is undefined");
  DRU_CHECK(x.ndim() >= 1, "index_select: input must have at least one dimension");
  DRU_CHECK(idx.defined() && idx.ndim() == 1 && idx.dtype() == DType::i64,
            "index_select: indices must be a 1-D i64 tensor");
  auto check_index = [&](int64_t r) {
    DRU_CHECK(r >= 0 && r < x.size(0), "index_select: index {} is out of range for dimension 0 of shape {}", r,
              x.shape().str());
  };
  Shape s = x.shape();
  s[0] = idx.numel();
  if (on_cuda(x)) return gather_op_cuda(op, x, device_indices(op, idx, check_index), s);
  check_indices_on_cpu(op, x, idx);
  std::vector<int64_t> rows = read_indices(op, idx);
  for (int64_t r : rows) check_index(r);
  return gather_op(op, x, std::move(rows), s);
}

Tensor masked_select(const Tensor& x, const Tensor& mask) {
  const char* op = "masked_select";
  DRU_CHECK(x.defined(), "masked_select: input is undefined");
  DRU_CHECK(x.ndim() >= 1, "masked_select: input must have at least one dimension");
  DRU_CHECK(mask.defined() && mask.ndim() == 1 && mask.size(0) == x.size(0),
            "masked_select: mask of shape {} does not match dimension 0 of input {}",
            mask.defined() ? mask.shape().str() : "undefined", x.shape().str());
  if (!on_cuda(x)) check_indices_on_cpu(op, x, mask);
  // The output's row count is a function of the mask's values, so the host needs them: a mask on the
  // device is copied back here (one host synchronisation; the only indexing op that makes one).
  Tensor host_mask = on_cuda(mask) ? mask.detach().to(Device::cpu) : mask;
  std::vector<int64_t> flags = read_indices(op, host_mask), rows;
  for (size_t i = 0; i < flags.size(); ++i)
    if (flags[i] != 0) rows.push_back(int64_t(i));
  Shape s = x.shape();
  s[0] = int64_t(rows.size());
  if (on_cuda(x)) {
    Tensor idx = Tensor::from(rows, Shape{int64_t(rows.size())}).to(Device::cuda);
    return gather_op_cuda(op, x, idx, s);
  }
  return gather_op(op, x, std::move(rows), s);
}

Tensor concat(const std::vector<Tensor>& xs, int dim) {
  const char* op = "concat";
  DRU_CHECK(!xs.empty(), "concat: no tensors given");
  const Tensor& first = xs[0];
  DRU_CHECK(first.defined(), "concat: input 0 is undefined");
  int a = first.shape().axis(dim, op);
  int64_t outer = 1, inner = 1, total = 0;
  for (int i = 0; i < a; ++i) outer *= first.size(i);
  for (int i = a + 1; i < first.ndim(); ++i) inner *= first.size(i);
  for (auto& t : xs) {
    check_same(op, first, t);
    bool ok = t.ndim() == first.ndim();
    for (int i = 0; ok && i < t.ndim(); ++i) ok = i == a || t.size(i) == first.size(i);
    DRU_CHECK(ok, "concat: shapes {} and {} differ outside dimension {}", first.shape().str(), t.shape().str(), dim);
    total += t.size(a);
  }
  Shape s = first.shape();
  s[a] = total;
  Tensor out = Tensor::empty(s, first.dtype(), first.device());
  size_t es = dtype_size(first.dtype());
  std::vector<int64_t> starts, sizes;
  int64_t at = 0;
  for (auto& t : xs) {
    starts.push_back(at);
    sizes.push_back(t.size(a));
    int64_t n = t.size(a);
    if (on_cuda(t))  // one strided 2-D copy per input
      cuda::copy_blocks(out.raw(), total, at, t.raw(), n, 0, n, outer, inner, es);
    else
      for (int64_t o = 0; o < outer; ++o)
        std::memcpy(static_cast<char*>(out.raw()) + size_t((o * total + at) * inner) * es,
                    static_cast<const char*>(t.raw()) + size_t(o * n * inner) * es, size_t(n * inner) * es);
    at += n;
  }
  return record(op, out, xs, [a, starts, sizes](const Tensor& g) {
    std::vector<Tensor> grads;
    for (size_t i = 0; i < starts.size(); ++i) grads.push_back(g.slice(a, starts[i], starts[i] + sizes[i]).clone());
    return grads;
  });
}

Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) {
  const char* op = "dropout";
  DRU_CHECK(p >= 0.0 && p < 1.0, "dropout: probability {} must be in [0, 1)", p);
  if (!training || p == 0.0) return x;
  check_float(op, x);
  if (on_cuda(x)) check_cuda_f32(op, x);
  // One Philox counter per element: the mask depends only on (seed, offset, index), so the GPU
  // kernel draws the same mask as the CPU for the same generator state.
  const BatchShard& shard = current_shard();
  const bool sharded = shard.active() && x.ndim() >= 1 && x.size(0) % shard.rows == 0;
  // Data parallel (engine/comm.h): the counters of the whole global batch, this shard's part of them.
  const uint64_t per_row = sharded ? uint64_t(x.numel() / shard.rows) : 0;
  const uint64_t count = sharded ? per_row * uint64_t(shard.total) : uint64_t(x.numel());
  const uint64_t skip = sharded ? per_row * uint64_t(shard.first) : 0;
  if (on_cuda(x)) {
    Generator::DeviceDraw draw = gen.reserve_device(count);  // graph-safe: see rng.h
    Tensor mask = Tensor::empty(x.shape(), DType::f32, Device::cuda);
    Tensor y = Tensor::empty(x.shape(), DType::f32, Device::cuda);
    cuda::dropout_forward(x.data<float>(), mask.data<float>(), y.data<float>(), x.numel(), draw.base,
                          draw.first + skip, gen.seed(), float(p), float(1.0 / (1.0 - p)));
    return record(op, y, {x}, [mask](const Tensor& g) { return std::vector<Tensor>{mul(g, mask)}; });
  }
  const uint64_t first = gen.reserve(count) + skip;
  Tensor mask = Tensor::empty(x.shape(), x.dtype());
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  dispatch_float(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* pm = mask.data<T>();
    T* py = y.data<T>();
    T scale = T(1.0 / (1.0 - p));
    for (int64_t i = 0; i < x.numel(); ++i) {
      float u = uniform01_f32(philox4x32(first + uint64_t(i), 0, gen.seed()).v[0]);
      pm[i] = u >= float(p) ? scale : T(0);
      py[i] = px[i] * pm[i];
    }
  });
  return record(op, y, {x}, [mask](const Tensor& g) { return std::vector<Tensor>{mul(g, mask)}; });
}

}  // namespace dru
