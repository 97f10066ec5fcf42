"""The one plotting module (adc/report/plotting.py), the one table writer (adc/report/tables.py) and the one
definition of "the first point that reaches X% of base" (adc/report/reach.py), as every figure and table uses them."""
import math
from pathlib import Path

import pandas as pd
import pytest

from adc.core import methods
from adc.core.methods import registry
from adc.report import plotting, reach, tables

ROOT = Path(__file__).resolve().parents[1]


def test_every_registered_method_has_its_own_colour_marker_and_label():
    names = sorted(registry())
    styles = {m: plotting.method_style(m) for m in names}
    assert len({s.color for s in styles.values()}) == len(names)
    assert len({s.label for s in styles.values()}) == len(names)
    assert all(s.marker for s in styles.values())
    assert styles["adc"] == ("#d62728", "s", "ADC") and styles["base"].color == "black"
    assert plotting.label("adc", "xi=0.5") == "ADC xi=0.5" and plotting.label("adc", "default") == "ADC"


def test_a_newly_registered_method_gets_a_free_colour_with_no_edit(monkeypatch):
    class New(methods.Method):
        name = "zz_new_method"
    monkeypatch.setitem(methods._REGISTRY, New.name, New)
    new = plotting.method_style(New.name)
    others = {plotting.method_style(m).color for m in registry() if m != New.name}
    assert new.label == New.name and new.color not in others
    assert plotting.method_style(New.name) == new                       # deterministic


def test_fig5_flops_draws_each_method_in_its_plotting_style():
    from adc.report import figures
    rows = pd.DataFrame([{"model": "m", "method": m, "xi_expected": xi, "client_overhead_pct": 1.0 + xi,
                          "server_pct_of_base": 100 * xi}
                         for m in ("base", "adc", "c3sl", "bottlenet_norelu") for xi in (0.1, 0.5)])
    fig = figures.draw_flops(rows, "m")
    for ax in fig.axes:
        lines = {ln.get_label(): ln for ln in ax.get_lines() if not ln.get_label().startswith(("_", "100"))}
        assert set(lines) == {"ADC", "C3-SL", "BottleNet++ (ADC authors', no final ReLU)"}          # base is 100 % of itself
        for m in ("adc", "c3sl", "bottlenet_norelu"):
            s = plotting.method_style(m)
            assert (lines[s.label].get_color(), lines[s.label].get_marker()) == (s.color, s.marker)
    for src in ((ROOT / "benchmarks" / "fig5_flops.py").read_text(), (ROOT / "adc/report/figures.py").read_text()):
        assert "color=\"C" not in src and "BottleNet++" not in src          # no palette or names of its own
    plotting.plt.close(fig)


def test_save_writes_pdf_and_png(tmp_path):
    fig, axes = plotting.panel_grid(3)
    assert len(axes) == 3 and sum(ax.get_visible() for ax in fig.axes) == 3
    paths = plotting.save(fig, tmp_path / "sub" / "f")
    assert [p.name for p in paths] == ["f.pdf", "f.png"]
    assert paths[0].read_bytes()[:4] == b"%PDF" and paths[1].read_bytes()[:4] == b"\x89PNG"


def test_markdown_and_latex_writer_keep_the_cells_as_given():
    t = tables.frame(["method", "ξ", "acc"], [["adc_x", "0.100", "0.950 ± –"], ["base", "1", "0.9 ± 0.01"]])
    md = tables.markdown(t, "lr")
    assert md.splitlines()[1].replace("-", "") == "|:|:|:|"                # left, right, right
    back = tables.read_markdown("intro\n\n" + md + "\ntext\n")
    assert len(back) == 1 and back[0].equals(t)                               # "0.100" not re-parsed to 0.1
    tex = tables.latex(t, "Acc ± std_1", "tab:x", "lr")
    assert r"\caption{Acc $\pm$ std\_1}" in tex and r"\begin{tabular}{lrr}" in tex
    assert r"adc\_x & 0.100 & 0.950 $\pm$ -- \\" in tex and r"method & $\xi$ & acc \\" in tex
    assert tables.pm(float("nan"), 0.1) == "–" and tables.pm(0.5, float("nan")) == "0.500 ± –"


