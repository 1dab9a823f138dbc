// comm.cpp — see comm.h: the launcher's environment, the single-process communicator, the process's
// world(), the collective watchdog and the TCP rendezvous that hands NCCL's id to every rank.
#include "engine/comm.h"

#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "engine/check.h"
#include "engine/comm_impl.h"

namespace dru {

// ---- the environment ----------------------------------------------------------------------------

namespace {

// The integer in environment variable name, or fallback when it is unset.
int env_int(const char* name, int fallback) {
  const char* s = std::getenv(name);
  if (!s) return fallback;
  char* end = nullptr;
  const long v = std::strtol(s, &end, 10);
  DRU_CHECK(*s != '\0' && *end == '\0' && v >= 0 && v < (1L << 30), "environment: {}='{}' is not a count or index",
            name, s);
  return int(v);
}

bool env_set(const char* name) { return std::getenv(name) != nullptr; }

}  // namespace

WorldInfo detect_world() {
  struct Source {
    const char *launcher, *rank, *size, *local;
  };
  // mpirun first: a torchrun-style RANK left in the environment must not override what mpirun started.
  static const Source sources[] = {
      {"mpirun", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"},
      {"torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK"},
      {"slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"},
  };
  for (const Source& s : sources) {
    if (!env_set(s.rank) || !env_set(s.size)) continue;
    WorldInfo w;
    w.launcher = s.launcher;
    w.rank = env_int(s.rank, 0);
    w.size = env_int(s.size, 1);
    w.local_rank = env_int(s.local, w.rank);
    DRU_CHECK(w.size >= 1 && w.rank < w.size, "environment ({}): rank {} of world size {} is impossible", s.launcher,
              w.rank, w.size);
    return w;
  }
  return WorldInfo{};
}

std::pair<int64_t, int64_t> shard_range(int64_t n, int rank, int size) {
  DRU_CHECK(size >= 1 && rank >= 0 && rank < size && n >= 0, "shard_range: rank {} of {} over {} rows", rank, size, n);
  return {n * rank / size, n * (rank + 1) / size};
}

namespace {
thread_local BatchShard g_shard;
}  // namespace

const BatchShard& current_shard() { return g_shard; }
ShardScope::ShardScope(BatchShard s) : saved_(g_shard) { g_shard = s; }
ShardScope::~ShardScope() { g_shard = saved_; }

bool nccl_compiled() {
#ifdef DRU_HAVE_NCCL
  return true;
#else
  return false;
#endif
}

// ---- the argument checks and helpers every communicator shares ---------------------------------

void Communicator::all_reduce(Tensor& t, ReduceOp op) {
  DRU_CHECK(t.defined(), "all_reduce ({}): the tensor is undefined", backend());
  const DType d = t.dtype();
  DRU_CHECK(d == DType::f32 || d == DType::f64 || d == DType::i64,
            "all_reduce ({}): a {} tensor of shape {} cannot be reduced (f32, f64 or i64)", backend(), dtype_name(d),
            t.shape().str());
  DRU_CHECK(op == ReduceOp::sum || d != DType::i64,
            "all_reduce ({}): the mean of an i64 tensor (shape {}) is not an i64; reduce the sum and divide",
            backend(), t.shape().str());
  do_all_reduce(t, op);
}

void Communicator::broadcast(Tensor& t, int root) {
  DRU_CHECK(t.defined(), "broadcast ({}): the tensor is undefined", backend());
  DRU_CHECK(root >= 0 && root < size(), "broadcast ({}): root {} is not a rank of this world of {} (ranks 0 to {})",
            backend(), root, size(), size() - 1);
  do_broadcast(t, root);
}

void Communicator::all_reduce(std::vector<double>& v, ReduceOp op) {
  if (size() == 1 || v.empty()) return;
  Tensor t = Tensor::from(v, Shape{int64_t(v.size())}, DType::f64);
  all_reduce(t, op);
  v = t.to_vector();
}

double Communicator::all_reduce(double x, ReduceOp op) {
  std::vector<double> v{x};
  all_reduce(v, op);
  return v[0];
}

double Communicator::broadcast(double x, int root) {
  if (size() == 1) return x;
  Tensor t = Tensor::from(std::vector<double>{x}, Shape{1}, DType::f64);
  broadcast(t, root);
  return t.to_vector()[0];
}

// ---- one process ----------------------------------------------------------------------------------

namespace {

class SingleCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string backend() const override { return "single"; }
  [[noreturn]] void abort(int code) override { std::exit(code); }

 protected:
  // Nothing to exchange, but the arguments were checked as in a parallel run, so a bad call fails here
  // too rather than first on many ranks. The sum and the mean of one value are the value.
  void do_all_reduce(Tensor&, ReduceOp) override {}
  void do_broadcast(Tensor&, int) override {}  // root is 0, whose tensor t already is
  void do_barrier() override {}
};

std::unique_ptr<Communicator>& world_slot() {
  static std::unique_ptr<Communicator> w = std::make_unique<SingleCommunicator>();
  return w;
}

bool g_initialised = false;

}  // namespace

std::unique_ptr<Communicator> make_single_communicator() { return std::make_unique<SingleCommunicator>(); }

Communicator& world() { return *world_slot(); }

std::unique_ptr<Communicator> exchange_world(std::unique_ptr<Communicator> c) {
  DRU_CHECK(c != nullptr, "exchange_world: no communicator given");
  std::swap(world_slot(), c);
  return c;
}

void init_distributed(Device device, bool nccl_alone) {
  if (g_initialised) return;
  g_initialised = true;
  const WorldInfo w = detect_world();
  DRU_CHECK(!nccl_alone || (device == Device::cuda && nccl_compiled()),
            "an NCCL communicator needs --device cuda and a build with NCCL");
  if (w.size == 1 && !nccl_alone) return;  // one process: nothing to set up, no library needed
  if (device == Device::cuda) {
    comm_detail::select_gpu(w.local_rank);
    if (nccl_compiled()) {
      exchange_world(comm_detail::make_nccl(w, w.launcher == "mpirun" && mpi_compiled()));
      return;
    }
    DRU_CHECK(mpi_compiled(),
              "{} ranks on CUDA need NCCL or MPI and this build has neither (reconfigure where nccl.h or "
              "libopenmpi-dev is installed)",
              w.size);
    std::fprintf(stderr, "dru: this build has no NCCL; rank %d uses MPI through host memory\n", w.rank);
  }
  DRU_CHECK(mpi_compiled(),
            "{} ranks on the CPU need MPI and this build has none (install libopenmpi-dev, see tools/setup.sh, "
            "and reconfigure)",
            w.size);
  exchange_world(comm_detail::make_mpi(w));
}

void finalize_distributed() {
  if (world().size() > 1) world().barrier();
  exchange_world(make_single_communicator());  // the NCCL communicator is destroyed here
  comm_detail::mpi_finalize();
}

// ---- the watchdog -------------------------------------------------------------------------------

double comm_timeout_seconds() {
  static const double t = [] {
    const char* s = std::getenv("DRU_COMM_TIMEOUT");
    if (!s) return 600.0;
    char* end = nullptr;
    const double v = std::strtod(s, &end);
    DRU_CHECK(*s != '\0' && *end == '\0' && std::isfinite(v), "environment: DRU_COMM_TIMEOUT='{}' is not seconds", s);
    return v;
  }();
  return t;
}

namespace {

using Clock = std::chrono::steady_clock;

// One thread per process watches the collective in flight (collectives never nest).
struct Watchdog {
  std::atomic<int64_t> since_ns{0};  // 0: no collective in flight
  std::atomic<const char*> what{""};
  int rank = 0, size = 1;

