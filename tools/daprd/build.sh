#!/usr/bin/env bash
# Builds the Dapr sidecar (daprd) pinned in tools/daprd/go.mod into
# tools/daprd/bin/daprd, from the Go module proxy only (no release download).
#
#   tools/daprd/build.sh            build unless bin/daprd is newer than the inputs
#   tools/daprd/build.sh --force    always run `go build` (cheap when Go's build cache is warm)
#
# Environment: GO (default: go on PATH, else /usr/local/go/bin/go),
# DAPRD_OUT (default: tools/daprd/bin/daprd). Honors GOMODCACHE/GOCACHE/GOFLAGS.
# Cold build (empty module and build cache) takes several minutes on 2 cores;
# see deploy/dapr/README.md for measured times.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

force=0
for arg in "$@"; do
  case "$arg" in
    --force|-f) force=1 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

GO="${GO:-}"
if [[ -z "$GO" ]]; then
  if command -v go >/dev/null 2>&1; then GO=go
  elif [[ -x /usr/local/go/bin/go ]]; then GO=/usr/local/go/bin/go
  else echo "build.sh: no Go toolchain found (set GO=/path/to/go)" >&2; exit 1
  fi
fi

out="${DAPRD_OUT:-$here/bin/daprd}"

# Up-to-date check: the binary is newer than every input of this module.
if [[ $force -eq 0 && -x "$out" ]]; then
  stale=0
  for f in go.mod go.sum build.sh *.go; do
    if [[ -e "$f" && "$f" -nt "$out" ]]; then stale=1; break; fi
  done
  if [[ $stale -eq 0 ]]; then
    echo "daprd: $out is up to date ($("$out" --version 2>/dev/null || echo '?'))"
    exit 0
  fi
fi

# The pinned version, as written in go.mod (no network needed for this).
dapr_version="$(awk '$1 == "github.com/dapr/dapr" && $2 ~ /^v/ { print $2; exit }' go.mod)"
if [[ -z "$dapr_version" ]]; then
  # go.mod keeps dapr in a require block: "	github.com/dapr/dapr v1.16.5"
  dapr_version="$(grep -E '^\s*github.com/dapr/dapr v' go.mod | awk '{print $2}' | head -n1)"
fi
[[ -n "$dapr_version" ]] || { echo "build.sh: cannot find github.com/dapr/dapr in go.mod" >&2; exit 1; }
plain_version="${dapr_version#v}"

echo "building daprd from github.com/dapr/dapr $dapr_version ($("$GO" version | awk '{print $3}'), tags=stablecomponents + pubsub.jetstream, CGO_ENABLED=0) ..."
echo "  output: $out"
echo "  module cache: $("$GO" env GOMODCACHE)  build cache: $("$GO" env GOCACHE)"

mkdir -p "$(dirname "$out")"
tmp="$out.tmp.$$"
start=$(date +%s)

# Heartbeat so a cold build (several minutes, no output from go build) does not look hung.
(
  while sleep 60 </dev/null >/dev/null 2>&1; do
    echo "  ... still building daprd ($(( $(date +%s) - start ))s)"
  done
) &
heartbeat=$!
cleanup() { kill "$heartbeat" 2>/dev/null || true; rm -f "$tmp"; }
trap cleanup EXIT

ldflags="-s -w"
ldflags+=" -X github.com/dapr/dapr/pkg/buildinfo.version=$plain_version"
ldflags+=" -X github.com/dapr/dapr/pkg/buildinfo.gitversion=$dapr_version"
ldflags+=" -X github.com/dapr/kit/logger.DaprVersion=$plain_version"

set +e
CGO_ENABLED=0 "$GO" build \
  -mod=readonly \
  -buildvcs=false \
  -trimpath \
  -tags stablecomponents \
  -ldflags "$ldflags" \
  -o "$tmp" \
  .
rc=$?
set -e

elapsed=$(( $(date +%s) - start ))
if [[ $rc -ne 0 ]]; then
  echo "daprd: go build FAILED (exit $rc) after ${elapsed}s" >&2
  exit "$rc"
fi

mv -f "$tmp" "$out"
touch "$out"
echo "daprd: built $out ($("$out" --version)) in ${elapsed}s"
