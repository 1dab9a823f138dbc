// cuda_runtime.cpp — see cuda_runtime.h. Built with or without the CUDA toolkit.
#include "engine/cuda_runtime.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#include "engine/cuda/api.h"

#ifdef DRU_HAVE_CUDA
#include <cuda_profiler_api.h>

#include "engine/cuda/common.cuh"
#endif

namespace dru::cuda {

void not_built() { DRU_FAIL("this build of dru has no CUDA backend; rebuild where the CUDA toolkit exists"); }

#ifdef DRU_HAVE_CUDA

void fail_call(const char* lib, int code, const char* text, const char* call, const char* file, int line) {
  fail_at(file, line, fmt::format("{} error {} ({}) in {}", lib, code, text ? text : "?", call));
}

namespace {

std::atomic<int64_t> g_syncs{0};
std::atomic<bool> g_tf32{false};
std::once_flag g_tf32_env_once;

// Everything the process creates once: the stream, the library handles, the workspace.
struct Context {
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
#ifdef DRU_HAVE_CUDNN
  cudnnHandle_t cudnn = nullptr;
#endif
  int sms = 0;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
  // CUDA graphs replay the workspace pointer they captured: while one lives, an outgrown workspace is
  // kept here instead of freed, and freed with the last graph.
  int live_graphs = 0;
  std::vector<void*> retired;
  static constexpr size_t kCublasWorkspace = size_t(32) << 20;
  void* cublas_workspace = nullptr;

  Context() {
    DRU_CHECK(device_count() > 0, "CUDA: no GPU is visible (check the driver and CUDA_VISIBLE_DEVICES)");
    int dev = 0;
    DRU_CUDA_CHECK(cudaGetDevice(&dev));
    DRU_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
    DRU_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    // Keep freed memory in the pool: the caching allocator.
    cudaMemPool_t pool;
    DRU_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, dev));
    uint64_t keep = UINT64_MAX;
    DRU_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep));
    DRU_CUBLAS_CHECK(cublasCreate(&cublas));
    DRU_CUBLAS_CHECK(cublasSetStream(cublas, stream));  // resets the workspace: set ours after it, once
    // A fixed cuBLAS workspace (32 MiB, NVIDIA's advice for Hopper): without one, cuBLAS allocates its
    // own inside a CUDA graph's capture and may choose other kernels there than in the eager warm-up,
    // and replayed steps would no longer match eager ones bit for bit.
    DRU_CUDA_CHECK(cudaMalloc(&cublas_workspace, kCublasWorkspace));
    DRU_CUBLAS_CHECK(cublasSetWorkspace(cublas, cublas_workspace, kCublasWorkspace));
#ifdef DRU_HAVE_CUDNN
    cudnnStatus_t st = cudnnCreate(&cudnn);
    if (st != CUDNN_STATUS_SUCCESS) fail_call("cuDNN", int(st), cudnnGetErrorString(st), "cudnnCreate", __FILE__, __LINE__);
    st = cudnnSetStream(cudnn, stream);
    if (st != CUDNN_STATUS_SUCCESS) fail_call("cuDNN", int(st), cudnnGetErrorString(st), "cudnnSetStream", __FILE__, __LINE__);
#endif
  }
  // Handles and the stream are left to the driver's teardown at exit: destroying them from a static
  // destructor can run after the CUDA runtime has shut down.
};

Context& ctx() {
  static Context c;
  return c;
}

}  // namespace

cudaStream_t stream() { return ctx().stream; }

