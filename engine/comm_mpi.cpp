// comm_mpi.cpp — the MPI communicator (see comm.h): Open MPI's C API over host memory.
//
// MPI is initialised on first use with MPI_THREAD_FUNNELED (only the main thread calls MPI; OpenMP
// threads and the watchdog never do). MPI_COMM_WORLD keeps MPI's default error handler,
// MPI_ERRORS_ARE_FATAL: a failed call ends the whole job with MPI's own message. Tensors on CUDA are
// staged through host memory (the NCCL communicator is the fast path there). Counts above INT_MAX
// (MPI's int) are sent in pieces. Compiled in every build; without DRU_HAVE_MPI (set on this file
// alone by CMake) each entry point says the build has no MPI.
#include <algorithm>
#include <climits>
#include <cstdio>

#include "engine/check.h"
#include "engine/comm.h"
#include "engine/comm_impl.h"

#ifdef DRU_HAVE_MPI
#define OMPI_SKIP_MPICXX 1   // the C API only: the deprecated C++ bindings stay out
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace dru {

#ifdef DRU_HAVE_MPI

bool mpi_compiled() { return true; }

namespace comm_detail {

namespace {

bool g_mpi_ours = false;  // this process called MPI_Init (and so calls MPI_Finalize)

void ensure_mpi(const WorldInfo& w) {
  int ready = 0;
  MPI_Initialized(&ready);
  if (!ready) {
    int provided = 0;
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    g_mpi_ours = true;
  }
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  DRU_CHECK(rank == w.rank && size == w.size,
            "MPI sees rank {} of {} but the environment ({}) says rank {} of {}: start CPU ranks with mpirun (or "
            "srun --mpi=pmix), not {}",
            rank, size, w.launcher, w.rank, w.size, w.launcher);
}

// The dtypes Communicator::all_reduce lets through.
MPI_Datatype mpi_type(DType t) {
  switch (t) {
    case DType::f32: return MPI_FLOAT;
    case DType::f64: return MPI_DOUBLE;
    case DType::i64: return MPI_INT64_T;
    default: DRU_FAIL("all_reduce (mpi): no MPI type for dtype {}", dtype_name(t));
  }
}

class MpiCommunicator final : public Communicator {
 public:
  explicit MpiCommunicator(const WorldInfo& w) : rank_(w.rank), size_(w.size) {}
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "mpi"; }

  [[noreturn]] void abort(int code) override {
    std::fflush(stdout);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);  // MPI_Abort does not return; this is for the compiler
  }

 protected:
  void do_all_reduce(Tensor& t, ReduceOp op) override {
    const MPI_Datatype type = mpi_type(t.dtype());
    Tensor host = on_cuda(t) ? t.to(Device::cpu) : t;
    {
      CollectiveWatch watch("all_reduce (MPI)", rank_, size_);
      char* p = static_cast<char*>(host.raw());
      const size_t es = dtype_size(t.dtype());
      for (int64_t done = 0, n = host.numel(); done < n;) {
        const int count = int(std::min<int64_t>(n - done, INT_MAX));
        MPI_Allreduce(MPI_IN_PLACE, p + size_t(done) * es, count, type, MPI_SUM, MPI_COMM_WORLD);
        done += count;
      }
    }
    if (op == ReduceOp::mean) scale(host, 1.0 / double(size_));
    if (on_cuda(t)) t.copy_(host);
  }

  void do_broadcast(Tensor& t, int root) override {
    Tensor host = on_cuda(t) ? t.to(Device::cpu) : t;
    {
      CollectiveWatch watch("broadcast (MPI)", rank_, size_);
      char* p = static_cast<char*>(host.raw());
      for (size_t done = 0, n = host.nbytes(); done < n;) {
        const int count = int(std::min<size_t>(n - done, INT_MAX));
        MPI_Bcast(p + done, count, MPI_BYTE, root, MPI_COMM_WORLD);
        done += size_t(count);
      }
    }
    if (on_cuda(t)) t.copy_(host);
  }

  void do_barrier() override {
    CollectiveWatch watch("barrier (MPI)", rank_, size_);
    MPI_Barrier(MPI_COMM_WORLD);
  }

 private:
  // t is f32 or f64: all_reduce refuses the mean of an i64 tensor before it reaches here.
  static void scale(Tensor& t, double k) {
    if (t.dtype() == DType::f32) {
      float* p = t.data<float>();
      for (int64_t i = 0; i < t.numel(); ++i) p[i] = float(double(p[i]) * k);
    } else {
      double* p = t.data<double>();
      for (int64_t i = 0; i < t.numel(); ++i) p[i] *= k;
    }
  }

  int rank_, size_;
};

}  // namespace

std::unique_ptr<Communicator> make_mpi(const WorldInfo& w) {
  ensure_mpi(w);
  return std::make_unique<MpiCommunicator>(w);
}

void mpi_broadcast_bytes(void* p, size_t n, int root, const WorldInfo& w) {
  ensure_mpi(w);
  DRU_CHECK(n <= size_t(INT_MAX), "mpi_broadcast_bytes: {} bytes is too many for one call", n);
  CollectiveWatch watch("broadcast of the NCCL id (MPI)", w.rank, w.size);
  MPI_Bcast(p, int(n), MPI_BYTE, root, MPI_COMM_WORLD);
}

void mpi_finalize() {
  int ready = 0, done = 0;
  if (!g_mpi_ours) return;
  MPI_Initialized(&ready);
  MPI_Finalized(&done);
  if (ready && !done) MPI_Finalize();
}

}  // namespace comm_detail

#else  // no MPI in this build

bool mpi_compiled() { return false; }

namespace comm_detail {

std::unique_ptr<Communicator> make_mpi(const WorldInfo& w) {
  DRU_FAIL("{} ranks need MPI and this build has none (install libopenmpi-dev and reconfigure)", w.size);
}
void mpi_broadcast_bytes(void*, size_t, int, const WorldInfo&) {
  DRU_FAIL("this build has no MPI to exchange the NCCL id over");
}
void mpi_finalize() {}

}  // namespace comm_detail

#endif

}  // namespace dru
