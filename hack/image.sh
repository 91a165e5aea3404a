#!/usr/bin/env bash
# Builds the operator image with no Docker engine and no registry: an OCI archive.
#
# Usage: hack/image.sh [OUT]      prints the archive's path on stdout
#
#   OUT         default target/image/mosip-partner-operator.oci.tar
#   IMAGE       image reference, default mosip-partner-operator:VERSION (the chart's default)
#   IMAGE_LIBC  musl (static binary; `rustup target add x86_64-unknown-linux-musl` if needed),
#               gnu (the glibc binary plus the libraries ldd names) or auto (default: musl if the
#               target can be had, else gnu)
#   IMAGE_BINARY  use this operator binary instead of building one (e.g. target/debug/… for a
#               quick try; its libraries are added when it is dynamic)
#
# The image holds /mosip-partner-operator, /etc/passwd and /etc/group (nonroot = 65532) and
# /tmp; it runs as 65532:65532 with ENTRYPOINT ["/mosip-partner-operator"] CMD ["run"] — the
# layout the Dockerfile builds. Load it with `docker load -i OUT`, `podman load -i OUT`,
# `ctr -n k8s.io images import OUT`, `kind load image-archive OUT`, or push it with
# `skopeo copy oci-archive:OUT docker://REGISTRY/mosip-partner-operator:VERSION`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '[image] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
[[ -n $version ]] || die "no version in Cargo.toml"
readonly IMAGE=${IMAGE:-mosip-partner-operator:$version}
OUT=${1:-target/image/mosip-partner-operator.oci.tar}
mkdir -p "$(dirname "$OUT")"
CARGO=${CARGO:-cargo}
libc=${IMAGE_LIBC:-auto}
musl=x86_64-unknown-linux-musl

have_musl() {
  command -v rustup >/dev/null || return 1
  rustup target list --installed 2>/dev/null | grep -qx "$musl" && return 0
  log "rustup target add $musl"
  rustup target add "$musl" >&2
}

# ldd says "statically linked" (and exits 0) for static-pie binaries.
is_dynamic() { ldd "$1" 2>/dev/null | grep -q '=>'; }

if [[ -n ${IMAGE_BINARY:-} ]]; then
  [[ -x $IMAGE_BINARY ]] || die "no executable $IMAGE_BINARY"
  if is_dynamic "$IMAGE_BINARY"; then libc=gnu-prebuilt; else libc=static-prebuilt; fi
fi

case $libc in
  *-prebuilt) ;;
  auto)
    if have_musl; then libc=musl; else
      log "the $musl target cannot be had; using the glibc binary and its libraries"
      libc=gnu
    fi
    ;;
  musl) have_musl || die "rustup target add $musl failed" ;;
  gnu) ;;
  *) die "IMAGE_LIBC must be musl, gnu or auto" ;;
esac

start=$SECONDS
entries=()
add_libs() {
  # The libraries the dynamic loader needs, at the paths it looks for them.
  local lib real
  while read -r lib; do
    real=$(readlink -f "$lib")
    entries+=("$real:$lib:0755")
  done < <(ldd "$1" | grep -o '/[^ ]*' | sort -u)
}
if [[ -n ${IMAGE_BINARY:-} ]]; then
  bin=$IMAGE_BINARY
  [[ $libc == gnu-prebuilt ]] && add_libs "$bin"
elif [[ $libc == musl ]]; then
  log "cargo build --release --target $musl"
  # No musl-tools needed: ring's C code builds with the system gcc for this target.
  CC_x86_64_unknown_linux_musl=${CC_x86_64_unknown_linux_musl:-gcc} \
    "$CARGO" build --release --locked --target "$musl" --bin mosip-partner-operator >&2
  bin=target/$musl/release/mosip-partner-operator
  if is_dynamic "$bin"; then die "$bin is not static"; fi
else
  log "cargo build --release"
  "$CARGO" build --release --locked --bin mosip-partner-operator >&2
  bin=target/release/mosip-partner-operator
  add_libs "$bin"
fi
entries+=("$bin:/mosip-partner-operator:0755")

python3 hack/oci-image.py --out "$OUT" --name "$IMAGE" --user 65532:65532 --passwd \
  --entrypoint '["/mosip-partner-operator"]' --cmd '["run"]' \
  --label "org.opencontainers.image.title=mosip-partner-operator" \
  --label "org.opencontainers.image.version=$version" \
  --label "org.opencontainers.image.licenses=MPL-2.0" \
  "${entries[@]}"
log "$IMAGE ($libc) written to $OUT in $((SECONDS - start)) s"
echo "$OUT"
