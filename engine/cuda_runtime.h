// cuda_runtime.h — the host side of the CUDA backend, callable from plain C++ (no CUDA headers).
//
// Compiled against the CUDA runtime when the build has CUDA (DRU_HAVE_CUDA); otherwise every call
// that needs a GPU throws a message that says the build has no CUDA. device_count() returns 0
// where there is no driver or no device ("insufficient driver", error 35, means no GPU here).
//
// Execution model (DESIGN decision 5): every kernel, library call and copy of the engine goes to one
// non-blocking stream per process, created on first use with the cuBLAS and cuDNN handles bound to it.
// Device memory comes from the driver's stream-ordered pool (cudaMallocAsync) whose release threshold
// is raised to "never", so freed blocks are cached and reused by later allocations of the step without
// a round trip to the driver — and allocation stays legal inside CUDA-graph capture.
// The host waits for the GPU only in synchronize() and in device-to-host copies; both are counted, so
// a test can assert that a training step makes no host synchronisation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace dru::cuda {

bool compiled();
int device_count();
std::string device_name(int index);  // "NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB)"
void* malloc_device(size_t bytes);
size_t free_memory();  // bytes the driver reports free on the device (0 without CUDA)
void free_device(void* p);
// Copies on the engine's stream. Device-to-host waits for the copy (and counts as a host sync);
// host-to-device and device-to-device return once queued (pageable host sources are staged first).
void copy(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes);
// Fills n elements of dtype t at device pointer p with value (converted to t).
void fill(void* p, DType t, int64_t n, double value);
// Converts n elements from one dtype to another, both on the device.
void convert(void* dst, DType dst_t, const void* src, DType src_t, int64_t n);
// Copies `count` rows of `inner` elements (es bytes each) for each of `outer` blocks between
// (outer, n_src, inner) and (outer, n_dst, inner) layouts on the device (slice and its backward).
void copy_blocks(void* dst, int64_t n_dst, int64_t dst_start, const void* src, int64_t n_src, int64_t src_start,
                 int64_t count, int64_t outer, int64_t inner, size_t es);

// Reads several device buffers into host memory with one wait (one counted host sync): the fit loop's
// once-per-epoch readback of the loss sums, the validation loss and the scheduler state.
struct HostRead {
  void* host;
  const void* device;
  size_t bytes;
};
void read_to_host(const HostRead* reads, size_t count);
// Adds one to an int64 counter in device memory (batch norm's num_batches_tracked).
void increment_i64(int64_t* p);

// CUDA graphs: capture() records the work body() queues on the engine's stream (nothing runs during
// capture) and returns a graph whose replay() queues all of it again with one launch — a fixed-shape
// training step without a kernel-by-kernel trip through the host. Rules for body, checked where they
// can be: every tensor it allocates is freed before it returns (locals only: the graph owns that
// memory); it frees nothing allocated before (keep step-to-step tensors outside, alive); it copies
// nothing to or from the host and draws no host random numbers (both throw while capturing); every
// buffer that changes between replays (the batch, the learning rate) is read from device memory,
// because the graph replays the pointers and values it saw — so everything it reads must stay alive
// and in place between replays: models keep their size-derived index tensors per size (IndexCache,
// models/model.h), and an outgrown workspace is kept while any graph lives. Warm up the same step
// eagerly first, so library workspaces and cached plans are at full size before capture (a capture
// that would grow the workspace is refused).
//
// Counters that a step advances on the host (a random generator's Philox offset, Adam's step count)
// go through replay_counter(): inside capture, replay_counter(&c, n) returns the device address of a
// word that holds, at every replay, the value c has when replay() is called plus what earlier
// replay_counter(&c, ...) calls of the same capture added; the kernels read their counter there, and
// each replay adds the capture's total to c on the host afterwards. So a replayed dropout draws the
// masks an eager step would have drawn, and a replayed Adam step counts. Capturing itself advances
// nothing (nothing ran). Every counter must outlive the graph.
class Graph {
 public:
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;
  void replay();  // queued on the engine's stream; no host wait

 private:
  friend std::unique_ptr<Graph> capture(const std::function<void()>& body);
  friend const uint64_t* replay_counter(uint64_t* counter, uint64_t advance);
  Graph() = default;
  struct Slot {
    uint64_t* counter;
    uint64_t before;  // what earlier calls of the capture added to the counter
  };
  struct Advance {
    uint64_t* counter;
    uint64_t per_replay;  // what one replay adds to the counter
  };
  void* graph_ = nullptr;
  void* exec_ = nullptr;
  std::vector<Slot> slots_;         // one device word each, in slots_dev_
  uint64_t* slots_dev_ = nullptr;   // allocated before the capture began
  std::vector<Advance> advances_;   // one per counter
};
std::unique_ptr<Graph> capture(const std::function<void()>& body);
// See Graph. Outside capture: nullptr, and nothing changes (the caller uses the counter's host value).
const uint64_t* replay_counter(uint64_t* counter, uint64_t advance);
bool capturing();  // true inside capture()'s body (this thread)

// Turns a profiler's collection on or off (cudaProfilerStart/Stop), so a run under
// `ncu --profile-from-start off` measures just the stretch between (bench_epoch --profile-epoch).
void profiler(bool on);

void synchronize();          // waits for the engine's stream; counted
int64_t host_syncs();        // synchronize() calls and device-to-host copies since start
// TF32 tensor-core math in cuBLAS matrix products and cuDNN convolutions; off by default (and in
// tests) so results match the CPU to f32 rounding. DRU_TF32=1 in the environment turns it on.
void set_tf32(bool on);
bool tf32();

}  // namespace dru::cuda
