#!/usr/bin/env bash
# Installs every Debian package that dru's build, tests and tools need. Idempotent; runs as root
# or through sudo. The CUDA toolkit is not installed here: where /usr/local/cuda exists the build
# picks it up, otherwise it builds the CPU backend only.
set -euo pipefail

packages=(
  build-essential cmake ccache pkg-config git
  libeigen3-dev libopenblas-openmp-dev doctest-dev libcli11-dev nlohmann-json3-dev libfmt-dev
  zlib1g-dev                    # the tests read gzip-compressed GloVe vectors
  libstb-dev                    # stb_image: the tests decode a few JPEG face images
  python3-torch python3-numpy   # reference fixtures and the PyTorch baseline scripts
  python3-sklearn               # the diabetes table the demo trains on comes from here
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
