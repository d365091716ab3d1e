#!/usr/bin/env bash
# Installs the pinned CometBFT and Kubo (`ipfs`) into the project-local bin directory
# ($BLYAN_BIN, default .bin/) from the Go module proxy. Idempotent: a binary already at the
# pinned version is left alone.
set -euo pipefail

COMETBFT_VERSION="v0.38.26"
# The newest Kubo release buildable from the Go module proxy alone (v0.43.1 replaces
# go-libp2p with a fork the proxy does not serve).
KUBO_VERSION="v0.43.0"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${BLYAN_BIN:-$root/.bin}"
mkdir -p "$bin"

# The version a Kubo binary reports (`ipfs version --number`), or nothing.
kubo_version() {
  if [ -x "$1" ]; then
    "$1" version --number 2>/dev/null || true
  fi
}

have_version() { # $1 binary, $2 expected version (without v)
  [ -x "$1" ] && "$1" version 2>/dev/null | grep -q "$2"
}

if have_version "$bin/cometbft" "${COMETBFT_VERSION#v}"; then
  echo "cometbft ${COMETBFT_VERSION} already installed at $bin/cometbft"
else
  command -v go >/dev/null || { echo "error: Go is required to install cometbft" >&2; exit 1; }
  echo "installing cometbft ${COMETBFT_VERSION} with go install (first run takes a few minutes)..."
  GOBIN="$bin" GOFLAGS="${GOFLAGS:-} -buildvcs=false" \
    go install "github.com/cometbft/cometbft/cmd/cometbft@${COMETBFT_VERSION}"
  have_version "$bin/cometbft" "${COMETBFT_VERSION#v}" || {
    echo "error: installed cometbft does not report ${COMETBFT_VERSION}" >&2; exit 1; }
  echo "cometbft ${COMETBFT_VERSION} installed at $bin/cometbft"
fi

# Kubo: `go install …@version` refuses a module whose go.mod carries replace/exclude
# directives (Kubo's does), so on that refusal the pinned module is fetched from the Go module
# proxy with `go mod download`, copied out of the read-only module cache and built with
# `go build ./cmd/ipfs` against its own go.mod and go.sum (dependencies come from the proxy
# too; no release binaries are downloaded).
if [ "$(kubo_version "$bin/ipfs")" = "${KUBO_VERSION#v}" ]; then
  echo "kubo ${KUBO_VERSION} already installed at $bin/ipfs"
else
  command -v go >/dev/null || { echo "error: Go is required to install kubo" >&2; exit 1; }
  echo "installing kubo ${KUBO_VERSION} (first run builds it from source: several minutes)..."
  start=$SECONDS
  if ! GOBIN="$bin" GOFLAGS="${GOFLAGS:-} -buildvcs=false" \
    go install "github.com/ipfs/kubo/cmd/ipfs@${KUBO_VERSION}" 2>"$bin/.kubo-install.err"; then
    sed 's/^/  go install: /' "$bin/.kubo-install.err" >&2
    echo "go install refused kubo; building it from its module source with go build instead"
    dir="$(go mod download -json "github.com/ipfs/kubo@${KUBO_VERSION}" |
      sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
    if [ -z "$dir" ] || [ ! -f "$dir/go.mod" ]; then
      echo "error: go mod download github.com/ipfs/kubo@${KUBO_VERSION} gave no module dir" >&2
      exit 1
    fi
    work="$(mktemp -d)"
    trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
    cp -R "$dir/." "$work/"
    chmod -R u+w "$work"
    (cd "$work" && GOFLAGS="${GOFLAGS:-} -buildvcs=false" go build -trimpath -o "$bin/ipfs.new" ./cmd/ipfs)
    mv -f "$bin/ipfs.new" "$bin/ipfs"
  fi
  rm -f "$bin/.kubo-install.err"
  [ "$(kubo_version "$bin/ipfs")" = "${KUBO_VERSION#v}" ] || {
    echo "error: installed kubo reports '$(kubo_version "$bin/ipfs")', not ${KUBO_VERSION#v}" >&2; exit 1; }
  echo "kubo ${KUBO_VERSION} installed at $bin/ipfs in $((SECONDS - start))s"
fi
