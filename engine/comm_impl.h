// comm_impl.h — what engine/comm.cpp asks of the MPI and NCCL files (engine/comm_mpi.cpp,
// engine/comm_nccl.cpp). Each file compiles in every build: without its library its functions say so.
#pragma once

#include <cstddef>
#include <memory>

#include "engine/comm.h"

namespace dru::comm_detail {

// MPI: initialises MPI on first use (checking that it sees w.size ranks) and returns a communicator.
std::unique_ptr<Communicator> make_mpi(const WorldInfo& w);
// Copies n bytes from root to every rank over MPI_COMM_WORLD (initialising MPI if needed).
void mpi_broadcast_bytes(void* p, size_t n, int root, const WorldInfo& w);
void mpi_finalize();  // MPI_Finalize when this process initialised MPI

// NCCL: binds the process to GPU local_rank, exchanges the unique id (over MPI when via_mpi, else the
// TCP rendezvous) and creates the communicator.
std::unique_ptr<Communicator> make_nccl(const WorldInfo& w, bool via_mpi);
void select_gpu(int local_rank);  // cudaSetDevice, before the engine's stream exists

// Rank 0 sends n bytes to every other rank through a TCP rendezvous at MASTER_ADDR:MASTER_PORT
// (under torchrun, whose agent serves MASTER_PORT itself, at MASTER_PORT + 1; DRU_RENDEZVOUS_PORT
// overrides both). Waits at most comm_timeout_seconds().
void tcp_rendezvous(void* data, size_t n, const WorldInfo& w);

}  // namespace dru::comm_detail
