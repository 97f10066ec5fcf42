"""FLOPs of one split training step, client and server, per method and setting (the paper's Fig. 5).

Counted with :class:`torch.utils.flop_counter.FlopCounterMode` (no extra dependency), which
counts matrix products, convolutions and attention at 2 FLOPs per multiply-add; we add one
FLOP per accumulated element for ``index_add`` (the merge of ADC and the backward of a gather)
and the usual n log2 n estimates for FFTs (C3-SL's circular convolutions: 5 n log2 n complex,
2.5 n log2 n real), so a method cannot hide its work in a kernel the counter does not know.
Element-wise work (softmax, norms, GELU, comparisons, top-k) is not counted, by either side, as
in the usual FLOPs tables.

A step is split where it runs:

- ``client_base``: the client's blocks, forward and backward (the CLS-attention read included);
- ``client_method``: what the method adds on the client, ``encode`` and ``decode_grad`` (for ADC:
  k-means, centroid attention, soft labels, the merge and its backward);
- ``server``: the server's blocks and head, forward and backward, on the tokens the method hands
  them (T x k for ADC), plus the method's own server work (``decode`` + ``encode_grad``);
- ``server_base``: the same for ``base`` (all B x N tokens).

The model is built on the ``meta`` device (shapes only, no memory, no time); the method's
compression runs on real CPU tensors of the cut's shape (it is cheap, and a method may look at
values). timm's fused attention is switched off while counting so that attention is counted as
its two explicit matrix products (the fused kernels are not in every torch's FLOP registry).

``python -m adc.report.flops`` writes ``results/flops.csv`` and ``results/flops.md``.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import math
import sys
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from adc.core import step as cut
from adc.core.methods import CutShape, create_method, registry, setting_label
from adc.core.models import create_model, default_split_index
from adc.core.split import SplitViT
from adc.report import tables

#: what the paper reports for ADC (Fig. 5): client overhead about 5 %; server FLOPs as % of base
PAPER_ADC = {0.05: {"client_overhead_pct": "about 5", "server_pct_of_base": "< 10"},
             0.5: {"client_overhead_pct": "about 5", "server_pct_of_base": "< 60"}}


def _numel(shape) -> int:
    return math.prod(shape) if shape is not None else 0


def _index_add_flop(self_shape, dim, index_shape, source_shape, *args, out_shape=None, **kwargs) -> int:
    return _numel(source_shape)


def _fft_flop(real_shape, dim, complex_factor: float) -> int:
    """complex_factor * n log2 n per transform of length n over ``dim`` (5 for complex, 2.5 for real)."""
    n = math.prod(real_shape[d] for d in dim)
    if n <= 1:
        return 0
    return int(complex_factor * _numel(real_shape) * math.log2(n))


def _fft_r2c_flop(self_shape, dim, *args, out_shape=None, **kwargs) -> int:
    return _fft_flop(self_shape, dim, 2.5)


def _fft_c2r_flop(self_shape, dim, *args, out_shape=None, **kwargs) -> int:
    return _fft_flop(out_shape, dim, 2.5)


def _fft_c2c_flop(self_shape, dim, *args, out_shape=None, **kwargs) -> int:
    return _fft_flop(self_shape, dim, 5.0)


def _custom_mapping() -> dict:
    aten = torch.ops.aten
    return {aten.index_add: _index_add_flop, aten.index_add_: _index_add_flop,
            aten._fft_r2c: _fft_r2c_flop, aten._fft_c2r: _fft_c2r_flop,
            aten._fft_c2c: _fft_c2c_flop}   # overload packets, as FlopCounterMode looks them up


def count_flops(fn) -> int:
    """Total FLOPs of ``fn()`` as counted by FlopCounterMode (+ index_add)."""
    with FlopCounterMode(display=False, custom_mapping=_custom_mapping()) as counter:
        fn()
    return int(counter.get_total_flops())


class PhaseCounter:
    """FLOPs per named part of :func:`adc.core.step.cross_cut` (its ``phase`` hook)."""

    def __init__(self):
        self.flops: dict[str, int] = {}

    @contextlib.contextmanager
    def __call__(self, name: str):
        with FlopCounterMode(display=False, custom_mapping=_custom_mapping()) as counter:
            yield
        self.flops[name] = self.flops.get(name, 0) + int(counter.get_total_flops())


def _unfused(vit) -> None:
    for blk in vit.blocks:
        if hasattr(blk.attn, "fused_attn"):
            blk.attn.fused_attn = False


def build_meta_split(model: str, num_classes: int, img_size: int | None = None,
                     split_index: int | None = None) -> SplitViT:
    with torch.device("meta"):
        vit = create_model(model, num_classes, img_size=img_size)
    _unfused(vit)
    return SplitViT(vit, split_index if split_index is not None else default_split_index(model))


class StepFlops:
    """FLOPs of every part of one training step of a split model, for any method and setting."""

    def __init__(self, model: str = "deit_tiny_patch16_224", batch_size: int = 128, num_classes: int = 100,
                 img_size: int | None = None, split_index: int | None = None, seed: int = 0):
        self.model_name = model
        self.split = build_meta_split(model, num_classes, img_size, split_index)
        self.batch_size = batch_size
        self.num_classes = num_classes
        self.seed = seed
        pe = self.split.client.patch_embed
        self.in_chans = pe.proj.in_channels
        self.img_size = tuple(pe.img_size)
        self.shape = CutShape(batch_size, self.split.num_tokens, self.split.embed_dim, num_classes,
                              self.split.num_prefix_tokens)
        self.client_base = self._client_flops()
        self.server_base = self._server_flops((batch_size, self.shape.num_tokens, self.shape.dim))

    def _client_flops(self) -> int:
        x = torch.empty(self.batch_size, self.in_chans, *self.img_size, device="meta")

        def step():
            acts, _ = self.split.client(x)
            acts.backward(torch.empty_like(acts))
        return count_flops(step)

    def _server_flops(self, token_shape) -> int:
        tokens = torch.empty(token_shape, device="meta", requires_grad=True)
        y = torch.empty(token_shape[0], self.num_classes, device="meta")   # soft or hard: no FLOPs either way

        def step():
            logits = self.split.server(tokens)
            torch.nn.functional.cross_entropy(logits, y.softmax(-1)).backward()
        return count_flops(step)

    def method_flops(self, method: str, params: dict | None = None) -> dict:
        """Client and server FLOPs of one step of ``method`` at ``params``, and the ratios to ``base``."""
        params = dict(params or {})
        s = self.shape
        g = torch.Generator().manual_seed(self.seed)
        m = create_method(method, s, generator=g, **params)
        data = torch.Generator().manual_seed(self.seed + 1)
        acts = torch.randn(s.batch_size, s.num_tokens, s.dim, generator=data, requires_grad=True)
        attn = (3 * torch.randn(s.batch_size, s.num_tokens, generator=data)).softmax(-1)
        labels = torch.randint(0, s.num_classes, (s.batch_size,), generator=data)
        held = {}

        def probe(tokens, targets):     # the server blocks' own FLOPs are in _server_flops: a unit gradient here
            held["tokens"] = tokens
            return tokens.sum() if tokens.requires_grad else tokens.new_zeros((), requires_grad=True)

        phases = PhaseCounter()
        cut.cross_cut(m, acts, attn, labels, cut.in_process(m, probe, phase=phases), phase=phases)
        f = phases.flops
        c1, c2 = f["client_encode"], f["client_decode_grad"]
        s1, s2 = f["server_decode"], f["server_forward_backward"] + f["server_encode_grad"]
        tokens_shape = tuple(held["tokens"].shape)
        server_blocks = self._server_flops(tokens_shape)
        client_method, server_method = c1 + c2, s1 + s2
        server = server_blocks + server_method
        return {
            "model": self.model_name, "method": method, "setting": setting_label(params),
            "xi_expected": m.expected_xi(), "batch_size": s.batch_size, "num_tokens": s.num_tokens, "dim": s.dim,
            "server_tokens": "x".join(str(d) for d in tokens_shape[:2]),
            "client_base_gflops": self.client_base / 1e9, "client_method_gflops": client_method / 1e9,
            "client_overhead_pct": 100.0 * client_method / self.client_base,
            "server_gflops": server / 1e9, "server_base_gflops": self.server_base / 1e9,
            "server_pct_of_base": 100.0 * server / self.server_base,
            "step_gflops": (self.client_base + client_method + server) / 1e9,
            "step_pct_of_base": 100.0 * (self.client_base + client_method + server)
            / (self.client_base + self.server_base),
        }


def settings_for(method: str, which: str = "paper", extra_xi: tuple[float, ...] = ()) -> list[dict]:
    """The method's sweep; for ADC and its ablations also ``extra_xi`` (e.g. the paper's 0.05 and 0.5)."""
    cls = registry()[method]
    out = cls.settings(which)
    for xi in extra_xi:
        if "xi" in (cls.grid or {}) and {"xi": xi} not in out:
            out.append({"xi": xi})
    return out


COLUMNS = ["model", "method", "setting", "xi_expected", "batch_size", "num_tokens", "dim", "server_tokens",
           "client_base_gflops", "client_method_gflops", "client_overhead_pct", "server_gflops",
           "server_base_gflops", "server_pct_of_base", "step_gflops", "step_pct_of_base"]


def flops_table(models: list[str], methods: list[str] | None = None, batch_size: int = 128,
                num_classes: int = 100, which: str = "paper", log=print) -> list[dict]:
    rows = []
    methods = methods or sorted(registry())
    for model in models:
        sf = StepFlops(model, batch_size=batch_size, num_classes=num_classes)
        for method in methods:
            for params in settings_for(method, which, extra_xi=(0.05, 0.5)):
                row = sf.method_flops(method, params)
                rows.append(row)
                log(f"{model:24s} {method:22s} {row['setting']:14s} client +{row['client_overhead_pct']:6.2f}%  "
                    f"server {row['server_pct_of_base']:6.1f}% of base")
    return rows


def write_csv(rows: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})


def markdown(rows: list[dict]) -> str:
    adc = [(r, float(r["setting"].split("=")[1])) for r in rows if r["method"] == "adc"]
    paper = [[r["model"], f"{xi:g}", r["server_tokens"], f"{r['client_overhead_pct']:.3f}",
              PAPER_ADC[xi]["client_overhead_pct"], f"{r['server_pct_of_base']:.1f}", PAPER_ADC[xi]["server_pct_of_base"]]
             for r, xi in adc if xi in PAPER_ADC]
    every = [[r["model"], r["method"], r["setting"], f"{r['xi_expected']:.4f}", r["server_tokens"],
              f"{r['client_overhead_pct']:.3f}", f"{r['server_pct_of_base']:.1f}", f"{r['step_pct_of_base']:.1f}"]
             for r in rows]
    return "\n".join([
        "# FLOPs of one split training step (B = 128, 224 px, split after block 3)\n",
        "Generated by `python -m adc.report.flops`; counted with `torch.utils.flop_counter.FlopCounterMode` "
        "(matmul / conv / attention at 2 FLOPs per multiply-add, + 1 per element accumulated by `index_add`, "
        "FFTs at 5 n log2 n complex / 2.5 n log2 n real; element-wise work not counted). "
        "Client overhead = the method's own FLOPs on the client (encode + its backward) as % of the client's "
        "blocks (forward + backward); server = the server's blocks and head (forward + backward) on the tokens "
        "the method delivers, plus the method's server-side work, as % of the same for `base`.\n",
        "## ADC against the paper (Fig. 5)\n",
        tables.markdown(tables.frame(["model", "xi", "T x k", "client overhead % (ours)", "client overhead % (paper)",
                                      "server % of base (ours)", "server % of base (paper)"], paper)),
        "## Every method and setting\n",
        tables.markdown(tables.frame(["model", "method", "setting", "xi", "server tokens", "client overhead %",
                                      "server % of base", "step % of base"], every))])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m adc.report.flops", description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=["deit_tiny_patch16_224", "deit_small_patch16_224"])
    p.add_argument("--methods", nargs="+", default=None, help="default: every registered method")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--num-classes", type=int, default=100)
    p.add_argument("--grid", choices=["paper", "demo"], default="paper")
    p.add_argument("--out", default="results/flops.csv", help="CSV path; the Markdown table goes next to it")
    a = p.parse_args(argv)
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    rows = flops_table(a.models, a.methods, a.batch_size, a.num_classes, a.grid)
    out = Path(a.out)
    write_csv(rows, out)
    tables.write(out.with_suffix(".md"), [markdown(rows)])
    print(f"wrote {out} and {out.with_suffix('.md')} ({len(rows)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
