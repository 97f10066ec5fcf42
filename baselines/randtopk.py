"""``randtopk``: randomized top-k sparsification (Zheng et al., IJCAI 2023).

Fei Zheng, Chaochao Chen, Lingjuan Lyu, Binhui Yao, "Reducing Communication for Split Learning by
Randomized Top-k Sparsification", IJCAI 2023, arXiv 2305.18469.

As ``topk`` (per sample, k = r * N * D entries, values + indices up, masked gradient values
down, the same paper-convention xi), but the k indices are *sampled without replacement*:
each of the k largest-magnitude entries has weight (1 - alpha) / k, each other entry
alpha / (N * D - k), so the top-k set holds probability mass 1 - alpha and the rest alpha.
Sampling without replacement is done for the whole batch at once with the Gumbel-top-k trick
(the k largest of log w + Gumbel noise are a draw without replacement proportional to w),
with the noise drawn from the method's generator. alpha = 0 is plain top-k.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from adc.methods import register

from ._common import uniform
from .topk import TopK


@dataclass
class RandTopKParams:
    r: float = 0.1            # fraction of the N * D entries kept per sample
    alpha: float = 0.1        # probability mass spread over the entries outside the top-k set

    def validate(self):
        if not 0 < self.r <= 1:
            raise ValueError(f"method 'randtopk': r={self.r} is outside (0, 1]; use e.g. r=0.1")
        if not 0 <= self.alpha <= 1:
            raise ValueError(f"method 'randtopk': alpha={self.alpha} is outside [0, 1]; the paper uses 0.1")


@register
class RandTopK(TopK):
    """Randomized top-k: k indices sampled without replacement, mass 1-alpha on the top-k set."""

    name = "randtopk"
    citation = ("Zheng et al., Reducing Communication for Split Learning by Randomized Top-k Sparsification, "
                "IJCAI 2023, arXiv 2305.18469.")
    Params = RandTopKParams
    grid = {"r": [0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5]}
    demo_grid = {"r": [0.2, 0.35, 0.5]}
    test_params = {"r": 0.1}
    authors_eval = "compressed"      # evaluated through deterministic top-k, as Zheng et al. do at test time
    _deterministic = False

    def eval_roundtrip(self, acts: Tensor, attn: Tensor | None, labels: Tensor) -> Tensor:
        """At test time the top-k entries themselves (no sampling: draws nothing from the generator)."""
        self._deterministic = True
        try:
            return super().eval_roundtrip(acts, attn, labels)
        finally:
            self._deterministic = False

    def sampling_log_weights(self, flat: Tensor, k: int) -> Tensor:
        """(B, M) log sampling weights: log((1-alpha)/k) on the top-k set, log(alpha/(M-k)) elsewhere."""
        M = flat.shape[1]
        alpha = self.params.alpha
        top = flat.abs().topk(k, dim=1, sorted=False).indices
        in_top = torch.zeros_like(flat, dtype=torch.bool).scatter_(1, top, True)
        # Python scalars, not torch.tensor(..., device=): a host-to-device copy would synchronise every step
        w = torch.where(in_top, (1 - alpha) / k, alpha / max(M - k, 1))   # float32 (the default dtype)
        return w.to(torch.float32).log()                       # log 0 = -inf: never drawn

    def select(self, flat: Tensor, k: int) -> Tensor:
        if self._deterministic:
            return super().select(flat, k)
        logw = self.sampling_log_weights(flat, k)
        u = uniform(flat.shape, self.generator, flat.device).clamp_(min=torch.finfo(torch.float32).tiny)
        gumbel = -torch.log(-torch.log(u))
        # weight 0 (alpha = 0 outside, or alpha = 1 inside the top-k set) gives -inf: never drawn
        # while k entries of positive weight remain
        return (logw + gumbel).topk(k, dim=1, sorted=False).indices
