#!/usr/bin/env bash
# Cross-build the exporter for the architectures Chromebooks run (linux/amd64,
# arm64, arm with GOARM=7 for the rk3288 boards, 386, riscv64), then run the
# byte-level packages' tests under qemu-user for arm and arm64 with `go test -exec`
# (no binfmt registration needed). Called from .ci/run; runs alone too:
#   scripts/cross-test.sh            # build all five, test arm + arm64
#   CROSS_TEST_ARCHES=arm scripts/cross-test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# Packages whose tests run under emulation: the byte formats, the simulated EC,
# the kernel-log parser and the prober. rt runs too: qemu-user passes
# sched_setattr/clock_nanosleep/mlockall through to the host kernel.
pkgs=(./ec/... ./ecspi ./ecsim ./collector ./prober ./rt)

# Skipped under emulation, each for a reason of qemu-user, not of the code:
# TestOpenRealSyscalls expects the kernel's ENOTTY for an unknown ioctl on a regular
# file, qemu-user answers ENOSYS; TestFallbackWithoutPermission re-executes the test
# binary as a child, which needs binfmt_misc (not registered in CI containers).
skip='^(TestOpenRealSyscalls|TestFallbackWithoutPermission)$'

need=()
command -v qemu-arm-static     >/dev/null || need+=(qemu-user-static)
command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends qemu-user-static >/dev/null
fi

for target in amd64 arm64 arm:7 386 riscv64; do
  arch=${target%%:*}; arm=""
  [ "$arch" != "$target" ] && arm=${target#*:}
  echo "== cross-build linux/$arch${arm:+ GOARM=$arm}"
  GOOS=linux GOARCH=$arch GOARM=$arm go build -o /dev/null ./...
  GOOS=linux GOARCH=$arch GOARM=$arm go vet ./...
done

for arch in ${CROSS_TEST_ARCHES:-arm arm64}; do
  case $arch in
    arm)   qemu=qemu-arm-static; arm=7 ;;
    arm64) qemu=qemu-aarch64-static; arm="" ;;
    *) echo "cross-test: no qemu mapping for $arch" >&2; exit 2 ;;
  esac
  echo "== tests under $qemu (linux/$arch): ${pkgs[*]}"
  # -short: the long soak tests prove nothing more under emulation and cost minutes.
  GOOS=linux GOARCH=$arch GOARM=$arm go test -count=1 -short -exec "$qemu" -skip "$skip" "${pkgs[@]}"
done
