"""``random_token_pruning``: each sample keeps its CLS token and a random (k - 1) of its patch tokens.

k = max(P, int(rho * N)) with the same rounding as ADC's token count (P = prefix tokens, CLS),
so ``adc_prune_only`` at xi = rho and this method send the same number of tokens: the one
chooses them by attention, the other at random. The draw is per sample, from the method's
generator, batched (random scores, top-k). Up: (B, k, D) fp32; the server's blocks run on the
k tokens (positions were embedded on the client). The gradient has the same (B, k, D) shape.
xi = k / N. Evaluation uses all tokens.

Citation: the random-selection control for attention-based token pruning (this suite's design,
issue 3): it isolates what ADC's attention-based token choice adds over keeping as many tokens
at random.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from adc.messages import Message
from adc.methods import Method, register

from ._common import uniform


@dataclass
class RandomTokenPruningParams:
    rho: float = 0.5          # fraction of the N tokens kept (CLS included)

    def validate(self):
        if not 0 < self.rho <= 1:
            raise ValueError(f"method 'random_token_pruning': rho={self.rho} is outside (0, 1]; use e.g. rho=0.5")


@register
class RandomTokenPruning(Method):
    """Keep CLS + a uniformly random (k - 1) patch tokens per sample."""

    name = "random_token_pruning"
    citation = ("Random token pruning: CLS plus a uniformly random subset of patch tokens per sample "
                "(the random-selection control for attention-based token pruning).")
    Params = RandomTokenPruningParams
    grid = {"rho": [0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5]}
    demo_grid = {"rho": [0.25, 0.35, 0.5]}
    xi_knob = ("rho", 1e-3, 1.0)
    test_params = {"rho": 0.3}
    authors_eval = "uncompressed"
    merges_batch = False

    def num_keep(self) -> int:
        N, P = self.shape.num_tokens, self.shape.num_prefix_tokens
        return min(N, max(P, int(self.params.rho * N + 1e-9)))

    def expected_xi(self) -> float:
        return self.num_keep() / self.shape.num_tokens

    def describe(self) -> dict:
        return {"tokens_kept": self.num_keep()}

    def encode(self, acts: Tensor, attn: Tensor | None, labels: Tensor) -> tuple[Message, dict]:
        B, N, D = acts.shape
        P, k = self.shape.num_prefix_tokens, self.num_keep()
        scores = uniform((B, N - P), self.generator, acts.device)
        chosen = scores.topk(k - P, dim=1).indices.sort(dim=1).values + P     # random, positional order kept
        idx = torch.cat([torch.arange(P, device=acts.device).expand(B, P), chosen], dim=1)
        kept = acts.gather(1, idx[:, :, None].expand(-1, -1, D))               # B, k, D
        return Message({"acts": kept, "labels": self.pack_labels(labels)}, payload=("acts",)), {"acts": kept}
