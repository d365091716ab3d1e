"""The official `openai` package against a Blyan gateway, unchanged: only `base_url` points at
the gateway. Prints one JSON line with what it got; exits non-zero on any failure.

usage: python openai_client.py http://127.0.0.1:PORT MODEL
"""
import json
import sys

import openai

base, model = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=base + "/v1", api_key="0x3333333333333333333333333333333333333333")

models = [m.id for m in client.models.list().data]
assert model in models, models

messages = [{"role": "user", "content": "hello"}]
resp = client.chat.completions.create(model=model, messages=messages, max_tokens=16, temperature=0, seed=1)
text = resp.choices[0].message.content
assert resp.usage.completion_tokens > 0, resp
assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens
assert resp.system_fingerprint and resp.system_fingerprint.startswith("fp_"), resp

pieces = []
finish = None
stream = client.chat.completions.create(
    model=model, messages=messages, max_tokens=16, temperature=0, seed=1, stream=True
)
for chunk in stream:
    if chunk.choices:
        delta = chunk.choices[0].delta
        if delta.content:
            pieces.append(delta.content)
        if chunk.choices[0].finish_reason:
            finish = chunk.choices[0].finish_reason
streamed = "".join(pieces)
assert streamed == text, (streamed, text)
assert finish in ("stop", "length"), finish

try:
    client.chat.completions.create(model="no-such-model", messages=messages, max_tokens=4)
    raise AssertionError("unknown model accepted")
except openai.NotFoundError as e:
    assert e.status_code == 404
try:
    client.chat.completions.create(model=model, messages=messages, max_tokens=0)
    raise AssertionError("max_tokens 0 accepted")
except openai.BadRequestError as e:
    assert e.status_code == 400

print(json.dumps({
    "openai_version": openai.__version__,
    "text": text,
    "streamed": streamed,
    "usage": resp.usage.model_dump(),
    "system_fingerprint": resp.system_fingerprint,
    "finish_reason": finish,
}))
