"""What crosses the cut: a :class:`Message` of named, real tensors.

Bytes are counted from the dtypes and shapes of the tensors a message holds, so the
accounting can never drift from what a method actually sends. ``payload`` names the
tensors that carry activations (up) or gradients (down): those are what the paper's
compression ratio xi counts; everything else (labels, indices, scales) is side information,
counted in the total bytes but not in xi, unless a method charges it explicitly through
``paper_bytes`` (top-k charges its indices at ceil(log2(B*N*D)) bits, as the paper does).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor


def tensor_nbytes(t: Tensor) -> int:
    return t.numel() * t.element_size()


def smallest_int_dtype(max_value: int) -> torch.dtype:
    """The smallest integer dtype that holds 0..max_value (what a real sender would use)."""
    if max_value < 2 ** 8:
        return torch.uint8
    if max_value < 2 ** 15:
        return torch.int16
    if max_value < 2 ** 31:
        return torch.int32
    return torch.int64


@dataclass
class Message:
    """Named tensors sent across the cut in one direction for one step."""

    tensors: dict[str, Tensor]
    payload: tuple[str, ...] = ()
    paper_bytes: float | None = None  # paper-convention size of the payload, when it differs from the tensors
    meta: dict = field(default_factory=dict)  # plain Python values (shapes, flags): never counted, never sent

    def __post_init__(self):
        missing = [k for k in self.payload if k not in self.tensors]
        if missing:
            raise KeyError(f"payload names {missing} not among the message tensors {list(self.tensors)}")

    def __getitem__(self, key: str) -> Tensor:
        return self.tensors[key]

    def __contains__(self, key: str) -> bool:
        return key in self.tensors

    @property
    def nbytes(self) -> int:
        """Every byte of every tensor in the message."""
        return sum(tensor_nbytes(t) for t in self.tensors.values())

    @property
    def payload_nbytes(self) -> float:
        """Size of the activation/gradient payload in the paper's convention."""
        if self.paper_bytes is not None:
            return float(self.paper_bytes)
        return float(sum(tensor_nbytes(self.tensors[k]) for k in self.payload))

    def detached(self) -> "Message":
        """What the receiving side gets: detached copies, cut from the sender's autograd graph."""
        return Message({k: t.detach() for k, t in self.tensors.items()}, self.payload, self.paper_bytes,
                       dict(self.meta))

    def to(self, device) -> "Message":
        return Message({k: t.to(device) for k, t in self.tensors.items()}, self.payload, self.paper_bytes,
                       dict(self.meta))
