"""``evit``: EViT token reorganisation at the cut: keep the attentive tokens, fuse the rest into one.

As EViT's ``Block.forward`` with ``fuse_token=True`` (``youweiliang/evit``, ``evit.py``), applied
to the cut activations with the CLS attention of the client's last block (mean over heads, the
same ``cls_attn`` EViT computes in that block's attention):

- CLS (every prefix token) is kept;
- the ``k = ceil(keep_rate * (N - P))`` patch tokens with the highest CLS attention are kept
  (EViT's ``left_tokens``; in EViT's order: by attention, descending);
- the other ``N - P - k`` (inattentive) tokens are fused into one extra token, weighted by their
  CLS attention.

The fused token: EViT's code takes ``sum(a_i * x_i)`` with the raw attention weights (they sum
to the attention mass of the dropped tokens, not to 1); the paper describes it as a weighted
average. ``fuse="mean"`` (default) normalises the weights to sum to 1 (the attention-weighted
mean of the dropped tokens); ``fuse="sum"`` is the code's raw weighted sum. When nothing is
dropped (k = N - P) no token is fused.

Difference from ``adc_prune_only``: the same attention ranking, but EViT spends one token on a
summary of everything it drops, and ranks only the patch tokens for ``ceil(keep_rate * (N - P))``
slots.

Up: (B, P + k + 1, D) fp32. Down: its gradient (the gradient of the fused token reaches each
dropped token scaled by its weight). xi = (P + k + 1) / N both ways. Evaluation: EViT
reorganises tokens at inference (``authors_eval = "compressed"``).

Citation: Liang, Ge, Tong, Song, Wang, Xie, "Not All Patches are What You Need: Expediting Vision
Transformers via Token Reorganizations", ICLR 2022 (arXiv 2202.07800); code github.com/youweiliang/evit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from adc.messages import Message
from adc.methods import Method, register

FUSE = ("mean", "sum")


@dataclass
class EViTParams:
    keep_rate: float = 0.5    # fraction of the patch tokens kept as they are: k = ceil(keep_rate * (N - P))
    fuse: str = "mean"        # fused token: mean (attention-weighted mean) | sum (EViT code's raw weighted sum)

    def validate(self):
        if not 0 < self.keep_rate <= 1:
            raise ValueError(f"method 'evit': keep_rate={self.keep_rate} is outside (0, 1]; use e.g. keep_rate=0.5")
        if self.fuse not in FUSE:
            raise ValueError(f"method 'evit': fuse={self.fuse!r}; allowed: {list(FUSE)}")


@register
class EViT(Method):
    """EViT: CLS + top-k patch tokens by CLS attention + one attention-weighted fusion of the rest."""

    name = "evit"
    citation = ("Liang et al., Not All Patches are What You Need: Expediting Vision Transformers via Token "
                "Reorganizations, ICLR 2022, arXiv 2202.07800 (github.com/youweiliang/evit).")
    Params = EViTParams
    # xi = (2 + ceil(keep_rate * 196)) / 197 on DeiT (N = 197): ~0.015, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5
    grid = {"keep_rate": [0.005, 0.04, 0.09, 0.19, 0.29, 0.39, 0.49]}
    # vit_micro (N = 17): k = 2, 4, 6 -> xi = 4/17, 6/17, 8/17 (0.24, 0.35, 0.47)
    demo_grid = {"keep_rate": [0.125, 0.25, 0.375]}
    xi_knob = ("keep_rate", 1e-3, 1.0)
    test_params = {"keep_rate": 0.3}
    authors_eval = "compressed"       # EViT reorganises tokens at inference
    merges_batch = False

    def num_keep(self) -> int:
        M = self.shape.num_tokens - self.shape.num_prefix_tokens
        return min(M, max(1, math.ceil(self.params.keep_rate * M - 1e-9)))

    def fuses(self) -> bool:
        return self.num_keep() < self.shape.num_tokens - self.shape.num_prefix_tokens

    def num_sent(self) -> int:
        return self.shape.num_prefix_tokens + self.num_keep() + int(self.fuses())

    def expected_xi(self) -> float:
        return self.num_sent() / self.shape.num_tokens

    def describe(self) -> dict:
        return {"tokens_kept": self.num_keep(), "fused_token": self.fuses(), "tokens_sent": self.num_sent()}

    def reorganize(self, acts: Tensor, attn: Tensor) -> Tensor:
        """(B, N, D), CLS attention (B, N) -> (B, P + k [+ 1], D), differentiable in ``acts``."""
        B, N, D = acts.shape
        P, k = self.shape.num_prefix_tokens, self.num_keep()
        patches, cls_attn = acts[:, P:], attn[:, P:].float()
        order = cls_attn.argsort(dim=1, descending=True, stable=True)           # EViT: topk, sorted
        top, rest = order[:, :k], order[:, k:]
        kept = patches.gather(1, top[..., None].expand(-1, -1, D))
        parts = [acts[:, :P], kept]
        if self.fuses():
            dropped = patches.gather(1, rest[..., None].expand(-1, -1, D))         # B, M - k, D
            w = cls_attn.gather(1, rest)                                         # B, M - k
            if self.params.fuse == "mean":
                w = w / w.sum(1, keepdim=True).clamp_min(1e-12)
            parts.append((dropped.float() * w[..., None]).sum(1, keepdim=True).to(acts.dtype))
        return torch.cat(parts, dim=1)

    def encode(self, acts: Tensor, attn: Tensor | None, labels: Tensor) -> tuple[Message, dict]:
        if attn is None:
            raise ValueError("method 'evit' needs the CLS attention of the client's last block")
        out = self.reorganize(acts, attn)
        return Message({"acts": out, "labels": self.pack_labels(labels)}, payload=("acts",)), {"acts": out}
