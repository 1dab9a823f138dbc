#!/usr/bin/env bash
# Installs every Debian package that dru's build, tests and tools need. Idempotent; runs as root
# or through sudo. The CUDA toolkit is not installed here: where /usr/local/cuda exists the build
# picks it up, otherwise it builds the CPU backend only.
set -euo pipefail

packages=(
  build-essential cmake ccache pkg-config git
  libeigen3-dev libopenblas-openmp-dev doctest-dev libcli11-dev nlohmann-json3-dev libfmt-dev
  zlib1g-dev                    # zlib: the GloVe reader takes gzip-compressed vectors (data/glove.cpp)
  libstb-dev                    # stb_image: decodes the face-age images (data/images.cpp)
  libsvm-dev                    # libsvm: the membership-inference attack's SVM (unlearn/metrics.cpp)
  libopenmpi-dev openmpi-bin    # Open MPI: data-parallel CPU runs and their tests (mpirun; engine/comm_mpi.cpp)
  python3-scipy                 # tools/fixtures/make_metrics_fixture.py: scipy's Wasserstein distance
  python3-torch python3-numpy   # reference fixtures and the PyTorch baseline scripts
  python3-sklearn               # the diabetes table the demo trains on comes from here
  python3-pil python3-torchvision  # tools/fixtures/make_image_fixture.py: PIL's JPEG decode, torchvision's crop
  gnuplot-nox                   # dru experiment renders its PNG plots with gnuplot (skipped with a note without it)
  clang libclang-rt-14-dev      # libFuzzer: the fuzz tests of the data readers (built only where clang links it)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