cublasHandle_t cublas() {
  Context& c = ctx();
  DRU_CUBLAS_CHECK(cublasSetMathMode(c.cublas, tf32() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  return c.cublas;
}

#ifdef DRU_HAVE_CUDNN
cudnnHandle_t cudnn() { return ctx().cudnn; }
#endif

int sm_count() { return ctx().sms; }

void* workspace(size_t bytes) {
  Context& c = ctx();
  if (bytes > c.workspace_bytes) {
    // Inside a capture the old buffer would be freed at every replay: refuse (the eager warm-up of the
    // same step sizes the workspace).
    DRU_CHECK(!capturing(), "capture: the step needs {} bytes of workspace, more than before the capture; run the "
              "same step eagerly first", bytes);
    if (c.workspace && c.live_graphs > 0)
      c.retired.push_back(c.workspace);
    else if (c.workspace)
      DRU_CUDA_CHECK(cudaFreeAsync(c.workspace, c.stream));
    size_t b = bytes < (1u << 20) ? (1u << 20) : bytes + bytes / 2;
    DRU_CUDA_CHECK(cudaMallocAsync(&c.workspace, b, c.stream));
    c.workspace_bytes = b;
  }
  return c.workspace;
}

bool compiled() { return true; }

int device_count() {
  static int n = [] {
    int k = 0;
    if (cudaGetDeviceCount(&k) != cudaSuccess) {
      cudaGetLastError();  // clear the sticky "no driver" error so later calls report their own
      return 0;
    }
    return k;
  }();
  return n;
}

std::string device_name(int index) {
  cudaDeviceProp p{};
  DRU_CUDA_CHECK(cudaGetDeviceProperties(&p, index));
  return fmt::format("{} (sm_{}{}, {:.1f} GiB)", p.name, p.major, p.minor, double(p.totalGlobalMem) / (1 << 30));
}

void* malloc_device(size_t bytes) {
  DRU_CHECK(device_count() > 0, "cannot allocate {} bytes on CUDA: no GPU is visible (check the driver and "
                                "CUDA_VISIBLE_DEVICES)", bytes);
  void* p = nullptr;
  cudaError_t e = cudaMallocAsync(&p, bytes ? bytes : 1, stream());
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    DRU_FAIL("CUDA out of memory allocating {:.1f} MiB ({:.1f} of {:.1f} GiB free); use a smaller batch",
             double(bytes) / (1 << 20), double(free_b) / (1 << 30), double(total_b) / (1 << 30));
  }
  DRU_CUDA_CHECK(e);
  return p;
}

size_t free_memory() {
  size_t free_b = 0, total_b = 0;
  DRU_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  return free_b;
}

namespace {
thread_local std::string g_capture_error;  // a failure inside a capture that could not throw (a free)
}  // namespace

void free_device(void* p) {
  // Errors are ignored: a tensor freed after the runtime shut down (a static at exit) has nothing to free.
  // Inside a capture (a destructor: it cannot throw) the failure is kept for capture() to report.
  const cudaError_t e = cudaFreeAsync(p, stream());
  if (e == cudaSuccess) return;
  cudaGetLastError();
  if (capturing() && g_capture_error.empty()) g_capture_error = fmt::format("freeing device memory failed ({})", cudaGetErrorString(e));
}

void copy(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes) {
  if (bytes == 0) return;
  if (src_dev == Device::cpu && dst_dev == Device::cpu) {
    std::memmove(dst, src, bytes);
    return;
  }
  DRU_CHECK(!capturing() || (src_dev == Device::cuda && dst_dev == Device::cuda),
            "a CUDA graph cannot capture a copy {} the host ({} bytes): move it out of the captured step",
            src_dev == Device::cpu ? "from" : "to", bytes);
  cudaMemcpyKind kind = src_dev == Device::cpu ? cudaMemcpyHostToDevice
                                               : (dst_dev == Device::cpu ? cudaMemcpyDeviceToHost : cudaMemcpyDeviceToDevice);
  DRU_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, stream()));
  if (kind == cudaMemcpyDeviceToHost) {
    DRU_CUDA_CHECK(cudaStreamSynchronize(stream()));
    g_syncs.fetch_add(1, std::memory_order_relaxed);
  }
  // Host-to-device: the host buffer may be freed as soon as we return. Host tensors are pageable
  // (Storage::allocate uses aligned_alloc), and the driver stages a pageable source before
  // cudaMemcpyAsync returns, so no wait is needed (a pinned source would need one).
}

