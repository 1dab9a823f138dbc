// comm_check.cpp — see comm_check.h.
#include "tools/comm_check.h"

#include <chrono>
#include <cmath>
#include <cstdio>

#include "engine/check.h"
#include "engine/comm.h"
#include "engine/cuda_runtime.h"

namespace dru {

namespace {

int g_failed = 0;

void report(bool ok, const std::string& what) {
  if (!ok) ++g_failed;
  if (!ok || world().is_root())
    std::printf("comm-check: rank %d: %s: %s\n", world().rank(), ok ? "ok" : "FAIL", what.c_str());
  std::fflush(stdout);
}

// Every element of t equals want (exactly: the sums below are of small integers).
bool all_equal(const Tensor& t, double want) {
  for (double v : t.to_vector())
    if (v != want) return false;
  return true;
}

void wait_device(Device dev) {
  if (dev == Device::cuda) cuda::synchronize();
}

// A gradient-arena-sized f32 buffer all-reduced once to warm up, then opt.iters times; reports the time
// and the bandwidths.
void time_all_reduce(Communicator& c, Device dev, const CommCheckOptions& opt) {
  const int w = c.size();
  const int64_t n = std::max<int64_t>(1, int64_t(opt.mib * 1024 * 1024 / 4));
  Tensor g = Tensor::full(Shape{n}, 1.0, DType::f32, dev);
  c.all_reduce(g);
  wait_device(dev);
  c.barrier();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < opt.iters; ++i) c.all_reduce(g);
  wait_device(dev);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / opt.iters;
  const double bytes = double(n) * 4;
  report(std::isfinite(s), fmt::format("all_reduce of {:.1f} MiB: {:.2f} ms, algorithm bandwidth {:.2f} GB/s, bus "
                                       "bandwidth {:.2f} GB/s (2(W-1)/W of the bytes cross each link)",
                                       bytes / 1048576.0, s * 1e3, bytes / s * 1e-9,
                                       bytes / s * 1e-9 * 2.0 * (w - 1) / std::max(w, 1)));
}

}  // namespace

int run_comm_check(const CommCheckOptions& opt) {
  DRU_CHECK(opt.device == "cpu" || opt.device == "cuda", "comm-check: --device '{}': choose cpu or cuda", opt.device);
  DRU_CHECK(!opt.nccl || opt.device == "cuda", "comm-check: --nccl needs --device cuda");
  const Device dev = opt.device == "cuda" ? Device::cuda : Device::cpu;
  init_distributed(dev, opt.nccl);
  Communicator& c = world();
  const int w = c.size(), r = c.rank();
  if (c.is_root())
    std::printf("comm-check: %d rank%s, backend %s, device %s\n", w, w == 1 ? "" : "s", c.backend().c_str(),
                opt.device.c_str());

  // Sums and means of rank + 1 over an odd-sized buffer: w (w + 1) / 2 and (w + 1) / 2.
  Tensor a = Tensor::full(Shape{1031}, double(r + 1), DType::f32, dev);
  c.all_reduce(a);
  report(all_equal(a, w * (w + 1) / 2.0), fmt::format("all_reduce sum of 1031 f32 on {}", opt.device));
  Tensor m = Tensor::full(Shape{17}, double(r + 1), DType::f32, dev);
  c.all_reduce(m, ReduceOp::mean);
  report(all_equal(m, (w + 1) / 2.0), "all_reduce mean");
  std::vector<double> host{double(r), 1.0};
  c.all_reduce(host);
  report(host[0] == w * (w - 1) / 2.0 && host[1] == double(w), "all_reduce of host f64 values");
  Tensor b = Tensor::full(Shape{5}, double(100 + r), DType::i64, dev);
  c.broadcast(b, w - 1);
  report(all_equal(b, 100.0 + (w - 1)), fmt::format("broadcast of i64 from rank {}", w - 1));
  c.barrier();
  report(true, "barrier");

  // The timed all-reduce. One process has no other rank: its all-reduce moves nothing, and a bandwidth
  // from it (1.4 million GB/s) would only mislead.
  if (w == 1) {
    if (c.is_root())
      std::printf("comm-check: all_reduce timing: nothing to measure in one process (no other rank); start dru "
                  "comm-check under mpirun, torchrun or srun to time the links\n");
  } else {
    time_all_reduce(c, dev, opt);
  }
  const double failed = c.all_reduce(double(g_failed));
  if (c.is_root()) std::printf("comm-check: %s\n", failed == 0 ? "all checks passed" : "FAILED");
  finalize_distributed();
  return failed == 0 ? 0 : 1;
}

}  // namespace dru
