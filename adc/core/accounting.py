"""Communication counters.

Every step adds the two messages that crossed (up: client -> server, down: server -> client)
and what the uncompressed ``base`` method would have sent for the same batch. Sizes come from
the :class:`~adc.messages.Message` tensors (Python ints from shapes: no device synchronisation).

Two figures are kept:

- ``bytes_up`` / ``bytes_down``: every byte that crossed, side information included;
- ``xi_measured`` (the paper's convention): activation/gradient payload only, the mean over the
  two directions of compressed size / uncompressed fp32 activation size.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from adc.core.messages import Message, smallest_int_dtype

FP32 = 4


def label_nbytes(batch_size: int, num_classes: int) -> int:
    """Bytes of integer labels for a batch, in the smallest dtype that holds the class ids."""
    import torch
    return batch_size * torch.empty((), dtype=smallest_int_dtype(num_classes - 1)).element_size()


def uncompressed_step_bytes(batch_size: int, num_tokens: int, dim: int, num_classes: int) -> tuple[int, int, int]:
    """(up, down, activation payload) bytes that ``base`` sends for one batch."""
    act = batch_size * num_tokens * dim * FP32
    return act + label_nbytes(batch_size, num_classes), act, act


@dataclass
class CommMeter:
    bytes_up: int = 0
    bytes_down: int = 0
    payload_up: float = 0.0
    payload_down: float = 0.0
    bytes_uncompressed: int = 0      # what base would have sent, both directions, labels included
    payload_uncompressed: int = 0    # fp32 activation size, one direction (the xi denominator)
    steps: int = 0

    def add(self, up: Message, down: Message, batch_size: int, num_tokens: int, dim: int, num_classes: int) -> None:
        ref_up, ref_down, ref_act = uncompressed_step_bytes(batch_size, num_tokens, dim, num_classes)
        self.bytes_up += up.nbytes
        self.bytes_down += down.nbytes
        self.payload_up += up.payload_nbytes
        self.payload_down += down.payload_nbytes
        self.bytes_uncompressed += ref_up + ref_down
        self.payload_uncompressed += ref_act
        self.steps += 1

    @property
    def bytes_total(self) -> int:
        return self.bytes_up + self.bytes_down

    @property
    def xi_up(self) -> float:
        return self.payload_up / self.payload_uncompressed if self.payload_uncompressed else float("nan")

    @property
    def xi_down(self) -> float:
        return self.payload_down / self.payload_uncompressed if self.payload_uncompressed else float("nan")

    @property
    def xi_measured(self) -> float:
        return (self.xi_up + self.xi_down) / 2

    def summary(self) -> dict:
        d = asdict(self)
        d.update(bytes_total=self.bytes_total, xi_up=self.xi_up, xi_down=self.xi_down, xi_measured=self.xi_measured,
                 xi_bytes=self.bytes_total / self.bytes_uncompressed if self.bytes_uncompressed else float("nan"))
        return d

    def state_dict(self) -> dict:
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        for k, v in state.items():
            setattr(self, k, v)
