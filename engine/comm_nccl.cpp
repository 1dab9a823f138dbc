// comm_nccl.cpp — the NCCL communicator (see comm.h): collectives on CUDA memory, queued on the
// engine's stream like every kernel, so a training step's gradient all-reduce makes no host wait.
//
// One process per GPU: select_gpu binds the process to its local rank's device before the engine
// creates its stream. The unique id rank 0 draws reaches the others over MPI (under mpirun) or the TCP
// rendezvous of comm.cpp. Host tensors (the small f64 vectors of evaluation) are staged through the
// device; reading them back is the one host wait. Only barrier() waits for the GPU, so only it and
// initialisation run under the collective watchdog; a rank that dies during an asynchronous
// all-reduce is caught by the launcher (torchrun, mpirun and srun end the job when a process fails).
// Compiled in every build; without NCCL (or CUDA) each entry point says so.
#include <cstdio>
#include <cstdlib>

#include "engine/check.h"
#include "engine/comm.h"
#include "engine/comm_impl.h"
#include "engine/cuda_runtime.h"

#ifdef DRU_HAVE_CUDA
#include "engine/cuda/common.cuh"
#endif
#ifdef DRU_HAVE_NCCL
#include <nccl.h>
#endif

namespace dru::comm_detail {

#ifdef DRU_HAVE_CUDA
void select_gpu(int local_rank) {
  const int n = cuda_device_count();
  DRU_CHECK(n > 0, "rank with local rank {}: --device cuda but no GPU is visible (check CUDA_VISIBLE_DEVICES)",
            local_rank);
  // A launcher that gives each process its own GPU (srun --gpus-per-task=1) leaves one visible device.
  const int dev = n == 1 ? 0 : local_rank;
  DRU_CHECK(dev < n,
            "local rank {} has no GPU of its own: {} are visible on this machine; start one process per GPU "
            "(e.g. torchrun --nproc-per-node={})",
            local_rank, n, n);
  DRU_CUDA_CHECK(cudaSetDevice(dev));
}
#else
void select_gpu(int) { DRU_FAIL("--device cuda: this build has no CUDA backend"); }
#endif

#ifdef DRU_HAVE_NCCL

namespace {

#define DRU_NCCL_CHECK(call)                                                                   \
  do {                                                                                         \
    ncclResult_t r_ = (call);                                                                  \
    DRU_CHECK(r_ == ncclSuccess, "NCCL: {} failed: {}", #call, ncclGetErrorString(r_));        \
  } while (0)

// The dtypes Communicator::all_reduce lets through.
ncclDataType_t nccl_type(DType t) {
  switch (t) {
    case DType::f32: return ncclFloat32;
    case DType::f64: return ncclFloat64;
    case DType::i64: return ncclInt64;
    default: DRU_FAIL("all_reduce (nccl): no NCCL type for dtype {}", dtype_name(t));
  }
}

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(const WorldInfo& w, const ncclUniqueId& id) : rank_(w.rank), size_(w.size) {
    CollectiveWatch watch("NCCL initialisation", rank_, size_);
    DRU_NCCL_CHECK(ncclCommInitRank(&comm_, size_, id, rank_));
  }
  ~NcclCommunicator() override {
    // Work still queued may use the communicator: wait for it, then free it.
    cudaStreamSynchronize(cuda::stream());
    ncclCommDestroy(comm_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "nccl"; }

  [[noreturn]] void abort(int code) override {
    std::fflush(stdout);
    std::fflush(stderr);
    ncclCommAbort(comm_);  // frees this rank's side without waiting for the others
    std::_Exit(code);      // the launcher sees the failure and ends the other ranks
  }

 protected:
  void do_all_reduce(Tensor& t, ReduceOp op) override {
    const ncclDataType_t type = nccl_type(t.dtype());
    Tensor dev = on_cuda(t) ? t : t.to(Device::cuda);
    // In place: NCCL allows send == receive buffer. ncclAvg divides by the world size on the device.
    DRU_NCCL_CHECK(ncclAllReduce(dev.raw(), dev.raw(), size_t(dev.numel()), type,
                                 op == ReduceOp::mean ? ncclAvg : ncclSum, comm_, cuda::stream()));
    if (!on_cuda(t)) t.copy_(dev);  // device to host: waits for the reduction
  }

  void do_broadcast(Tensor& t, int root) override {
    Tensor dev = on_cuda(t) ? t : t.to(Device::cuda);
    DRU_NCCL_CHECK(ncclBroadcast(dev.raw(), dev.raw(), dev.nbytes(), ncclUint8, root, comm_, cuda::stream()));
    if (!on_cuda(t)) t.copy_(dev);
  }

  void do_barrier() override {
    // An all-reduce of one value, then a wait for it: every rank has arrived once it completes.
    Tensor one = Tensor::zeros(Shape{1}, DType::f32, Device::cuda);
    DRU_NCCL_CHECK(ncclAllReduce(one.raw(), one.raw(), 1, ncclFloat32, ncclSum, comm_, cuda::stream()));
    CollectiveWatch watch("barrier (NCCL)", rank_, size_);
    cuda::synchronize();
  }

 private:
  int rank_, size_;
  ncclComm_t comm_ = nullptr;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl(const WorldInfo& w, bool via_mpi) {
  ncclUniqueId id{};
  if (w.rank == 0) DRU_NCCL_CHECK(ncclGetUniqueId(&id));
  if (via_mpi)
    mpi_broadcast_bytes(&id, sizeof id, 0, w);
  else
    tcp_rendezvous(&id, sizeof id, w);
  return std::make_unique<NcclCommunicator>(w, id);
}

#else  // no NCCL in this build

std::unique_ptr<Communicator> make_nccl(const WorldInfo& w, bool) {
  DRU_FAIL("{} ranks on CUDA: this build has no NCCL", w.size);
}

#endif

}  // namespace dru::comm_detail
