#!/usr/bin/env bash
# Local Kubernetes control plane for tests: etcd + kube-apiserver (+ kube-controller-manager).
#
# Usage: hack/control-plane.sh up DIR | down DIR | status DIR | env DIR | build
#
#   up DIR [--with-node]
#               start etcd, kube-apiserver and kube-controller-manager with their state in DIR
#               (no-op if already running); prints `export KUBECONFIG=DIR/kubeconfig` on stdout.
#               DIR also gets kubeconfig-alice, kubeconfig-bob (unprivileged users), tokens.csv,
#               tokens.env (ADMIN_TOKEN, ALICE_TOKEN, BOB_TOKEN, API_SERVER, CA_FILE), certs/, logs/.
#               --with-node: also a node that runs Pods (hack/node.sh: containerd, kubelet,
#               kube-scheduler); the API server then mounts ServiceAccount tokens, Services
#               live in 203.0.113.0/24 and the controller-manager runs Deployments.
#   down DIR    stop the processes recorded in DIR (idempotent), the node's first (undoing all
#               it did to the host); keeps logs.
#   status DIR  print each component's state and /readyz; exit 0 only if everything is up.
#   env DIR     print the export line.
#   build [--with-node]  make sure the binaries (and the node's) are cached; prints their folder.
#
# Binaries: $KUBEBUILDER_ASSETS (kube-apiserver, etcd, optional kube-controller-manager) if set;
# otherwise kube-apiserver/kube-controller-manager v1.20.2 built from Debian bookworm's source
# package and etcd from bookworm's etcd-server, cached in
# ${XDG_CACHE_HOME:-$HOME/.cache}/mosip-partner-operator/bin/k8s-1.20.2/ (first build ~4 min).
# With USE_EXISTING_CLUSTER=true and KUBECONFIG set, up/down start/stop nothing.
# With CONTROL_PLANE_AUDIT=1, `up` makes the API server log every request (who, verb, URI) to
# DIR/logs/audit.log. (v1.20's apiserver_request_total counts a GET of a custom resource as LIST;
# the audit log tells them apart.)
set -euo pipefail

readonly K8S_VERSION=1.20.2
readonly K8S_SRC_VERSION=1.20.5+really1.20.2-1.1+deb12u1
readonly GO_MINOR=1.19
readonly REFLECT2_VERSION=1.0.2-2
HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly HACK_DIR
readonly DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
readonly DEBIAN_SUITE=bookworm
readonly CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/mosip-partner-operator"
readonly BIN_CACHE="$CACHE_ROOT/bin/k8s-$K8S_VERSION"
# kubelet, kube-scheduler, a static pause and containerd/runc/CNI plugins/nft from Debian
# (--with-node).
readonly NODE_CACHE="$CACHE_ROOT/bin/k8s-$K8S_VERSION-node"
readonly NODE_DEBS=(containerd runc containernetworking-plugins nftables libnftables1 libjansson4
  libnftnl11 libmnl0 libxtables12 libedit2 libbsd0 libmd0)
readonly READY_TIMEOUT=${CONTROL_PLANE_READY_TIMEOUT:-60}
# Fixed fds for the locks (7: hack/node.sh), so that they can be closed in the daemons we start.
readonly DIR_LOCK_FD=8 BUILD_LOCK_FD=9

log() { printf '[control-plane] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
  exit 2
}

# ---------------------------------------------------------------------------------------------
# Binaries
# ---------------------------------------------------------------------------------------------

cache_complete() {
  [[ -f $BIN_CACHE/.complete && -x $BIN_CACHE/kube-apiserver && -x $BIN_CACHE/etcd &&
    -x $BIN_CACHE/kube-controller-manager ]]
}

# Sets APISERVER_BIN, ETCD_BIN and CM_BIN (empty if unavailable).
resolve_bins() {
  if [[ -n ${KUBEBUILDER_ASSETS:-} ]]; then
    APISERVER_BIN=$KUBEBUILDER_ASSETS/kube-apiserver
    ETCD_BIN=$KUBEBUILDER_ASSETS/etcd
    CM_BIN=$KUBEBUILDER_ASSETS/kube-controller-manager
    [[ -x $APISERVER_BIN ]] || die "no executable $APISERVER_BIN (KUBEBUILDER_ASSETS)"
    [[ -x $ETCD_BIN ]] || die "no executable $ETCD_BIN (KUBEBUILDER_ASSETS)"
    if [[ ! -x $CM_BIN ]]; then
      log "no kube-controller-manager in KUBEBUILDER_ASSETS: no garbage collection/namespace deletion"
      CM_BIN=
    fi
  else
    ensure_built
    APISERVER_BIN=$BIN_CACHE/kube-apiserver
    ETCD_BIN=$BIN_CACHE/etcd
    CM_BIN=$BIN_CACHE/kube-controller-manager
  fi
}

