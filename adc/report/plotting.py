"""The one plotting module: style, one colour / marker / label per method, the panels and the saving.

Every figure of the project draws through this module: :mod:`adc.report.figures`,
:mod:`adc.report.time_to_accuracy`, the analyses (:mod:`adc.report.analyses`) and
``benchmarks/fig5_flops.py``. A method therefore looks the same in every figure.

- :data:`STYLE`: the matplotlib rc parameters of every figure (also applied when saving);
- :func:`method_style`: a method's colour, marker and label. The paper's methods have fixed ones
  (:data:`KNOWN`); any other *registered* method gets the next free colour and marker of
  :data:`SPARE_COLORS` / :data:`SPARE_MARKERS`, in the order of its name among the registered
  methods that are not in :data:`KNOWN` (so a newly registered method needs no edit here). A name
  the registry does not know (e.g. only in the paper's reference numbers) gets a spare colour by a
  stable hash of its name;
- :func:`line_kwargs`, :func:`handle`, :func:`legend`: lines and legends in those styles;
- :func:`panel_grid`, :func:`panel_title`, :func:`log_x`: one panel per dataset and model;
- :func:`save`: PDF (reproducible bytes) and PNG next to each other.
"""
from __future__ import annotations

import functools
import math
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from adc.report.collect import method_order  # noqa: E402

STYLE = {"font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "legend.fontsize": 8, "xtick.labelsize": 8,
         "ytick.labelsize": 8, "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False,
         "axes.spines.right": False, "savefig.bbox": "tight", "savefig.dpi": 200, "pdf.fonttype": 42}


class MethodStyle(NamedTuple):
    color: str
    marker: str
    label: str


#: the methods of the paper and of its ablations: fixed colour, marker and label
KNOWN: dict[str, MethodStyle] = {
    "base": MethodStyle("black", "o", "base"),
    "adc": MethodStyle("#d62728", "s", "ADC"),
    "adc_merge_only": MethodStyle("#e377c2", "<", "ADC merge only"),
    "adc_prune_only": MethodStyle("#bcbd22", ">", "ADC prune only"),
    "adc_random_merge": MethodStyle("#7f7f7f", "*", "ADC random merge"),
    "topk": MethodStyle("#1f77b4", "^", "top-k"),
    "randtopk": MethodStyle("#17becf", "v", "randomized top-k"),
    "c3sl": MethodStyle("#2ca02c", "D", "C3-SL"),
    "bottlenet": MethodStyle("#9467bd", "P", "BottleNet++ (as the ADC authors ran it)"),
    "bottlenet_norelu": MethodStyle("#aec7e8", "p", "BottleNet++ (ADC authors', no final ReLU)"),
    "bottlenetpp_paper": MethodStyle("#6b3fa0", "d", "BottleNet++ (its paper's design)"),
    "quantization": MethodStyle("#ff7f0e", "X", "quantization"),
    "random_token_pruning": MethodStyle("#8c564b", "h", "random token pruning"),
}
#: colours and markers for methods outside :data:`KNOWN`, none of them used there
SPARE_COLORS = ["#ffbb78", "#98df8a", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5", "#393b79", "#637939",
                "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354", "#756bb1"]
SPARE_MARKERS = ["d", "8", "H", "1", "2", "3", "4", "+", "x", "|"]


def _spare_styles() -> dict[str, MethodStyle]:
    """Registered methods outside KNOWN, by name: the next spare colour and marker (cycled past the end)."""
    from adc.core.methods import registry            # only when a method is not KNOWN: it imports torch
    return _spares(tuple(sorted(set(registry()) - set(KNOWN))))


@functools.lru_cache(maxsize=None)
def _spares(others: tuple[str, ...]) -> dict[str, MethodStyle]:
    return {m: MethodStyle(SPARE_COLORS[i % len(SPARE_COLORS)], SPARE_MARKERS[i % len(SPARE_MARKERS)], m)
            for i, m in enumerate(others)}


def method_style(method: str) -> MethodStyle:
    """The method's colour, marker and label, the same in every figure."""
    if method in KNOWN:
        return KNOWN[method]
    spare = _spare_styles()
    if method in spare:
        return spare[method]
    h = zlib.crc32(method.encode())                   # not registered: stable, but may share a colour
    return MethodStyle(SPARE_COLORS[h % len(SPARE_COLORS)], SPARE_MARKERS[h % len(SPARE_MARKERS)], method)


def label(method: str, setting: str | None = None) -> str:
    """``ADC`` or, with a setting other than ``default``, ``ADC xi=0.5``."""
    name = method_style(method).label
    return name if setting in (None, "default") else f"{name} {setting}"


def linestyle(method: str) -> str:
    """The uncompressed base is dashed in every figure."""
    return "--" if method == "base" else "-"


def line_kwargs(method: str, **over) -> dict:
    """``color``, ``marker``, ``ls`` and ``label`` of the method, for ``ax.plot`` / ``ax.errorbar``."""
    s = method_style(method)
    return {"color": s.color, "marker": s.marker, "ls": linestyle(method), "label": s.label, **over}


def handle(method: str, **over) -> Line2D:
    """A legend entry for the method."""
    return Line2D([], [], **line_kwargs(method, **over))


def legend(fig, methods, extra=(), **kw) -> None:
    """One legend right of the figure: the methods (base, adc, the rest by name), then ``extra`` handles."""
    handles = [handle(m) for m in sorted(set(methods), key=method_order)] + list(extra)
    opts = {"loc": "center left", "bbox_to_anchor": (1.0, 0.5), "frameon": False,
            "ncol": 1 if len(handles) <= 16 else 2, **kw}
    fig.legend(handles=handles, **opts)


@contextmanager
def style(over: dict | None = None):
    """The project's rc parameters (plus ``over``, e.g. ``{"axes.grid": False}``) while drawing."""
    with plt.rc_context(STYLE | (over or {})):
        yield


def panel_grid(n: int):
    """A figure with ``n`` panels, two per row (one panel: a single larger axes). Returns (fig, axes)."""
    ncols = 1 if n == 1 else 2
    nrows = math.ceil(n / ncols)
    size = (6.0, 4.4) if n == 1 else (4.4 * ncols, 3.3 * nrows)
    fig, axes = plt.subplots(nrows, ncols, figsize=size, squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def panel_title(dataset: str, model: str, what: str = "") -> str:
    return f"{dataset} / {model}" + (f": {what}" if what else "")


def log_x(ax) -> None:
    """Log x with plain tick labels at 1, 2, 5 x 10^k (0.01, 0.02, 0.05, 0.1, ...)."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def save(fig, stem: str | Path) -> list[Path]:
    """``stem``.pdf and ``stem``.png in :data:`STYLE` (tight box: legends outside the axes are kept); closes fig."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".pdf"), stem.with_suffix(".png")]
    with plt.rc_context(STYLE):
        fig.savefig(paths[0], metadata={"CreationDate": None})      # reproducible PDF bytes
        fig.savefig(paths[1])
    plt.close(fig)
    return paths
