"""``tome``: Token Merging (ToMe) at the cut: each sample's tokens merged by bipartite soft matching.

Each round, as ``bipartite_soft_matching`` + ``merge_wavg`` of ``facebookresearch/ToMe``
(``tome/merge.py``), batched over the samples:

1. the patch tokens alternate into sets A and B (the CLS token is set aside: never merged, as
   ToMe protects it; for the usual single prefix token the alternation is ToMe's own, whose A set
   is CLS and the patches at even positions);
2. every A token is matched to its most similar B token by cosine similarity of the metric;
3. the ``r`` A tokens with the most similar matches are merged into their B token by a
   size-weighted average (``x = sum(size * x) / sum(size)``, sizes add up);
4. the unmerged A tokens (in their order) then B follow the prefix tokens, as in ToMe.

Rounds repeat until ``k = max(P + 1, int(rho * N))`` tokens remain (P prefix tokens); ``r``
per round is the parameter ``r`` (0 = as many as one matching allows, ``len(A)``, so the fewest
rounds), never more than are left to merge. The matching runs without gradient (as in ToMe); the
gradient flows back through the weighted averages, so each merged token's gradient reaches its
members in proportion to their sizes.

Choices the cut forces (each documented and, where an alternative is reasonable, a parameter):

- **metric**: ToMe matches on the block's keys (``k.mean(1)`` over heads). At the cut the
  client's last block's keys are not what ``encode`` receives (the Method interface hands it the
  block's output and the CLS attention only), and the tokens that cross are the block's output,
  not the keys' input. ``metric="tokens"`` (default) matches on the cut activations themselves;
  ``metric="normed"`` on their LayerNorm without affine (what the server's first attention sees
  before its key projection). Later rounds recompute the metric from the merged tokens.
- **sizes**: the number of original tokens in each merged one travels with the tokens (integer
  side information, ``uint8`` for N <= 255: counted in the bytes, not in xi, like labels).
  ToMe's proportional attention (``log(size)`` added to the attention logits) needs the server's
  blocks to take an additive attention bias; timm's ``Block.forward(x, attn_mask=...)`` could, but
  the Method interface gives ``reconstruct`` no way to hand the server a per-token bias (the
  server half runs ``server(tokens)``), so it is not implemented. ToMe's own code
  (``tome/patch/timm.py``) leaves it off for training ("For training ... set this to be False").

Up: (B, k, D) fp32 merged tokens + (B, k) sizes. Down: their gradient (B, k, D).
xi = k / N both ways. Evaluation: ToMe merges at inference too (its authors evaluate the merged
model), so ``authors_eval = "compressed"``; the suite's default evaluation is uncompressed.

Citation: Bolya, Fu, Dai, Zhang, Feichtenhofer, Hoffman, "Token Merging: Your ViT But Faster",
ICLR 2023 (arXiv 2210.09461); code github.com/facebookresearch/ToMe.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from adc.messages import Message, smallest_int_dtype
from adc.methods import Method, register

METRICS = ("tokens", "normed")


@dataclass
class ToMeParams:
    rho: float = 0.5          # fraction of the N tokens left after merging (CLS included): k = int(rho * N)
    r: int = 0                # pairs merged per round; 0 = as many as one bipartite matching allows
    metric: str = "tokens"    # what is matched by cosine similarity: tokens | normed (LayerNorm, no affine)

    def validate(self):
        if not 0 < self.rho <= 1:
            raise ValueError(f"method 'tome': rho={self.rho} is outside (0, 1]; use e.g. rho=0.5")
        if self.r < 0:
            raise ValueError(f"method 'tome': r={self.r} must be >= 0 (0 = the most one matching allows)")
        if self.metric not in METRICS:
            raise ValueError(f"method 'tome': metric={self.metric!r}; allowed: {list(METRICS)}")


def bipartite_merge(x: Tensor, size: Tensor, metric: Tensor, r: int) -> tuple[Tensor, Tensor]:
    """One round of ToMe on the patch tokens ``x`` (B, t, D) with sizes (B, t, 1): merge ``r`` pairs.

    A = tokens 1, 3, 5, ... and B = tokens 0, 2, 4, ... of ``x`` (ToMe's alternation once CLS, at
    position 0 of the full sequence, is set aside). Returns (B, t - r, D) tokens and their sizes:
    unmerged A tokens in order, then B tokens (each the size-weighted mean of itself and the A
    tokens merged into it).
    """
    Bn, t, D = x.shape
    with torch.no_grad():
        m = metric / metric.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        a, b = m[:, 1::2], m[:, ::2]
        scores = a @ b.transpose(-1, -2)                              # B, |A|, |B|
        node_max, node_idx = scores.max(dim=-1)                       # best B partner of each A token
        edge_idx = node_max.argsort(dim=-1, descending=True)[..., None]
        unm_idx = edge_idx[:, r:].sort(dim=1).values                  # unmerged A tokens, in order
        src_idx = edge_idx[:, :r]                                     # merged A tokens
        dst_idx = node_idx[..., None].gather(dim=1, index=src_idx)    # their B partners

    def merge(v: Tensor) -> Tensor:                                   # ToMe's merge(..., mode="sum")
        src, dst = v[:, 1::2], v[:, ::2]
        c = v.shape[-1]
        unm = src.gather(1, unm_idx.expand(-1, -1, c))
        moved = src.gather(1, src_idx.expand(-1, -1, c))
        dst = dst.scatter_reduce(1, dst_idx.expand(-1, -1, c), moved, reduce="sum")
        return torch.cat([unm, dst], dim=1)

    # ToMe's merge_wavg: weighted sums of x * size and of the sizes, then the division
    merged = merge(x * size)
    new_size = merge(size)
    return merged / new_size, new_size


@register
class ToMe(Method):
    """ToMe bipartite soft matching at the cut: k size-weighted merged tokens (+ their sizes) up, their gradient down."""

    name = "tome"
    citation = ("Bolya et al., Token Merging: Your ViT But Faster, ICLR 2023, arXiv 2210.09461 "
                "(github.com/facebookresearch/ToMe).")
    Params = ToMeParams
    grid = {"rho": [0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5]}
    demo_grid = {"rho": [0.25, 0.35, 0.5]}
    xi_knob = ("rho", 1e-3, 1.0)
    test_params = {"rho": 0.3, "r": 3}
    authors_eval = "compressed"       # ToMe is applied at inference by its authors
    merges_batch = False

    # ----- sizes ------------------------------------------------------------------------------
    def num_keep(self) -> int:
        N, P = self.shape.num_tokens, self.shape.num_prefix_tokens
        return min(N, max(P + 1, int(self.params.rho * N + 1e-9)))

    def rounds(self) -> list[int]:
        """The pairs merged in each round (static: a function of N, k and r only)."""
        P, k = self.shape.num_prefix_tokens, self.num_keep()
        t, out = self.shape.num_tokens - P, []
        while t + P > k:
            r = min(t // 2, t + P - k)
            if self.params.r > 0:
                r = min(r, self.params.r)
            out.append(r)
            t -= r
        return out

    def expected_xi(self) -> float:
        return self.num_keep() / self.shape.num_tokens

    def describe(self) -> dict:
        return {"tokens_kept": self.num_keep(), "merges_per_round": self.rounds()}

    # ----- the step -----------------------------------------------------------------------------
    def _metric(self, x: Tensor) -> Tensor:
        x = x.detach().float()
        return F.layer_norm(x, x.shape[-1:]) if self.params.metric == "normed" else x

    def merge(self, acts: Tensor) -> tuple[Tensor, Tensor]:
        """(B, N, D) -> merged (B, k, D) (differentiable in ``acts``) and sizes (B, k, 1) float."""
        P = self.shape.num_prefix_tokens
        prefix, x = acts[:, :P], acts[:, P:]
        size = x.new_ones(x.shape[0], x.shape[1], 1, dtype=torch.float32)
        x = x.float()
        for r in self.rounds():
            x, size = bipartite_merge(x, size, self._metric(x), r)
        tokens = torch.cat([prefix.float(), x], dim=1).to(acts.dtype)
        sizes = torch.cat([size.new_ones(size.shape[0], P, 1), size], dim=1)
        return tokens, sizes

    def encode(self, acts: Tensor, attn: Tensor | None, labels: Tensor) -> tuple[Message, dict]:
        merged, sizes = self.merge(acts)
        sizes = sizes.squeeze(-1).round().to(smallest_int_dtype(self.shape.num_tokens))
        msg = Message({"acts": merged, "sizes": sizes, "labels": self.pack_labels(labels)}, payload=("acts",))
        return msg, {"acts": merged}
