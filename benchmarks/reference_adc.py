"""A straightforward ADC compression step, the yardstick of benchmark item 1.

Written the way one first writes ADC (and the way the paper's public code is organised; this is
our own code, not a copy): k-means that iterates until the centroids move less than a
tolerance, with the convergence test read on the host every iteration, and a Python loop over
the clusters for the merge, the centroid attention, the token choice and the soft labels.

Same semantics as :meth:`adc.double_compression.ADC.compress` given the same assignment
(``reference_compress(..., assign=...)``); the benchmark checks this before timing. The only
intended difference is the clustering itself (run to convergence here, fixed iterations there).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def reference_kmeans(x: Tensor, k: int, tol: float = 1e-4, generator: torch.Generator | None = None,
                     max_iter: int = 1000) -> tuple[Tensor, int]:
    """Lloyd's k-means on the rows of ``x`` until the total centre shift squared is below ``tol``."""
    x = x.detach().float()
    n = x.shape[0]
    centers = x[torch.randperm(n, generator=generator)[:k].to(x.device)].clone()
    iteration = 0
    while True:
        dist = ((x[:, None, :] - centers[None, :, :]) ** 2).sum(-1)         # n, k
        assign = dist.argmin(dim=1)
        previous = centers.clone()
        for c in range(k):
            members = torch.nonzero(assign == c).squeeze(1)
            if members.numel() > 0:                                          # empty: keep the old centre
                centers[c] = x[members].mean(dim=0)
        shift = ((centers - previous) ** 2).sum(dim=1).sqrt().sum()
        iteration += 1
        if shift.item() ** 2 < tol or iteration >= max_iter:                 # host check, every iteration
            return assign, iteration


def reference_compress(acts: Tensor, attn: Tensor, labels: Tensor, num_clusters: int, num_keep: int,
                       num_classes: int, num_prefix_tokens: int = 1, tol: float = 1e-4,
                       generator: torch.Generator | None = None, assign: Tensor | None = None):
    """(acts (B, N, D), attn (B, N), labels (B,)) -> (T, k, D) activations, (T, C) soft labels, (T, k) tokens."""
    if assign is None:
        assign, _ = reference_kmeans(attn, num_clusters, tol=tol, generator=generator)
    P = num_prefix_tokens
    prefix = torch.arange(P, device=acts.device)
    outs, targets, tokens = [], [], []
    for c in range(num_clusters):
        members = torch.nonzero(assign == c).squeeze(1)
        if members.numel() == 0:                                             # an empty cluster sends zeros
            outs.append(acts.new_zeros(num_keep, acts.shape[2]))
            targets.append(torch.zeros(num_classes, device=acts.device))
            tokens.append(torch.arange(num_keep, device=acts.device))
            continue
        merged = acts[members].mean(dim=0)                                   # N, D
        score = attn[members].float().mean(dim=0)                            # N
        top = score[P:].topk(num_keep - P).indices.sort().values + P
        idx = torch.cat([prefix, top])
        outs.append(merged[idx])
        targets.append(F.one_hot(labels[members].long(), num_classes).float().mean(dim=0))
        tokens.append(idx)
    return torch.stack(outs), torch.stack(targets), torch.stack(tokens)
