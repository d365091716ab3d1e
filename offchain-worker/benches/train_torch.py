#!/usr/bin/env python3
"""PyTorch yardstick for `cargo bench -p blyan-worker --bench train`.

The same model as ml/src/model (blyan-moe-v1), written the same way:
byte vocabulary (259 ids), token + learned position embeddings; per layer
`x += attn(rms_norm(x))` (causal multi-head attention, no biases, explicit
softmax(q k^T / sqrt(hd) + mask) v like the candle code) and `x += moe(rms_norm(x))`, where a
linear router's softmax picks the top-k experts per token, their probabilities are
renormalised over the chosen ones, and each SwiGLU expert `w2(silu(w1 x) * w3 x)` runs only
on the tokens routed to it (index_select, then index_add back); a final RMSNorm (eps 1e-5,
learned weight) and the LM head. Initialisation follows model/init.rs (uniform, same
bounds). Training: AdamW (lr 3e-3, betas 0.9/0.999, eps 1e-8, weight decay 0.01) on one
expert (layer0.expert0, every other parameter frozen) or on all parameters; masked
next-token cross-entropy; batches of 8 full-length sequences (8 x max_seq targets a step)
of random byte ids.

Prints target tokens/s like the Rust bench: the tokens of steps 2..=n over the time from the
end of step 1 to the end of step n. Uses every CPU core (torch.get_num_threads()).

    python3 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch
    /tmp/torchvenv/bin/python offchain-worker/benches/train_torch.py        # or: ... tiny
"""

import math
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

VOCAB, PAD, RMS_EPS, BATCH = 259, 258, 1e-5, 8

PRESETS = {
    "tiny": dict(d_model=64, n_layers=2, n_heads=4, n_experts=4, top_k=2, d_ff=128, max_seq=64),
    "small": dict(d_model=256, n_layers=4, n_heads=8, n_experts=8, top_k=2, d_ff=512, max_seq=128),
}


def uniform_(t, bound):
    with torch.no_grad():
        t.uniform_(-bound, bound)


def linear(n_in, n_out, scale=1.0):
    lin = nn.Linear(n_in, n_out, bias=False)
    uniform_(lin.weight, scale / math.sqrt(n_in))
    return lin


class RMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + RMS_EPS) * self.weight


class Attention(nn.Module):
    def __init__(self, c, res):
        super().__init__()
        d = c["d_model"]
        self.q_proj, self.k_proj, self.v_proj = linear(d, d), linear(d, d), linear(d, d)
        self.o_proj = linear(d, d, res)
        self.h, self.hd = c["n_heads"], d // c["n_heads"]

    def forward(self, x, mask):
        b, t, d = x.shape
        q, k, v = (p(x).view(b, t, self.h, self.hd).transpose(1, 2) for p in (self.q_proj, self.k_proj, self.v_proj))
        att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(self.hd) + mask, dim=-1)
        return self.o_proj((att @ v).transpose(1, 2).reshape(b, t, d))


class Expert(nn.Module):
    def __init__(self, c, res):
        super().__init__()
        self.w1 = linear(c["d_model"], c["d_ff"])
        self.w2 = linear(c["d_ff"], c["d_model"], res)
        self.w3 = linear(c["d_model"], c["d_ff"])

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class MoE(nn.Module):
    def __init__(self, c, res):
        super().__init__()
        self.gate = linear(c["d_model"], c["n_experts"])
        self.experts = nn.ModuleList(Expert(c, res) for _ in range(c["n_experts"]))
        self.k = c["top_k"]

    def forward(self, x):
        b, t, d = x.shape
        x = x.reshape(b * t, d)
        probs = torch.softmax(self.gate(x), dim=-1)
        sel, idx = probs.topk(self.k, dim=-1)
        w = (sel / sel.sum(-1, keepdim=True)).flatten()
        idx = idx.flatten()
        rows = torch.arange(b * t, device=x.device).repeat_interleave(self.k)
        y = torch.zeros_like(x)
        for e, expert in enumerate(self.experts):
            slots = (idx == e).nonzero(as_tuple=True)[0]
            if slots.numel() == 0:
                continue
            r = rows[slots]
            y = y.index_add(0, r, expert(x.index_select(0, r)) * w[slots].unsqueeze(1))
        return y.view(b, t, d)


class Layer(nn.Module):
    def __init__(self, c, res):
        super().__init__()
        self.attn_norm, self.ffn_norm = RMSNorm(c["d_model"]), RMSNorm(c["d_model"])
        self.attn, self.moe = Attention(c, res), MoE(c, res)

    def forward(self, x, mask):
        x = x + self.attn(self.attn_norm(x), mask)
        return x + self.moe(self.ffn_norm(x))


class Model(nn.Module):
    def __init__(self, c):
        super().__init__()
        res = 1.0 / math.sqrt(2 * c["n_layers"])
        self.tok, self.pos = nn.Embedding(VOCAB, c["d_model"]), nn.Embedding(c["max_seq"], c["d_model"])
        uniform_(self.tok.weight, 0.02 * math.sqrt(3))
        uniform_(self.pos.weight, 0.02 * math.sqrt(3))
        self.layers = nn.ModuleList(Layer(c, res) for _ in range(c["n_layers"]))
        self.norm, self.lm_head = RMSNorm(c["d_model"]), linear(c["d_model"], VOCAB)

    def forward(self, ids):
        t = ids.shape[1]
        mask = torch.full((t, t), float("-inf"), device=ids.device).triu(1)
        x = self.tok(ids) + self.pos(torch.arange(t, device=ids.device))
        for layer in self.layers:
            x = layer(x, mask)
        return self.lm_head(self.norm(x))


def bench(c, which, data):
    torch.manual_seed(1)
    model = Model(c)
    if which == "all":
        params = list(model.parameters())
    else:
        model.requires_grad_(False)
        expert = model.layers[0].moe.experts[0]
        expert.requires_grad_(True)
        params = list(expert.parameters())
    opt = torch.optim.AdamW(params, lr=3e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)

    def run(steps):
        stamps = []
        for s in range(steps):
            seqs = data[(s * BATCH) % len(data):][:BATCH]
            inputs, targets = seqs[:, :-1], seqs[:, 1:]
            logits = model(inputs)
            loss = F.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1), ignore_index=PAD)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss.item()
            stamps.append(time.perf_counter())
        return stamps

    probe = run(3)
    per_step = (probe[-1] - probe[1]) / 2
    steps = min(max(int(6.0 / max(per_step, 1e-4)), 5), 2000) + 1
    stamps = run(steps)
    n = len(stamps) - 1
    secs = stamps[-1] - stamps[0]
    return n, n * BATCH * c["max_seq"] / secs, 1e3 * secs / n


def main():
    only = [a for a in sys.argv[1:] if not a.startswith("-")]
    print(f"torch {torch.__version__}, threads: {torch.get_num_threads()}")
    print(f"{'preset':<6} {'params':>10} {'blocks':<15} {'batch':>6} {'steps':>8} {'ms/step':>10} {'tokens/s':>12}")
    for name, c in PRESETS.items():
        if only and name not in only:
            continue
        gen = torch.Generator().manual_seed(3)
        data = torch.randint(0, 256, (BATCH * 32, c["max_seq"] + 1), generator=gen)
        n_params = sum(p.numel() for p in Model(c).parameters())
        for which in ("layer0.expert0", "all"):
            n, tps, ms = bench(c, which, data)
            print(f"{name:<6} {n_params:>10} {which:<15} {BATCH}x{c['max_seq']:<4} {n:>8} {ms:>10.2f} {tps:>12.0f}")


if __name__ == "__main__":
    main()
