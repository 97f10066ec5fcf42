"""The one table writer: Markdown (pandas ``to_markdown``) and LaTeX (pandas ``Styler.to_latex``).

Every table the project writes goes through :func:`markdown` / :func:`latex` and :func:`write`:
the accuracy and communication tables below (``rule tables``), the analyses' tables
(:mod:`adc.report.analyses`), the FLOPs table (:mod:`adc.report.flops`) and the grid estimate.
Cells are formatted to strings by the caller (:func:`pm`, :func:`xi_str`); the writer only lays
them out, so a table's numbers are exactly the strings it is given.

- :func:`write_tables`: accuracy per method and setting, and the megabytes sent before reaching
  90/95/99% of base accuracy (:mod:`adc.report.reach`), one section per dataset and model.
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from adc.report.collect import MB, conventions_note, panels
from adc.report.reach import TARGETS, comm_to_target

ALIGN = {"l": "left", "r": "right", "c": "center"}


# ----- the writer -------------------------------------------------------------------------------
def _align(ncols: int, align: str) -> list[str]:
    """``"llr"`` -> left, left, then right for every further column."""
    return [align[min(i, len(align) - 1)] for i in range(ncols)]


def frame(header: list[str], rows: list[list]) -> pd.DataFrame:
    """Header and rows of strings as a DataFrame (the writer's input)."""
    return pd.DataFrame([[str(c) for c in r] for r in rows], columns=header)


def markdown(table: pd.DataFrame, align: str = "l") -> str:
    """A pipe table; ``align`` one letter (l/r/c) per column, the last repeated. Cells are not re-parsed."""
    colalign = [ALIGN[a] for a in _align(len(table.columns), align)]
    return table.to_markdown(index=False, tablefmt="pipe", colalign=colalign, disable_numparse=True) + "\n"


TEX = {"\\": r"\textbackslash{}", "_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#", "$": r"\$", "{": r"\{",
       "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "±": r"$\pm$", "ξ": r"$\xi$", "–": "--"}


def tex_escape(s) -> str:
    """LaTeX special characters escaped, and ±, ξ, – as math / dashes."""
    return "".join(TEX.get(ch, ch) for ch in str(s))


def latex(table: pd.DataFrame, caption: str, label: str, align: str = "l") -> str:
    """A booktabs ``table`` float (needs ``\\usepackage{booktabs}``); cells and header escaped."""
    styler = table.style.hide(axis="index").format(tex_escape).format_index(tex_escape, axis=1)
    return styler.to_latex(column_format="".join(_align(len(table.columns), align)), position="t",
                           position_float="centering", hrules=True, caption=tex_escape(caption), label=label)


def write(path: str | Path, parts: list[str]) -> str:
    """The parts joined by newlines into ``path`` (folders made); returns the text."""
    text = "\n".join(parts)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text)
    return text


def read_markdown(text: str) -> list[pd.DataFrame]:
    """The pipe tables of a Markdown text, cells as stripped strings (to check what :func:`markdown` wrote)."""
    tables, block = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            block.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif block:
            tables.append(pd.DataFrame(block[2:], columns=block[0]))
            block = []
    return tables


# ----- cells ------------------------------------------------------------------------------------
def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def pm(mean: float, std: float, digits: int = 3, scale: float = 1.0) -> str:
    """``0.972 ± 0.003``; ``0.972 ± –`` when the std is undefined (one seed); ``–`` without a mean."""
    if _missing(mean):
        return "–"
    s = "–" if _missing(std) else f"{std / scale:.{digits}f}"
    return f"{mean / scale:.{digits}f} ± {s}"


def xi_str(x: float) -> str:
    return "–" if _missing(x) else f"{x:.3g}"


# ----- accuracy and communication to a target (rule tables) ------------------------------------
ACC_HEADER = ["method", "setting", "ξ (measured)", "final test accuracy", "best test accuracy",
              "uncompressed (ADC paper)", "compressed (method's own)", "seeds"]


def both_evaluations(r) -> list[str]:
    """Uncompressed (the ADC paper's convention) and through the method's compression (its authors'):
    "does not apply" where the method merges the batch."""
    from adc.core.methods import registry
    cls = registry().get(r["method"])
    unc = pm(r.get("test_accuracy_uncompressed_mean", math.nan), r.get("test_accuracy_uncompressed_std", math.nan))
    if cls is not None and cls.merges_batch and not cls.compress_at_eval:
        return [unc, "does not apply"]
    return [unc, pm(r.get("test_accuracy_compressed_mean", math.nan), r.get("test_accuracy_compressed_std", math.nan))]


def _seeds_cell(n: int, gaps: pd.DataFrame | None, key) -> str:
    """``3``; or ``2 of 3 (1 failed)`` where a run of the setting failed or is missing."""
    if gaps is None or key not in gaps.index:
        return str(n)
    g = gaps.loc[key]
    what = ", ".join(f"{int(g[s])} {s}" for s in ("failed", "missing") if g.get(s, 0))
    return f"{n} of {n + int(g.get('failed', 0)) + int(g.get('missing', 0))} ({what})"


def _gaps(status: pd.DataFrame | None) -> pd.DataFrame | None:
    """Failed and missing runs counted per (dataset, model, method, setting)."""
    if status is None or status.empty:
        return None
    bad = status[status["status"] != "done"]
    if bad.empty:
        return None
    return bad.groupby(["dataset", "model", "method", "setting", "status"]).size().unstack(fill_value=0)


def accuracy_rows(mean: pd.DataFrame, panel, status: pd.DataFrame | None = None) -> list[list[str]]:
    p = mean[(mean["dataset"] == panel[0]) & (mean["model"] == panel[1])]
    gaps = _gaps(status)
    rows = [[r["method"], r["setting"], xi_str(r["xi_measured_mean"]),
             pm(r["final_test_accuracy_mean"], r["final_test_accuracy_std"]),
             pm(r["best_test_accuracy_mean"], r["best_test_accuracy_std"]), *both_evaluations(r),
             _seeds_cell(int(r["n_seeds"]), gaps, (*panel, r["method"], r["setting"]))]
            for _, r in p.iterrows()]
    if gaps is not None:            # settings with no finished run at all: a row that says so
        have = {(r[0], r[1]) for r in rows}
        for (d, m, method, setting), g in gaps.iterrows():
            if (d, m) == tuple(panel) and (method, setting) not in have:
                what = ", ".join(f"{int(g[s])} {s}" for s in ("failed", "missing") if g.get(s, 0))
                rows.append([method, setting, "–", f"no result ({what})", "–", "–", "–", "0"])
    return rows


def comm_header(targets=TARGETS) -> list[str]:
    return ["method", "setting", "ξ (measured)"] + [f"MB to {f:.0%} of base" for f in targets]


def comm_rows(comm: pd.DataFrame, panel, targets=TARGETS) -> list[list[str]]:
    p = comm[(comm["dataset"] == panel[0]) & (comm["model"] == panel[1])]
    rows = []
    for _, r in p.iterrows():
        cells = [r["method"], r["setting"], xi_str(r["xi_measured_mean"])]
        for f in targets:
            k, n = int(r[f"reached_{f:g}"]), int(r["n_seeds"])
            if k == 0:
                cells.append("not reached")
            else:
                cell = pm(r[f"bytes_{f:g}_mean"], r[f"bytes_{f:g}_std"], digits=2, scale=MB)
                cells.append(cell if k == n else f"{cell} ({k}/{n} seeds)")
        rows.append(cells)
    return rows


def _label(panel) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in f"{panel[0]}-{panel[1]}")