node_cache_complete() {
  [[ -f $NODE_CACHE/.complete && -x $NODE_CACHE/kubelet && -x $NODE_CACHE/kube-scheduler &&
    -x $NODE_CACHE/pause && -x $NODE_CACHE/runtime/usr/bin/containerd ]]
}

# The control plane's binaries are there (or come from KUBEBUILDER_ASSETS).
cp_ready() { [[ -n ${KUBEBUILDER_ASSETS:-} ]] || cache_complete; }

# ensure_built [node]: the control-plane binaries (and with "node" the node's too) are cached.
# Whatever is missing is built in one pass over the source tree.
ensure_built() {
  local want_node=${1:-}
  cp_ready && { [[ -z $want_node ]] || node_cache_complete; } && return 0
  mkdir -p "$CACHE_ROOT"
  eval "exec $BUILD_LOCK_FD>\"\$CACHE_ROOT/build.lock\""
  if ! flock -n "$BUILD_LOCK_FD"; then
    log "another process is building the binaries; waiting for it"
    flock "$BUILD_LOCK_FD"
  fi
  local cp=0 node=0
  cp_ready || cp=1
  [[ -n $want_node ]] && ! node_cache_complete && node=1
  if ((cp || node)); then
    build_binaries "$cp" "$node"
  fi
  eval "exec $BUILD_LOCK_FD>&-"
  cp_ready || die "build finished but $BIN_CACHE is incomplete"
  [[ -z $want_node ]] || node_cache_complete || die "build finished but $NODE_CACHE is incomplete"
}

# apt-get with a private sources list, lists and cache: the system's apt state is untouched.
papt() {
  local apt_dir=$WORK/apt
  local opts=(
    -o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o Dir::Etc::sourceparts=-
    -o "Dir::State::Lists=$apt_dir/lists" -o APT::Get::List-Cleanup=0
    -o "Dir::Cache=$apt_dir/cache" -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=
  )
  [[ $EUID -eq 0 ]] && opts+=(-o APT::Sandbox::User=root)
  apt-get -q "${opts[@]}" "$@"
}