  static int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
  }

  void run(double timeout) {
    const auto tick = std::chrono::milliseconds(std::clamp(int64_t(timeout * 100), int64_t(10), int64_t(1000)));
    for (;;) {
      std::this_thread::sleep_for(tick);
      const int64_t t0 = since_ns.load();
      if (t0 == 0) continue;
      const double waited = double(now_ns() - t0) * 1e-9;
      if (waited < timeout) continue;
      // std::_Exit: the main thread is blocked inside the library; nothing can unwind it. The launcher
      // sees the failure and stops the other ranks.
      std::fprintf(stderr,
                   "dru: rank %d of %d: %s has waited %.0f s for the other ranks (DRU_COMM_TIMEOUT=%g); another "
                   "rank has died or hangs: exiting\n",
                   rank, size, what.load(), waited, timeout);
      std::fflush(stderr);
      std::_Exit(1);
    }
  }
};

Watchdog& watchdog(int rank, int size) {
  static Watchdog* w = [&] {
    auto* d = new Watchdog;  // never destroyed: its thread runs until the process ends
    d->rank = rank;
    d->size = size;
    std::thread([d] { d->run(comm_timeout_seconds()); }).detach();
    return d;
  }();
  return *w;
}

}  // namespace

CollectiveWatch::CollectiveWatch(const char* what, int rank, int size) {
  if (size <= 1 || comm_timeout_seconds() <= 0) return;
  Watchdog& w = watchdog(rank, size);
  w.what.store(what);
  w.since_ns.store(Watchdog::now_ns());
  watchdog_ = &w;
}

