"""Sign-In with Ethereum against a Blyan gateway with `eth-account`, exactly as
offchain-worker/README.md documents it, then a completion with the official `openai`
package using the session token as its API key. Prints one JSON line; exits non-zero on any
failure.

usage: python siwe_client.py http://127.0.0.1:PORT MODEL PRIVATE_KEY_HEX
"""
import datetime
import json
import sys
import urllib.error
import urllib.request

import openai
from eth_account import Account
from eth_account.messages import encode_defunct

base, model, key = sys.argv[1], sys.argv[2], sys.argv[3]
account = Account.from_key(key)


def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def message(n, address):
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return (
        f"{n['domain']} wants you to sign in with your Ethereum account:\n"
        f"{address}\n"
        "\n"
        f"{n['statement']}\n"
        "\n"
        f"URI: {n['uri']}\n"
        "Version: 1\n"
        f"Chain ID: {n['chain_id']}\n"
        f"Nonce: {n['nonce']}\n"
        f"Issued At: {now.strftime(fmt)}\n"
        f"Expiration Time: {(now + datetime.timedelta(hours=1)).strftime(fmt)}"
    )


status, n = call("GET", "/v1/auth/nonce")
assert status == 200, n
msg = message(n, account.address)
# the gateway's own template, filled in, is the same text
assert msg.split("\nIssued At:")[0] == n["message"].replace("{address}", account.address).split("\nIssued At:")[0], (msg, n["message"])
sig = Account.sign_message(encode_defunct(text=msg), key).signature.hex()
if not sig.startswith("0x"):
    sig = "0x" + sig

# a signature by another key over the same message is refused, and so is a tampered message
other = Account.create()
bad = Account.sign_message(encode_defunct(text=msg), other.key).signature.hex()
status, err = call("POST", "/v1/auth/siwe", {"message": msg, "signature": bad})
assert status == 401 and err["error"]["code"] == "invalid_siwe_signature", err
status, err = call("POST", "/v1/auth/siwe", {"message": msg.replace("Version: 1", "Version: 2"), "signature": sig})
assert status == 401, err

status, s = call("POST", "/v1/auth/siwe", {"message": msg, "signature": sig})
assert status == 200, s
assert s["address"] == account.address, s
# the nonce is single use
status, err = call("POST", "/v1/auth/siwe", {"message": msg, "signature": sig})
assert status == 401 and err["error"]["code"] == "invalid_siwe_nonce", err

client = openai.OpenAI(base_url=base + "/v1", api_key=s["token"])
resp = client.chat.completions.create(
    model=model, messages=[{"role": "user", "content": "hello"}], max_tokens=4, temperature=0
)
extra = resp.to_dict() if hasattr(resp, "to_dict") else resp.model_dump()
payment = extra["blyan"]["payment"]
print(json.dumps({"address": s["address"], "caller": payment["caller"],
                  "remaining_today": payment["remaining_today"], "openai_version": openai.__version__}))