# build_binaries CP NODE (each 0 or 1): builds the control plane's binaries into $BIN_CACHE and/or
# the node's into $NODE_CACHE. Runs in a subshell: its own EXIT trap removes the build tree.
build_binaries() (
  local cp=$1 node=$2
  local start=$SECONDS blog="$CACHE_ROOT/build.log"
  if ! command -v apt-get >/dev/null || ! command -v dpkg >/dev/null; then
    die "building needs apt-get and dpkg (Debian); or set KUBEBUILDER_ASSETS"
  fi
  # Leftovers of an interrupted build (we hold the lock, so nobody else uses them).
  rm -rf "$CACHE_ROOT"/tmp-build.* "$BIN_CACHE.tmp" "$NODE_CACHE.tmp"
  WORK=$(mktemp -d "$CACHE_ROOT/tmp-build.XXXXXX")
  trap 'rm -rf "$WORK"' EXIT
  : >"$blog"
  local what=()
  ((cp)) && what+=(cmd/kube-apiserver cmd/kube-controller-manager)
  ((node)) && what+=(cmd/kubelet cmd/kube-scheduler)
  log "building ${what[*]} v$K8S_VERSION (~4 min, log: $blog)"

  fail() {
    log "build failed: $*; last lines of $blog:"
    tail -n 40 "$blog" >&2
    exit 1
  }

  # 1. Private apt configuration.
  mkdir -p "$WORK/apt/lists/partial" "$WORK/apt/cache/archives/partial" "$WORK/debs" "$WORK/src" \
    "$WORK/root" "$WORK/home" "$WORK/tools"
  local signed_by=
  [[ -f /usr/share/keyrings/debian-archive-keyring.gpg ]] &&
    signed_by=" [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]"
  printf 'deb%s %s %s main\ndeb-src%s %s %s main\n' \
    "$signed_by" "$DEBIAN_MIRROR" "$DEBIAN_SUITE" "$signed_by" "$DEBIAN_MIRROR" "$DEBIAN_SUITE" \
    >"$WORK/apt/sources.list"
  log "apt-get update (private lists for $DEBIAN_SUITE)"
  papt update >>"$blog" 2>&1 || fail "apt-get update"

  # 2. Source of kubernetes (the orig tarball is the full upstream tree with vendor/).
  log "downloading source package kubernetes=$K8S_SRC_VERSION"
  if ! (cd "$WORK/src" && papt source --download-only "kubernetes=$K8S_SRC_VERSION") >>"$blog" 2>&1; then
    log "kubernetes=$K8S_SRC_VERSION not found; trying bookworm's current kubernetes source"
    (cd "$WORK/src" && papt source --download-only kubernetes) >>"$blog" 2>&1 ||
      fail "apt-get source kubernetes"
  fi

  # 3. Go toolchain, reflect2 1.0.2, etcd, and rsync/make if missing, all unpacked with dpkg -x.
  local pkgs=("golang-$GO_MINOR-go" "golang-$GO_MINOR-src"
    "golang-github-modern-go-reflect2-dev=$REFLECT2_VERSION")
  ((cp)) && pkgs+=(etcd-server)
  command -v rsync >/dev/null || pkgs+=(rsync libpopt0 libxxhash0)
  command -v make >/dev/null || pkgs+=(make)
  log "downloading ${pkgs[*]}"
  (cd "$WORK/debs" && papt download "${pkgs[@]}") >>"$blog" 2>&1 || fail "apt-get download"
  local deb
  for deb in "$WORK"/debs/*.deb; do
    dpkg -x "$deb" "$WORK/root" || fail "dpkg -x $deb"
  done
  # Wrappers for tools taken from the debs (their libraries may not be installed).
  local tool
  for tool in rsync make; do
    if [[ -x $WORK/root/usr/bin/$tool ]]; then
      # shellcheck disable=SC2016 # expanded by the wrapper
      printf '#!/bin/sh\nLD_LIBRARY_PATH=%q${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} exec %q "$@"\n' \
        "$WORK/root/usr/lib/x86_64-linux-gnu:$WORK/root/lib/x86_64-linux-gnu" \
        "$WORK/root/usr/bin/$tool" >"$WORK/tools/$tool"
      chmod +x "$WORK/tools/$tool"
    fi
  done
  local goroot="$WORK/root/usr/lib/go-$GO_MINOR"
  [[ -x $goroot/bin/go ]] || fail "no go binary in $goroot"

  # 4. Unpack the tree; replace the vendored reflect2 1.0.1 (crashes at run time with Go >= 1.18).
  local orig tree="$WORK/kubernetes"
  orig=$(find "$WORK/src" -maxdepth 1 -name 'kubernetes_*.orig.tar.*' | head -n 1)
  [[ -n $orig ]] || fail "no orig tarball in $(ls "$WORK/src")"
  log "unpacking $(basename "$orig")"
  mkdir -p "$tree"
  tar -xf "$orig" -C "$tree" --strip-components=1 || fail "tar $orig"
  [[ -f $tree/Makefile ]] || fail "unexpected layout of $orig"
  local vend="$tree/vendor/github.com/modern-go/reflect2"
  local r2="$WORK/root/usr/share/gocode/src/github.com/modern-go/reflect2"
  [[ -d $vend && -f $r2/reflect2.go ]] || fail "reflect2 sources not found"
  find "$vend" -maxdepth 1 -type f \( -name '*.go' -o -name '*.s' \) -delete
  find "$r2" -maxdepth 1 -type f \( -name '*.go' -o -name '*.s' \) ! -name '*_test.go' \
    -exec cp {} "$vend/" \;
  local major=${K8S_VERSION%%.*} minor=${K8S_VERSION#*.}
  minor=${minor%%.*}
  printf "KUBE_GIT_VERSION='v%s'\nKUBE_GIT_MAJOR='%s'\nKUBE_GIT_MINOR='%s'\nKUBE_GIT_TREE_STATE='clean'\nKUBE_GIT_COMMIT=''\n" \
    "$K8S_VERSION" "$major" "$minor" >"$WORK/version.env"

  # 3b. The node's runtime, unpacked apart from the build tools.
  if ((node)); then
    mkdir -p "$WORK/node-debs" "$NODE_CACHE.tmp/runtime"
    log "downloading ${NODE_DEBS[*]}"
    (cd "$WORK/node-debs" && papt download "${NODE_DEBS[@]}") >>"$blog" 2>&1 ||
      fail "apt-get download (node runtime)"
    for deb in "$WORK"/node-debs/*.deb; do
      dpkg -x "$deb" "$NODE_CACHE.tmp/runtime" || fail "dpkg -x $deb"
    done
    rm -rf "$NODE_CACHE.tmp/runtime/usr/share"
    gcc -static -O2 -o "$NODE_CACHE.tmp/pause" "$HACK_DIR/pause.c" >>"$blog" 2>&1 ||
      fail "gcc -static pause.c (is gcc with libc6-dev installed?)"
  fi

  # 5. Build.
  log "make WHAT=\"${what[*]}\" (Go $GO_MINOR; ~3.5 min)"
  (
    cd "$tree"
    unset GOFLAGS GOPATH GO111MODULE GOBIN GOENV GOTOOLCHAIN
    export GOROOT="$goroot" PATH="$goroot/bin:$WORK/tools:$PATH" HOME="$WORK/home" CGO_ENABLED=0 \
      GOPROXY=off GOCACHE="$WORK/gocache" KUBE_GIT_VERSION_FILE="$WORK/version.env"
    make WHAT="${what[*]}"
  ) >>"$blog" 2>&1 || fail "make"

  # 6. Keep only the binaries.
  local b out="$tree/_output/local/bin/linux/amd64"
  [[ -d $out ]] || out="$tree/_output/bin"
  if ((node)); then
    for b in kubelet kube-scheduler; do
      cp "$out/$b" "$NODE_CACHE.tmp/$b" || fail "no $b in $out"
    done
    {
      "$NODE_CACHE.tmp/kubelet" --version
      printf 'built %s from kubernetes source %s; runtime: %s\n' "$(date -u +%FT%TZ)" \
        "$(basename "$orig")" "$(cd "$WORK/node-debs" && echo *.deb)"
    } >"$NODE_CACHE.tmp/.complete" || fail "kubelet does not run"
    rm -rf "$NODE_CACHE"
    mkdir -p "$(dirname "$NODE_CACHE")"
    mv "$NODE_CACHE.tmp" "$NODE_CACHE"
    log "node binaries cached in $NODE_CACHE"
  fi
  if ((!cp)); then
    log "built in $((SECONDS - start)) s; removing the build tree"
    return 0
  fi
  mkdir -p "$BIN_CACHE.tmp"
  for b in kube-apiserver kube-controller-manager; do
    cp "$out/$b" "$BIN_CACHE.tmp/$b" || fail "no $b in $out"
  done
  cp "$WORK/root/usr/bin/etcd" "$BIN_CACHE.tmp/etcd" || fail "no etcd in etcd-server"
  "$BIN_CACHE.tmp/kube-apiserver" --version >>"$blog" 2>&1 || fail "kube-apiserver does not run"
  {
    "$BIN_CACHE.tmp/kube-apiserver" --version
    "$BIN_CACHE.tmp/etcd" --version | head -n 1
    printf 'built %s from kubernetes source %s with Go %s\n' "$(date -u +%FT%TZ)" \
      "$(basename "$orig")" "$("$goroot/bin/go" version | awk '{print $3}')"
  } >"$BIN_CACHE.tmp/.complete"
  rm -rf "$BIN_CACHE"
  mkdir -p "$(dirname "$BIN_CACHE")"
  mv "$BIN_CACHE.tmp" "$BIN_CACHE"
  log "built and cached in $BIN_CACHE in $((SECONDS - start)) s; removing the build tree"
)

# ---------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------

readonly COMPONENTS=(etcd apiserver controller-manager)

bin_name() {
  case $1 in
    etcd) echo etcd ;;
    apiserver) echo kube-apiserver ;;
    controller-manager) echo kube-controller-manager ;;
    containerd) echo containerd ;;
    kubelet) echo kubelet ;;
    scheduler) echo kube-scheduler ;;
  esac
}

# PID recorded for component $2 in dir $1 if that process is alive and really is ours: same
# binary name and a command line that mentions DIR (guards against recycled PIDs).
live_pid() {
  local dir=$1 name=$2 pid argv0 cmdline
  [[ -f $dir/$name.pid ]] || return 1
  pid=$(<"$dir/$name.pid") || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  # Zombies have an empty cmdline and count as stopped.
  IFS= read -r -d '' argv0 2>/dev/null <"/proc/$pid/cmdline" || return 1
  [[ $(basename -- "$argv0") == "$(bin_name "$name")" ]] || return 1
  cmdline=$(tr '\0' '\n' 2>/dev/null <"/proc/$pid/cmdline") || return 1
  [[ $cmdline == *"$dir/"* ]] || return 1
  echo "$pid"
}

# start_proc DIR NAME BIN ARGS...: starts BIN in its own session, detached from this script;
# its PID goes to DIR/NAME.pid and its output to DIR/logs/NAME.log.
start_proc() {
  local dir=$1 name=$2 bin=$3
  shift 3
  local pidfile="$dir/$name.pid" logf="$dir/logs/$name.log" i
  rm -f "$pidfile"
  [[ -f $logf ]] && mv -f "$logf" "$logf.prev"
  # shellcheck disable=SC2016 # expanded by the inner shell
  setsid bash -c 'echo $$ >"$0.tmp" && mv -f "$0.tmp" "$0" && exec "$@"' "$pidfile" "$bin" "$@" \
    </dev/null >"$logf" 2>&1 7>&- 8>&- 9>&- &
  for ((i = 0; i < 50; i++)); do
    [[ -s $pidfile ]] && return 0
    sleep 0.1
  done
  die "$name did not start (see $logf)"
}

stop_proc() {
  local dir=$1 name=$2 pid i
  if pid=$(live_pid "$dir" "$name"); then
    log "stopping $(bin_name "$name") (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      live_pid "$dir" "$name" >/dev/null || break
      sleep 0.1
    done
    if live_pid "$dir" "$name" >/dev/null; then
      log "$(bin_name "$name") (pid $pid) did not exit after 10 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do
        live_pid "$dir" "$name" >/dev/null || break
        sleep 0.1
      done
    fi
  fi
  rm -f "$dir/$name.pid"
}

stop_all() {
  local dir=$1
  stop_proc "$dir" controller-manager
  stop_proc "$dir" apiserver
  stop_proc "$dir" etcd
}

# http_get URL [TOKEN]: prints the body of a 2xx answer; fails otherwise. TLS is not verified
# (used only for readiness polling on loopback).
http_get() {
  python3 - "$@" <<'EOF'
import ssl, sys, urllib.request
req = urllib.request.Request(sys.argv[1])
if len(sys.argv) > 2 and sys.argv[2]:
    req.add_header("Authorization", "Bearer " + sys.argv[2])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
try:
    with urllib.request.urlopen(req, context=ctx, timeout=3) as r:
        sys.stdout.write(r.read().decode())
except Exception:
    sys.exit(1)
EOF
}

free_ports() {
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# wait_for DIR NAME TIMEOUT CMD...: until CMD succeeds; fails early if the process died.
wait_for() {
  local dir=$1 name=$2 timeout=$3
  shift 3
  local deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    "$@" >/dev/null 2>&1 && return 0
    live_pid "$dir" "$name" >/dev/null || return 2
    sleep 0.25
  done
  return 1
}

body_is() {
  local want=$1
  shift
  [[ $(http_get "$@") == "$want" ]]
}

# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------

using_existing_cluster() {
  [[ ${USE_EXISTING_CLUSTER:-} == true ]] || return 1
  [[ -n ${KUBECONFIG:-} ]] || die "USE_EXISTING_CLUSTER=true needs KUBECONFIG"
}

print_export() { printf 'export KUBECONFIG=%q\n' "$1"; }

write_kubeconfig() {
  local file=$1 server=$2 ca_data=$3 user=$4 token=$5
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: mosip-local
  cluster:
    server: $server
    certificate-authority-data: $ca_data
users:
- name: $user
  user:
    token: $token
contexts:
- name: $user@mosip-local
  context:
    cluster: mosip-local
    user: $user
current-context: $user@mosip-local
EOF
}

cmd_up() {
  local dir=$1
  if using_existing_cluster; then
    log "USE_EXISTING_CLUSTER=true: using the existing cluster of KUBECONFIG=$KUBECONFIG"
    print_export "$KUBECONFIG"
    return 0
  fi
  mkdir -p "$dir/logs"
  eval "exec $DIR_LOCK_FD>\"\$dir/.lock\""
  flock "$DIR_LOCK_FD"

  local name all=1 any=0
  for name in etcd apiserver; do
    if live_pid "$dir" "$name" >/dev/null; then any=1; else all=0; fi
  done
  if [[ -f $dir/controller-manager.pid ]]; then
    if live_pid "$dir" controller-manager >/dev/null; then any=1; else all=0; fi
  fi
  local mode=plain
  [[ -n $WITH_NODE ]] && mode=node
  if ((all)) && [[ -f $dir/kubeconfig ]] && { [[ $mode == plain ]] || [[ $(cat "$dir/mode" 2>/dev/null) == node ]]; }; then
    log "control plane in $dir is already running"
    if [[ $mode == node ]]; then
      "$HACK_DIR/node.sh" up "$dir" || exit 1
    fi
    print_export "$dir/kubeconfig"
    return 0
  fi
  if [[ $mode == node ]]; then
    local why
    why=$("$HACK_DIR/node.sh" check) || die "--with-node: no node can run here: $why"
  fi
  if [[ -d $dir/node ]]; then
    stop_proc "$dir" controller-manager
    "$HACK_DIR/node.sh" down "$dir"
  fi
  if ((any)); then
    log "control plane in $dir is partly running; restarting it"
  fi
  stop_all "$dir"

  resolve_bins
  [[ $mode == node ]] && ensure_built node
  echo "$mode" >"$dir/mode"
  local start=$SECONDS version minor
  version=$("$APISERVER_BIN" --version 2>/dev/null | awk '{print $2}')
  minor=$(sed -E 's/^v[0-9]+\.([0-9]+).*/\1/' <<<"$version")
  [[ $minor =~ ^[0-9]+$ ]] || die "cannot tell the version of $APISERVER_BIN ($version)"
  log "starting kube-apiserver $version in $dir"

  # Fresh state; logs of the previous run stay (as *.log.prev after the start).
  rm -rf "$dir/etcd" "$dir/certs"
  rm -f "$dir"/kubeconfig "$dir"/kubeconfig-* "$dir/tokens.csv" "$dir/tokens.env"
  (umask 077 && mkdir -p "$dir/certs")
  openssl genrsa -out "$dir/certs/sa.key" 2048 2>/dev/null
  openssl rsa -in "$dir/certs/sa.key" -pubout -out "$dir/certs/sa.pub" 2>/dev/null
  local admin_token alice_token bob_token
  admin_token=$(openssl rand -hex 16)
  alice_token=$(openssl rand -hex 16)
  bob_token=$(openssl rand -hex 16)
  (
    umask 077
    printf '%s,admin,admin,"system:masters"\n%s,alice,alice\n%s,bob,bob\n' \
      "$admin_token" "$alice_token" "$bob_token" >"$dir/tokens.csv"
  )

  # Clean up what we started if anything below fails.
  # shellcheck disable=SC2064 # expand $dir now
  trap "log 'start failed; stopping what was started'; stop_all $(printf %q "$dir")" EXIT

  local attempt etcd_port peer_port api_port rc server
  for attempt in 1 2 3; do
    read -r etcd_port peer_port api_port < <(free_ports 3)
    rm -rf "$dir/etcd"
    start_proc "$dir" etcd "$ETCD_BIN" --name=local --data-dir="$dir/etcd" \
      --listen-client-urls="http://127.0.0.1:$etcd_port" \
      --advertise-client-urls="http://127.0.0.1:$etcd_port" \
      --listen-peer-urls="http://127.0.0.1:$peer_port" \
      --initial-advertise-peer-urls="http://127.0.0.1:$peer_port" \
      --initial-cluster="local=http://127.0.0.1:$peer_port"
    rc=0
    wait_for "$dir" etcd 30 http_get "http://127.0.0.1:$etcd_port/health" || rc=$?
    if ((rc != 0)); then
      stop_proc "$dir" etcd
      if ((rc == 2)) && grep -q 'address already in use' "$dir/logs/etcd.log" && ((attempt < 3)); then
        log "etcd port taken; retrying with other ports"
        continue
      fi
      tail -n 30 "$dir/logs/etcd.log" >&2
      die "etcd did not become healthy (log: $dir/logs/etcd.log)"
    fi

    local api_args=(
      --etcd-servers="http://127.0.0.1:$etcd_port" --cert-dir="$dir/certs"
      --advertise-address=127.0.0.1 --bind-address=127.0.0.1 --secure-port="$api_port"
      --allow-privileged=true
      --authorization-mode=RBAC --token-auth-file="$dir/tokens.csv"
      --service-account-issuer=https://kubernetes.default.svc.cluster.local
      --service-account-key-file="$dir/certs/sa.pub"
      --service-account-signing-key-file="$dir/certs/sa.key"
    )
    if [[ $mode == node ]]; then
      # Pods get their ServiceAccount token mounted; Services (and the `kubernetes` Service,
      # 203.0.113.1, which hack/node.sh forwards to this server) live in TEST-NET-3; the kubelet
      # is reached as "localhost" (its serving address).
      # shellcheck disable=SC2054 # the commas belong to --enable-admission-plugins
      api_args+=(--service-cluster-ip-range=203.0.113.0/24
        --enable-admission-plugins=NamespaceLifecycle,ServiceAccount
        --kubelet-preferred-address-types=Hostname)
    else
      api_args+=(--service-cluster-ip-range=10.0.0.0/24
        --enable-admission-plugins=NamespaceLifecycle --disable-admission-plugins=ServiceAccount)
    fi
    ((minor < 24)) && api_args+=(--insecure-port=0)
    if [[ -n ${CONTROL_PLANE_AUDIT:-} ]]; then
      # Who made which request (user agent, verb, URI): $dir/logs/audit.log, for debugging.
      printf 'apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n- level: Metadata\n' >"$dir/audit-policy.yaml"
      api_args+=(--audit-policy-file="$dir/audit-policy.yaml" --audit-log-path="$dir/logs/audit.log")
    fi
    start_proc "$dir" apiserver "$APISERVER_BIN" "${api_args[@]}"
    server="https://127.0.0.1:$api_port"
    rc=0
    wait_for "$dir" apiserver "$READY_TIMEOUT" body_is ok "$server/readyz" "$admin_token" || rc=$?
    if ((rc != 0)); then
      if ((rc == 2)) && grep -q 'address already in use' "$dir/logs/apiserver.log" && ((attempt < 3)); then
        log "apiserver port taken; retrying with other ports"
        stop_all "$dir"
        continue
      fi
      if ((rc == 2)); then
        log "kube-apiserver exited; last lines of $dir/logs/apiserver.log:"
      else
        log "kube-apiserver not ready after ${READY_TIMEOUT}s; last lines of $dir/logs/apiserver.log:"
      fi
      tail -n 40 "$dir/logs/apiserver.log" >&2
      exit 1
    fi
    break
  done
  log "kube-apiserver ready at $server after $((SECONDS - start)) s"

  local ca_data
  ca_data=$(base64 -w0 <"$dir/certs/apiserver.crt")
  (
    umask 077
    write_kubeconfig "$dir/kubeconfig" "$server" "$ca_data" admin "$admin_token"
    write_kubeconfig "$dir/kubeconfig-alice" "$server" "$ca_data" alice "$alice_token"
    write_kubeconfig "$dir/kubeconfig-bob" "$server" "$ca_data" bob "$bob_token"
    printf 'ADMIN_TOKEN=%s\nALICE_TOKEN=%s\nBOB_TOKEN=%s\nAPI_SERVER=%s\nCA_FILE=%s\n' \
      "$admin_token" "$alice_token" "$bob_token" "$server" "$dir/certs/apiserver.crt" \
      >"$dir/tokens.env"
  )

  if [[ -n $CM_BIN ]]; then
    # shellcheck disable=SC2054 # the commas belong to --controllers
    local cm_args=(
      --kubeconfig="$dir/kubeconfig" --authentication-kubeconfig="$dir/kubeconfig"
      --authorization-kubeconfig="$dir/kubeconfig" --leader-elect=false
      --controllers="garbagecollector,namespace,serviceaccount,serviceaccount-token${WITH_NODE:+,deployment,replicaset}"
      --service-account-private-key-file="$dir/certs/sa.key"
      --root-ca-file="$dir/certs/apiserver.crt"
      --bind-address=127.0.0.1 --secure-port=0
    )
    ((minor < 24)) && cm_args+=(--port=0)
    start_proc "$dir" controller-manager "$CM_BIN" "${cm_args[@]}"
    # The serviceaccount controller creates default/default once the controllers run.
    rc=0
    wait_for "$dir" controller-manager 30 \
      http_get "$server/api/v1/namespaces/default/serviceaccounts/default" "$admin_token" || rc=$?
    if ((rc == 2)); then
      tail -n 30 "$dir/logs/controller-manager.log" >&2
      die "kube-controller-manager exited (log: $dir/logs/controller-manager.log)"
    elif ((rc != 0)); then
      log "warning: kube-controller-manager has not created default/default after 30 s"
    fi
  fi
  if [[ $mode == node ]]; then
    [[ -n $CM_BIN ]] || die "--with-node needs kube-controller-manager (Deployments make no Pods without it)"
    # shellcheck disable=SC2064 # expand $dir now
    trap "log 'start failed; stopping what was started'; $(printf %q "$HACK_DIR/node.sh") down $(printf %q "$dir"); stop_all $(printf %q "$dir")" EXIT
    "$HACK_DIR/node.sh" up "$dir"
  fi
  trap - EXIT
  log "control plane up in $((SECONDS - start)) s (logs: $dir/logs)"
  print_export "$dir/kubeconfig"
}