CollectiveWatch::~CollectiveWatch() {
  if (watchdog_) static_cast<Watchdog*>(watchdog_)->since_ns.store(0);
}

// ---- the TCP rendezvous -------------------------------------------------------------------------

namespace comm_detail {

namespace {

// The greeting a rank sends: magic, rank, world size (so a stray connection or a mismatched job is caught).
struct Hello {
  char magic[4] = {'d', 'r', 'u', '1'};
  int32_t rank = 0, size = 0;
};

double seconds_left(Clock::time_point deadline) {
  return std::chrono::duration<double>(deadline - Clock::now()).count();
}

// Waits until fd is ready for events or the deadline passes (false).
bool wait_fd(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    const double left = seconds_left(deadline);
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    const int r = ::poll(&p, 1, int(std::min(left * 1000.0, 1000.0)) + 1);
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
  }
}

// Reads or writes exactly n bytes before the deadline.
bool transfer(int fd, void* data, size_t n, bool send, Clock::time_point deadline) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    if (!wait_fd(fd, send ? POLLOUT : POLLIN, deadline)) return false;
    const ssize_t k = send ? ::send(fd, p, n, MSG_NOSIGNAL) : ::recv(fd, p, n, 0);
    if (k < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (k <= 0) return false;
    p += k;
    n -= size_t(k);
  }
  return true;
}

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

addrinfo* resolve(const std::string& host, const std::string& port, bool passive) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = passive ? AI_PASSIVE : 0;
  addrinfo* res = nullptr;
  const int rc = ::getaddrinfo(passive ? nullptr : host.c_str(), port.c_str(), &hints, &res);
  DRU_CHECK(rc == 0 && res, "rendezvous: cannot resolve {}:{}: {}", host, port, gai_strerror(rc));
  return res;
}

