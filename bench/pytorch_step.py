#!/usr/bin/env python3
"""The benchmark model of `loom bench step` in PyTorch (Debian's python3-torch), for a
same-machine, same-run comparison: GPT-2 style decoder (learned positions, LayerNorm, GELU-tanh,
tied embeddings), vocab 8192, hidden 512, 4 layers, 8 heads, sequence 256, batch 8, fp32,
AdamW, the given number of threads. Prints a human line and then one JSON line."""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, hidden, heads):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(hidden)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)
        self.norm2 = nn.LayerNorm(hidden)
        self.fc = nn.Linear(hidden, 4 * hidden)
        self.proj = nn.Linear(4 * hidden, hidden)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.qkv(self.norm1(x)).split(c, dim=2)
        shape = (b, t, self.heads, c // self.heads)
        q, k, v = (y.view(shape).transpose(1, 2) for y in (q, k, v))
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(c // self.heads)
        mask = torch.ones(t, t, dtype=torch.bool).tril()
        scores = scores.masked_fill(~mask, float("-inf"))
        attention = (scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, t, c)
        x = x + self.out(attention)
        return x + self.proj(F.gelu(self.fc(self.norm2(x)), approximate="tanh"))


class Gpt(nn.Module):
    def __init__(self, vocab, hidden, layers, heads, seq):
        super().__init__()
        self.token = nn.Embedding(vocab, hidden)
        self.position = nn.Embedding(seq, hidden)
        self.blocks = nn.ModuleList(Block(hidden, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(hidden)

    def forward(self, ids, targets):
        t = ids.shape[1]
        x = self.token(ids) + self.position(torch.arange(t))
        for block in self.blocks:
            x = block(x)
        logits = self.norm(x) @ self.token.weight.t()
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--warmup-steps", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    vocab, hidden, layers, heads, seq, batch = 8192, 512, 4, 8, 256, 8
    model = Gpt(vocab, hidden, layers, heads, seq)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
    ids = torch.randint(0, 256, (batch, seq + 1))
    times = []
    for step in range(args.warmup_steps + args.steps):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = model(ids[:, :-1], ids[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step >= args.warmup_steps:
            times.append(time.perf_counter() - start)
    times.sort()
    step_s = times[len(times) // 2]
    tokens_per_s = batch * seq / step_s
    params = sum(p.numel() for p in model.parameters())
    print(f"pytorch {torch.__version__}: {params / 1e6:.2f}M parameters, {args.threads} threads, "
          f"step {step_s * 1000:.0f} ms, {tokens_per_s:.1f} tokens/s")
    print(json.dumps({"framework": "pytorch", "version": torch.__version__, "threads": args.threads,
                      "step_ms": step_s * 1000, "tokens_per_s": tokens_per_s}))


if __name__ == "__main__":
    main()
