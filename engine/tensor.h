// tensor.h — the Tensor: a shape, a dtype, a device and a reference to storage.
//
// Storage is contiguous row-major. A Tensor is a cheap handle (a shared pointer to TensorImpl);
// copying a Tensor copies the handle, not the data. Views (reshape, slicing along dim 0, detach)
// share storage and differ only in offset and shape. Shapes have up to 5 dimensions.
//
// Dtypes: f32 (default) and f64 for arithmetic (f64 is CPU-only and exists for gradient checks);
// i64 for index lists and u8 for masks and images, which ops accept only where they are indices.
// Devices: CPU always; CUDA when the engine was built with it (DRU_HAVE_CUDA).
//
// Autograd state (requires_grad, grad, grad_fn) lives in TensorImpl; autograd.h records the tape.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "engine/check.h"

namespace dru {

enum class DType : uint8_t { f32, f64, i64, u8 };
enum class Device : uint8_t { cpu, cuda };

size_t dtype_size(DType t);
const char* dtype_name(DType t);
const char* device_name(Device d);
inline bool is_float(DType t) { return t == DType::f32 || t == DType::f64; }

constexpr int kMaxDims = 5;

// Shape: up to kMaxDims extents. A 0-dimensional shape is a scalar with one element.
struct Shape {
  int ndim = 0;
  std::array<int64_t, kMaxDims> d{};

  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);
  explicit Shape(const std::vector<int64_t>& dims);

  int64_t numel() const;
  int64_t operator[](int i) const { return d[i]; }
  int64_t& operator[](int i) { return d[i]; }
  // Dimension index that accepts negatives (-1 = last); throws naming op when out of range.
  int axis(int dim, const char* op) const;
  std::vector<int64_t> vec() const { return std::vector<int64_t>(d.begin(), d.begin() + ndim); }
  std::string str() const;  // "(2, 3, 4)"
  bool operator==(const Shape& o) const;
  bool operator!=(const Shape& o) const { return !(*this == o); }
};

// Storage: one allocation on one device. Freed when the last view releases it.
struct Storage {
  void* data = nullptr;
  size_t bytes = 0;
  Device device = Device::cpu;
  bool owned = true;

  static std::shared_ptr<Storage> allocate(size_t bytes, Device device);
  Storage() = default;
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage();
};

struct Node;
struct TensorImpl;

class Tensor {
 public:
  std::shared_ptr<TensorImpl> impl;

  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> p) : impl(std::move(p)) {}

  // Factories. Values are uninitialised for empty().
  static Tensor empty(const Shape& s, DType t = DType::f32, Device dev = Device::cpu);
  static Tensor zeros(const Shape& s, DType t = DType::f32, Device dev = Device::cpu);
  static Tensor ones(const Shape& s, DType t = DType::f32, Device dev = Device::cpu);
  static Tensor full(const Shape& s, double value, DType t = DType::f32, Device dev = Device::cpu);
  static Tensor scalar(double value, DType t = DType::f32);
  // Copies values into a new CPU tensor of dtype t; the count must equal the shape's product.
  static Tensor from(const std::vector<double>& values, const Shape& s, DType t = DType::f32);
  static Tensor from(const std::vector<float>& values, const Shape& s);
  static Tensor from(const std::vector<int64_t>& values, const Shape& s);  // i64
  static Tensor arange(int64_t n, DType t = DType::f32);

  bool defined() const { return impl != nullptr; }
  const Shape& shape() const;
  int ndim() const { return shape().ndim; }
  int64_t size(int dim) const;  // accepts negative dims
  int64_t numel() const { return shape().numel(); }
  DType dtype() const;
  Device device() const;
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype()); }

  // Typed pointer to the first element; checks that T matches the dtype.
  template <class T> T* data() const;
  void* raw() const;  // untyped pointer to the first element

  // Views and copies.
  Tensor reshape(const Shape& s) const;                       // view; records a node
  Tensor flatten(int start_dim = 1) const;                    // (N, ...) -> (N, rest)
  Tensor slice(int dim, int64_t start, int64_t end) const;    // view along dim 0, copy elsewhere
  Tensor detach() const;                                      // view without autograd history
  Tensor clone() const;                                       // deep copy, keeps autograd
  Tensor to(Device dev) const;                                // copy to another device (keeps autograd)
  Tensor to(DType t) const;                                   // convert dtype (keeps autograd for floats)
  Tensor contiguous_copy() const { return clone(); }

  // In-place helpers for buffers and optimisers; they bypass autograd.
  void fill_(double value);
  void copy_(const Tensor& src);  // same shape and dtype; any devices

  // Autograd.
  bool requires_grad() const;
  Tensor& requires_grad_(bool on = true);
  Tensor grad() const;            // undefined until backward reaches this leaf
  void set_grad(const Tensor& g);  // binds the gradient buffer (the parameter arena uses this)
  void zero_grad();
  void backward() const;           // this must be a one-element tensor
  void backward(const Tensor& grad_output) const;
  std::shared_ptr<Node> grad_fn() const;

  // Reading values (copies to the host as needed).
  double item() const;
  std::vector<double> to_vector() const;
  double at(std::initializer_list<int64_t> idx) const;

  std::string str(int max_per_dim = 6) const;  // readable printing, elided beyond max_per_dim
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;  // in elements
  Shape shape;
  DType dtype = DType::f32;

  bool requires_grad = false;
  Tensor grad;
  std::shared_ptr<Node> grad_fn;
};

// Type tag for templates: DTypeOf<float>::value == DType::f32.
template <class T> struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::f32; };
template <> struct DTypeOf<double> { static constexpr DType value = DType::f64; };
template <> struct DTypeOf<int64_t> { static constexpr DType value = DType::i64; };
template <> struct DTypeOf<uint8_t> { static constexpr DType value = DType::u8; };

template <class T> T* Tensor::data() const {
  DRU_CHECK(defined(), "data: tensor is undefined");
  DRU_CHECK(impl->dtype == DTypeOf<T>::value, "data: tensor has dtype {}, asked for {}", dtype_name(impl->dtype),
        dtype_name(DTypeOf<T>::value));
  return static_cast<T*>(impl->storage->data) + impl->offset;
}

// Calls f with a typed null pointer for the float dtype of t: dispatch_float(t.dtype(), [&](auto tag) {
// using T = decltype(tag); ... }). Throws naming op for non-float dtypes.
template <class F> decltype(auto) dispatch_float(DType t, const char* op, F&& f) {
  if (t == DType::f32) return f(float{});
  if (t == DType::f64) return f(double{});
  DRU_FAIL("{}: dtype {} is not supported (use f32 or f64)", op, dtype_name(t));
}

// Common argument checks for ops: defined, same dtype, same device; messages name op and shapes.
void check_same(const char* op, const Tensor& a, const Tensor& b);
void check_cpu(const char* op, const Tensor& t);
// CUDA ops compute in f32 only; this names the op and the dtype otherwise.
void check_cuda_f32(const char* op, const Tensor& t);
inline bool on_cuda(const Tensor& t) { return t.device() == Device::cuda; }
void check_float(const char* op, const Tensor& t);
void check_shape(const char* op, const Tensor& t, const Shape& expected, const char* what);
void check_ndim(const char* op, const Tensor& t, int lo, int hi);

// Number of visible CUDA devices (0 without CUDA or without a driver).
int cuda_device_count();
bool cuda_compiled();

}  // namespace dru