void serve(void* data, size_t n, const WorldInfo& w, const std::string& host, const std::string& port,
           Clock::time_point deadline) {
  addrinfo* ai = resolve(host, port, true);
  // Prefer an IPv6 socket (it also accepts IPv4 where the system allows), else the first address.
  addrinfo* pick = ai;
  for (addrinfo* a = ai; a; a = a->ai_next)
    if (a->ai_family == AF_INET6) pick = a;
  Fd ls(::socket(pick->ai_family, pick->ai_socktype, pick->ai_protocol));
  const int one = 1, zero = 0;
  ::setsockopt(ls.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (pick->ai_family == AF_INET6) ::setsockopt(ls.fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  const bool bound = ls.fd >= 0 && ::bind(ls.fd, pick->ai_addr, pick->ai_addrlen) == 0 && ::listen(ls.fd, 128) == 0;
  const int err = errno;
  ::freeaddrinfo(ai);
  DRU_CHECK(bound, "rendezvous: rank 0 cannot listen on port {}: {} (is another job using it? set MASTER_PORT)",
            port, std::strerror(err));
  for (int served = 1; served < w.size; ++served) {
    DRU_CHECK(wait_fd(ls.fd, POLLIN, deadline),
              "rendezvous: rank 0 waited {:.0f} s on port {} and {} of {} ranks arrived (DRU_COMM_TIMEOUT)",
              comm_timeout_seconds(), port, served - 1, w.size - 1);
    Fd c(::accept(ls.fd, nullptr, nullptr));
    if (c.fd < 0) {
      --served;
      continue;
    }
    Hello h;
    DRU_CHECK(transfer(c.fd, &h, sizeof h, false, deadline) && std::memcmp(h.magic, "dru1", 4) == 0,
              "rendezvous: a connection on port {} is not a dru rank", port);
    DRU_CHECK(h.size == w.size, "rendezvous: rank {} says the world has {} ranks, rank 0 says {}", h.rank, h.size,
              w.size);
    DRU_CHECK(transfer(c.fd, data, n, true, deadline), "rendezvous: sending to rank {} failed", h.rank);
  }
}

void join(void* data, size_t n, const WorldInfo& w, const std::string& host, const std::string& port,
          Clock::time_point deadline) {
  std::string last = "no attempt";
  while (seconds_left(deadline) > 0) {
    addrinfo* ai = resolve(host, port, false);
    for (addrinfo* a = ai; a; a = a->ai_next) {
      Fd s(::socket(a->ai_family, a->ai_socktype, a->ai_protocol));
      if (s.fd < 0 || ::connect(s.fd, a->ai_addr, a->ai_addrlen) != 0) {
        last = std::strerror(errno);
        continue;
      }
      ::freeaddrinfo(ai);
      Hello h;
      h.rank = w.rank;
      h.size = w.size;
      DRU_CHECK(transfer(s.fd, &h, sizeof h, true, deadline) && transfer(s.fd, data, n, false, deadline),
                "rendezvous: rank {} connected to {}:{} but received nothing before the timeout", w.rank, host, port);
      return;
    }
    ::freeaddrinfo(ai);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // rank 0 may not listen yet
  }
  DRU_FAIL("rendezvous: rank {} could not reach rank 0 at {}:{} within {:.0f} s ({}); check MASTER_ADDR and "
           "MASTER_PORT",
           w.rank, host, port, comm_timeout_seconds(), last);
}

}  // namespace

void tcp_rendezvous(void* data, size_t n, const WorldInfo& w) {
  if (w.size == 1) return;  // rank 0 alone already holds the data
  const char* addr = std::getenv("MASTER_ADDR");
  const char* port_env = std::getenv("MASTER_PORT");
  const char* own = std::getenv("DRU_RENDEZVOUS_PORT");
  DRU_CHECK(addr && (port_env || own),
            "rendezvous: {} ranks ({}) without mpirun need MASTER_ADDR and MASTER_PORT (rank 0's host and a free "
            "port) to exchange the NCCL id",
            w.size, w.launcher);
  std::string port = own ? own : port_env;
  // torchrun's agent already serves MASTER_PORT (its own store); dru takes the next port.
  if (!own && env_set("TORCHELASTIC_RUN_ID")) port = std::to_string(env_int("MASTER_PORT", 0) + 1);
  const double timeout = comm_timeout_seconds() > 0 ? comm_timeout_seconds() : 1e9;
  const auto deadline = Clock::now() + std::chrono::milliseconds(int64_t(std::min(timeout, 1e8) * 1000));
  if (w.rank == 0)
    serve(data, n, w, addr, port, deadline);
  else
    join(data, n, w, addr, port, deadline);
}

}  // namespace comm_detail

}  // namespace dru
