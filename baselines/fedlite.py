"""``fedlite``: FedLite product quantization of the cut activations, with its gradient correction.

As the ADC authors ran FedLite (``Federico-Alvetreti/Split-Learning_ADC``, ``methods/fedlite.py``)
and as the FedLite paper describes it:

- each sample's activation (N * D values) is split into ``q = N * D / s`` sub-vectors of ``s``
  values (parameter ``s``: a last partial sub-vector is zero-padded; or ``q``, which must divide N * D);
- the B * q sub-vectors of the batch are clustered into ``L`` codewords by k-means (10 fixed
  iterations, random init from the method's generator: :func:`subvector_kmeans`, the suite's
  k-means with an update sized for millions of points);
- up: the codebook (L, s) fp32 and the B * q codes, bit-packed at ``ceil(log2 L)`` bits
  (:func:`adc.core.bitpack.pack_bits`); the server rebuilds ``x_hat = codebook[codes]``;
- gradient correction: the client's gradient adds ``lambda * (x - x_hat)`` (the gradient of
  ``lambda/2 ||x - x_hat||^2``; the authors' ``register_hook(grad + lbd * (x - rec))``).

Down (``grad``):

- ``codebook`` (default, the authors' graph at the cut): their reconstruction is a gather from
  the centroids, which are functions of x, so the gradient returns through the codewords. Here
  the server sends ``dL/dcodebook`` (L, s), the per-codeword sums of the gradient; the client
  back-propagates it through the codewords (each the mean of its sub-vectors: every sub-vector
  gets its cluster's mean gradient) and adds the correction. xi_down = L s / (B N D).
- ``dense``: the gradient w.r.t. x_hat (B, N, D) goes down and the client uses it straight
  through, plus the correction (xi_down = 1).

Where this differs from the authors' file, on purpose: they cluster with ``torch_kmeans.SoftKMeans``
(soft assignments, its own iteration count); the issue asks for hard k-means at 10 iterations.
Their ``x.view(B, q, -1).view(r, q, -1)`` (r = 1) regroups memory so that each clustered point
is B consecutive sub-vectors, not one sub-vector; this file clusters the B * q sub-vectors of
dimension s, as the FedLite paper and the issue state. Their quantizer's ``lbd`` defaults to
5e-3 and their model never sets it; the value used here is the issue's 5e-5. The authors
charge FedLite ``compression = 1`` per step; this suite counts the tensors sent.

xi (payload = codebook + packed codes up; codebook gradient or dense gradient down):
xi_up = (4 L s + ceil(B q ceil(log2 L) / 8)) / (4 B N D).  Labels are side information.
Evaluation goes through the quantizer, as in the authors' model (their quantizer has no
``self.training`` switch): ``authors_eval = "compressed"``.

Citation: Wang, Qi, Rawat, Reddi, Waghmare, Yu, Joshi, "FedLite: A Scalable Approach for
Federated Learning on Resource-constrained Clients", arXiv 2201.11865, 2022.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from adc.core.bitpack import bits_for, pack_bits, packed_nbytes, unpack_bits
from adc.double_compression.kmeans import _random_init, nearest_center
from adc.messages import Message
from adc.methods import Method, register

GRADS = ("codebook", "dense")


@dataclass
class FedLiteParams:
    s: int = 2                # values per sub-vector (q = N * D / s sub-vectors per sample; s = 2: the authors' q = 18,912 on DeiT-Tiny)
    q: int = 0                # sub-vectors per sample directly (divides N * D); 0 = N * D / s
    L: int = 64               # codewords (k-means clusters over the batch's B * q sub-vectors)
    lam: float = 5e-5         # gradient correction weight lambda
    iters: int = 10           # k-means iterations
    grad: str = "codebook"    # gradient down: codebook (dL/dcodewords) | dense (dL/dx_hat, straight-through)

    def validate(self):
        if self.s < 1:
            raise ValueError(f"method 'fedlite': s={self.s} must be >= 1 (values per sub-vector)")
        if self.q < 0:
            raise ValueError(f"method 'fedlite': q={self.q} must be >= 1 (or 0 = N * D / s)")
        if self.L < 1:
            raise ValueError(f"method 'fedlite': L={self.L} must be >= 1")
        if self.lam < 0:
            raise ValueError(f"method 'fedlite': lam={self.lam} must be >= 0")
        if self.iters < 0:
            raise ValueError(f"method 'fedlite': iters={self.iters} must be >= 0")
        if self.grad not in GRADS:
            raise ValueError(f"method 'fedlite': grad={self.grad!r}; allowed: {list(GRADS)}")


def subvector_kmeans(x: Tensor, k: int, iters: int, generator: torch.Generator | None) -> Tensor:
    """k-means of many low-dimensional points (B * q sub-vectors): assignments (n,) in 0..k-1.

    The suite's :func:`~adc.double_compression.kmeans.kmeans` (built for ADC's B samples) with its
    initialisation and distance, but the centre update is an ``index_add`` (n * s work) instead of
    its dense one-hot product (n * k), and no empty-cluster repair (an unused codeword is harmless
    here): with millions of sub-vectors (B * q = 2.4M on DeiT-Tiny, q = 18,912) the one-hot matrix
    alone would be n x k floats per iteration.
    """
    n = x.shape[0]
    centers = _random_init(x, min(k, n), generator)
    ones = torch.ones(n, device=x.device)
    for _ in range(iters):
        assign = nearest_center(x, centers)
        counts = torch.zeros(centers.shape[0], device=x.device).index_add_(0, assign, ones)
        sums = torch.zeros_like(centers).index_add_(0, assign, x)
        centers = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], centers)
    return nearest_center(x, centers)


@register
class FedLite(Method):
    """FedLite: sub-vectors k-means-quantized over the batch; codebook + bit-packed codes up, codeword gradient down."""

    name = "fedlite"
    citation = ("Wang et al., FedLite: A Scalable Approach for Federated Learning on Resource-constrained Clients, "
                "arXiv 2201.11865, 2022 (as run by the ADC authors, Split-Learning_ADC methods/fedlite.py).")
    Params = FedLiteParams
    # the authors' sweep (bash_scripts/fedlite_parameters_tuning.sh): L in 2..64 and q in 1,182..18,912 on
    # DeiT-Tiny (N * D = 37,824), i.e. s = 32..2 values per sub-vector (s, not q: the same grid on every model;
    # their q = 591, s = 64, does not divide vit_micro's N * D = 544)
    grid = {"L": [2, 4, 8, 16, 32, 64], "s": [2, 4, 8, 16, 32]}
    # vit_micro (N * D = 544), B = 64, s = 1 (a scalar codebook): with the codebook gradient xi = 0.063, 0.096,
    # 0.132, i.e. 8-16x the steps of base under the default's byte budget (too slow for the CPU default); the
    # demo sends the gradient dense: xi = (0.126 + 1) / 2 = 0.56, 0.59, 0.63
    demo_grid = {"L": [16, 64, 256], "s": [1], "grad": ["dense"]}
    xi_knob = ("L", 2, 256)
    test_params = {"L": 8, "s": 4}
    authors_eval = "compressed"       # the authors' quantizer also runs at evaluation
    merges_batch = False

    def __init__(self, shape, generator=None, **params):
        super().__init__(shape, generator, **params)
        nd = shape.num_tokens * shape.dim
        if self.params.q:
            if nd % self.params.q:
                raise ValueError(f"method 'fedlite': q={self.params.q} must divide N * D = {shape.num_tokens} * "
                                 f"{shape.dim} = {nd} (e.g. q={nd // 2} for 2 values per sub-vector), or set s")
            self.q, self.sub = self.params.q, nd // self.params.q
        else:       # s need not divide N * D: the last sub-vector is padded with zeros (never sent back)
            self.sub = self.params.s
            self.q = -(-nd // self.sub)
        self.pad = self.q * self.sub - nd

    # ----- sizes ------------------------------------------------------------------------------
    def bits(self) -> int:
        return bits_for(self.params.L - 1)

    def codebook_bytes(self) -> int:
        return self.params.L * self.sub * 4

    def codes_bytes(self, batch_size: int) -> int:
        return packed_nbytes(batch_size * self.q, self.bits())

    def expected_xi(self) -> float:
        s = self.shape
        act = s.batch_size * s.num_tokens * s.dim * 4
        up = (self.codebook_bytes() + self.codes_bytes(s.batch_size)) / act
        down = self.codebook_bytes() / act if self.params.grad == "codebook" else 1.0
        return (up + down) / 2

    def describe(self) -> dict:
        return {"q": self.q, "subvector_dim": self.sub, "codewords": self.params.L, "code_bits": self.bits()}

    # ----- the quantizer ----------------------------------------------------------------------
    def quantize(self, acts: Tensor) -> tuple[Tensor, Tensor]:
        """(B, N, D) -> codebook (L, s) (differentiable in ``acts``: each row the mean of its
        sub-vectors; an unused codeword is 0) and codes (B * q,) int64."""
        flat = acts.float().reshape(acts.shape[0], -1)
        if self.pad:
            flat = torch.nn.functional.pad(flat, (0, self.pad))
        sub = flat.reshape(-1, self.sub)                                          # B*q, s
        codes = subvector_kmeans(sub.detach(), self.params.L, self.params.iters, self.generator)
        L = self.params.L
        counts = torch.zeros(L, device=sub.device).index_add_(0, codes, torch.ones_like(codes, dtype=torch.float32))
        sums = sub.new_zeros(L, self.sub).index_add(0, codes, sub)
        return sums / counts.clamp_min(1)[:, None], codes

    def dequantize(self, codebook: Tensor, codes: Tensor, batch_size: int) -> Tensor:
        nd = self.shape.num_tokens * self.shape.dim
        return codebook[codes].reshape(batch_size, -1)[:, :nd].reshape(batch_size, self.shape.num_tokens,
                                                                         self.shape.dim)

    # ----- client -> server --------------------------------------------------------------------
    def encode(self, acts: Tensor, attn: Tensor | None, labels: Tensor) -> tuple[Message, dict]:
        B = acts.shape[0]
        codebook, codes = self.quantize(acts)
        packed = pack_bits(codes, self.bits(), check=False)
        msg = Message({"codebook": codebook, "codes": packed, "labels": self.pack_labels(labels)},
                      payload=("codebook", "codes"))
        x_hat = self.dequantize(codebook.detach(), codes, B)
        return msg, {"codebook": codebook, "acts": acts, "x_hat": x_hat}

    def decode(self, msg: Message) -> tuple[Tensor, Tensor, Tensor]:
        targets = self.unpack_labels(msg)
        B = targets.shape[0]
        codes = unpack_bits(msg["codes"], self.bits(), B * self.q)
        if self.params.grad == "codebook":
            leaf = msg["codebook"].requires_grad_()
            return self.dequantize(leaf, codes, B), targets, leaf
        leaf = self.dequantize(msg["codebook"], codes, B).requires_grad_()
        return leaf, targets, leaf

    def reconstruct(self, msg: Message, leaves: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        targets = self.unpack_labels(msg)
        codes = unpack_bits(msg["codes"], self.bits(), targets.shape[0] * self.q)
        return self.dequantize(leaves["codebook"], codes, targets.shape[0]), targets

    # ----- server -> client --------------------------------------------------------------------
    def encode_grad(self, server_state: Tensor) -> Message:
        g = server_state.grad if server_state.grad is not None else torch.zeros_like(server_state)
        name = "codebook" if self.params.grad == "codebook" else "acts"
        return Message({name: g}, payload=(name,))

    def decode_grad(self, client_state: dict, msg: Message) -> None:
        acts = client_state["acts"]
        if not acts.requires_grad:
            return
        correction = self.params.lam * (acts.detach().float() - client_state["x_hat"])
        if self.params.grad == "codebook":      # through the codewords (each a mean of sub-vectors) + correction
            torch.autograd.backward([client_state["codebook"], acts],
                                    [msg["codebook"], correction.to(acts.dtype)])
        else:                                   # straight-through + correction
            torch.autograd.backward(acts, (msg["acts"].float() + correction).to(acts.dtype))
