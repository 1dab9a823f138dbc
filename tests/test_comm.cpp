// test_comm.cpp — the communicator's argument checks (engine/comm.h), on the single-process
// communicator: Communicator checks the collectives' arguments once for every implementation, so a
// call that MPI or NCCL would refuse fails the same way in a one-process run. The collectives
// themselves run under mpirun (tests/mpi/mpi_check.cpp, the `mpi:` tests).
#include <doctest/doctest.h>

#include "engine/comm.h"
#include "tests/util.h"

using namespace dru;
using dru::test::error_of;

TEST_CASE("comm: the single communicator checks the collectives' arguments") {
  std::unique_ptr<Communicator> c = make_single_communicator();
  Tensor bytes = Tensor::zeros(Shape{2, 3}, DType::u8);
  CHECK(error_of([&] { c->all_reduce(bytes); }).find("all_reduce (single): a u8 tensor of shape (2, 3) cannot be "
                                                     "reduced (f32, f64 or i64)") == 0);
  Tensor ids = Tensor::zeros(Shape{4}, DType::i64);
  CHECK(error_of([&] { c->all_reduce(ids, ReduceOp::mean); }).find("the mean of an i64 tensor (shape (4,))") !=
        std::string::npos);
  Tensor none;
  CHECK(error_of([&] { c->all_reduce(none); }).find("all_reduce (single): the tensor is undefined") == 0);
  CHECK(error_of([&] { c->broadcast(none); }).find("broadcast (single): the tensor is undefined") == 0);
  CHECK(error_of([&] { c->broadcast(bytes, 1); })
            .find("broadcast (single): root 1 is not a rank of this world of 1 (ranks 0 to 0)") == 0);
}

TEST_CASE("comm: the single communicator leaves valid tensors as they are") {
  std::unique_ptr<Communicator> c = make_single_communicator();
  Tensor t = Tensor::from(std::vector<double>{1.5, -2}, Shape{2});
  c->all_reduce(t, ReduceOp::mean);
  Tensor ids = Tensor::from(std::vector<int64_t>{7, 9}, Shape{2});
  c->all_reduce(ids);
  Tensor bytes = Tensor::ones(Shape{3}, DType::u8);
  c->broadcast(bytes, 0);  // any dtype broadcasts
  c->barrier();
  CHECK(t.to_vector() == std::vector<double>{1.5, -2});
  CHECK(ids.to_vector() == std::vector<double>{7, 9});
  CHECK(bytes.to_vector() == std::vector<double>{1, 1, 1});
  CHECK(c->all_reduce(2.5) == 2.5);
  CHECK(c->broadcast(-1.0) == -1.0);
}
