#!/usr/bin/env bash
# Installs the pinned CometBFT (and, later, Kubo) into the project-local bin directory with
# `go install`. Idempotent: a binary already at the pinned version is left alone.
set -euo pipefail

COMETBFT_VERSION="v0.38.26"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${BLYAN_BIN:-$root/.bin}"
mkdir -p "$bin"

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
