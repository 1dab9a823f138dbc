// tensor.cpp — Shape, Storage and the Tensor handle: factories, views, copies, printing.
#include "engine/tensor.h"

#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <ostream>

#include "engine/autograd.h"
#include "engine/cuda_runtime.h"

namespace dru {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::i64: return 8;
    case DType::u8: return 1;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::i64: return "i64";
    case DType::u8: return "u8";
  }
  return "?";
}

const char* device_name(Device d) { return d == Device::cpu ? "cpu" : "cuda"; }

// ---------------------------------------------------------------------------------------------
// Shape

Shape::Shape(std::initializer_list<int64_t> dims) : Shape(std::vector<int64_t>(dims)) {}

Shape::Shape(const std::vector<int64_t>& dims) {
  DRU_CHECK(dims.size() <= size_t(kMaxDims), "shape: {} dimensions given, at most {} are supported", dims.size(),
        kMaxDims);
  ndim = int(dims.size());
  for (int i = 0; i < ndim; ++i) {
    DRU_CHECK(dims[i] >= 0, "shape: extent {} of dimension {} is negative", dims[i], i);
    d[i] = dims[i];
  }
}

int64_t Shape::numel() const {
  int64_t n = 1;
  for (int i = 0; i < ndim; ++i) n *= d[i];
  return n;
}

int Shape::axis(int dim, const char* op) const {
  int a = dim < 0 ? dim + ndim : dim;
  DRU_CHECK(a >= 0 && a < ndim, "{}: dimension {} is out of range for shape {}", op, dim, str());
  return a;
}

