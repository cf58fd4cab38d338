#!/usr/bin/env bash
# Starts a local Dapr sidecar (daprd, standalone mode) with the shipped
# components: no placement, no scheduler, no mTLS, no app channel, loopback
# listeners only, mDNS off. Runs in the foreground and `exec`s daprd, so the
# PID of this script is the PID of daprd (stop it with `kill <pid>`).
#
# Usage: scripts/daprd-local.sh [options] [-- extra daprd flags]
#   --app-id ID          DAPR_APP_ID          (default virtufin-api)
#   --grpc-port N        DAPR_GRPC_PORT       (default 50001)
#   --http-port N        DAPR_HTTP_PORT       (default 3500)
#   --components DIR     DAPR_COMPONENTS_DIR  (default deploy/dapr/components)
#   --config FILE        DAPR_CONFIG          (default deploy/dapr/config.yaml)
#   --metrics-port N     DAPR_METRICS_PORT    (default: metrics off; "0"/"" = off)
#   --log-level LEVEL    DAPR_LOG_LEVEL       (default info)
#   --no-build           do not run tools/daprd/build.sh when the binary is missing
# Other environment: DAPRD_BIN (default tools/daprd/bin/daprd).
#
# Each gateway replica needs its own DAPR_APP_ID: the Redis pub/sub consumer
# group is the app id (see deploy/dapr/README.md). State keys do not depend on
# the app id (keyPrefix: none).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

app_id="${DAPR_APP_ID:-virtufin-api}"
grpc_port="${DAPR_GRPC_PORT:-50001}"
http_port="${DAPR_HTTP_PORT:-3500}"
components="${DAPR_COMPONENTS_DIR:-$root/deploy/dapr/components}"
config="${DAPR_CONFIG:-$root/deploy/dapr/config.yaml}"
metrics_port="${DAPR_METRICS_PORT:-}"
log_level="${DAPR_LOG_LEVEL:-info}"
daprd="${DAPRD_BIN:-$root/tools/daprd/bin/daprd}"
build=1
extra=()

need() { [[ $# -ge 2 && -n "$2" ]] || { echo "daprd-local.sh: $1 needs a value" >&2; exit 2; }; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --app-id) need "$@"; app_id="$2"; shift 2 ;;
    --grpc-port) need "$@"; grpc_port="$2"; shift 2 ;;
    --http-port) need "$@"; http_port="$2"; shift 2 ;;
    --components) need "$@"; components="$2"; shift 2 ;;
    --config) need "$@"; config="$2"; shift 2 ;;
    --metrics-port) need "$@"; metrics_port="$2"; shift 2 ;;
    --log-level) need "$@"; log_level="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "daprd-local.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [[ ! -x "$daprd" ]]; then
  if [[ $build -eq 1 && "$daprd" == "$root/tools/daprd/bin/daprd" ]]; then
    echo "daprd-local.sh: $daprd missing, building it first" >&2
    "$root/tools/daprd/build.sh" >&2
  else
    echo "daprd-local.sh: daprd binary not found: $daprd (run tools/daprd/build.sh)" >&2
    exit 1
  fi
fi
[[ -d "$components" ]] || { echo "daprd-local.sh: components dir not found: $components" >&2; exit 1; }

args=(
  --mode standalone
  --app-id "$app_id"
  --dapr-grpc-port "$grpc_port"
  --dapr-http-port "$http_port"
  --dapr-listen-addresses 127.0.0.1
  --dapr-internal-grpc-listen-address 127.0.0.1
  --resources-path "$components"
  --log-level "$log_level"
  # No actors (placement), no jobs/workflow reminders (scheduler), no mTLS.
  --placement-host-address ""
  --scheduler-host-address ""
  --enable-mtls=false
  # No app channel: the gateway talks to daprd, daprd never calls the gateway
  # (streaming subscriptions via SubscribeTopicEventsAlpha1 need no app port).
)
if [[ -n "$config" ]]; then
  [[ -f "$config" ]] || { echo "daprd-local.sh: config file not found: $config" >&2; exit 1; }
  args+=(--config "$config")
fi
if [[ -n "$metrics_port" && "$metrics_port" != "0" ]]; then
  args+=(--enable-metrics=true --metrics-port "$metrics_port" --metrics-listen-address 127.0.0.1)
else
  args+=(--enable-metrics=false)
fi

# daprd finds "its" host IP by a UDP dial to 8.8.8.8 (no packet is sent) unless
# DAPR_HOST_IP is set; pin it to loopback.
export DAPR_HOST_IP="${DAPR_HOST_IP:-127.0.0.1}"

echo "daprd-local.sh: $daprd app-id=$app_id grpc=127.0.0.1:$grpc_port http=127.0.0.1:$http_port resources=$components config=${config:-none}" >&2
exec "$daprd" "${args[@]}" "${extra[@]}"
