#!/usr/bin/env bash
# A local Kubernetes node beside the control plane of hack/control-plane.sh: containerd + runc +
# CNI bridge, kube-scheduler and a kubelet registered as node "localhost". Pods really run.
#
# Usage: hack/node.sh check | up DIR | down DIR | import DIR ARCHIVE... | status DIR
#
#   check       exit 0 if a node can run here; otherwise print why not (one line) and exit 1.
#   up DIR      start the node for the control plane in DIR (normally through
#               `hack/control-plane.sh up DIR --with-node`, which also gives the API server what
#               Pods need). State in DIR/node, logs in DIR/logs.
#   down DIR    undo everything `up` did: Pods, kubelet, scheduler, containerd (by PID), mounts,
#               the bridge, the nftables table, sysctls, cgroups and folders it created.
#   import DIR ARCHIVE...  import OCI/Docker image archives into the node's containerd.
#   status DIR  print each component's state.
#   leftovers   exit 1, listing them, if anything of a node is still on this machine (CI uses it
#               after `make test`).
#
# Needs root, overlayfs, network namespaces, nf_tables and the cgroup memory controller. Binaries:
# kubelet and kube-scheduler built from the same Debian kubernetes source as the control plane,
# containerd/runc/CNI plugins/nft unpacked from Debian bookworm, a static pause (gcc), cached in
# ${XDG_CACHE_HOME:-$HOME/.cache}/mosip-partner-operator/bin/k8s-1.20.2-node/.
#
# Addresses (all TEST-NET, on a bridge and a table this script makes and removes): Pods
# 198.51.100.0/24 on bridge mosipbr0 (198.51.100.1 = node IP); Services 203.0.113.0/24; Pods
# reach the API server through a DNAT of 203.0.113.1:443 (the `kubernetes` Service) to its
# loopback port. One node per machine: a second DIR is refused while one runs.
set -euo pipefail

# shellcheck source=hack/control-plane.sh
source "$(dirname "${BASH_SOURCE[0]}")/control-plane.sh"
log() { printf '[node] %s\n' "$*" >&2; }

readonly BRIDGE=mosipbr0
readonly POD_SUBNET=198.51.100.0/24 NODE_IP=198.51.100.1
readonly SERVICE_IP=203.0.113.1
readonly NODE_NAME=localhost
readonly NFT_TABLE=mosip_node
readonly PAUSE_IMAGE=k8s.gcr.io/pause:3.2
readonly HOST_STATE=/run/mosip-partner-operator
readonly NODE_LOCK_FD=7
readonly SYSCTLS=(vm.overcommit_memory kernel.panic kernel.panic_on_oops net.ipv4.ip_forward)
# Host paths containerd, the kubelet and CNI create whatever their configuration says.
readonly HOST_PATHS=(/run/containerd /run/netns /var/lib/cni /var/lib/kubelet /var/log/pods
  /var/log/containers)
readonly CGROUP_NAMES=(kubepods k8s.io default)
readonly RT="$NODE_CACHE/runtime"

# shellcheck disable=SC2031 # PATH is only changed in control-plane.sh's build subshell
rt_env() {
  env LD_LIBRARY_PATH="$RT/usr/lib/x86_64-linux-gnu:$RT/lib/x86_64-linux-gnu" \
    PATH="$RT/usr/bin:$RT/usr/sbin:$PATH" "$@"
}
nft() { rt_env "$RT/usr/sbin/nft" "$@"; }
ctr() { rt_env "$RT/usr/bin/ctr" --address "$ND/containerd.sock" -n k8s.io "$@"; }
kc() { kubectl --kubeconfig "$DIR/kubeconfig" "$@"; }

