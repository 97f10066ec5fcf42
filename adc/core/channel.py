"""The channel between client and server: clean (identity) or additive white Gaussian noise.

The ADC authors can put a noisy analog channel at the cut (``comm/communication.py`` of
``Federico-Alvetreti/Split-Learning_ADC``, ``communication: noisy``): per message an SNR is drawn
uniformly in [-s, s] dB, the signal power is estimated per token over the last dimension, and
white Gaussian noise of power ``signal / 10^(SNR/10)`` is added: to the activations going up
during training and to the gradient coming back. Here the same, applied in one place to what
crosses the cut in each direction (:func:`adc.core.step.in_process`, ``SplitRun.cross`` and the
two-process client all call :meth:`Channel.up` / :meth:`Channel.down` on the received message):

- the noise goes on the message's floating-point *payload* tensors (activations, gradients,
  codebooks, factors); integer and bit-packed tensors (codes, indices) and side information
  (labels, scales, sizes) are digital and pass unchanged (a bit-error model would be a
  different channel);
- one SNR per message (the authors draw one per tensor they noise: one per message here, the
  same for every payload tensor in it); power per token: the mean of ``x^2`` over the last
  dimension. (The authors' code divides the L2 *norm*, not its square, by the dimension; for the
  unit-norm encoder outputs it was written for, that is ``1/D`` either way. The mean square is
  the power for any input, so the SNR measured on a message is the one drawn.)
- noise is drawn from the run's generator (``SplitRun.generator``, checkpointed with the run),
  on its device, with no host synchronisation; training only: evaluation does not cross the
  channel (the authors' channel adds noise only in ``self.training``);
- ``clean`` returns the message itself and draws nothing, so a clean run is bit-identical to
  a run without a channel.

Config: ``channel: awgn`` with ``channel_snr_db: 10`` (s: SNR uniform in [-10, 10] dB).
"""
from __future__ import annotations

import torch
from torch import Tensor

from adc.core.messages import Message

CHANNELS = ("clean", "awgn")


class Channel:
    """The clean channel: what is sent is what is received."""

    name = "clean"

    def up(self, msg: Message) -> Message:
        return msg

    def down(self, msg: Message) -> Message:
        return msg

    def describe(self) -> dict:
        return {"name": self.name}


class AWGNChannel(Channel):
    """Additive white Gaussian noise at an SNR drawn uniformly in [-snr_db, snr_db] dB per message."""

    name = "awgn"

    def __init__(self, snr_db: float, generator: torch.Generator | None = None):
        if not snr_db >= 0:
            raise ValueError(f"channel_snr_db: {snr_db} must be >= 0 (SNR drawn uniformly in [-s, s] dB)")
        self.snr_db = float(snr_db)
        self.generator = generator

    def _draw(self, fn, shape, device) -> Tensor:
        gdev = self.generator.device if self.generator is not None else torch.device(device)
        return fn(shape, generator=self.generator, device=gdev).to(device)

    def noisy(self, msg: Message) -> tuple[Message, Tensor]:
        """The received message and the SNR drawn for it (dB, a 0-dim tensor on the payload's device)."""
        names = [k for k in msg.payload if msg[k].is_floating_point() and msg[k].numel()]
        if not names:
            return msg, torch.full((), float("nan"))
        device = msg[names[0]].device
        snr = (self._draw(torch.rand, (), device) * 2 - 1) * self.snr_db          # U[-s, s] dB
        out = dict(msg.tensors)
        for k in names:
            x = msg[k].detach().float()
            power = x.square().mean(dim=-1, keepdim=True)                        # per token, last dim
            std = (power / 10 ** (snr / 10)).sqrt()
            out[k] = (x + self._draw(torch.randn, x.shape, device) * std).to(msg[k].dtype)
        return Message(out, msg.payload, msg.paper_bytes, dict(msg.meta)), snr

    def up(self, msg: Message) -> Message:
        return self.noisy(msg)[0]

    def down(self, msg: Message) -> Message:
        return self.noisy(msg)[0]

    def describe(self) -> dict:
        return {"name": self.name, "snr_db": self.snr_db, "snr_range_db": [-self.snr_db, self.snr_db]}


def make_channel(name: str = "clean", snr_db: float = 10.0, generator: torch.Generator | None = None) -> Channel:
    """The channel a run's config names: ``clean`` or ``awgn`` (SNR uniform in [-snr_db, snr_db] dB)."""
    if name == "clean":
        return Channel()
    if name == "awgn":
        return AWGNChannel(snr_db, generator)
    raise ValueError(f"channel: {name!r}; allowed: {list(CHANNELS)}")


__all__ = ["CHANNELS", "Channel", "AWGNChannel", "make_channel"]
