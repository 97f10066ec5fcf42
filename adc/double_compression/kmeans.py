"""Batched k-means in torch, seeded, with a fixed number of iterations.

Built for the inside of a training step: no Python loop over samples or clusters, no host
synchronisation (no convergence check on the host), a ``torch.Generator`` for the
initialisation (so seeds cover it and checkpoints can save it), and no empty clusters: an
empty cluster takes the point farthest from its centroid among clusters with two or more
members, and any cluster still empty after that yields zero weights instead of a NaN mean.
"""
from __future__ import annotations

import torch
from torch import Tensor


def _random_init(x: Tensor, k: int, generator: torch.Generator | None) -> Tensor:
    idx = torch.randperm(x.shape[0], generator=generator, device=generator.device if generator is not None else "cpu")
    return x[idx[:k].to(x.device)]


def _kmeanspp_init(x: Tensor, k: int, generator: torch.Generator | None) -> Tensor:
    """k-means++ seeding. Its k draws are sequential by definition (one small loop over centres)."""
    n = x.shape[0]
    gdev = generator.device if generator is not None else torch.device("cpu")
    first = torch.randint(n, (1,), generator=generator, device=gdev).to(x.device)
    centers = [x[first].squeeze(0)]
    d2 = ((x - centers[0]) ** 2).sum(-1)
    for _ in range(1, k):
        probs = d2.clamp_min(0) + 1e-12  # +eps: duplicates everywhere still give a valid distribution
        nxt = torch.multinomial((probs / probs.sum()).to(gdev), 1, generator=generator).to(x.device)
        c = x[nxt].squeeze(0)
        centers.append(c)
        d2 = torch.minimum(d2, ((x - c) ** 2).sum(-1))
    return torch.stack(centers)


def kmeans(x: Tensor, k: int, iters: int = 10, init: str = "random",
           generator: torch.Generator | None = None) -> Tensor:
    """Cluster the rows of ``x`` (B, d) into ``k`` clusters; return assignments (B,) in 0..k-1.

    ``k`` is clipped to B. Every cluster ends non-empty whenever B >= k and enough distinct
    points exist; the assignment is a deterministic function of ``x`` and the generator state.
    """
    x = x.detach().float()
    n = x.shape[0]
    k = min(k, n)
    if init == "random":
        centers = _random_init(x, k, generator)
    elif init in ("kmeans++", "k-means++"):
        centers = _kmeanspp_init(x, k, generator)
    else:
        raise ValueError(f"init: unknown k-means init {init!r}; use 'random' or 'kmeans++'")
    arange_k = torch.arange(k, device=x.device)
    for _ in range(iters):
        assign = _sq_dist_offset(x, centers).argmin(dim=1)
        onehot = (assign[:, None] == arange_k[None, :]).to(x.dtype)    # B, k
        counts = onehot.sum(0)                                           # k
        sums = onehot.t() @ x                                            # k, d
        centers = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], centers)
    dist = (_sq_dist_offset(x, centers) + (x * x).sum(1, keepdim=True)).clamp_min(0)   # squared distances
    assign = dist.argmin(dim=1)
    return _fill_empty_clusters(assign, dist, k)


def _sq_dist_offset(x: Tensor, centers: Tensor) -> Tensor:
    """||c||^2 - 2 x.c (B, k): the squared distance less the per-row constant ||x||^2, so the same argmin.

    One small ``addmm`` instead of ``torch.cdist``: on a CPU, cdist enters several parallel regions
    per call, which cost milliseconds each when the cores are shared (measured in benchmarks/).
    """
    return torch.addmm((centers * centers).sum(1)[None, :], x, centers.t(), alpha=-2.0)


def nearest_center(x: Tensor, centers: Tensor) -> Tensor:
    """Index of each row's nearest centre (n,).

    Points of dimension 1 (FedLite's scalar sub-vectors) are bucketed against the sorted centres'
    midpoints: ``searchsorted``, O(n log k) work and no (n, k) matrix (at k = 256 and n = 35k, 26x
    faster than the distance matrix on a CPU). Equal centres map to the lowest index among them,
    as ``argmin`` would; a point exactly on a midpoint goes to the smaller centre. Higher
    dimensions take the argmin of :func:`_sq_dist_offset`.
    """
    if x.shape[1] != 1:
        return _sq_dist_offset(x, centers).argmin(dim=1)
    k = centers.shape[0]
    values, order = torch.sort(centers[:, 0], stable=True)          # equal values keep index order
    pos = torch.searchsorted((values[1:] + values[:-1]) / 2, x[:, 0].contiguous())
    arange = torch.arange(k, device=x.device)
    starts = torch.ones(k, dtype=torch.bool, device=x.device)
    starts[1:] = values[1:] != values[:-1]
    run = torch.where(starts, arange, torch.zeros_like(arange)).cummax(0).values   # first sorted slot of each run
    first = order[run]                          # stable sort: the run's first slot holds its lowest index
    return first[pos]


def _fill_empty_clusters(assign: Tensor, dist: Tensor, k: int) -> Tensor:
    """Give each empty cluster one point: the farthest from its centroid among clusters with >= 2 members.

    ``dist`` is any monotone function of the point-centroid distance (B, k); squared distances here.

    Vectorised and sync-free: the r-th empty cluster (in index order) takes the r-th farthest
    eligible point; points beyond the number of empty clusters keep their assignment.
    """
    n = assign.shape[0]
    arange_k = torch.arange(k, device=assign.device)
    counts = (assign[:, None] == arange_k[None, :]).sum(0)                  # k
    empty = counts == 0
    own = dist.gather(1, assign[:, None]).squeeze(1)                         # B
    eligible = counts[assign] >= 2
    order = torch.argsort(torch.where(eligible, own, torch.full_like(own, -1.0)), descending=True, stable=True)
    m = min(k, n)
    donors = order[:m]                                                       # the m farthest points
    empty_ids = torch.argsort((~empty).to(torch.int8), stable=True)[:m]      # empty clusters first, by index
    n_empty = empty.sum()
    rank = torch.arange(m, device=assign.device)
    new = torch.where((rank < n_empty) & eligible[donors], empty_ids, assign[donors])
    out = assign.clone()
    out[donors] = new
    return out


def cluster_weights(assign: Tensor, k: int, dtype=torch.float32) -> Tensor:
    """Row-normalised membership matrix (k, B): ``weights @ x`` is each cluster's plain mean.

    A cluster left empty (only possible with duplicate points) has an all-zero row, never NaN.
    """
    onehot = (torch.arange(k, device=assign.device)[:, None] == assign[None, :]).to(dtype)  # k, B
    return onehot / onehot.sum(1, keepdim=True).clamp_min(1)