def test_first_reach_is_one_definition_for_communication_and_time():
    """Accuracy crosses the goal, falls back, crosses again: both tables take the first crossing."""
    from adc.report.time_to_accuracy import add_times, table
    from adc.runtime.link import LinkModel
    acc = [0.5, 0.86, 0.7, 0.9, 0.95]
    h = pd.DataFrame({"dataset": "d", "model": "m", "method": "adc", "setting": "xi=0.5", "seed": 0,
                      "epoch": range(1, 6), "step": range(10, 60, 10), "test_accuracy": acc,
                      "bytes_up": [1e3 * i for i in range(1, 6)], "bytes_down": [1e3 * i for i in range(1, 6)],
                      "wall_seconds": [float(i) for i in range(1, 6)]})
    h["bytes_total"] = h["bytes_up"] + h["bytes_down"]
    mean = pd.DataFrame([{"dataset": "d", "model": "m", "method": m, "setting": s, "final_test_accuracy_mean": a,
                          "xi_measured_mean": x, "xi_expected_mean": x, "n_seeds": 1}
                         for m, s, a, x in (("base", "default", 0.95, 1.0), ("adc", "xi=0.5", 0.95, 0.5))])
    goal = 0.9 * 0.95                                                          # 0.855: first reached at index 1
    assert reach.first_reaching(h, goal)["epoch"] == 2 and reach.first_reaching(h, 0.99) is None
    assert reach.first_reaching(h, math.nan) is None
    comm = reach.comm_to_target(mean, h).set_index("method")
    assert comm.loc["adc", "bytes_0.9_mean"] == h["bytes_total"][1]
    timed = add_times(h, LinkModel.parse("example"))
    tta = table(timed, mean, target=0.9).set_index("method")
    assert tta.loc["adc", "seconds_to_target"] == pytest.approx(timed["time_seconds"][1])


def test_ablations_go_in_their_own_figure_with_what_they_ablate():
    import pandas as pd

    from adc.report import figures
    rows = [{"dataset": "digits", "model": "vit_micro", "method": m, "setting": "s", "xi_measured_mean": 0.1,
             "final_test_accuracy_mean": 0.5, "final_test_accuracy_std": 0.0}
            for m in ("base", "adc", "topk", "adc_prune_only", "adc_merge_only")]
    main, side = figures.split_main_ablations(pd.DataFrame(rows))
    assert set(main["method"]) == {"base", "adc", "topk"}
    assert set(side["method"]) == {"base", "adc", "adc_prune_only", "adc_merge_only"}
    assert "payload" in figures.XI_LABEL          # the axis names its xi convention


def test_tables_and_figures_name_the_protocol_and_which_evaluation_final_accuracy_is(tmp_path):
    """summarize carries each setting's protocol and final_eval; the accuracy table and the figure say them,
    naming the methods whose final accuracy is the other evaluation; old summaries say "not recorded"."""
    from adc.report.collect import conventions_note, summarize
    from adc.report.figures import draw_accuracy_vs_xi
    runs = pd.DataFrame({"dataset": "digits", "model": "vit_micro", "method": ["base", "adc", "bottlenet", "bottlenet"],
                         "setting": ["default", "xi=0.1", "c=0.1", "c=0.1"], "seed": [0, 0, 0, 1],
                         "protocol": "measured", "final_eval": ["uncompressed", "uncompressed", "compressed", "compressed"]})
    for k in ("final_test_accuracy", "best_test_accuracy", "xi_measured", "xi_expected", "bytes_up", "bytes_down",
              "bytes_total", "bytes_uncompressed", "steps", "epochs", "wall_seconds", "test_accuracy_uncompressed",
              "test_accuracy_compressed", "xi_nominal", "xi_plot", "budget_used_paper", "budget_used_measured"):
        runs[k] = [0.5, 0.1, 0.1, 0.1] if k.startswith("xi") else 0.8
    mean = summarize(runs)
    assert mean.set_index("method").loc["bottlenet", ["protocol", "final_eval"]].tolist() == ["measured", "compressed"]
    note = "protocol: measured; final test accuracy: uncompressed evaluation; compressed: bottlenet"
    assert conventions_note(mean) == note
    assert conventions_note(mean, "test_accuracy_compressed") == "protocol: measured"
    assert conventions_note(mean.drop(columns=["protocol", "final_eval"])) == (
        "protocol: not recorded; final test accuracy: evaluation not recorded")
    t = tmp_path / "tables"
    no_history = pd.DataFrame(columns=["dataset", "model", "method", "setting", "seed", "test_accuracy", "bytes_total"])
    tables.write_tables(mean, no_history, t / "a.md", t / "a.tex", t / "c.md", t / "c.tex")
    assert "Protocol: measured; final test accuracy: uncompressed evaluation; compressed: bottlenet." in (
        t / "a.md").read_text()
    assert r"compressed: bottlenet" in (t / "a.tex").read_text()
    fig = draw_accuracy_vs_xi(mean)
    assert note in [x.get_text() for x in fig.texts]
