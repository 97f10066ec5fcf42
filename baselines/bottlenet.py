"""``bottlenet`` and ``bottlenet_norelu``: BottleNet++ (Shao and Zhang, 2020), per token.

Jiawei Shao, Jun Zhang, "BottleNet++: An End-to-End Approach for Feature Compression in
Device-Edge Co-Inference Systems", IEEE ICC Workshops 2020, arXiv 1910.14315.

BottleNet++ puts a learned encoder on the device and a decoder on the edge server, trained
jointly with the network. In the authors' code (compression_module.py) the encoder is
conv -> BatchNorm -> sigmoid (channel reduction) and the decoder conv -> BatchNorm -> ReLU.
For a ViT cut the analogue is per token (a 1x1 conv over tokens is a Linear):

    client  encoder  Linear(D, d') -> BatchNorm over (batch x tokens) -> Sigmoid,  d' = max(1, int(c * D))
    server  decoder  Linear(d', D) -> BatchNorm -> ReLU (``relu=true``, as the paper's code) or not

Up: the (B, N, d') code, fp32; down: its gradient, same shape; xi = d' / D. The bottleneck
is part of the model, so it is active at evaluation too (``compress_at_eval``).

Why two names: the decoder's final ReLU makes the server's input non-negative, while a ViT's
residual stream is signed; the paper's code keeps it, and it may handicap the method here. Both
variants are reported as separate lines of the figure: ``bottlenet`` (the paper's, ReLU kept)
and ``bottlenet_norelu`` (the same with ``relu=false`` by default); both take the paper's
c grid, so their settings (``c=0.1``) match the reference data's. The paper's channel-noise
models (AWGN / erasure during training, and the noise level fed as an extra input channel) are
not used: the cut here is an error-free link. (The ADC paper's own re-implementation used a
two-layer MLP, Linear-ReLU-Linear, without BatchNorm or sigmoid; this one follows BottleNet++.)
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from adc.messages import Message
from adc.methods import Method, register

from ._common import sub_generator


@dataclass
class BottleNetParams:
    c: float = 0.1            # code width d' = max(1, int(c * D)) per token
    relu: bool = True         # the decoder's final ReLU (the paper's code keeps it)

    def validate(self):
        if not 0 < self.c <= 1:
            raise ValueError(f"method 'bottlenet': c={self.c} is outside (0, 1]; use e.g. c=0.1")


@dataclass
class BottleNetNoReluParams(BottleNetParams):
    relu: bool = False


class TokenBatchNorm(nn.BatchNorm1d):
    """BatchNorm over the feature channel, statistics over batch and tokens (BatchNorm2d's analogue)."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.reshape(-1, x.shape[-1])).reshape(x.shape)


def _init_linear(layer: nn.Linear, g: torch.Generator) -> None:
    """nn.Linear's default initialisation, drawn from ``g`` so the method's seed covers it."""
    nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=g)
    bound = 1 / math.sqrt(layer.in_features)
    nn.init.uniform_(layer.bias, -bound, bound, generator=g)


@register
class BottleNet(Method):
    """BottleNet++: learned per-token encoder D -> c*D on the client, decoder on the server; active at eval."""

    name = "bottlenet"
    citation = ("Shao and Zhang, BottleNet++: An End-to-End Approach for Feature Compression in Device-Edge "
                "Co-Inference Systems, IEEE ICC Workshops 2020, arXiv 1910.14315.")
    Params = BottleNetParams
    grid = {"c": [0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5]}
    demo_grid = {"c": [0.2, 0.35, 0.5]}
    xi_knob = ("c", 1e-3, 1.0)
    test_params = {"c": 0.25}
    compress_at_eval = True

    def __init__(self, shape, generator=None, **params):
        super().__init__(shape, generator, **params)
        D, d = shape.dim, self.code_dim()
        g = sub_generator(generator)
        self.encoder = nn.Sequential(nn.Linear(D, d), TokenBatchNorm(d), nn.Sigmoid())
        self.decoder = nn.Sequential(nn.Linear(d, D), TokenBatchNorm(D), *([nn.ReLU()] if self.params.relu else []))
        _init_linear(self.encoder[0], g)
        _init_linear(self.decoder[0], g)

    def code_dim(self) -> int:
        return min(self.shape.dim, max(1, int(self.params.c * self.shape.dim + 1e-9)))

    def client_module(self) -> nn.Module:
        return self.encoder

    def server_module(self) -> nn.Module:
        return self.decoder

    def expected_xi(self) -> float:
        return self.code_dim() / self.shape.dim

    def describe(self) -> dict:
        return {"code_dim": self.code_dim(), "decoder_relu": self.params.relu}

    def encode(self, acts: Tensor, attn: Tensor | None, labels: Tensor) -> tuple[Message, dict]:
        code = self.encoder(acts.float()).float()     # B, N, d'; fp32 on the wire, as every method (not autocast's bf16)
        return Message({"acts": code, "labels": self.pack_labels(labels)}, payload=("acts",)), {"acts": code}

    def reconstruct(self, msg: Message, leaves: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        return self.decoder(leaves["acts"]), self.unpack_labels(msg)

    def eval_transform(self, acts: Tensor) -> Tensor:
        with _eval_mode(self.encoder, self.decoder):
            return self.decoder(self.encoder(acts.float()))


@register
class BottleNetNoRelu(BottleNet):
    """BottleNet++ without the decoder's final ReLU (the server sees signed activations)."""

    name = "bottlenet_norelu"
    Params = BottleNetNoReluParams


@contextlib.contextmanager
def _eval_mode(*modules: nn.Module):
    """BatchNorm uses its running statistics at evaluation; the training loop only switches the ViT."""
    was = [m.training for m in modules]
    try:
        for m in modules:
            m.eval()
        yield
    finally:
        for m, w in zip(modules, was):
            m.train(w)
