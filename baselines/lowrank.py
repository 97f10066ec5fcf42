"""``lowrank``: each sample's (N, D) activation sent as a rank-r product (PowerSGD-style power iteration).

Per sample ``M`` (N x D), batched over the batch, as PowerSGD's compressor
(``epfml/powersgd``, ``powersgd/powersgd.py``: ``P = M Q; orthogonalize(P); Q = M^T P``):

    Q0 ~ N(0, 1)  (D x r, from the method's generator)
    repeat `iters` times:  P = orth(M Q);  Q = M^T P
    M ~= P Q^T,   P: N x r (orthonormal columns),  Q: D x r

``orth`` is a reduced QR (PowerSGD orthogonalises by Gram-Schmidt: the same column space).
PowerSGD warm-starts Q from the previous step because it compresses the same weight gradient
every step; at the cut each step brings new samples, so every step starts from a fresh random
Q (``iters`` power iterations instead of one). A matrix of rank <= r is reproduced exactly.

Up: P (B, N, r) and Q (B, D, r), fp32: xi_up = r (N + D) / (N D).

Down (``grad``): the server reconstructs ``X = P Q^T`` and back-propagates ``G = dL/dX``.

- ``factored`` (default): the client's ``X = P P^T M`` with the subspace P held fixed (the
  power iteration runs without gradient, as PowerSGD's projections do), so the exact gradient
  through the compression is ``dL/dM = P P^T G = P (G^T P)^T``: rank r, with the factor P that
  the client already holds. Only ``G^T P`` (= dL/dQ, B x D x r) goes down: xi_down = r / N.
- ``dense``: G itself (B, N, D) goes down and the client continues backward with it
  (straight-through): xi_down = 1.

Evaluation: uncompressed (PowerSGD compresses training traffic only).

Citation: Vogels, Karimireddy, Jaggi, "PowerSGD: Practical Low-Rank Gradient Compression for
Distributed Optimization", NeurIPS 2019 (arXiv 1905.13727); code github.com/epfml/powersgd.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from adc.messages import Message
from adc.methods import Method, register

from ._common import normal

GRADS = ("factored", "dense")


@dataclass
class LowRankParams:
    r: int = 4                # rank of each sample's approximation
    iters: int = 2            # power iterations (each: P = orth(M Q), Q = M^T P)
    grad: str = "factored"    # gradient down: factored (dL/dQ, D x r per sample) | dense (N x D, straight-through)

    def validate(self):
        if self.r < 1:
            raise ValueError(f"method 'lowrank': r={self.r} must be >= 1")
        if self.iters < 1:
            raise ValueError(f"method 'lowrank': iters={self.iters} must be >= 1")
        if self.grad not in GRADS:
            raise ValueError(f"method 'lowrank': grad={self.grad!r}; allowed: {list(GRADS)}")


def power_iteration(M: Tensor, Q: Tensor, iters: int) -> tuple[Tensor, Tensor]:
    """Batched PowerSGD compression of M (B, N, D) from Q (B or 1, D, r): (P (B, N, r) orthonormal, Q (B, D, r)).

    Runs without gradient; the caller recomputes ``Q = M^T P`` with gradient where it needs one.
    """
    with torch.no_grad():
        M = M.float()
        Mt = M.transpose(1, 2)
        for _ in range(iters):
            P = torch.linalg.qr(M @ Q).Q           # reduced QR: (B, N, r) orthonormal columns
            Q = Mt @ P
    return P, Q


@register
class LowRank(Method):
    """PowerSGD-style rank-r factors P (N x r), Q (D x r) per sample up; dL/dQ (factored) or dense gradient down."""

    name = "lowrank"
    citation = ("Vogels, Karimireddy, Jaggi, PowerSGD: Practical Low-Rank Gradient Compression for Distributed "
                "Optimization, NeurIPS 2019, arXiv 1905.13727 (github.com/epfml/powersgd).")
    Params = LowRankParams
    # DeiT-Tiny (N = 197, D = 192), factored: xi = (r * 389 / 37824 + r / 197) / 2 ~ 0.0077 r
    grid = {"r": [1, 2, 4, 8, 16, 32, 64]}
    # vit_micro (N = 17, D = 32), factored: xi = 0.22, 0.30, 0.45
    demo_grid = {"r": [3, 4, 6]}
    xi_knob = ("r", 1, 64)
    test_params = {"r": 2}
    authors_eval = "uncompressed"     # PowerSGD compresses training communication only
    merges_batch = False

    def rank(self) -> int:
        return min(self.params.r, self.shape.num_tokens, self.shape.dim)

    def xi_up(self) -> float:
        N, D = self.shape.num_tokens, self.shape.dim
        return self.rank() * (N + D) / (N * D)

    def xi_down(self) -> float:
        return self.rank() / self.shape.num_tokens if self.params.grad == "factored" else 1.0

    def expected_xi(self) -> float:
        return (self.xi_up() + self.xi_down()) / 2

    def describe(self) -> dict:
        return {"rank": self.rank(), "xi_up": self.xi_up(), "xi_down": self.xi_down()}

    # ----- client -> server --------------------------------------------------------------------
    def encode(self, acts: Tensor, attn: Tensor | None, labels: Tensor) -> tuple[Message, dict]:
        B, N, D = acts.shape
        Q0 = normal((1, D, self.rank()), self.generator, acts.device)
        P, _ = power_iteration(acts, Q0, self.params.iters)            # P: no gradient (fixed subspace)
        Q = acts.float().transpose(1, 2) @ P                           # Q = M^T P, differentiable in acts
        msg = Message({"P": P, "Q": Q, "labels": self.pack_labels(labels)}, payload=("P", "Q"))
        return msg, {"Q": Q, "acts": acts}

    def reconstruct(self, msg: Message, leaves: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        return msg["P"] @ leaves["Q"].transpose(1, 2), self.unpack_labels(msg)

    def decode(self, msg: Message) -> tuple[Tensor, Tensor, dict]:
        targets = self.unpack_labels(msg)
        if self.params.grad == "factored":
            leaf = msg["Q"].requires_grad_()                            # dL/dQ = G^T P
            tokens = msg["P"] @ leaf.transpose(1, 2)
        else:
            leaf = (msg["P"] @ msg["Q"].transpose(1, 2)).requires_grad_()   # dL/dX = G
            tokens = leaf
        return tokens, targets, leaf

    # ----- server -> client --------------------------------------------------------------------
    def encode_grad(self, server_state: Tensor) -> Message:
        g = server_state.grad if server_state.grad is not None else torch.zeros_like(server_state)
        name = "Q" if self.params.grad == "factored" else "acts"
        return Message({name: g}, payload=(name,))

    def decode_grad(self, client_state: dict, msg: Message) -> None:
        if self.params.grad == "factored":
            Q = client_state["Q"]
            if Q.requires_grad:                                         # dL/dM = P (dL/dQ)^T = P P^T G
                torch.autograd.backward(Q, msg["Q"].to(Q.dtype))
        else:
            acts = client_state["acts"]
            if acts.requires_grad:                                      # straight-through
                torch.autograd.backward(acts, msg["acts"].to(acts.dtype))