cmd_down() {
  local dir=$1
  if using_existing_cluster; then
    log "USE_EXISTING_CLUSTER=true: existing cluster is used; nothing to stop"
    return 0
  fi
  [[ -d $dir ]] || return 0
  eval "exec $DIR_LOCK_FD>\"\$dir/.lock\""
  flock "$DIR_LOCK_FD"
  if [[ -d $dir/node ]]; then
    # No new Pods while the node removes its own.
    stop_proc "$dir" controller-manager
    "$HACK_DIR/node.sh" down "$dir"
  fi
  stop_all "$dir"
  rm -f "$dir/mode"
  log "control plane in $dir is down"
}

cmd_status() {
  local dir=$1 ok=0 name pid server token
  if using_existing_cluster; then
    if kubectl get --raw=/readyz >/dev/null 2>&1; then
      echo "existing cluster ($KUBECONFIG): readyz ok"
      return 0
    fi
    echo "existing cluster ($KUBECONFIG): readyz not ok"
    return 1
  fi
  for name in "${COMPONENTS[@]}"; do
    if pid=$(live_pid "$dir" "$name"); then
      printf '%-24s running (pid %s)\n' "$(bin_name "$name")" "$pid"
    elif [[ $name == controller-manager && ! -f $dir/$name.pid ]] && live_pid "$dir" apiserver >/dev/null; then
      printf '%-24s not started\n' "$(bin_name "$name")" # e.g. not in KUBEBUILDER_ASSETS
    else
      printf '%-24s stopped\n' "$(bin_name "$name")"
      ok=1
    fi
  done
  server=$(sed -n 's/^API_SERVER=//p' "$dir/tokens.env" 2>/dev/null || true)
  token=$(sed -n 's/^ADMIN_TOKEN=//p' "$dir/tokens.env" 2>/dev/null || true)
  if [[ -n $server ]] && body_is ok "$server/readyz" "$token"; then
    printf '%-24s ok (%s)\n' readyz "$server"
  else
    printf '%-24s not ok\n' readyz
    ok=1
  fi
  if [[ -d $dir/node ]]; then
    "$HACK_DIR/node.sh" status "$dir" || ok=1
  fi
  return "$ok"
}