namespace {
thread_local bool g_capturing = false;
thread_local Graph* g_building = nullptr;  // the graph capture() is recording, for replay_counter
constexpr size_t kMaxCounterSlots = 64;     // replay_counter calls per capture
}  // namespace

bool capturing() { return g_capturing; }

Graph::~Graph() {
  // Errors are ignored: a graph destroyed after the runtime shut down has nothing left to free.
  if (exec_ && cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec_)) != cudaSuccess) cudaGetLastError();
  if (graph_ && cudaGraphDestroy(static_cast<cudaGraph_t>(graph_)) != cudaSuccess) cudaGetLastError();
  if (slots_dev_) free_device(slots_dev_);
  if (exec_ && --ctx().live_graphs == 0) {  // workspaces outgrown while graphs lived (see workspace())
    for (void* p : ctx().retired) free_device(p);
    ctx().retired.clear();
  }
}

void Graph::replay() {
  if (!slots_.empty()) {
    uint64_t values[kMaxCounterSlots];
    for (size_t i = 0; i < slots_.size(); ++i) values[i] = *slots_[i].counter + slots_[i].before;
    // A pageable source is staged before the call returns: `values` may go out of scope at once.
    copy(slots_dev_, Device::cuda, values, Device::cpu, slots_.size() * sizeof(uint64_t));
  }
  DRU_CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec_), stream()));
  for (const Advance& a : advances_) *a.counter += a.per_replay;
}

const uint64_t* replay_counter(uint64_t* counter, uint64_t advance) {
  if (!g_capturing) return nullptr;
  Graph& g = *g_building;
  DRU_CHECK(g.slots_.size() < kMaxCounterSlots,
            "capture: more than {} random draws or optimiser steps in one captured step", kMaxCounterSlots);
  auto adv = std::find_if(g.advances_.begin(), g.advances_.end(),
                          [&](const Graph::Advance& a) { return a.counter == counter; });
  if (adv == g.advances_.end()) adv = g.advances_.insert(g.advances_.end(), Graph::Advance{counter, 0});
  g.slots_.push_back(Graph::Slot{counter, adv->per_replay});  // the counter's advance so far in this step
  adv->per_replay += advance;
  return g.slots_dev_ + (g.slots_.size() - 1);
}

std::unique_ptr<Graph> capture(const std::function<void()>& body) {
  DRU_CHECK(!g_capturing, "capture: already capturing a CUDA graph on this thread");
  std::unique_ptr<Graph> g(new Graph());
  // Allocated before the capture: memory allocated inside belongs to the graph's own allocations.
  g->slots_dev_ = static_cast<uint64_t*>(malloc_device(kMaxCounterSlots * sizeof(uint64_t)));
  cudaStream_t s = stream();
  // ThreadLocal: a CUDA call from this thread that is illegal during capture (a synchronous copy, a
  // cudaMalloc) fails here instead of silently joining or breaking the graph.
  DRU_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  g_capturing = true;
  g_building = g.get();
  g_capture_error.clear();
  cudaGraph_t graph = nullptr;
  // Every way out of a failed capture ends it and clears the runtime's error, so the caller can go on
  // eagerly (fit does) without a stale error failing its next launch.
  auto end_capture = [&] {
    g_capturing = false;
    g_building = nullptr;
    const cudaError_t e = cudaStreamEndCapture(s, &graph);
    cudaGetLastError();
    return e;
  };
  try {
    body();
  } catch (...) {
    if (end_capture() == cudaSuccess && graph) cudaGraphDestroy(graph);
    throw;
  }
  const cudaError_t ended = end_capture();
  if (ended != cudaSuccess || !g_capture_error.empty()) {
    if (graph) cudaGraphDestroy(graph);
    DRU_FAIL("capture: the CUDA graph capture failed ({}); a call in the step cannot be captured",
             g_capture_error.empty() ? cudaGetErrorString(ended) : g_capture_error);
  }
  g->graph_ = graph;
  cudaGraphExec_t exec = nullptr;
  const cudaError_t made = cudaGraphInstantiate(&exec, graph, 0);
  if (made != cudaSuccess) {
    cudaGetLastError();
    DRU_FAIL("capture: the captured CUDA graph cannot be instantiated ({})", cudaGetErrorString(made));
  }
  g->exec_ = exec;
  ++ctx().live_graphs;
  return g;
}

