"""The official `openai` package streaming a reply whose characters are each split over two
byte tokens (the crafted model of tests/serve_common/crafted.rs). Prints one JSON line with
every streamed piece and the plain reply; exits non-zero on any failure.

usage: python openai_utf8.py http://127.0.0.1:PORT MODEL MAX_TOKENS
"""
import json
import sys

import openai

base, model, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
client = openai.OpenAI(base_url=base + "/v1", api_key="anonymous", max_retries=0)
messages = [{"role": "user", "content": "hi"}]
pieces = []
for chunk in client.chat.completions.create(
    model=model, messages=messages, max_tokens=n, temperature=0, stream=True
):
    if chunk.choices and chunk.choices[0].delta.content:
        pieces.append(chunk.choices[0].delta.content)
plain = client.chat.completions.create(model=model, messages=messages, max_tokens=n, temperature=0)
print(json.dumps({"pieces": pieces, "plain": plain.choices[0].message.content}))