cmd_env() {
  if using_existing_cluster; then
    print_export "$KUBECONFIG"
  else
    print_export "$1/kubeconfig"
  fi
}

cmd_build() {
  if [[ -n ${KUBEBUILDER_ASSETS:-} ]]; then
    log "KUBEBUILDER_ASSETS is set: using $KUBEBUILDER_ASSETS, nothing to build"
    echo "$KUBEBUILDER_ASSETS"
    return 0
  fi
  ensure_built "$WITH_NODE"
  log "binaries: $(head -n 1 "$BIN_CACHE/.complete") in $BIN_CACHE"
  if [[ -n $WITH_NODE ]]; then
    log "node binaries: $(head -n 1 "$NODE_CACHE/.complete") in $NODE_CACHE"
  fi
  echo "$BIN_CACHE"
}

WITH_NODE=
main() {
  (($# >= 1)) || usage
  local cmd=$1
  shift
  local args=() a
  for a in "$@"; do
    if [[ $a == --with-node ]]; then WITH_NODE=node; else args+=("$a"); fi
  done
  set -- "${args[@]}"
  case $cmd in
    build)
      (($# == 0)) || usage
      cmd_build
      ;;
    up | down | status | env)
      if (($# != 1)) || [[ -z $1 ]]; then usage; fi
      local dir
      dir=$(realpath -m -- "$1")
      "cmd_$cmd" "$dir"
      ;;
    -h | --help | help) usage ;;
    *) usage ;;
  esac
}

# hack/node.sh sources this file for its helpers.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