void read_to_host(const HostRead* reads, size_t count) {
  size_t total = 0;
  for (size_t i = 0; i < count; ++i) total += (reads[i].bytes + 15) / 16 * 16;
  if (total == 0) return;
  // A pinned staging buffer, grown as needed, so the copies are truly asynchronous until the one wait.
  static char* staging = nullptr;
  static size_t staging_bytes = 0;
  if (total > staging_bytes) {
    if (staging) cudaFreeHost(staging);
    DRU_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&staging), total));
    staging_bytes = total;
  }
  size_t off = 0;
  for (size_t i = 0; i < count; ++i) {
    DRU_CUDA_CHECK(cudaMemcpyAsync(staging + off, reads[i].device, reads[i].bytes, cudaMemcpyDeviceToHost, stream()));
    off += (reads[i].bytes + 15) / 16 * 16;
  }
  synchronize();
  off = 0;
  for (size_t i = 0; i < count; ++i) {
    std::memcpy(reads[i].host, staging + off, reads[i].bytes);
    off += (reads[i].bytes + 15) / 16 * 16;
  }
}

void profiler(bool on) { DRU_CUDA_CHECK(on ? cudaProfilerStart() : cudaProfilerStop()); }

void synchronize() {
  DRU_CUDA_CHECK(cudaStreamSynchronize(stream()));
  g_syncs.fetch_add(1, std::memory_order_relaxed);
}

int64_t host_syncs() { return g_syncs.load(std::memory_order_relaxed); }

void set_tf32(bool on) { g_tf32.store(on); }

bool tf32() {
  std::call_once(g_tf32_env_once, [] {
    const char* e = std::getenv("DRU_TF32");
    if (e && std::strcmp(e, "1") == 0) g_tf32.store(true);
  });
  return g_tf32.load();
}

#else

bool compiled() { return false; }
int device_count() { return 0; }
std::string device_name(int) { not_built(); }
void* malloc_device(size_t) { DRU_FAIL("cannot allocate on CUDA: this build of dru has no CUDA backend"); }
void free_device(void*) {}
size_t free_memory() { return 0; }
void copy(void*, Device, const void*, Device, size_t) {
  DRU_FAIL("cannot copy to or from CUDA: this build of dru has no CUDA backend");
}
void fill(void*, DType, int64_t, double) { not_built(); }
void convert(void*, DType, const void*, DType, int64_t) { not_built(); }
void copy_blocks(void*, int64_t, int64_t, const void*, int64_t, int64_t, int64_t, int64_t, int64_t, size_t) {
  not_built();
}
Graph::~Graph() {}
void Graph::replay() { not_built(); }
std::unique_ptr<Graph> capture(const std::function<void()>&) { not_built(); }
const uint64_t* replay_counter(uint64_t*, uint64_t) { return nullptr; }
bool capturing() { return false; }
void read_to_host(const HostRead*, size_t) { not_built(); }
void increment_i64(int64_t*) { not_built(); }
void profiler(bool) { not_built(); }
void synchronize() {}
int64_t host_syncs() { return 0; }
void set_tf32(bool) {}
bool tf32() { return false; }

#endif

}  // namespace dru::cuda
