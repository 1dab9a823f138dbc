#!/usr/bin/python3
"""sequence_models.py — PyTorch twins of dru's sequence models: "stsb-lstm" (models/stsb_lstm.h) and
"electricity-lstm" (models/forecaster.h).

The state_dict names and the computation equal dru's, so a dru checkpoint (safetensors) loads here with
strict=True and gives the same predictions and activations. Each forward returns (pred, activations),
activations an ordered list of (name, tensor) as dru's ModelOutput. Usage, to check a checkpoint:

    /usr/bin/python3 tools/reference/sequence_models.py stsb-lstm best.safetensors --embed-dim 100
    /usr/bin/python3 tools/reference/sequence_models.py electricity-lstm best.safetensors --customers 10
"""
import argparse
import pathlib
import sys

import torch
from torch import nn

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import safetensors_io  # noqa: E402

HIDDEN = 64
ELECTRICITY_FEATURES = 3  # standardised load, hour / 23, weekday / 6
CUSTOMER_EMBEDDING = 8
QUANTILES = (0.1, 0.5, 0.9)


class StsbLstm(nn.Module):
    """The paper's LSTMnetwork for STS-B, with two parameter-free dropouts so each activation has a name."""

    def __init__(self, embed_dim=300, dropout=0.3):
        super().__init__()
        self.lstm = nn.LSTM(embed_dim, HIDDEN, num_layers=1, batch_first=True)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.fc1 = nn.Linear(2 * HIDDEN, 64)
        self.fc2 = nn.Linear(64, 32)
        self.fc3 = nn.Linear(32, 16)
        self.fc4 = nn.Linear(16, 1)

    def forward(self, x, x2):
        s1 = self.dropout1(self.lstm(x)[0])
        s2 = self.dropout2(self.lstm(x2)[0])
        a3 = self.fc1(torch.cat([s1[:, -1, :], s2[:, -1, :]], dim=1))
        a4 = self.fc2(torch.relu(a3))
        pred = self.fc4(torch.relu(self.fc3(torch.relu(a4))))
        return pred, [("dropout1", s1), ("dropout2", s2), ("fc1", a3), ("fc2", a4)]


class ElectricityLstm(nn.Module):
    """Quantile LSTM forecaster: past features plus a customer embedding -> (N, horizon, 3) quantiles."""

    def __init__(self, customers=10, horizon=24, dropout=0.3):
        super().__init__()
        self.horizon = horizon
        self.customer_embedding = nn.Embedding(customers, CUSTOMER_EMBEDDING)
        self.lstm = nn.LSTM(ELECTRICITY_FEATURES + CUSTOMER_EMBEDDING, HIDDEN, num_layers=1, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.fc1 = nn.Linear(HIDDEN, 64)
        self.fc2 = nn.Linear(64, horizon * len(QUANTILES))

    def forward(self, x, ids):
        emb = self.customer_embedding(ids)[:, None, :].expand(-1, x.shape[1], -1)
        seq = self.dropout(self.lstm(torch.cat([x, emb], dim=2))[0])
        hidden = self.fc1(seq[:, -1, :])
        pred = self.fc2(torch.relu(hidden)).view(x.shape[0], self.horizon, len(QUANTILES))
        return pred, [("dropout", seq), ("fc1", hidden)]


def load_dru_checkpoint(model, path):
    """Loads a dru safetensors checkpoint into a twin (strict: every name must match)."""
    return safetensors_io.load_into(model, path, strict=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", choices=["stsb-lstm", "electricity-lstm"])
    ap.add_argument("checkpoint")
    ap.add_argument("--embed-dim", type=int, default=300, help="stsb-lstm: word-vector size D (default 300)")
    ap.add_argument("--customers", type=int, default=10, help="electricity-lstm: customers (default 10)")
    ap.add_argument("--horizon", type=int, default=24, help="electricity-lstm: hours predicted (default 24)")
    args = ap.parse_args()
    if args.model == "stsb-lstm":
        model = StsbLstm(args.embed_dim)
    else:
        model = ElectricityLstm(args.customers, args.horizon)
    load_dru_checkpoint(model, args.checkpoint)
    print(f"{args.model}: loaded {args.checkpoint}, {sum(p.numel() for p in model.parameters())} parameters")


if __name__ == "__main__":
    main()
