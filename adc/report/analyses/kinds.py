"""The kinds of analysis by name: the one dispatch table (no ``if kind ==`` anywhere).

Each kind is a :class:`~adc.report.analyses.common.Kind` declared next to its code; the names are
the Snakemake targets of ``workflow/rules/analyses.smk``. A new kind is one module with a
``Kind`` and one line here.
"""
from __future__ import annotations

from pathlib import Path

from adc.report.analyses import ablations, cluster_pictures, grid_search
from adc.report.analyses.common import AnalysisError, Kind

KINDS: dict[str, Kind] = {k.name: k for k in (grid_search.KIND, cluster_pictures.KIND, *ablations.KINDS)}


def make(kind: str, summary_csv, stem, table, figure: dict | None = None) -> list[Path]:
    """The figure (``stem``.pdf/.png) and the Markdown ``table`` of one analysis, from its summary.csv."""
    k = KINDS.get(kind)
    if k is None or k.make is None:
        drawn = ", ".join(n for n, x in KINDS.items() if x.make)
        raise AnalysisError(f"analysis {kind!r} has no figure from a summary; allowed: {drawn}")
    return k.make(summary_csv, stem, table, dict(figure or {}))
