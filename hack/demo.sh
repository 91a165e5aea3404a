#!/usr/bin/env bash
# Applies examples/ to the demo control plane and waits until the operator has onboarded them.
#
# Usage: hack/demo.sh DIR
#
#   DIR is the control-plane directory of `make demo` (kubeconfig, operator.log, operator.pid).
#   The CRDs must be installed and the operator running (`make demo` does both, then calls this).
#   Waits up to DEMO_TIMEOUT seconds (default 90) until every Partner and MispLicense in
#   mosip-partners is Ready=True, except example-auth-partner, whose Manual policy leaves it in
#   PendingApproval until someone approves it (then it must be Ready=True too). Exits 1, printing what is not Ready and the end of the operator log, if that
#   does not happen in time.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly REPO_ROOT
readonly NS=mosip-partners
readonly PENDING_PARTNER=example-auth-partner
readonly PENDING_POLICY=example-auth-policy
readonly TIMEOUT=${DEMO_TIMEOUT:-90}
readonly MANAGED_BY=app.kubernetes.io/managed-by=mosip-partner-operator

[[ $# -eq 1 ]] || { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2; exit 2; }
DIR=$(cd "$1" && pwd) || exit 2
readonly DIR
LOG=$DIR/operator.log
export KUBECONFIG=$DIR/kubeconfig
[[ -f $KUBECONFIG ]] || { echo "demo: no kubeconfig at $KUBECONFIG; run 'make demo'" >&2; exit 2; }
cd "$REPO_ROOT"

# Ready condition of every object of KINDS: "<kind>/<name> <ns> <status> <reason> <message>",
# tab-separated, one line per object.
ready_lines() {
  kubectl get "$1" -A -o jsonpath='{range .items[*]}{.kind}/{.metadata.name}{"\t"}{.metadata.namespace}{"\t"}{.status.conditions[?(@.type=="Ready")].status}{"\t"}{.status.conditions[?(@.type=="Ready")].reason}{"\t"}{.status.conditions[?(@.type=="Ready")].message}{"\n"}{end}'
}

# Prints the Partners and MispLicenses of $NS that are not where the demo wants them (Ready=True,
# or PendingApproval for the auth partner), or "none applied yet"/"kubectl failed"; empty output
# means converged.
not_converged() {
  local lines
  lines=$(ready_lines partners,misplicenses) || { echo "kubectl failed"; return; }
  awk -F'\t' -v ns="$NS" -v pending="Partner/$PENDING_PARTNER" '
    $2 != ns { next }
    { seen++ }
    $1 == pending { if ($3 != "True" && $4 != "PendingApproval") print; next }
    $3 != "True" { print }
    END { if (!seen) print "none applied yet" }' <<<"$lines"
}

operator_alive() {
  [[ ! -f $DIR/operator.pid ]] || kill -0 "$(cat "$DIR/operator.pid")" 2>/dev/null
}

fail() {
  echo >&2
  echo "demo: $1" >&2
  echo "Objects that are not Ready:" >&2
  ready_lines cacertificates,partnerpolicies,partners,misplicenses |
    awk -F'\t' -v pending="Partner/$PENDING_PARTNER" '
      $3 == "True" || ($1 == pending && $4 == "PendingApproval") { next }
      {
        where = ($2 == "") ? "" : " -n " $2
        if ($3 == "") { printf "  %s%s: no Ready condition (not reconciled yet)\n", $1, where; next }
        printf "  %s%s: Ready=%s reason=%s message=%s\n", $1, where, $3, $4, $5
      }' >&2 || true
  if [[ -f $DIR/in-cluster ]]; then
    echo "Last lines of the operator Pod's log:" >&2
    kubectl logs -n mosip-partner-operator deployment/mosip-partner-operator --tail=40 2>&1 | sed 's/^/  /' >&2 || true
  elif [[ -f $LOG ]]; then
    echo "Last lines of $LOG:" >&2
    tail -n 40 "$LOG" | sed 's/^/  /' >&2
  else
    echo "(no operator log at $LOG)" >&2
  fi
  exit 1
}

echo "Applying examples/ (namespace $NS) ..."
kubectl apply --server-side --force-conflicts -R -f examples/

echo "Waiting up to ${TIMEOUT}s for the operator to onboard the partners ..."
deadline=$((SECONDS + TIMEOUT))
while :; do
  operator_alive || fail "the operator (pid $(cat "$DIR/operator.pid")) is not running"
  [[ -n $(not_converged) ]] || break
  ((SECONDS < deadline)) || fail "not converged after ${TIMEOUT}s"
  sleep 2
done

echo
kubectl get mosip -A
echo
echo "Secrets the operator wrote in $NS:"
kubectl get secrets -n "$NS" -l "$MANAGED_BY"
down="make down"
[[ $DIR == "$REPO_ROOT/.cp" ]] || down="make down DEMO_DIR=$DIR"
if [[ $(kubectl get partner "$PENDING_PARTNER" -n "$NS" \
  -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}') == True ]]; then
  printf '\nEverything is onboarded (%s was approved already).\n' "$PENDING_PARTNER"
else
  cat <<EOF

Everything is onboarded except $PENDING_PARTNER, which waits for an approver (PendingApproval):
  target/debug/mosip-partner-operator approve $PENDING_PARTNER --policy $PENDING_POLICY -n $NS
EOF
fi
[[ -f $DIR/in-cluster ]] && LOG="kubectl logs -n mosip-partner-operator deployment/mosip-partner-operator (the operator runs as a Pod)"
cat <<EOF

Operator log: $LOG
Stop the demo: $down
export KUBECONFIG=$KUBECONFIG
EOF