# Why a node cannot run here (one line on stdout), or nothing.
why_not() {
  [[ $EUID -eq 0 ]] || { echo "not root (containerd, the kubelet and network namespaces need root)"; return; }
  [[ $(uname -sm) == "Linux x86_64" ]] || { echo "not Linux x86_64"; return; }
  grep -qw overlay /proc/filesystems || { echo "no overlayfs in /proc/filesystems"; return; }
  if [[ ! -d /sys/fs/cgroup/memory ]] && ! grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
    echo "no cgroup memory controller"
    return
  fi
  command -v ip >/dev/null || { echo "no ip command (iproute2)"; return; }
  unshare --net true 2>/dev/null || { echo "cannot create network namespaces (unshare --net)"; return; }
  if ! ip link add mosipchk0 type bridge 2>/dev/null; then
    echo "cannot create a bridge interface"
    return
  fi
  ip link del mosipchk0
  if ! node_cache_complete; then
    command -v gcc >/dev/null || { echo "no gcc (for the static pause binary)"; return; }
    if [[ -z ${KUBEBUILDER_ASSETS:-} ]] && ! command -v apt-get >/dev/null; then
      echo "no apt-get to fetch the node's binaries"
      return
    fi
  elif ! nft add table ip mosip_check 2>/dev/null; then
    echo "nf_tables does not work (nft add table)"
    return
  else
    nft delete table ip mosip_check
  fi
  local other
  other=$(cat "$HOST_STATE/node.owner" 2>/dev/null || true)
  if [[ -n $other ]] && [[ -n ${DIR:-} && $other != "$DIR" ]] && live_pid "$other" containerd >/dev/null; then
    echo "a node of $other runs on this machine (hack/control-plane.sh down $other)"
  fi
}

cmd_check() {
  local why
  why=$(why_not)
  if [[ -n $why ]]; then
    echo "$why"
    return 1
  fi
}

# node_lock [up|down]: one node operation at a time on this machine. `down` goes ahead after
# ${NODE_LOCK_WAIT:-120} s (undoing must not hang), `up` gives up.
node_lock() {
  mkdir -p "$HOST_STATE"
  eval "exec $NODE_LOCK_FD>\"\$HOST_STATE/node.lock\""
  flock -w "${NODE_LOCK_WAIT:-120}" "$NODE_LOCK_FD" && return 0
  [[ ${1:-} == down ]] || die "another node operation holds $HOST_STATE/node.lock"
  log "warning: $HOST_STATE/node.lock is still held; going ahead"
}

api_port() { sed -n 's|^API_SERVER=https://127.0.0.1:||p' "$DIR/tokens.env"; }

