#!/usr/bin/env bash
# Runs Blyan's whole test suite on a fresh machine, installing what it needs. Formatting and
# lint checks run first (they fail fast); then the pinned cometbft and Kubo (built from the Go
# module proxy into .bin/; Kubo's first build takes several minutes), a Python venv with
# eth-account (the foreign-signer test) and openai (the gateway's client test), Debian's
# chromium (the chat page test) and bible-kjv-text (the real English corpus); then a build
# of every binary and every unit, property, in-process and end-to-end test. A test whose tool is missing fails; none is skipped.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

echo "==> installing pinned tools"
bash localnet/install.sh
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import eth_account, openai" 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet "eth-account==0.14.0" "openai==3.54.0"
fi
# Debian's chromium drives the gateway's chat page in a headless test.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then apt_get="apt-get"; else apt_get="sudo apt-get"; fi
  $apt_get update && $apt_get install -y chromium
fi
# Debian's bible-kjv-text is the real English corpus (the worker's text tests fail without it).
if [ ! -f /usr/lib/bible.data ]; then
  if [ "$(id -u)" = 0 ]; then apt_get="apt-get"; else apt_get="sudo apt-get"; fi
  $apt_get update && $apt_get install -y bible-kjv-text
fi
export BLYAN_PYTHON="$root/.venv/bin/python"
export COMETBFT_BIN="$root/.bin/cometbft"
export KUBO_BIN="$root/.bin/ipfs"

echo "==> cargo build (binaries used by the end-to-end tests)"
cargo build --workspace --bins

echo "==> cargo test"
cargo test --workspace