std::string Shape::str() const {
  std::string s = "(";
  for (int i = 0; i < ndim; ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + (ndim == 1 ? ",)" : ")");
}

bool Shape::operator==(const Shape& o) const {
  if (ndim != o.ndim) return false;
  for (int i = 0; i < ndim; ++i)
    if (d[i] != o.d[i]) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Storage

std::shared_ptr<Storage> Storage::allocate(size_t bytes, Device device) {
  auto s = std::make_shared<Storage>();
  s->bytes = bytes;
  s->device = device;
  if (device == Device::cpu) {
    // 64-byte alignment suits AVX-512 loads and Eigen's aligned maps.
    size_t rounded = (bytes + 63) / 64 * 64;
    s->data = std::aligned_alloc(64, rounded ? rounded : 64);
    DRU_CHECK(s->data, "out of host memory allocating {} bytes", bytes);
  } else {
    s->data = cuda::malloc_device(bytes);
  }
  return s;
}

Storage::~Storage() {
  if (!owned || !data) return;
  if (device == Device::cpu)
    std::free(data);
  else
    cuda::free_device(data);
}

// ---------------------------------------------------------------------------------------------
// Factories

Tensor Tensor::empty(const Shape& s, DType t, Device dev) {
  auto p = std::make_shared<TensorImpl>();
  p->storage = Storage::allocate(size_t(s.numel()) * dtype_size(t), dev);
  p->shape = s;
  p->dtype = t;
  return Tensor(std::move(p));
}

Tensor Tensor::zeros(const Shape& s, DType t, Device dev) {
  Tensor r = empty(s, t, dev);
  r.fill_(0.0);
  return r;
}

Tensor Tensor::ones(const Shape& s, DType t, Device dev) { return full(s, 1.0, t, dev); }

Tensor Tensor::full(const Shape& s, double value, DType t, Device dev) {
  Tensor r = empty(s, t, dev);
  r.fill_(value);
  return r;
}

Tensor Tensor::scalar(double value, DType t) { return full(Shape{}, value, t); }

template <class T> static void store_as(void* dst, DType t, int64_t i, T v) {
  switch (t) {
    case DType::f32: static_cast<float*>(dst)[i] = float(v); break;
    case DType::f64: static_cast<double*>(dst)[i] = double(v); break;
    case DType::i64: static_cast<int64_t*>(dst)[i] = int64_t(v); break;
    case DType::u8: static_cast<uint8_t*>(dst)[i] = uint8_t(v); break;
  }
}

static double load_as_double(const void* src, DType t, int64_t i) {
  switch (t) {
    case DType::f32: return static_cast<const float*>(src)[i];
    case DType::f64: return static_cast<const double*>(src)[i];
    case DType::i64: return double(static_cast<const int64_t*>(src)[i]);
    case DType::u8: return static_cast<const uint8_t*>(src)[i];
  }
  return 0;
}

Tensor Tensor::from(const std::vector<double>& values, const Shape& s, DType t) {
  DRU_CHECK(int64_t(values.size()) == s.numel(), "from: {} values given for shape {} ({} elements)", values.size(),
        s.str(), s.numel());
  Tensor r = empty(s, t);
  for (size_t i = 0; i < values.size(); ++i) store_as(r.raw(), t, int64_t(i), values[i]);
  return r;
}

Tensor Tensor::from(const std::vector<float>& values, const Shape& s) {
  DRU_CHECK(int64_t(values.size()) == s.numel(), "from: {} values given for shape {} ({} elements)", values.size(),
        s.str(), s.numel());
  Tensor r = empty(s, DType::f32);
  std::memcpy(r.raw(), values.data(), values.size() * sizeof(float));
  return r;
}

Tensor Tensor::from(const std::vector<int64_t>& values, const Shape& s) {
  DRU_CHECK(int64_t(values.size()) == s.numel(), "from: {} values given for shape {} ({} elements)", values.size(),
        s.str(), s.numel());
  Tensor r = empty(s, DType::i64);
  std::memcpy(r.raw(), values.data(), values.size() * sizeof(int64_t));
  return r;
}

Tensor Tensor::arange(int64_t n, DType t) {
  Tensor r = empty(Shape{n}, t);
  for (int64_t i = 0; i < n; ++i) store_as(r.raw(), t, i, i);
  return r;
}

// ---------------------------------------------------------------------------------------------
// Accessors

const Shape& Tensor::shape() const {
  DRU_CHECK(defined(), "shape: tensor is undefined");
  return impl->shape;
}

int64_t Tensor::size(int dim) const { return shape()[shape().axis(dim, "size")]; }

DType Tensor::dtype() const {
  DRU_CHECK(defined(), "dtype: tensor is undefined");
  return impl->dtype;
}

Device Tensor::device() const {
  DRU_CHECK(defined(), "device: tensor is undefined");
  return impl->storage->device;
}

void* Tensor::raw() const {
  DRU_CHECK(defined(), "raw: tensor is undefined");
  return static_cast<char*>(impl->storage->data) + impl->offset * int64_t(dtype_size(impl->dtype));
}

// ---------------------------------------------------------------------------------------------
// Views and copies

static Tensor view_of(const Tensor& t, const Shape& s, int64_t extra_offset) {
  auto p = std::make_shared<TensorImpl>();
  p->storage = t.impl->storage;
  p->offset = t.impl->offset + extra_offset;
  p->shape = s;
  p->dtype = t.impl->dtype;
  return Tensor(std::move(p));
}

Tensor Tensor::reshape(const Shape& s_in) const {
  const Shape& s = s_in;
  DRU_CHECK(s.numel() == numel(), "reshape: cannot view shape {} ({} elements) as {} ({} elements)", shape().str(),
        numel(), s.str(), s.numel());
  Tensor out = view_of(*this, s, 0);
  Shape in_shape = shape();
  return record("reshape", out, {*this}, [in_shape](const Tensor& g) {
    return std::vector<Tensor>{g.reshape(in_shape)};
  });
}

Tensor Tensor::flatten(int start_dim) const {
  int a = shape().axis(start_dim, "flatten");
  std::vector<int64_t> dims;
  int64_t rest = 1;
  for (int i = 0; i < ndim(); ++i) {
    if (i < a) dims.push_back(shape()[i]);
    else rest *= shape()[i];
  }
  dims.push_back(rest);
  return reshape(Shape(dims));
}

Tensor Tensor::detach() const { return view_of(*this, shape(), 0); }

void Tensor::copy_(const Tensor& src) {
  DRU_CHECK(src.shape() == shape(), "copy_: source shape {} differs from destination shape {}", src.shape().str(),
        shape().str());
  DRU_CHECK(src.dtype() == dtype(), "copy_: source dtype {} differs from destination dtype {}", dtype_name(src.dtype()),
        dtype_name(dtype()));
  if (nbytes() == 0) return;
  if (device() == Device::cpu && src.device() == Device::cpu)
    std::memmove(raw(), src.raw(), nbytes());
  else
    cuda::copy(raw(), device(), src.raw(), src.device(), nbytes());
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  out.copy_(*this);
  return record("clone", out, {*this}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
}

Tensor Tensor::to(Device dev) const {
  if (dev == device()) return *this;
  Tensor out = empty(shape(), dtype(), dev);
  out.copy_(*this);
  Device from_dev = device();
  return record("to_device", out, {*this}, [from_dev](const Tensor& g) { return std::vector<Tensor>{g.to(from_dev)}; });
}

Tensor Tensor::to(DType t) const {
  if (t == dtype()) return *this;
  Tensor out = empty(shape(), t, device());
  const void* s = raw();
  void* d = out.raw();
  DType from_t = dtype();
  if (device() == Device::cuda)
    cuda::convert(d, t, s, from_t, numel());
  else
    for (int64_t i = 0; i < numel(); ++i) store_as(d, t, i, load_as_double(s, from_t, i));
  if (!is_float(t) || !is_float(from_t)) return out;
  return record("to_dtype", out, {*this}, [from_t](const Tensor& g) { return std::vector<Tensor>{g.to(from_t)}; });
}

// Copies rows [start, end) of dimension `dim` between a (outer, n_src, inner) and a (outer, n_dst, inner)
// layout; used by slice and its backward.
static void copy_blocks(const Tensor& src, int64_t src_dim_size, int64_t src_start, const Tensor& dst,
                        int64_t dst_dim_size, int64_t dst_start, int64_t count, int64_t outer, int64_t inner) {
  size_t es = dtype_size(src.dtype());
  if (src.device() == Device::cuda) {
    cuda::copy_blocks(dst.raw(), dst_dim_size, dst_start, src.raw(), src_dim_size, src_start, count, outer, inner, es);
    return;
  }
  const char* s = static_cast<const char*>(src.raw());
  char* d = static_cast<char*>(dst.raw());
  for (int64_t o = 0; o < outer; ++o)
    std::memcpy(d + ((o * dst_dim_size + dst_start) * inner) * es, s + ((o * src_dim_size + src_start) * inner) * es,
                size_t(count * inner) * es);
}

Tensor Tensor::slice(int dim, int64_t start, int64_t end) const {
  int a = shape().axis(dim, "slice");
  int64_t n = shape()[a];
  if (start < 0) start += n;
  if (end < 0) end += n;
  DRU_CHECK(0 <= start && start <= end && end <= n, "slice: range [{}, {}) is out of bounds for dimension {} of shape {}",
        start, end, dim, shape().str());
  Shape s = shape();
  s[a] = end - start;
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < a; ++i) outer *= shape()[i];
  for (int i = a + 1; i < ndim(); ++i) inner *= shape()[i];
  Tensor out;
  if (outer == 1) {
    out = view_of(*this, s, start * inner);  // contiguous rows: a view
  } else {
    out = empty(s, dtype(), device());
    copy_blocks(*this, n, start, out, end - start, 0, end - start, outer, inner);
  }
  Shape in_shape = shape();
  return record("slice", out, {*this}, [=](const Tensor& g) {
    Tensor gi = zeros(in_shape, g.dtype(), g.device());
    copy_blocks(g, end - start, 0, gi, n, start, end - start, outer, inner);
    return std::vector<Tensor>{gi};
  });
}

void Tensor::fill_(double value) {
  if (numel() == 0) return;
  if (device() != Device::cpu) {
    cuda::fill(raw(), dtype(), numel(), value);
    return;
  }
  if (value == 0.0) {  // all-zero bits in every dtype here
    std::memset(raw(), 0, nbytes());
    return;
  }
  auto fill = [&](auto* p) {
    using T = std::remove_pointer_t<decltype(p)>;
    std::fill(p, p + numel(), T(value));
  };
  switch (dtype()) {
    case DType::f32: fill(data<float>()); break;
    case DType::f64: fill(data<double>()); break;
    case DType::i64: fill(data<int64_t>()); break;
    case DType::u8: fill(data<uint8_t>()); break;
  }
}

// ---------------------------------------------------------------------------------------------
// Autograd accessors

bool Tensor::requires_grad() const { return defined() && impl->requires_grad; }

Tensor& Tensor::requires_grad_(bool on) {
  DRU_CHECK(!on || is_float(dtype()), "requires_grad_: dtype {} cannot have a gradient", dtype_name(dtype()));
  DRU_CHECK(!on || !impl->grad_fn, "requires_grad_: only leaf tensors can be marked; this one was computed by {}",
        impl->grad_fn ? impl->grad_fn->name : "");
  impl->requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const { return defined() ? impl->grad : Tensor(); }

void Tensor::set_grad(const Tensor& g) {
  DRU_CHECK(!g.defined() || g.shape() == shape(), "set_grad: gradient shape {} differs from tensor shape {}",
        g.shape().str(), shape().str());
  impl->grad = g;
}

void Tensor::zero_grad() {
  if (impl->grad.defined()) impl->grad.fill_(0.0);
}

std::shared_ptr<Node> Tensor::grad_fn() const { return defined() ? impl->grad_fn : nullptr; }

void Tensor::backward() const {
  DRU_CHECK(numel() == 1, "backward: called on a tensor of shape {}; pass a gradient for non-scalar outputs",
        shape().str());
  run_backward(*this, full(shape(), 1.0, dtype(), device()));
}

void Tensor::backward(const Tensor& grad_output) const { run_backward(*this, grad_output); }

// ---------------------------------------------------------------------------------------------
// Reading values

std::vector<double> Tensor::to_vector() const {
  Tensor h = device() == Device::cpu ? *this : detach().to(Device::cpu);
  std::vector<double> v(size_t(h.numel()));
  for (int64_t i = 0; i < h.numel(); ++i) v[size_t(i)] = load_as_double(h.raw(), h.dtype(), i);
  return v;
}

double Tensor::item() const {
  DRU_CHECK(numel() == 1, "item: tensor of shape {} has {} elements, not one", shape().str(), numel());
  return to_vector()[0];
}

double Tensor::at(std::initializer_list<int64_t> idx) const {
  DRU_CHECK(int(idx.size()) == ndim(), "at: {} indices given for shape {}", idx.size(), shape().str());
  check_cpu("at", *this);
  int64_t flat = 0, i = 0;
  for (int64_t k : idx) {
    DRU_CHECK(k >= 0 && k < shape()[int(i)], "at: index {} out of range for dimension {} of shape {}", k, i,
          shape().str());
    flat = flat * shape()[int(i)] + k;
    ++i;
  }
  return load_as_double(raw(), dtype(), flat);
}

static void print_rec(std::string& out, const std::vector<double>& v, const Shape& s, int dim, int64_t base,
                      int64_t stride, int maxn, int indent, bool integral) {
  int64_t n = s[dim];
  out += "[";
  auto item = [&](int64_t i) {
    if (dim == s.ndim - 1) {
      double x = v[size_t(base + i)];
      out += integral ? fmt::format("{}", int64_t(x)) : fmt::format("{:.6g}", x);
    } else {
      print_rec(out, v, s, dim + 1, base + i * (stride / n), stride / n, maxn, indent + 1, integral);
    }
  };
  for (int64_t i = 0; i < n; ++i) {
    if (n > maxn && i == maxn / 2) {
      out += "...";
      i = n - maxn / 2 - 1;
      out += dim == s.ndim - 1 ? ", " : ",\n" + std::string(size_t(indent + 1), ' ');
      continue;
    }
    item(i);
    if (i + 1 < n) out += dim == s.ndim - 1 ? ", " : ",\n" + std::string(size_t(indent + 1), ' ');
  }
  out += "]";
}

std::string Tensor::str(int max_per_dim) const {
  if (!defined()) return "Tensor(undefined)";
  std::string head = fmt::format("Tensor(shape={}, {}, {}{})", shape().str(), dtype_name(dtype()),
                                 device_name(device()), requires_grad() ? ", requires_grad" : "");
  std::vector<double> v = to_vector();
  std::string body;
  bool integral = !is_float(dtype());
  if (numel() == 0)
    body = "[]";
  else if (ndim() == 0)
    body = integral ? fmt::format("{}", int64_t(v[0])) : fmt::format("{:.6g}", v[0]);
  else
    print_rec(body, v, shape(), 0, 0, numel(), max_per_dim, 0, integral);
  return head + "\n" + body;
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

// ---------------------------------------------------------------------------------------------
// Argument checks shared by ops

void check_same(const char* op, const Tensor& a, const Tensor& b) {
  DRU_CHECK(a.defined() && b.defined(), "{}: an input tensor is undefined", op);
  DRU_CHECK(a.dtype() == b.dtype(), "{}: dtypes differ ({} with shape {} and {} with shape {})", op, dtype_name(a.dtype()),
        a.shape().str(), dtype_name(b.dtype()), b.shape().str());
  DRU_CHECK(a.device() == b.device(), "{}: devices differ ({} with shape {} and {} with shape {})", op,
        device_name(a.device()), a.shape().str(), device_name(b.device()), b.shape().str());
}

void check_cpu(const char* op, const Tensor& t) {
  DRU_CHECK(t.defined(), "{}: tensor is undefined", op);
  DRU_CHECK(t.device() == Device::cpu,
        "{}: tensor of shape {} is on {}; this op has no CUDA implementation in this build yet — move it with "
        ".to(Device::cpu)",
        op, t.shape().str(), device_name(t.device()));
}

void check_cuda_f32(const char* op, const Tensor& t) {
  DRU_CHECK(t.defined(), "{}: tensor is undefined", op);
  DRU_CHECK(t.dtype() == DType::f32,
            "{}: tensor of shape {} on cuda has dtype {}; CUDA ops compute in f32 (f64 is for CPU gradient checks)", op,
            t.shape().str(), dtype_name(t.dtype()));
}

void check_float(const char* op, const Tensor& t) {
  DRU_CHECK(t.defined(), "{}: tensor is undefined", op);
  DRU_CHECK(is_float(t.dtype()), "{}: tensor of shape {} has dtype {}; a floating dtype (f32 or f64) is required", op,
        t.shape().str(), dtype_name(t.dtype()));
}

void check_shape(const char* op, const Tensor& t, const Shape& expected, const char* what) {
  DRU_CHECK(t.defined(), "{}: {} is undefined", op, what);
  DRU_CHECK(t.shape() == expected, "{}: {} has shape {}, expected {}", op, what, t.shape().str(), expected.str());
}

void check_ndim(const char* op, const Tensor& t, int lo, int hi) {
  DRU_CHECK(t.defined(), "{}: tensor is undefined", op);
  DRU_CHECK(t.ndim() >= lo && t.ndim() <= hi, "{}: input has shape {}; expected {} to {} dimensions", op,
        t.shape().str(), lo, hi);
}

int cuda_device_count() { return cuda::device_count(); }
bool cuda_compiled() { return cuda::compiled(); }

}  // namespace dru
