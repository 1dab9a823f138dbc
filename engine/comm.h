// comm.h — the communicator of data-parallel runs: one small interface, three implementations.
//
// A run of W processes ("ranks") trains one model: each rank takes its shard of every global batch,
// and the gradients are summed over the ranks before each optimiser step (engine/fit.cpp). What the
// ranks need from each other is small: all-reduce (sum or mean) over a buffer, broadcast, barrier,
// and their rank and count. The implementations:
//   single  one process (W = 1): every call returns at once. A run needs neither MPI nor NCCL.
//   mpi     Open MPI over host memory (engine/comm_mpi.cpp); CUDA tensors are staged through the host.
//   nccl    NCCL over CUDA memory on the engine's stream (engine/comm_nccl.cpp); host tensors are staged
//           through the device. Its unique id travels over MPI where the job runs under mpirun, else
//           over a small TCP rendezvous at MASTER_ADDR:MASTER_PORT (engine/comm.cpp).
// init_distributed reads the ranks from the environment the usual launchers set — mpirun
// (OMPI_COMM_WORLD_*), torchrun (RANK, WORLD_SIZE, LOCAL_RANK), SLURM's srun (SLURM_PROCID,
// SLURM_NTASKS, SLURM_LOCALID) — and, for CUDA, selects the GPU of the rank's local rank.
//
// Every collective must be called by every rank in the same order. A collective that waits longer than
// DRU_COMM_TIMEOUT seconds (default 600) ends the process with a message naming the rank and the call:
// the other ranks are then ended by the launcher (mpirun, torchrun, and srun with --kill-on-bad-exit, stop
// a job whose process fails), so a dead or stuck rank never leaves the others hanging. NCCL's all-reduces
// are queued on the stream without a host wait, so only its set-up and barrier are watched.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace dru {

enum class ReduceOp { sum, mean };

// Where this process sits in the job, as the launcher's environment says.
struct WorldInfo {
  int rank = 0, size = 1, local_rank = 0;
  std::string launcher = "none";  // "mpirun", "torchrun", "slurm" or "none"
};
// Reads the environment (mpirun's variables first, then torchrun's, then SLURM's). Malformed or
// inconsistent values are an error naming the variable.
WorldInfo detect_world();

// The collectives are not virtual: each checks its arguments here, once for every implementation (the
// errors name the collective, the backend and what is wrong), then calls the implementation's do_*.
class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string backend() const = 0;  // "single", "mpi" or "nccl"

  // In place over every element of t (f32, f64 or i64; the mean needs f32 or f64), the same result on
  // every rank. Tensors on either device; the implementation stages them where its library works.
  void all_reduce(Tensor& t, ReduceOp op = ReduceOp::sum);
  // Every rank's t (any dtype, the same shape everywhere) becomes root's.
  void broadcast(Tensor& t, int root = 0);
  void barrier() { do_barrier(); }
  // Ends every rank of the job now with exit status code (after an error on this rank alone).
  [[noreturn]] virtual void abort(int code) = 0;

  bool is_root() const { return rank() == 0; }
  // Host values: sum (or mean) of v over the ranks, in place.
  void all_reduce(std::vector<double>& v, ReduceOp op = ReduceOp::sum);
  double all_reduce(double x, ReduceOp op = ReduceOp::sum);
  // Every rank gets root's value (so decisions taken on it agree bit for bit).
  double broadcast(double x, int root = 0);

 protected:
  // The implementations' collectives, called with checked arguments: t is defined and (all_reduce) of
  // a dtype the reduction supports, the mean never of i64; root is a rank of this world.
  virtual void do_all_reduce(Tensor& t, ReduceOp op) = 0;
  virtual void do_broadcast(Tensor& t, int root) = 0;
  virtual void do_barrier() = 0;
};

// The process's communicator: a single-process one until init_distributed runs.
Communicator& world();
// Sets up world() once from the environment: nothing for one process; W > 1 on the CPU uses MPI,
// on CUDA NCCL (or MPI with host staging where NCCL is missing). Selects the local rank's GPU before
// anything touches CUDA. Errors say what is missing (a build without MPI, a launch MPI cannot see).
// nccl_alone: on CUDA, an NCCL communicator even for one process (the NCCL smoke test).
void init_distributed(Device device, bool nccl_alone = false);
// Waits for every rank and shuts MPI down (the end of a normal run). Safe to call when nothing ran.
void finalize_distributed();
// Replaces world() and returns the old one (tests: a single-process reference inside an MPI job).
std::unique_ptr<Communicator> exchange_world(std::unique_ptr<Communicator> c);
std::unique_ptr<Communicator> make_single_communicator();

bool mpi_compiled();
bool nccl_compiled();

// Rows [begin, end) of n that rank takes: contiguous, in rank order, sizes differing by at most one,
// so the ranks together take every row once (the single process's global batch).
std::pair<int64_t, int64_t> shard_range(int64_t n, int rank, int size);

// The shard of the global batch this rank's forward pass is computing (data-parallel training). Ops that
// draw random numbers per element (dropout) read it to draw the single process's numbers for these
// rows: they reserve the counters of the whole global batch and use this shard's part, so a shard's
// mask equals the single-process mask of the same rows for batch-major tensors (every dru model's).
struct BatchShard {
  int64_t first = 0, rows = 0, total = 0;  // rows [first, first + rows) of a global batch of total
  bool active() const { return rows > 0 && rows < total; }
};
const BatchShard& current_shard();
class ShardScope {  // sets current_shard() for its lifetime
 public:
  explicit ShardScope(BatchShard s);
  ~ShardScope();
  ShardScope(const ShardScope&) = delete;
  ShardScope& operator=(const ShardScope&) = delete;

 private:
  BatchShard saved_;
};

// The collective-timeout watchdog every implementation uses: a guard around each blocking call.
// seconds <= 0 disables it. Reads DRU_COMM_TIMEOUT (seconds, default 600).
double comm_timeout_seconds();
class CollectiveWatch {
 public:
  CollectiveWatch(const char* what, int rank, int size);
  ~CollectiveWatch();
  CollectiveWatch(const CollectiveWatch&) = delete;
  CollectiveWatch& operator=(const CollectiveWatch&) = delete;

 private:
  void* watchdog_ = nullptr;  // the process's watchdog while this call is watched
};

}  // namespace dru
