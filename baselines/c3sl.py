"""``c3sl``: C3-SL, circular-convolution-based batch-wise compression (Hsieh et al., 2022).

Cheng-Yen Hsieh, Yu-Chuan Chuang, An-Yeu Wu, "C3-SL: Circular Convolution-Based Batch-Wise
Compression for Communication-Efficient Split Learning", IEEE MLSP 2022, arXiv 2207.12397.

R fixed keys of length N * D are drawn once (Gaussian, L2-normalised; both sides hold them, they
are never sent). The batch is cut into groups of R consecutive samples; sample j of a group is
bound to key j by circular convolution (rfft * rfft, irfft) and the group's R bound vectors are
summed into one (N, D) tensor (the sum is taken on the spectra, before the one inverse FFT per
group: :meth:`C3SL.bind`). Up: ceil(B / R) such tensors, fp32, so xi = ceil(B/R) / B (= 1/R
when R divides B). The server unbinds sample j by circular correlation with key j (the conjugate
spectrum) and runs its blocks on the B reconstructed samples with their own labels. The
gradient crosses in the compressed shape: the gradient with respect to the sent tensors (the
unbinding is linear and differentiable), so down is also ceil(B/R) x N x D.

A batch not divisible by R (the last batch, or B < R): the last group is smaller. It is padded
with zero samples to R members (zeros add nothing to the sum) and the unbound rows of the pads
are dropped, so ceil(B / R) tensors are sent and every real sample keeps its own key.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from adc.messages import Message
from adc.methods import Method, register

from ._common import sub_generator


def _bind(x: Tensor, spec: Tensor) -> Tensor:
    """sum_r x[:, r] (*) key_r: (G, R, L) -> (G, L), the sum taken on the spectra (G inverse FFTs)."""
    return torch.fft.irfft((torch.fft.rfft(x, dim=-1) * spec).sum(dim=1), n=x.shape[-1], dim=-1)


def _unbind(s: Tensor, spec: Tensor) -> Tensor:
    """s (x) key_r for every r (circular correlation): (G, L) -> (G, R, L)."""
    return torch.fft.irfft(torch.fft.rfft(s, dim=-1)[:, None] * spec.conj(), n=s.shape[-1], dim=-1)


class _Circular(torch.autograd.Function):
    """Binding (``unbind=False``) or unbinding (``True``); circular convolution and correlation are
    adjoint, so the gradient of each is the other."""

    @staticmethod
    def forward(ctx, x: Tensor, spec: Tensor, unbind: bool) -> Tensor:
        ctx.save_for_backward(spec)
        ctx.unbind = unbind
        return (_unbind if unbind else _bind)(x, spec)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (spec,) = ctx.saved_tensors
        return (_bind if ctx.unbind else _unbind)(grad.contiguous(), spec), None, None


@dataclass
class C3SLParams:
    R: int = 4               # samples per group (compression ratio 1/R)

    def validate(self):
        if self.R < 1:
            raise ValueError(f"method 'c3sl': R={self.R} must be >= 1; the paper sweeps 2, 4, 8, 16, 32")


@register
class C3SL(Method):
    """Bind R samples to R fixed random keys by circular convolution and sum them; unbind by correlation."""

    name = "c3sl"
    citation = ("Hsieh, Chuang and Wu, C3-SL: Circular Convolution-Based Batch-Wise Compression for "
                "Communication-Efficient Split Learning, IEEE MLSP 2022, arXiv 2207.12397.")
    Params = C3SLParams
    grid = {"R": [2, 4, 8, 16, 32]}
    demo_grid = {"R": [2, 3, 4]}
    xi_knob = ("R", 1, 128)
    test_params = {"R": 4}
    authors_eval = "compressed"      # the C3-SL authors evaluate through binding and unbinding
    merges_batch = False             # unbinding gives one row per sample back

    def __init__(self, shape, generator=None, **params):
        super().__init__(shape, generator, **params)
        L = shape.num_tokens * shape.dim
        keys = torch.randn(self.params.R, L, generator=sub_generator(generator))
        self.keys = keys / keys.norm(dim=1, keepdim=True)        # R, N*D, unit L2 norm
        self._spectrum: dict[torch.device, Tensor] = {}

    def key_spectrum(self, device) -> Tensor:
        """rfft of the keys (R, L//2 + 1), cached per device."""
        device = torch.device(device)
        if device not in self._spectrum:
            self._spectrum[device] = torch.fft.rfft(self.keys.to(device), dim=1)
        return self._spectrum[device]

    def num_groups(self, batch_size: int) -> int:
        return -(-batch_size // self.params.R)

    def expected_xi(self) -> float:
        B = self.shape.batch_size
        return self.num_groups(B) / B

    def nominal_xi(self) -> float:
        return 1 / self.params.R       # the ADC authors' charge (not ceil(B/R)/B)

    def describe(self) -> dict:
        return {"R": self.params.R, "groups": self.num_groups(self.shape.batch_size)}

    def bind(self, x: Tensor) -> Tensor:
        """(G, R, L) -> (G, L): each group's R samples bound to the R keys by circular convolution, summed.

        Batched over groups: the sum is taken on the spectra, so one inverse FFT per group, not per
        sample, and the backward pass is the adjoint, circular correlation (:func:`unbind`), in real
        FFTs (autograd's own backward of ``rfft`` is a full complex FFT, 3x the cost at L = 197 * 192).
        Equal to :meth:`bind_per_sample`, values and gradients, up to float rounding
        (tests/test_perf_paths.py).
        """
        return _Circular.apply(x, self.key_spectrum(x.device), False)

    def unbind(self, s: Tensor) -> Tensor:
        """(G, L) -> (G, R, L): circular correlation of each group's sum with the R keys (the adjoint of bind)."""
        return _Circular.apply(s, self.key_spectrum(s.device), True)

    def bind_per_sample(self, x: Tensor) -> Tensor:
        """The earlier binding (one inverse FFT per sample, autograd's backward), for the equivalence test."""
        L = x.shape[-1]
        return torch.fft.irfft(torch.fft.rfft(x, dim=-1) * self.key_spectrum(x.device), n=L, dim=-1).sum(dim=1)

    def encode(self, acts: Tensor, attn: Tensor | None, labels: Tensor) -> tuple[Message, dict]:
        B, N, D = acts.shape
        R, L, G = self.params.R, N * D, self.num_groups(B)
        x = F.pad(acts.float().reshape(B, L), (0, 0, 0, G * R - B))          # zero samples pad the last group
        sent = self.bind(x.view(G, R, L)).reshape(G, N, D)                    # G, N, D
        return Message({"acts": sent, "labels": self.pack_labels(labels)}, payload=("acts",)), {"acts": sent}

    def reconstruct(self, msg: Message, leaves: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        sent = leaves["acts"]
        targets = self.unpack_labels(msg)
        B = targets.shape[0]
        G, N, D = sent.shape
        R, L = self.params.R, N * D
        unbound = self.unbind(sent.reshape(G, L))                            # G, R, L: circular correlation
        return unbound.reshape(G * R, N, D)[:B], targets
