"""BottleNet++ both ways: as the ADC authors ran it (``bottlenet``, Fig. 3) and as its paper designs it.

Jiawei Shao, Jun Zhang, "BottleNet++: An End-to-End Approach for Feature Compression in
Device-Edge Co-Inference Systems", IEEE ICC Workshops 2020, arXiv 1910.14315.

A learned encoder on the client and a decoder on the server, trained with the network, per token
(for a ViT cut a 1x1 conv over tokens is a Linear). Up: the (B, N, d') code, fp32; down: its
gradient, same shape. The bottleneck is part of the model, so it is active at evaluation too
(``compress_at_eval``: both evaluations go through it).

``bottlenet`` -- the ADC authors' re-implementation (``methods/bottlenet.py`` of
Federico-Alvetreti/Split-Learning_ADC and of Attention-based-Double-Compression), the line of
the ADC paper's Fig. 3. A two-layer MLP each side, hidden width (D + d')/2 (numpy's
``linspace(D, d', 3, dtype=int)``), d' = round(c * D) (Python's round)::

    client  Linear(D, h) -> ReLU -> Linear(h, d')
    server  Linear(d', h') -> ReLU -> Linear(h', D) -> ReLU        (``relu=false`` drops the last ReLU)

No BatchNorm, no sigmoid. DeiT-Tiny (D = 192) at c = 0.01: d' = 2, h = h' = 97, 38,024 parameters.
The ADC authors charge c per sample (``paper`` protocol), so ``nominal_xi`` = c.

``bottlenet_norelu`` -- the same without the decoder's final ReLU: a ViT's residual stream is
signed, and the ReLU makes the server's input non-negative; kept to show what that costs.

``bottlenetpp_paper`` -- BottleNet++'s own design (the paper's ``compression_module.py``): the
encoder is Linear -> BatchNorm -> Sigmoid, the decoder Linear -> BatchNorm -> ReLU (``relu``),
d' = max(1, int(c * D)). DeiT-Tiny at c = 0.01: d' = 1, 963 parameters. The paper's channel-noise
models (AWGN / erasure during training) are not used: the cut here is an error-free link.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from adc.messages import Message
from adc.methods import Method, register

from ._common import sub_generator

@dataclass
class BottleNetParams:
    c: float = 0.1            # code width d' per token, as a fraction of D
    relu: bool = True         # the decoder's final ReLU (both the ADC authors' code and the paper's keep it)

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


def mlp(sizes: list[int], last_relu: bool, g: torch.Generator) -> nn.Sequential:
    """Linear -> ReLU -> ... -> Linear (-> ReLU if ``last_relu``), the ADC authors' ``get_ffn``."""
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        lin = nn.Linear(a, b)
        _init_linear(lin, g)
        layers += [lin, nn.ReLU()]
    return nn.Sequential(*(layers if last_relu else layers[:-1]))


def authors_code_dim(c: float, dim: int) -> int:
    """d' = round(c * D), as the ADC authors' Encoder (they stop with an error at 0; here at least 1)."""
    return min(dim, max(1, round(c * dim)))


def authors_sizes(dim: int, code: int) -> tuple[list[int], list[int]]:
    """Layer widths of the authors' encoder and decoder: ``np.linspace(in, out, 3, dtype=int)``."""
    enc = [int(v) for v in np.linspace(dim, code, num=3, endpoint=True, dtype=int)]
    dec = [int(v) for v in np.linspace(code, dim, num=3, endpoint=True, dtype=int)]
    return enc, dec


class _Bottleneck(Method):
    """The common part: an encoder module on the client, a decoder on the server, active at evaluation."""

    Params = BottleNetParams
    grid = {"c": [0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5]}
    demo_grid = {"c": [0.2, 0.35, 0.5]}
    xi_knob = ("c", 1e-3, 1.0)
    test_params = {"c": 0.25}
    compress_at_eval = True
    authors_eval = "compressed"
    encoder: nn.Module
    decoder: nn.Module

    def code_dim(self) -> int:
        raise NotImplementedError

    def client_module(self) -> nn.Module:
        return self.encoder

    def server_module(self) -> nn.Module:
        return self.decoder

    def expected_xi(self) -> float:
        return self.code_dim() / self.shape.dim

    def nominal_xi(self) -> float:
        return float(self.params.c)

    def describe(self) -> dict:
        params = sum(p.numel() for m in (self.encoder, self.decoder) for p in m.parameters())
        return {"code_dim": self.code_dim(), "decoder_relu": self.params.relu, "bottleneck_parameters": params}

    def encode(self, acts: Tensor, attn: Tensor | None, labels: Tensor) -> tuple[Message, dict]:
        code = self.encoder(acts.float()).float()     # B, N, d'; fp32 on the wire, as every method (not autocast's bf16)
        return Message({"acts": code, "labels": self.pack_labels(labels)}, payload=("acts",)), {"acts": code}

    def reconstruct(self, msg: Message, leaves: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        return self.decoder(leaves["acts"]), self.unpack_labels(msg)

    def eval_transform(self, acts: Tensor) -> Tensor:
        with _eval_mode(self.encoder, self.decoder):
            return self.decoder(self.encoder(acts.float()))


@register
class BottleNet(_Bottleneck):
    """BottleNet++ as the ADC authors ran it (Fig. 3): a per-token two-layer ReLU MLP each side."""

    name = "bottlenet"
    citation = ("Shao and Zhang, BottleNet++, IEEE ICC Workshops 2020, arXiv 1910.14315; as re-implemented by "
                "the ADC authors (two-layer ReLU MLP per token, d' = round(c*D)), the Fig. 3 baseline.")

    def __init__(self, shape, generator=None, **params):
        super().__init__(shape, generator, **params)
        g = sub_generator(generator)
        enc, dec = authors_sizes(shape.dim, self.code_dim())
        self.encoder = mlp(enc, last_relu=False, g=g)
        self.decoder = mlp(dec, last_relu=self.params.relu, g=g)

    def code_dim(self) -> int:
        return authors_code_dim(self.params.c, self.shape.dim)


@register
class BottleNetNoRelu(BottleNet):
    """The ADC authors' BottleNet++ without the decoder's final ReLU (the server sees signed activations)."""

    name = "bottlenet_norelu"
    Params = BottleNetNoReluParams


@register
class BottleNetPPPaper(_Bottleneck):
    """BottleNet++ as its paper designs it: Linear-BN-Sigmoid encoder, Linear-BN-ReLU decoder, d' = int(c*D)."""

    name = "bottlenetpp_paper"
    citation = ("Shao and Zhang, BottleNet++: An End-to-End Approach for Feature Compression in Device-Edge "
                "Co-Inference Systems, IEEE ICC Workshops 2020, arXiv 1910.14315 (the paper's own design).")

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