def write_tables(mean: pd.DataFrame, histories: pd.DataFrame, accuracy_md, accuracy_tex, comm_md, comm_tex,
                 status: pd.DataFrame | None = None) -> None:
    """Accuracy per method and setting, and communication to reach 90/95/99% of base, per panel.
    ``status`` (:func:`adc.report.status.run_status`) marks failed and missing runs in the accuracy table."""
    comm = comm_to_target(mean, histories)
    acc_md = ["# Test accuracy per method and setting\n",
              "Mean ± std over seeds (std with n-1; `–` with one seed). ξ (measured): the paper's payload "
              "convention, activation + gradient bytes sent / uncompressed fp32 activations, mean of the two "
              "directions (labels and side information excluded; all bytes are in `results/summary.csv`). "
              "Generated by `snakemake` from `results/summary_mean.csv`.\n"]
    acc_tex = ["% Generated by snakemake (rule tables) from results/summary_mean.csv; needs \\usepackage{booktabs}\n"]
    c_md = ["# Communication needed to reach 90/95/99% of base accuracy\n",
            "Megabytes (10^6 bytes, both directions) sent before the test accuracy, evaluated after every "
            "epoch, first reaches the fraction of the base (uncompressed) method's mean final accuracy. "
            "Mean ± std over the seeds that reached it; `(k/n seeds)` when only k of n did.\n"]
    c_tex = list(acc_tex)
    for panel in panels(mean):
        title = f"{panel[0]} / {panel[1]}"
        acc = frame(ACC_HEADER, accuracy_rows(mean, panel, status))
        note = conventions_note(mean[(mean["dataset"] == panel[0]) & (mean["model"] == panel[1])])
        acc_md += [f"## {title}\n", f"{note[0].upper()}{note[1:]}.\n", markdown(acc, "llr")]
        acc_tex.append(latex(acc, f"Test accuracy (mean ± std over seeds) on {title}; {note}.", f"tab:acc-{_label(panel)}",
                             "llr"))
        if comm.empty or not ((comm["dataset"] == panel[0]) & (comm["model"] == panel[1])).any():
            c_md += [f"## {title}\n", "No base run in this panel: no reference accuracy.\n"]
            continue
        base_acc = comm[(comm["dataset"] == panel[0]) & (comm["model"] == panel[1])]["base_accuracy"].iloc[0]
        cm = frame(comm_header(), comm_rows(comm, panel))
        c_md += [f"## {title}\n", f"Base accuracy {base_acc:.3f}.\n", markdown(cm, "llr")]
        c_tex.append(latex(cm, f"MB sent to reach 90/95/99% of base accuracy ({base_acc:.3f}) on {title}.",
                           f"tab:comm-{_label(panel)}", "llr"))
    for path, parts in ((accuracy_md, acc_md), (accuracy_tex, acc_tex), (comm_md, c_md), (comm_tex, c_tex)):
        write(path, parts)
