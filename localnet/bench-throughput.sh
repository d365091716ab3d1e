#!/usr/bin/env bash
# Committed-transfer throughput and commit latency of a Blyan localnet, next to CometBFT's
# built-in kvstore app with the same layout, transaction size and load shape.
#
#   localnet/bench-throughput.sh [VALIDATORS=1] [RATE=5000] [SECONDS=20]
#
# For each app it writes fresh homes with `blyand testnet` (timeout_commit 1 s), starts the
# nodes, runs `blyand loadgen` at the offered rate against every node's RPC, prints the
# report, and stops exactly the processes it started. Ports start at $BLYAN_BENCH_PORT
# (default 28600). BLYAN_BENCH_TX_INDEX=null turns CometBFT's tx indexer off for both apps
# (default: kv, as a node runs), to bound what indexing costs.
set -euo pipefail

n="${1:-1}"
rate="${2:-5000}"
secs="${3:-20}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
base="${BLYAN_BENCH_PORT:-28600}"
tx_index="${BLYAN_BENCH_TX_INDEX:-kv}"
cometbft="$root/.bin/cometbft"
blyand="${CARGO_TARGET_DIR:-$root/target}/release/blyand"
work="$(mktemp -d)"
pids=()

cleanup() {
  local p
  for p in "${pids[@]:-}"; do if [ -n "$p" ]; then kill "$p" 2>/dev/null || true; fi; done
  sleep 1
  for p in "${pids[@]:-}"; do if [ -n "$p" ]; then kill -9 "$p" 2>/dev/null || true; fi; done
  pids=()
}
trap 'cleanup; rm -rf "$work"' EXIT

bash "$root/localnet/install.sh" >/dev/null
(cd "$root" && cargo build --release --quiet --bin blyand)

height() {
  curl -sf --max-time 2 "$1/status" 2>/dev/null |
    grep -o '"latest_block_height": *"[0-9]*"' | grep -o '[0-9][0-9]*' || echo 0
}

# start_net MODE: MODE is blyan or kvstore.
start_net() {
  local mode="$1" dir="$work/$1" i
  "$blyand" testnet --validators "$n" --out-dir "$dir" --base-port "$base" \
    --cometbft-bin "$cometbft" --timeout-commit-ms 1000 >/dev/null
  sed -i "s/^indexer = \".*\"/indexer = \"$tx_index\"/" "$dir"/node*/config/config.toml
  for ((i = 0; i < n; i++)); do
    if [ "$mode" = blyan ]; then
      "$blyand" start --home "$dir/node$i" >"$dir/node$i/blyand.log" 2>&1 &
      pids+=("$!")
      sleep 0.5
      "$cometbft" start --home "$dir/node$i" --log_level error >"$dir/node$i/cometbft.log" 2>&1 &
    else
      "$cometbft" start --home "$dir/node$i" --proxy_app kvstore --log_level error >"$dir/node$i/cometbft.log" 2>&1 &
    fi
    pids+=("$!")
  done
  local rpc="http://127.0.0.1:$((base + 1))" t=0
  until [ "$(height "$rpc")" -ge 3 ]; do
    sleep 1
    t=$((t + 1))
    [ "$t" -lt 90 ] || { tail -n 20 "$dir"/node0/*.log >&2; echo "net did not start" >&2; exit 1; }
  done
}

nodes_csv() {
  local i out=""
  for ((i = 0; i < n; i++)); do out+="${out:+,}http://127.0.0.1:$((base + 10 * i + 1))"; done
  echo "$out"
}

echo "== blyan: $n validator(s), offered $rate tx/s for $secs s, tx indexer $tx_index"
start_net blyan
funder="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dev_accounts"][0]["private_key_hex"])' "$work/blyan/keys.json")"
blyan_out="$("$blyand" loadgen --nodes "$(nodes_csv)" --rate "$rate" --duration "$secs" \
  --funder-key "$funder" --output json)"
echo "$blyan_out"
size="$(echo "$blyan_out" | grep -o '"tx_size_bytes":[0-9]*' | grep -o '[0-9]*$')"
cleanup

echo "== kvstore: same layout, $size-byte transactions"
start_net kvstore
kv_out="$("$blyand" loadgen --mode kvstore --nodes "$(nodes_csv)" --rate "$rate" --duration "$secs" \
  --tx-size "$size" --output json)"
echo "$kv_out"
cleanup

python3 - "$blyan_out" "$kv_out" <<'PY'
import json, sys
b, k = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"blyan/kvstore committed-per-second ratio: {b['committed_per_sec'] / max(k['committed_per_sec'], 1):.2f}")
print(f"p50 latency: blyan {b['latency_p50_s']} s, kvstore {k['latency_p50_s']} s; "
      f"p99: blyan {b['latency_p99_s']} s, kvstore {k['latency_p99_s']} s")
PY