node_ready() {
  [[ $(kc get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]
}

write_configs() {
  local kubelet_port=$1 healthz_port=$2
  mkdir -p "$ND/cni/net.d" "$ND/cni/ipam" "$ND/containerd" "$ND/kubelet"
  cat >"$ND/containerd.toml" <<EOF
version = 2
root = "$ND/containerd/root"
state = "$ND/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$ND/containerd.sock"
[ttrpc]
  address = "$ND/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$ND/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # This VM refuses negative oom_score_adj values, even for root.
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "$RT/usr/sbin/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$RT/usr/lib/cni"
    conf_dir = "$ND/cni/net.d"
EOF
  cat >"$ND/cni/net.d/10-mosip.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "mosip-node",
  "plugins": [{
    "type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
    "ipam": {"type": "host-local", "dataDir": "$ND/cni/ipam",
             "ranges": [[{"subnet": "$POD_SUBNET", "gateway": "$NODE_IP"}]],
             "routes": [{"dst": "0.0.0.0/0"}]}
  }]
}
EOF
  cat >"$ND/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: $kubelet_port
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $healthz_port
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
cgroupsPerQOS: true
enforceNodeAllocatable: [pods]
failSwapOn: false
makeIPTablesUtilChains: false
serializeImagePulls: false
fileCheckFrequency: 0s
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
volumePluginDir: $ND/kubelet/volume-plugins
EOF
}

cmd_up() {
  local why
  why=$(why_not)
  [[ -z $why ]] || die "no node can run here: $why"
  [[ -f $DIR/tokens.env ]] || die "no control plane in $DIR (hack/control-plane.sh up $DIR --with-node)"
  ensure_built node
  node_lock
  local other
  other=$(cat "$HOST_STATE/node.owner" 2>/dev/null || true)
  if [[ -n $other && $other != "$DIR" ]]; then
    if live_pid "$other" containerd >/dev/null || live_pid "$other" kubelet >/dev/null; then
      die "a node of $other runs on this machine; stop it first (hack/control-plane.sh down $other)"
    fi
    log "cleaning up after the node of $other"
    DIR=$other ND=$other/node teardown
  fi
  mkdir -p "$ND" "$DIR/logs"
  if live_pid "$DIR" containerd >/dev/null && live_pid "$DIR" kubelet >/dev/null &&
    live_pid "$DIR" scheduler >/dev/null && node_ready; then
    log "node in $ND is already running"
    return 0
  fi
  [[ -f $ND/up ]] && { log "node in $ND is partly running; restarting it"; teardown; mkdir -p "$ND"; }
  local start=$SECONDS
  echo "$DIR" >"$HOST_STATE/node.owner"
  : >"$ND/up"
  # From here on, `down` knows what to undo.
  # shellcheck disable=SC2064
  trap "log 'node start failed; undoing it'; teardown" EXIT

  local p c name
  : >"$ND/preexisting"
  for p in "${HOST_PATHS[@]}"; do [[ -e $p ]] && echo "$p" >>"$ND/preexisting"; done
  for c in /sys/fs/cgroup/*/; do
    for name in "${CGROUP_NAMES[@]}"; do [[ -d $c$name ]] && echo "$c$name" >>"$ND/preexisting"; done
  done
  if [[ ! -f $HOST_STATE/node.sysctl ]]; then
    for name in "${SYSCTLS[@]}"; do printf '%s=%s\n' "$name" "$(sysctl -n "$name")"; done \
      >"$HOST_STATE/node.sysctl.tmp"
    mv "$HOST_STATE/node.sysctl.tmp" "$HOST_STATE/node.sysctl"
  fi

  # Pod network: our bridge, the node IP on it, and the API server reachable as the
  # `kubernetes` Service from Pods on it.
  ip link add "$BRIDGE" type bridge
  ip addr add "$NODE_IP/${POD_SUBNET#*/}" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  sysctl -qw "net.ipv4.conf.$BRIDGE.route_localnet=1"
  local port
  port=$(api_port)
  [[ $port =~ ^[0-9]+$ ]] || die "no API server port in $DIR/tokens.env"
  nft -f - <<EOF
table ip $NFT_TABLE {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    iifname "$BRIDGE" ip daddr $SERVICE_IP tcp dport 443 dnat to 127.0.0.1:$port
  }
}
EOF

  local kubelet_port healthz_port
  read -r kubelet_port healthz_port < <(free_ports 2)
  write_configs "$kubelet_port" "$healthz_port"

  # PATH: containerd finds containerd-shim-runc-v2 there.
  # shellcheck disable=SC2031
  start_proc "$DIR" containerd env PATH="$RT/usr/bin:$RT/usr/sbin:$PATH" \
    "$RT/usr/bin/containerd" --config "$ND/containerd.toml"
  local rc=0
  wait_for "$DIR" containerd 30 ctr version || rc=$?
  ((rc == 0)) || { tail -n 30 "$DIR/logs/containerd.log" >&2 || true; die "containerd did not start"; }

  if [[ ! -f $NODE_CACHE/pause.oci.tar ]]; then
    python3 "$HACK_DIR/oci-image.py" --out "$NODE_CACHE/pause.oci.tar" --name "$PAUSE_IMAGE" \
      --entrypoint '["/pause"]' --user 65535:65535 "$NODE_CACHE/pause:/pause:0755" 2>/dev/null
  fi
  ctr images import "$NODE_CACHE/pause.oci.tar" >/dev/null

  start_proc "$DIR" kubelet "$NODE_CACHE/kubelet" --config="$ND/kubelet.yaml" \
    --kubeconfig="$DIR/kubeconfig" --container-runtime=remote \
    --container-runtime-endpoint="unix://$ND/containerd.sock" \
    --pod-infra-container-image="$PAUSE_IMAGE" --hostname-override="$NODE_NAME" \
    --node-ip="$NODE_IP" --root-dir="$ND/kubelet" --cert-dir="$ND/kubelet/pki" \
    --oom-score-adj=0 --v=1
  start_proc "$DIR" scheduler "$NODE_CACHE/kube-scheduler" --kubeconfig="$DIR/kubeconfig" \
    --authentication-kubeconfig="$DIR/kubeconfig" --authorization-kubeconfig="$DIR/kubeconfig" \
    --leader-elect=false --port=0 --secure-port=0 --bind-address=127.0.0.1
  rc=0
  wait_for "$DIR" kubelet 90 node_ready || rc=$?
  if ((rc != 0)); then
    tail -n 30 "$DIR/logs/kubelet.log" >&2 || true
    die "node $NODE_NAME did not become Ready (log: $DIR/logs/kubelet.log)"
  fi
  # No node-lifecycle controller runs to lift the taint the kubelet registers with.
  kc taint nodes "$NODE_NAME" node.kubernetes.io/not-ready- >/dev/null 2>&1 || true
  trap - EXIT
  log "node $NODE_NAME Ready in $((SECONDS - start)) s (Pods on $BRIDGE $POD_SUBNET; logs: $DIR/logs)"
}

