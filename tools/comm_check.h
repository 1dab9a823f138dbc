// comm_check.h — `dru comm-check`: the communicator's collectives checked for correctness and timed,
// under whatever launcher started the process (one process, mpirun, torchrun, srun). Users run it to
// test a multi-GPU or multi-node setup before a long experiment; tests and tools/gpu_check.sh run it.
#pragma once

#include <cstdint>
#include <string>

namespace dru {

struct CommCheckOptions {
  std::string device = "cpu";  // cpu or cuda
  bool nccl = false;           // cuda: use NCCL even for one process (its smoke test)
  double mib = 64;             // the timed all-reduce's buffer (a ResNet-18 gradient arena is 42.6 MiB)
  int iters = 5;
};

// Prints one line per check (rank 0) and, with more than one rank, the all-reduce's time and bandwidth
// (one process says there is nothing to time); 0 when every check passed on this rank, 1 otherwise.
int run_comm_check(const CommCheckOptions& opt);

}  // namespace dru
