"""``my_method``: a commented starting point for a new compression method (skipped by discovery).

Copy this file to ``baselines/<your_method>.py`` (no leading underscore), change ``name``, and
edit. As written it is a complete, working method: every sample sends its CLS token and every
``stride``-th patch token (optionally from a random offset), and the gradient of those tokens
comes back. ``tests/test_contract.py`` runs the contract on every registered method, so your
copy is tested with no other edit: ``python -m pytest -q tests/test_contract.py -k your_method``.

Citation: put the paper here (authors, title, venue, year, arXiv id); it is shown in tables.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from adc.messages import Message
from adc.methods import Method, register

# Randomness: draw from ``self.generator`` (a torch.Generator, possibly on the GPU) so the run's
# seed covers it and checkpoints restore it. No Python loops over samples, groups or clusters in
# a step, and no host synchronisation (.item(), printing tensors) inside one.


@dataclass
class MyParams:
    """Every field (with its default) is a parameter: ``--param stride=4`` on the command line."""

    stride: int = 2
    random_offset: bool = False

    def validate(self):                      # optional: clear errors that name the parameter
        if self.stride < 1:
            raise ValueError(f"method 'my_method': stride={self.stride} must be >= 1")


@register                                    # adds the class to the registry under `name` (duplicates: error)
class MyMethod(Method):
    """One line on what crosses the cut (shown by the docs)."""

    name = "my_method"
    citation = "Authors, Title, Venue Year, arXiv XXXX.XXXXX."
    Params = MyParams
    grid = {"stride": [2, 4, 8]}             # the paper's sweep: one run per value (a product if several keys)
    demo_grid = {"stride": [2, 3, 4]}        # 3 levels for the embedded CPU default: keep xi >= ~0.2 (cheap)
    test_params = {"stride": 3, "random_offset": True}   # a small, fast setting for the contract tests
    compress_at_eval = False                 # True only if the method is part of the model at test time
    authors_eval = "uncompressed"            # how the method's own authors evaluate: "uncompressed" | "compressed"
    merges_batch = False                     # True if the server gets fewer rows than samples (no compressed eval)
    # nominal_xi(self) -> float: what the `paper` protocol charges per sample (default: expected_xi())

    def num_patches_sent(self) -> int:
        return math.ceil((self.shape.num_tokens - self.shape.num_prefix_tokens) / self.params.stride)

    # The compression ratio the paper's convention gives for self.shape (B, N, D): the contract
    # checks that a real step measures it within 5%. It counts the payload only: labels, indices
    # and scales are side information (in the bytes, not in xi) unless Message.paper_bytes says so.
    def expected_xi(self) -> float:
        return (self.shape.num_prefix_tokens + self.num_patches_sent()) / self.shape.num_tokens

    def describe(self) -> dict:              # derived numbers, recorded in metrics.json
        return {"patches_sent": self.num_patches_sent()}

    # Client side. `acts` (B, N, D) is the client's output, `attn` (B, N) the CLS attention of its
    # last block, `labels` (B,). Return the up-message and what the client keeps for backward.
    # `payload` names the activation tensors: the server makes them leaves and sends their
    # gradients back (the default decode / encode_grad / decode_grad). Everything the server
    # needs must be a tensor in the message: that is what is counted.
    def encode(self, acts: Tensor, attn: Tensor | None, labels: Tensor) -> tuple[Message, dict]:
        B, N, D = acts.shape
        P, M, s = self.shape.num_prefix_tokens, N - self.shape.num_prefix_tokens, self.params.stride
        offset = torch.zeros(1, dtype=torch.long, device=acts.device)
        if self.params.random_offset:
            gdev = self.generator.device if self.generator is not None else acts.device
            offset = torch.randint(s, (1,), generator=self.generator, device=gdev).to(acts.device)
        patches = P + (offset + torch.arange(self.num_patches_sent(), device=acts.device) * s) % M
        idx = torch.cat([torch.arange(P, device=acts.device), patches.sort().values])
        kept = acts[:, idx]                                          # B, k, D (differentiable)
        msg = Message({"acts": kept, "labels": self.pack_labels(labels)}, payload=("acts",))
        return msg, {"acts": kept}                                   # backward continues from `kept`

    # Server side: from the received message and its payload leaves, the tokens (B', N', D) for
    # the server's blocks and the targets (class ids (B',), or soft labels (B', C)).
    def reconstruct(self, msg: Message, leaves: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        return leaves["acts"], self.unpack_labels(msg)

    # Override decode / encode_grad / decode_grad only when the gradient does not simply go back as
    # the gradient of the payload leaves (baselines/quantization.py compresses it), and
    # client_module / server_module / eval_transform for learned parts (baselines/bottlenet.py).