# Kills every process in our containers' cgroups (when containerd could not do it).
kill_cgroup_procs() {
  local c name pids
  for c in /sys/fs/cgroup/*/; do
    for name in "${CGROUP_NAMES[@]}"; do
      [[ -d $c$name ]] || continue
      grep -qxF "$c$name" "$ND/preexisting" 2>/dev/null && continue
      pids=$(find "$c$name" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u)
      # shellcheck disable=SC2086
      [[ -z $pids ]] || kill -KILL $pids 2>/dev/null || true
    done
  done
}

teardown() {
  local start=$SECONDS i
  [[ -d $ND ]] || return 0
  # 1. Pods, through the kubelet (stops containers and sandboxes, CNI DEL for each).
  if live_pid "$DIR" kubelet >/dev/null && live_pid "$DIR" apiserver >/dev/null; then
    kc delete pods --all-namespaces --field-selector "spec.nodeName=$NODE_NAME" --grace-period=2 \
      --wait=false >/dev/null 2>&1 || true
    for ((i = 0; i < 60; i++)); do
      [[ -z $(kc get pods -A --field-selector "spec.nodeName=$NODE_NAME" -o name 2>/dev/null) ]] && break
      sleep 0.5
    done
  fi
  stop_proc "$DIR" scheduler
  stop_proc "$DIR" kubelet
  # 2. Whatever containers are left, through containerd.
  if live_pid "$DIR" containerd >/dev/null; then
    local t
    for t in $(ctr tasks ls -q 2>/dev/null); do ctr tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true; done
    for ((i = 0; i < 20; i++)); do
      [[ -z $(ctr tasks ls -q 2>/dev/null | head -n 1) ]] && break
      for t in $(ctr tasks ls -q 2>/dev/null); do ctr tasks rm -f "$t" >/dev/null 2>&1 || true; done
      sleep 0.25
    done
  fi
  stop_proc "$DIR" containerd
  # 3. Processes that outlived containerd: container processes and shims.
  kill_cgroup_procs
  local pid shims="containerd-shim-runc-v2 .*-address $ND/containerd.sock"
  for pid in $(pgrep -f "$shims" 2>/dev/null); do
    kill -KILL "$pid" 2>/dev/null || true
  done
  # A killed process is gone only once the kernel has torn it down: wait for that (bounded; the
  # leftover check still reports a shim that outlives it), not a fixed 0.2 s.
  for ((i = 0; i < 50; i++)); do
    pgrep -f "$shims" >/dev/null 2>&1 || break
    sleep 0.1
  done
  # 4. Mounts under our folders, the sandboxes' network namespaces and the host paths we made.
  local created=() p
  for p in "${HOST_PATHS[@]}"; do
    grep -qxF "$p" "$ND/preexisting" 2>/dev/null || created+=("$p")
  done
  local targets
  for ((i = 0; i < 3; i++)); do
    targets=$(findmnt -rn -o TARGET | while read -r m; do
      m=$(printf '%b' "$m")
      case $m in
        "$ND"/*) echo "$m" ;;
        /run/netns/cni-*) echo "$m" ;;
        *) for p in "${created[@]}"; do if [[ $m == "$p"/* ]]; then echo "$m"; fi; done ;;
      esac
    done | sort -r || true)
    [[ -z $targets ]] && break
    while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done <<<"$targets"
  done
  rm -f /run/netns/cni-* 2>/dev/null || true
  # 5. Network: the bridge (and with it its route_localnet) and our nftables table.
  ip link del "$BRIDGE" 2>/dev/null || true
  nft delete table ip "$NFT_TABLE" 2>/dev/null || true
  # 6. Sysctls the kubelet and the bridge plugin changed.
  if [[ -f $HOST_STATE/node.sysctl ]]; then
    local kv
    while read -r kv; do sysctl -qw "$kv" >/dev/null || log "warning: could not restore $kv"; done \
      <"$HOST_STATE/node.sysctl"
    rm -f "$HOST_STATE/node.sysctl"
  fi
  # 7. Cgroups (empty now), host paths and our state.
  local c name
  for c in /sys/fs/cgroup/*/; do
    for name in "${CGROUP_NAMES[@]}"; do
      [[ -d $c$name ]] || continue
      grep -qxF "$c$name" "$ND/preexisting" 2>/dev/null && continue
      find "$c$name" -depth -type d -exec rmdir {} + 2>/dev/null || true
      [[ -d $c$name ]] && log "warning: cgroup $c$name is still in use"
    done
  done
  for p in "${created[@]}"; do
    if [[ $p == /run/netns ]]; then rmdir "$p" 2>/dev/null || true; else rm -rf "$p"; fi
  done
  if findmnt -rn -o TARGET | grep -q "^$ND/"; then
    log "warning: mounts remain under $ND; leaving it"
  else
    rm -rf "$ND"
  fi
  [[ $(cat "$HOST_STATE/node.owner" 2>/dev/null) == "$DIR" ]] && rm -f "$HOST_STATE/node.owner"
  log "node in $ND removed in $((SECONDS - start)) s"
}

