"""Helpers shared by the golden-fixture scripts: compact summaries of tensors (sum, absolute sum and a
few sampled entries at fixed positions), small enough to commit, strict enough to catch a wrong layer."""


def sample_indices(numel):
    return sorted({0, numel // 5, numel // 3, numel // 2, (4 * numel) // 5, numel - 1})


def summary(t, with_max=False):
    flat = t.detach().reshape(-1)
    doc = {"shape": list(t.shape), "sum": float(flat.sum()), "abs_sum": float(flat.abs().sum()),
           "samples": [[j, float(flat[j])] for j in sample_indices(flat.numel())]}
    if with_max:
        doc["abs_max"] = float(flat.abs().max())
    return doc
