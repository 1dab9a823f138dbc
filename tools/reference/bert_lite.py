#!/usr/bin/python3
"""bert_lite.py — the PyTorch twin of dru's "bert-lite" (models/bert_lite.h), with identical state_dict names.

A BERT-style post-LayerNorm encoder regressor: word + position + segment embeddings -> LayerNorm ->
dropout; L layers of h = norm1(h + dropout(attn(h))), h = norm2(h + dropout(ffn(h))) with
ffn = fc1 -> GELU (exact) -> fc2; the [CLS] vector (position 0) of the last layer -> pooler -> tanh ->
head -> (N, 1). Attention is written out so its semantics are plain: scores = q k^T / sqrt(Dh), keys
where mask == 0 set to -inf before the softmax, no dropout on the probabilities. LayerNorm eps 1e-12.

forward(ids, segments=None, mask=None) returns (pred (N, 1), [("layers.0", (N, T, D)), ...]).

Load a dru checkpoint (the heads count is not in the file; pass it):

    /usr/bin/python3 tools/reference/bert_lite.py CHECKPOINT.safetensors [--heads 4]

prints the sizes read from the checkpoint and the prediction for a small fixed input.
"""
import argparse
import math
import pathlib
import sys

import torch
from torch import nn

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import safetensors_io  # noqa: E402

LAYER_NORM_EPS = 1e-12
INIT_STD = 0.02


class Embeddings(nn.Module):
    def __init__(self, vocab, hidden, max_positions, dropout):
        super().__init__()
        self.word = nn.Embedding(vocab, hidden)
        self.position = nn.Embedding(max_positions, hidden)
        self.segment = nn.Embedding(2, hidden)
        self.norm = nn.LayerNorm(hidden, eps=LAYER_NORM_EPS)
        self.dropout = nn.Dropout(dropout)

    def forward(self, ids, segments):
        positions = torch.arange(ids.shape[1], device=ids.device)
        h = self.word(ids) + self.position(positions)[None] + self.segment(segments)
        return self.dropout(self.norm(h))


class SelfAttention(nn.Module):
    def __init__(self, hidden, heads):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(hidden, hidden)
        self.k = nn.Linear(hidden, hidden)
        self.v = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, hidden)

    def forward(self, x, mask):
        n, t, d = x.shape
        dh = d // self.heads

        def split(y):  # (N, T, D) -> (N, H, T, Dh)
            return y.view(n, t, self.heads, dh).permute(0, 2, 1, 3)

        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(dh)
        if mask is not None:
            scores = scores.masked_fill(mask[:, None, None, :] == 0, float("-inf"))
        o = torch.softmax(scores, dim=-1) @ v
        return self.out(o.permute(0, 2, 1, 3).reshape(n, t, d))


class FeedForward(nn.Module):
    def __init__(self, hidden, ffn):
        super().__init__()
        self.fc1 = nn.Linear(hidden, ffn)
        self.fc2 = nn.Linear(ffn, hidden)

    def forward(self, x):
        return self.fc2(nn.functional.gelu(self.fc1(x)))


class EncoderLayer(nn.Module):
    def __init__(self, hidden, heads, ffn, dropout):
        super().__init__()
        self.attn = SelfAttention(hidden, heads)
        self.dropout1 = nn.Dropout(dropout)
        self.norm1 = nn.LayerNorm(hidden, eps=LAYER_NORM_EPS)
        self.ffn = FeedForward(hidden, ffn)
        self.dropout2 = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(hidden, eps=LAYER_NORM_EPS)

    def forward(self, x, mask):
        h = self.norm1(x + self.dropout1(self.attn(x, mask)))
        return self.norm2(h + self.dropout2(self.ffn(h)))


class BertLite(nn.Module):
    def __init__(self, vocab=8192, layers=4, hidden=256, heads=4, ffn=1024, max_positions=128, dropout=0.1):
        super().__init__()
        self.embeddings = Embeddings(vocab, hidden, max_positions, dropout)
        self.layers = nn.ModuleList([EncoderLayer(hidden, heads, ffn, dropout) for _ in range(layers)])
        self.pooler = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, 1)
        self.apply(self._init)

    @staticmethod
    def _init(m):  # BERT's initialisation (dru draws the same distributions from its own generator)
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, INIT_STD)
        if isinstance(m, nn.Linear):
            nn.init.zeros_(m.bias)
        if isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, ids, segments=None, mask=None):
        if segments is None:
            segments = torch.zeros_like(ids)
        h = self.embeddings(ids, segments)
        acts = []
        for i, layer in enumerate(self.layers):
            h = layer(h, mask)
            acts.append((f"layers.{i}", h))
        return self.head(torch.tanh(self.pooler(h[:, 0]))), acts


def from_checkpoint(path, heads=4, dropout=0.0):
    """A BertLite sized from a dru checkpoint's shapes, with its weights loaded (float32)."""
    tensors, _ = safetensors_io.load(path)
    vocab, hidden = tensors["embeddings.word.weight"].shape
    max_positions = tensors["embeddings.position.weight"].shape[0]
    ffn = tensors["layers.0.ffn.fc1.weight"].shape[0]
    layers = len({k.split(".")[1] for k in tensors if k.startswith("layers.")})
    model = BertLite(vocab, layers, hidden, heads, ffn, max_positions, dropout)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--heads", type=int, default=4, help="attention heads (default 4)")
    args = ap.parse_args()
    model = from_checkpoint(args.checkpoint, args.heads).eval()
    vocab = model.embeddings.word.num_embeddings
    ids = torch.tensor([[(7 * j + 1) % vocab for j in range(8)]])
    with torch.no_grad():
        pred, acts = model(ids)
    print(f"bert-lite: {len(model.layers)} layers, hidden {model.pooler.in_features}, "
          f"{sum(p.numel() for p in model.parameters())} parameters")
    print("pred for ids", ids.tolist(), "=", pred.reshape(-1).tolist())


if __name__ == "__main__":
    main()