cmd_down() {
  [[ -d $ND ]] || return 0
  node_lock down
  teardown
  # Only `down` removes the lock and our state directory: `up` also tears down (a node another
  # control plane left behind, a half-started one of its own) and then goes on under the lock,
  # writing node.owner into that directory.
  rm -f "$HOST_STATE/node.lock"
  rmdir "$HOST_STATE" 2>/dev/null || true
}

cmd_import() {
  live_pid "$DIR" containerd >/dev/null || die "no node runs in $ND"
  local a
  for a in "$@"; do
    ctr images import "$a" >&2 || die "ctr images import $a failed"
  done
}

cmd_status() {
  local name pid ok=0
  for name in containerd kubelet scheduler; do
    if pid=$(live_pid "$DIR" "$name"); then
      printf '%-24s running (pid %s)\n' "$(bin_name "$name")" "$pid"
    else
      printf '%-24s stopped\n' "$(bin_name "$name")"
      ok=1
    fi
  done
  if node_ready; then printf '%-24s Ready\n' "node $NODE_NAME"; else printf '%-24s not Ready\n' "node $NODE_NAME"; ok=1; fi
  return "$ok"
}

cmd_leftovers() {
  local found=()
  [[ -e $HOST_STATE/node.owner ]] && found+=("$HOST_STATE/node.owner ($(cat "$HOST_STATE/node.owner"))")
  ip link show "$BRIDGE" >/dev/null 2>&1 && found+=("bridge $BRIDGE")
  if node_cache_complete && nft list table ip "$NFT_TABLE" >/dev/null 2>&1; then
    found+=("nftables table ip $NFT_TABLE")
  fi
  local m
  while read -r m; do found+=("mount $m"); done < <(findmnt -rn -o TARGET | grep -E '^/run/netns/cni-|^/run/containerd/|/node/(kubelet|containerd)/' || true)
  local c
  for c in /sys/fs/cgroup/*/kubepods; do [[ -d $c ]] && found+=("cgroup $c"); done
  # A kubelet or shim still exiting after a teardown on a loaded machine is not a leftover:
  # give it a bounded 10 s to go (seen once: reported right after a teardown, gone moments later).
  local i
  node_procs() { pgrep -x kubelet >/dev/null || pgrep -f 'containerd-shim-runc-v2' >/dev/null; }
  for ((i = 0; i < 100; i++)); do
    node_procs || break
    sleep 0.1
  done
  if node_procs; then
    found+=("kubelet or containerd-shim processes")
  fi
  if ((${#found[@]})); then
    printf 'left over: %s\n' "${found[@]}"
    return 1
  fi
  echo "no node leftovers"
}

node_main() {
  (($# >= 1)) || usage
  local cmd=$1
  shift
  case $cmd in
    check) cmd_check ;;
    leftovers) cmd_leftovers ;;
    up | down | status | import)
      (($# >= 1)) && [[ -n $1 ]] || usage
      DIR=$(realpath -m -- "$1")
      ND=$DIR/node
      shift
      if [[ $cmd == import ]]; then
        (($# >= 1)) || usage
        cmd_import "$@"
      else
        (($# == 0)) || usage
        "cmd_$cmd"
      fi
      ;;
    *) usage ;;
  esac
}

# usage() of control-plane.sh prints this file's header too: $0 is this script.
node_main "$@"
