#!/usr/bin/env bash
# Starts an N-validator Blyan localnet on loopback ports (default N = 4).
#
#   localnet/up.sh [N]
#
# Installs the pinned cometbft and Kubo, builds blyand (release), wipes .localnet/, starts
# one Kubo node per validator operator (repo .localnet/kubo<i>, loopback only, offline from
# the public network, all connected to each other so content crosses by bitswap),
# regenerates the chain homes with `blyand testnet`, then starts `blyand start` and
# `cometbft start` for every node in the background, and once the nodes are up one
# `blyan-worker validator` per validator (signing with its operator key from keys.json,
# talking to its own node and Kubo; state and log in .localnet/node<i>/validator{,.log};
# set BLYAN_VALIDATOR_WORKERS=0 to skip them). Every started PID is recorded in
# .localnet/pids; stop them with localnet/down.sh. Node i uses ports BASE+10*i+{0 p2p,
# 1 rpc, 2 abci, 3 app metrics, 4 cometbft metrics, 5 Kubo API, 6 Kubo gateway, 7 Kubo
# swarm}; BASE is $BLYAN_BASE_PORT, default 26600.
set -euo pipefail

n="${1:-4}"
if ! [[ "$n" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [number of validators, default 4]" >&2
  exit 2
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
net="$root/.localnet"
pid_file="$net/pids"
chain_id="blyan-localnet"
base_port="${BLYAN_BASE_PORT:-26600}"
cometbft="${BLYAN_BIN:-$root/.bin}/cometbft"
ipfs="${BLYAN_BIN:-$root/.bin}/ipfs"
blyand="${CARGO_TARGET_DIR:-$root/target}/release/blyand"
wait_secs=90

die() {
  echo "error: $*" >&2
  exit 1
}

# Succeeds when something listens on 127.0.0.1:$1.
port_in_use() {
  if command -v ss >/dev/null; then
    ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}

# The latest block height reported by an RPC endpoint, or nothing.
height_of() {
  curl -sf --max-time 2 "$1/status" 2>/dev/null |
    grep -o '"latest_block_height": *"[0-9]*"' | grep -o '[0-9][0-9]*' | head -n 1 || true
}

# Prints the tail of every node log.
show_logs() {
  local log
  for log in "$net"/kubo*/ipfs.log "$net"/node*/blyand.log "$net"/node*/cometbft.log; do
    [ -f "$log" ] || continue
    echo "----- ${log#"$root"/} (last 25 lines) -----" >&2
    tail -n 25 "$log" >&2
  done
}

# Prints the tails, stops everything this script started, and exits.
fail() {
  echo "error: $*" >&2
  show_logs
  echo "stopping the processes started so far (logs are kept in ${net#"$root"/})" >&2
  "$root/localnet/down.sh" >&2 || true
  exit 1
}

command -v curl >/dev/null || die "curl is required"
pretrain_steps="${BLYAN_PRETRAIN_STEPS:-60}"
[[ "$pretrain_steps" =~ ^[0-9]+$ ]] || die "BLYAN_PRETRAIN_STEPS=$pretrain_steps is not a number"
if ! [[ "$base_port" =~ ^[0-9]+$ ]] || ((base_port + 10 * n > 65535)); then
  die "BLYAN_BASE_PORT=$base_port leaves no room for $n nodes"
fi

# Succeeds when pid $1 is alive and still runs the program its label ($2, "node0/blyand")
# names, so that a recycled PID is never mistaken for a node.
is_ours() {
  local comm
  comm="$(ps -p "$1" -o comm= 2>/dev/null || true)"
  [ -n "$comm" ] && [ "$comm" = "${2##*/}" ]
}

# Refuse to run over a live localnet.
if [ -f "$pid_file" ]; then
  while read -r pid label; do
    if [[ "$pid" =~ ^[0-9]+$ ]] && is_ours "$pid" "$label"; then
      die "a localnet is still running ($label, pid $pid); run localnet/down.sh first"
    fi
  done <"$pid_file"
fi

for ((i = 0; i < n; i++)); do
  for k in 0 1 2 3 4 5 6 7; do
    port=$((base_port + 10 * i + k))
    port_in_use "$port" && die "port $port (node$i) is already in use; set BLYAN_BASE_PORT"
  done
done

"$root/localnet/install.sh"
echo "building blyand (release)..."
(cd "$root" && cargo build --release --bin blyand)
[ -x "$blyand" ] || die "blyand was not built at $blyand"

rm -rf "$net"
mkdir -p "$net"
: >"$pid_file"

# Kubo: one node per validator operator on loopback. `ipfs init --profile=test` listens on
# 127.0.0.1 with no bootstrap peers and no mDNS; the settings below also switch off
# routing, AutoNAT, relays, hole punching, providing, the non-TCP transports and telemetry
# (tests/src/kubo.rs applies the same list).
kubo_api() { echo "http://127.0.0.1:$((base_port + 10 * $1 + 5))"; }
kubo_swarm_port() { echo $((base_port + 10 * $1 + 7)); }
for ((i = 0; i < n; i++)); do
  repo="$net/kubo$i"
  export IPFS_PATH="$repo" IPFS_TELEMETRY=off
  "$ipfs" init --profile=test >"$net/kubo$i.init.log" 2>&1 ||
    fail "ipfs init of kubo$i failed (see $net/kubo$i.init.log)"
  while read -r key value; do
    "$ipfs" config --json "$key" "$value" >/dev/null || fail "ipfs config $key $value failed for kubo$i"
  done <<KUBO_CONFIG
Addresses.API "/ip4/127.0.0.1/tcp/$((base_port + 10 * i + 5))"
Addresses.Gateway "/ip4/127.0.0.1/tcp/$((base_port + 10 * i + 6))"
Addresses.Swarm ["/ip4/127.0.0.1/tcp/$(kubo_swarm_port "$i")"]
Addresses.Announce []
Addresses.AppendAnnounce []
Bootstrap []
Discovery.MDNS.Enabled false
Routing.Type "none"
AutoNAT.ServiceMode "disabled"
AutoConf.Enabled false
AutoTLS.Enabled false
Provide.Enabled false
Swarm.DisableNatPortMap true
Swarm.EnableHolePunching false
Swarm.RelayClient.Enabled false
Swarm.RelayService.Enabled false
Swarm.Transports.Network.QUIC false
Swarm.Transports.Network.WebTransport false
Swarm.Transports.Network.WebRTCDirect false
Swarm.Transports.Network.Websocket false
Plugins.Plugins.telemetry.Config.Mode "off"
KUBO_CONFIG
  "$ipfs" daemon >"$repo/ipfs.log" 2>&1 &
  echo "$! kubo$i/ipfs" >>"$pid_file"
done
unset IPFS_PATH

# The peer id of Kubo node $1 once its API answers, or nothing.
kubo_id() {
  curl -sf --max-time 2 -X POST "$(kubo_api "$1")/api/v0/id" 2>/dev/null |
    grep -o '"ID": *"[^"]*"' | head -n 1 | cut -d '"' -f 4 || true
}
kubo_ids=()
for ((i = 0; i < n; i++)); do
  id=""
  for _ in $(seq 1 150); do
    id="$(kubo_id "$i")"
    [ -n "$id" ] && break
    sleep 0.2
  done
  [ -n "$id" ] || fail "kubo$i does not answer on $(kubo_api "$i") within 30s"
  kubo_ids+=("$id")
done
for ((i = 0; i < n; i++)); do
  for ((j = i + 1; j < n; j++)); do
    addr="/ip4/127.0.0.1/tcp/$(kubo_swarm_port "$j")/p2p/${kubo_ids[j]}"
    curl -sf --max-time 10 -X POST "$(kubo_api "$i")/api/v0/swarm/connect?arg=$addr" >/dev/null ||
      fail "kubo$i could not connect to kubo$j ($addr)"
  done
done
echo "$n Kubo nodes up and connected to each other"

# The default model, published at genesis: a seeded `small` MoE pre-trained on the training
# region of the real English corpus (Debian's bible-kjv-text, the King James Version) for
# $BLYAN_PRETRAIN_STEPS steps (default 60; 0 publishes the untrained seeded model), and the
# corpus's public validation set, added to kubo0 (the other Kubo nodes fetch them by
# bitswap), with the baseline validation loss measured here. The pre-trained weights are
# cached in $BLYAN_CACHE_DIR/pretrain (default .cache/pretrain, kept by down.sh --clean),
# keyed by the model config, the corpus files, the seeds, the steps and the thread count,
# so later runs reuse them. Dev account 0 owns it. Miners train on the corpus with
# `miner --text`.
if [ ! -f /usr/lib/bible.data ]; then
  echo "installing Debian's bible-kjv-text (the real-text corpus)..."
  if [ "$(id -u)" = 0 ]; then apt_get="apt-get"; else apt_get="sudo apt-get"; fi
  $apt_get update && $apt_get install -y bible-kjv-text || fail "could not install bible-kjv-text"
fi
worker="${CARGO_TARGET_DIR:-$root/target}/release/blyan-worker"
echo "building blyan-worker (release) and publishing the genesis model..."
(cd "$root" && cargo build --release --bin blyan-worker)
"$worker" data text --preset small --out "$net/data" >"$net/model.log" 2>&1 ||
  fail "blyan-worker data text failed (see $net/model.log)"
if ((pretrain_steps > 0)); then
  cache="${BLYAN_CACHE_DIR:-$root/.cache}/pretrain"
  echo "pre-training the genesis model ($pretrain_steps steps; about 3 minutes on 2 cores the first time, then cached in $cache)..."
  # the progress bar goes to the terminal (stderr), the summary to the terminal and the log
  "$worker" model pretrain --preset small --seed 1 --data "$net/data" --steps "$pretrain_steps" \
    --cache "$cache" --out "$net/model" | tee -a "$net/model.log" ||
    fail "blyan-worker model pretrain failed"
else
  "$worker" model init --preset small --seed 1 --out "$net/model" >>"$net/model.log" 2>&1 ||
    fail "blyan-worker model init failed (see $net/model.log)"
fi
"$worker" model publish-genesis --model "$net/model" --data "$net/data" --ipfs "$(kubo_api 0)" \
  --owner 0x0000000000000000000000000000000000000000 --model-id blyan-small \
  --out "$net/genesis-model.json" >>"$net/model.log" 2>&1 ||
  fail "publishing the genesis model failed (see $net/model.log)"

"$blyand" testnet --validators "$n" --chain-id "$chain_id" --out-dir "$net" \
  --base-port "$base_port" --cometbft-bin "$cometbft" --model-file "$net/genesis-model.json"
keys="$net/keys.json"
[ -f "$keys" ] || die "blyand testnet did not write $keys"

for ((i = 0; i < n; i++)); do
  home="$net/node$i"
  abci_port=$((base_port + 10 * i + 2))
  "$blyand" start --home "$home" >"$home/blyand.log" 2>&1 &
  blyand_pid=$!
  echo "$blyand_pid node$i/blyand" >>"$pid_file"
  # CometBFT retries a missing app, but starting it after the app listens is quieter.
  for _ in $(seq 1 50); do
    port_in_use "$abci_port" && break
    kill -0 "$blyand_pid" 2>/dev/null || fail "blyand of node$i exited at startup"
    sleep 0.2
  done
  port_in_use "$abci_port" || fail "blyand of node$i does not listen on 127.0.0.1:$abci_port"
  "$cometbft" start --home "$home" >"$home/cometbft.log" 2>&1 &
  echo "$! node$i/cometbft" >>"$pid_file"
done

echo "waiting for all $n nodes to reach height 2 (up to ${wait_secs}s)..."
deadline=$((SECONDS + wait_secs))
while :; do
  ready=0
  for ((i = 0; i < n; i++)); do
    h="$(height_of "http://127.0.0.1:$((base_port + 10 * i + 1))")"
    [ -n "$h" ] && ((h >= 2)) && ready=$((ready + 1))
  done
  ((ready == n)) && break
  while read -r pid label; do
    kill -0 "$pid" 2>/dev/null || fail "$label (pid $pid) exited"
  done <"$pid_file"
  ((SECONDS < deadline)) || fail "only $ready of $n nodes reached height 2 within ${wait_secs}s"
  sleep 1
done

# Field $2 of validator node $1 in keys.json (operator_private_key_hex, operator_address).
node_field() {
  if command -v jq >/dev/null; then
    jq -r ".nodes[$1].$2" "$keys"
  else
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["nodes"][int(sys.argv[2])][sys.argv[3]])' "$keys" "$1" "$2"
  fi
}

# One validator worker per validator: it judges the Proof-of-Learning rounds of the
# genesis model with the operator's key (passed in the environment, not on the command line),
# on the public validation set plus a per-round hidden sample of the corpus's hidden region
# (--hidden-corpus: Debian's bible-kjv-text, seeded by the hash of the round's last
# submission block; see the worker README).
if [ "${BLYAN_VALIDATOR_WORKERS:-1}" != "0" ]; then
  command -v jq >/dev/null || command -v python3 >/dev/null ||
    fail "jq or python3 is needed to read the operator keys from $keys"
  for ((i = 0; i < n; i++)); do
    home="$net/node$i"
    op_key="$(node_field "$i" operator_private_key_hex)" || fail "no operator key for node$i in $keys"
    BLYAN_WORKER_KEY="$op_key" RUST_LOG="${RUST_LOG:-info}" "$worker" validator \
      --chain "http://127.0.0.1:$((base_port + 10 * i + 1))" --ipfs "$(kubo_api "$i")" \
      --model-id blyan-small --hidden-corpus /usr/lib/bible.data \
      --home "$home/validator" >"$home/validator.log" 2>&1 &
    echo "$! node$i/blyan-worker" >>"$pid_file"
  done
  sleep 1
  while read -r pid label; do
    kill -0 "$pid" 2>/dev/null || fail "$label (pid $pid) exited"
  done <"$pid_file"
  echo "$n validator workers started (logs: .localnet/node<i>/validator.log)"
fi

print_accounts() {
  if command -v jq >/dev/null; then
    jq -r '.dev_accounts[] | "  \(.address)  private key \(.private_key_hex)"' "$keys"
  elif command -v python3 >/dev/null; then
    python3 -c 'import json, sys
for a in json.load(open(sys.argv[1]))["dev_accounts"]:
    print("  %s  private key %s" % (a["address"], a["private_key_hex"]))' "$keys"
  else
    echo "  (see $keys)"
  fi
}

# Field $1 (address or private_key_hex) of the first dev account, from keys.json.
first_dev() {
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dev_accounts"][0][sys.argv[2]])' "$keys" "$1" 2>/dev/null ||
    echo "<$1>"
}

rpc0="http://127.0.0.1:$((base_port + 1))"
echo
echo "Blyan localnet '$chain_id' is up with $n validators."
echo "RPC endpoints:"
for ((i = 0; i < n; i++)); do
  echo "  node$i  http://127.0.0.1:$((base_port + 10 * i + 1))"
done
echo "Dev accounts (1,000,000 BLY each; plaintext keys, dev net only):"
print_accounts
echo "Kubo RPC APIs (loopback only; the nodes are connected to each other and nothing else):"
for ((i = 0; i < n; i++)); do
  echo "  kubo$i  $(kubo_api "$i")  peer ${kubo_ids[i]}"
done
echo "All keys, node ids and addresses: $keys"
echo "Logs: $net/node<i>/{blyand,cometbft,validator}.log, $net/kubo<i>/ipfs.log"
echo
echo "Try:"
echo "  export BLYAN_NODE=$rpc0 BLYAN_KEYRING_DIR=$net/keyring BLYAN_KEYRING_PASSWORD=localnet"
echo "  $blyand keys import dev0 --private-key $(first_dev private_key_hex)"
echo "  $blyand tx bank send --from dev0 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed 1.5bly --wait"
echo "  $blyand query bank balance $(first_dev address)"
echo "  curl -s $rpc0/status"
echo "  blyan-worker ipfs --api $(kubo_api 0) id"
echo "  $blyand query dag meta blyan-small"
echo "  $worker eval --chain $rpc0 --model-id blyan-small --ipfs $(kubo_api $((n - 1)))"
echo "  $worker generate --chain $rpc0 --model-id blyan-small --ipfs $(kubo_api $((n - 1))) --prompt 'In the beginning'"
echo "  $worker serve --chain $rpc0 --model-id blyan-small --ipfs $(kubo_api 0) --listen 127.0.0.1:8080   # OpenAI API, chat page at /"
echo "  $worker chat --url http://127.0.0.1:8080 '12+7='   # from another terminal"
echo "Stop with: localnet/down.sh   (add --clean to delete .localnet)"
