"""``topk``: top-k sparsification of the cut activations.

Per sample, keep the k = r * N * D entries of largest magnitude of the flattened (N * D)
activation. Up: their values (fp32) and their per-sample indices (< N * D, in the smallest
integer dtype that holds them: uint16 for DeiT and vit_micro). The server scatters them into a
zero tensor. The gradient of the kept values only (the dense gradient masked with the same
indices) goes down as values; the client already knows the indices.

Two sizes are reported: the bytes really sent (``bytes_up``), and the paper's convention
(``xi_measured``), which charges ceil(log2(B * N * D)) bits per index as if indices addressed
the whole batch:  xi = r * (1 + ceil(log2(B*N*D)) / 32) / 2 + r / 2.

Citation: top-k sparsification of split-learning activations as used by the ADC paper's
baselines; see e.g. Zheng et al., "Reducing communication for split learning by randomized
top-k sparsification", IJCAI 2023 (arXiv 2305.18469), Section 3, for the deterministic variant.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from adc.messages import Message
from adc.methods import Method, register

from ._common import index_dtype


@dataclass
class TopKParams:
    r: float = 0.1            # fraction of the N * D entries kept per sample

    def validate(self):
        if not 0 < self.r <= 1:
            raise ValueError(f"method 'topk': r={self.r} is outside (0, 1]; use e.g. r=0.1")


@register
class TopK(Method):
    """Per-sample top-k (by magnitude) of the flattened activation; values + indices up, values down."""

    name = "topk"
    citation = ("Top-k sparsification of the cut activations (per sample), as the deterministic baseline of "
                "Zheng et al., IJCAI 2023, arXiv 2305.18469.")
    Params = TopKParams
    grid = {"r": [0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5]}
    demo_grid = {"r": [0.2, 0.35, 0.5]}
    xi_knob = ("r", 1e-3, 1.0)
    test_params = {"r": 0.1}
    authors_eval = "compressed"      # the top-k authors evaluate through the sparsification
    merges_batch = False

    # ----- sizes --------------------------------------------------------------------------
    def num_keep(self) -> int:
        nd = self.shape.num_tokens * self.shape.dim
        return min(nd, max(1, int(self.params.r * nd + 1e-9)))

    @staticmethod
    def index_bits(batch_size: int, num_tokens: int, dim: int) -> int:
        """Bits the paper charges per index: enough to address the whole batch."""
        return max(1, math.ceil(math.log2(batch_size * num_tokens * dim)))

    def expected_xi(self) -> float:
        s = self.shape
        frac = self.num_keep() / (s.num_tokens * s.dim)
        return frac * (1 + self.index_bits(s.batch_size, s.num_tokens, s.dim) / 32) / 2 + frac / 2

    def nominal_xi(self) -> float:
        """The ADC authors' charge: r * (1 + ceil(log2(B*N*D)) / 32) / 2 + r / 2 (forward 1 when r = 1),
        from the rate r itself (not the rounded k)."""
        s, r = self.shape, float(self.params.r)
        forward = 1.0 if r == 1 else r * (1 + self.index_bits(s.batch_size, s.num_tokens, s.dim) / 32)
        return (forward + r) / 2

    def describe(self) -> dict:
        s = self.shape
        return {"k_per_sample": self.num_keep(), "index_dtype": str(index_dtype(s.num_tokens * s.dim - 1)),
                "paper_index_bits": self.index_bits(s.batch_size, s.num_tokens, s.dim)}

    # ----- which entries -----------------------------------------------------------------------
    def select(self, flat: Tensor, k: int) -> Tensor:
        """(B, N*D) detached activations -> (B, k) indices of the entries to send."""
        return flat.abs().topk(k, dim=1, sorted=False).indices

    # ----- the step ----------------------------------------------------------------------------
    def encode(self, acts: Tensor, attn: Tensor | None, labels: Tensor) -> tuple[Message, dict]:
        B, N, D = acts.shape
        k = self.num_keep()
        flat = acts.reshape(B, N * D)
        idx = self.select(flat.detach(), k)                       # B, k (int64)
        values = flat.gather(1, idx)                              # differentiable in acts
        indices = idx.to(index_dtype(N * D - 1))
        paper = B * k * values.element_size() + B * k * self.index_bits(B, N, D) / 8
        msg = Message({"values": values, "indices": indices, "labels": self.pack_labels(labels)},
                      payload=("values",), paper_bytes=paper)
        return msg, {"values": values}

    def reconstruct(self, msg: Message, leaves: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        values = leaves["values"]
        B = values.shape[0]
        N, D = self.shape.num_tokens, self.shape.dim
        idx = msg["indices"].long()
        dense = values.new_zeros(B, N * D).scatter(1, idx, values)   # grad to values = masked dense grad
        return dense.reshape(B, N, D), self.unpack_labels(msg)
