"""``quantization``: uniform min-max k-bit quantization of activations (up) and gradients (down).

Each tensor that crosses is quantized on its own: offset = min, scale = (max - min) / (2^bits - 1),
code = round((x - offset) / scale) (or stochastic rounding, floor(v + u), u ~ U[0, 1), with
``stochastic=true``). The codes are bit-packed into uint8 (8 / bits codes per byte for 1, 2, 4
and 8 bits; little-endian bit streams otherwise), so the bytes counted are the bits sent; scale
and offset travel as two fp32 scalars beside them (side information: counted in the bytes, not
in the paper's xi, which is bits / 32 per direction). The receiver dequantizes; the client
continues backward from its unquantized activations with the dequantized gradient
(straight-through estimator).

Citation: uniform min-max quantization, the standard compression baseline for split learning;
stochastic rounding as in QSGD (Alistarh et al., "QSGD: Communication-Efficient SGD via
Gradient Quantization and Encoding", NeurIPS 2017).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from adc.messages import Message
from adc.core.bitpack import pack_bits, unpack_bits
from adc.methods import Method, register

from ._common import uniform


@dataclass
class QuantizationParams:
    bits: int = 8              # bits per value, 1..16
    stochastic: bool = False   # stochastic rounding (unbiased) instead of round-to-nearest

    def validate(self):
        if not 1 <= self.bits <= 16:
            raise ValueError(f"method 'quantization': bits={self.bits} is outside 1..16; the paper sweeps 1, 2, 4, 8")


def quantize(x: Tensor, bits: int, stochastic: bool = False,
             generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Min-max quantization of the whole tensor -> (packed uint8 codes, scale (1,), offset (1,)) fp32."""
    x = x.detach().float().reshape(-1)
    levels = (1 << bits) - 1
    lo, hi = torch.aminmax(x)
    scale = (hi - lo) / levels
    # scale 0 means every value equals lo: (x - lo) / 1 is then 0 everywhere, as it must be
    v = (x - lo).div_(torch.where(scale > 0, scale, torch.ones_like(scale)))
    if stochastic:
        v = v.add_(uniform(v.shape, generator, v.device)).floor_()
    else:
        v = v.round_()
    codes = v.clamp_(0, levels).to(torch.uint8 if bits <= 8 else torch.int32)
    return pack_bits(codes, bits, check=False), scale.reshape(1), lo.reshape(1)


def dequantize(packed: Tensor, scale: Tensor, offset: Tensor, bits: int, shape) -> Tensor:
    n = 1
    for s in shape:
        n *= s
    codes = unpack_bits(packed, bits, n, dtype=torch.uint8 if bits <= 8 else torch.int64)
    return codes.to(torch.float32).mul_(scale).add_(offset).reshape(shape)


@register
class Quantization(Method):
    """Uniform min-max k-bit quantization, bit-packed, both directions; straight-through backward."""

    name = "quantization"
    citation = ("Uniform min-max k-bit quantization of activations and gradients with a straight-through "
                "estimator; stochastic rounding as in QSGD (Alistarh et al., NeurIPS 2017).")
    Params = QuantizationParams
    grid = {"bits": [1, 2, 4, 8]}
    demo_grid = {"bits": [8, 12, 16]}
    xi_knob = ("bits", 1, 16)
    test_params = {"bits": 4}
    authors_eval = "compressed"      # quantized activations at test time too
    merges_batch = False

    def expected_xi(self) -> float:
        s = self.shape
        n = s.batch_size * s.num_tokens * s.dim
        return -(-n * self.params.bits // 8) / (4 * n)       # ceil(n * bits / 8) bytes over n fp32

    def describe(self) -> dict:
        return {"bits": self.params.bits, "stochastic": self.params.stochastic}

    def _message(self, x: Tensor, extra: dict) -> Message:
        packed, scale, offset = quantize(x, self.params.bits, self.params.stochastic, self.generator)
        return Message({"codes": packed, "scale": scale, "offset": offset, **extra}, payload=("codes",))

    def _restore(self, msg: Message, shape) -> Tensor:
        return dequantize(msg["codes"], msg["scale"], msg["offset"], self.params.bits, shape)

    # client -> server
    def encode(self, acts: Tensor, attn: Tensor | None, labels: Tensor) -> tuple[Message, Tensor]:
        return self._message(acts, {"labels": self.pack_labels(labels)}), acts

    def decode(self, msg: Message) -> tuple[Tensor, Tensor, Tensor]:
        targets = self.unpack_labels(msg)
        # the server knows N and D from the cut, and B from the labels it received
        shape = (targets.shape[0], self.shape.num_tokens, self.shape.dim)
        leaf = self._restore(msg, shape).requires_grad_()
        return leaf, targets, leaf

    # server -> client
    def encode_grad(self, server_state: Tensor) -> Message:
        g = server_state.grad if server_state.grad is not None else torch.zeros_like(server_state)
        return self._message(g, {})

    def decode_grad(self, client_state: Tensor, msg: Message) -> None:
        acts = client_state
        if acts.requires_grad:
            grad = self._restore(msg, acts.shape).to(acts.dtype)
            torch.autograd.backward(acts, grad)        # straight-through: d q(x) / dx := identity
