"""Signs a Blyan transfer with the `eth-account` library, following only README.md.

Reads a JSON spec on stdin:
  {"private_key": "0x..", "chain_id": "..", "nonce": 0, "gas_limit": 30000,
   "max_fee_per_gas": "..", "max_priority_fee_per_gas": "..",
   "transfers": [["0xRecipient", "amount"]], "memo": ""}
Prints {"tx_hex": wire bytes, "address": the signer as eth-account derives it}.
"""
import json
import sys

from eth_account import Account
from eth_utils import keccak

DOMAIN = b"\x19Blyan Signed Transaction:\n"
VERSION = b"\x01"


def compact(n: int) -> bytes:
    """SCALE compact integer (the length prefix of strings and vectors)."""
    if n < 1 << 6:
        return bytes([n << 2])
    if n < 1 << 14:
        return ((n << 2) | 0b01).to_bytes(2, "little")
    if n < 1 << 30:
        return ((n << 2) | 0b10).to_bytes(4, "little")
    raise ValueError("length too large for this example")


def string(s: str) -> bytes:
    b = s.encode("utf-8")
    return compact(len(b)) + b


def encode_tx(spec) -> bytes:
    out = string(spec["chain_id"])
    out += int(spec["nonce"]).to_bytes(8, "little")
    out += int(spec["gas_limit"]).to_bytes(8, "little")
    out += int(spec["max_fee_per_gas"]).to_bytes(16, "little")
    out += int(spec["max_priority_fee_per_gas"]).to_bytes(16, "little")
    out += compact(len(spec["transfers"]))
    for to, amount in spec["transfers"]:
        # Msg::Bank = module index 0, BankMsg::Send = variant index 0.
        out += bytes([0, 0]) + bytes.fromhex(to[2:]) + int(amount).to_bytes(16, "little")
    out += string(spec["memo"])
    return out


def main():
    spec = json.load(sys.stdin)
    body = encode_tx(spec)
    digest = keccak(DOMAIN + VERSION + body)
    signed = Account.unsafe_sign_hash(digest, spec["private_key"])
    # eth-account returns an Ethereum-style v of 27/28; Blyan takes only 0/1 (README).
    v = signed.v - 27 if signed.v >= 27 else signed.v
    sig = signed.r.to_bytes(32, "big") + signed.s.to_bytes(32, "big") + bytes([v])
    wire = VERSION + body + sig
    print(json.dumps({"tx_hex": wire.hex(), "address": Account.from_key(spec["private_key"]).address}))


if __name__ == "__main__":
    main()
