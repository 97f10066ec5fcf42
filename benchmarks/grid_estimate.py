"""Wall-clock estimate of the paper's grid, per (dataset, model), from measured per-step times.

    python benchmarks/run.py --quick             # measures the step (results/benchmarks/summary.json)
    python -m adc.report.flops                          # FLOPs per method and setting (results/flops.csv)
    python benchmarks/grid_estimate.py           # -> results/grid_estimate.json and .md, and prints it

How (every assumption is a flag or a constant below, and is written into the output):

- The grid is config/paper.yaml: its datasets, models, seeds, ``methods: all`` (every registered
  method) at its paper ``grid``, batch 128, a budget of ``budget_epochs`` uncompressed epochs.
- Steps per run = budget_epochs x n_train / (B x xi): the run stops when its bytes reach the
  budget, and a step of a method at xi sends xi times the bytes of an uncompressed step (the
  rule the training loop uses for its progress bar). xi = 0.01 takes 100 x the steps of base.
- One uncompressed evaluation of the test set after every epoch of data (epochs = steps /
  steps per epoch), as ``adc.train`` does.
- Dataset sizes: CIFAR-100 50,000 train / 10,000 test; Food-101 75,750 train / 25,250 test.
- Step time of a method and setting = the measured ``base`` split step (DeiT-Tiny, B = 128,
  ``benchmarks/run.py`` item 3) x (client FLOPs + the method's server FLOPs) / (client + server
  FLOPs of base) + the method's measured compression time (item 2; at its measured setting if
  that one was not measured). Other models: the DeiT-Tiny step scaled by the FLOPs ratio, the
  compression time by the width ratio. An evaluation image costs 1/3 of a training image (a
  forward pass is a third of forward + backward FLOPs).
- The timings come from the device of the summary: a GPU's when run.py ran on one (GPU-hours),
  else this CPU (CPU-hours, and a projection to a GPU: each step costs its FLOPs at an assumed
  sustained rate, ``--gpu-tflops``, but no less than an assumed floor per step, ``--gpu-step-ms``
  (kernel launches and the optimizer of a 12-block ViT; it dominates the small low-xi steps).
  Both are assumptions, not measurements; measured GPU step times replace them).
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: (train, test) images
DATASET_SIZES = {"cifar100": (50_000, 10_000), "food101": (75_750, 25_250)}
MEASURED_MODEL = "deit_tiny_patch16_224"
MEASURED_DIM = 192
EVAL_COST = 1 / 3


def load_paper_config(path: Path) -> dict:
    import yaml
    cfg = yaml.safe_load(path.read_text()) if path.exists() else {}
    train = cfg.get("train", {})
    return {"datasets": cfg.get("datasets", ["cifar100", "food101"]),
            "models": cfg.get("models", ["deit_tiny_patch16_224", "deit_small_patch16_224"]),
            "seeds": len(cfg.get("seeds", [0, 1, 2])), "methods": cfg.get("methods", "all"),
            "batch_size": train.get("batch_size", 128), "budget_epochs": train.get("budget_epochs", 10),
            "runtime_min": (cfg.get("resources") or {}).get("runtime"),
            "runtime_margin": (cfg.get("resources") or {}).get("runtime_margin")
            if (cfg.get("resources") or {}).get("runtime_estimate") else None}


def load_flops(path: Path) -> dict:
    if not path.exists():
        return {}
    with open(path, newline="") as f:
        return {(r["model"], r["method"], r["setting"]): r for r in csv.DictReader(f)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--summary", default=str(ROOT / "results" / "benchmarks" / "summary.json"))
    p.add_argument("--flops", default=str(ROOT / "results" / "flops.csv"))
    p.add_argument("--config", default=str(ROOT / "config" / "paper.yaml"))
    p.add_argument("--device", default=None, help="whose timings: cpu or cuda (default: cuda if measured)")
    p.add_argument("--gpu-tflops", type=float, default=40.0,
                   help="assumed sustained bf16 TFLOP/s of a GPU on these small ViTs, for the projection made "
                        "without GPU timings (an assumption, printed as such)")
    p.add_argument("--gpu-step-ms", type=float, default=8.0,
                   help="assumed floor of a GPU training step in ms (launch-bound small steps), for the projection")
    p.add_argument("--out", default=str(ROOT / "results" / "grid_estimate"), help="path without suffix")
    a = p.parse_args(argv)

    from adc.report.flops import StepFlops
    from adc.methods import registry, setting_label

    summary = json.loads(Path(a.summary).read_text())
    split = summary.get("split_vs_plain") or {}
    if not split:
        p.error(f"{a.summary} has no split step timing; run `python benchmarks/run.py --quick` first")
    device = a.device or ("cuda" if "cuda" in split else next(iter(split)))
    step_base = split[device]["split_step_s"]
    comp = {}
    for r in summary.get("method_overheads", []):
        if r["device"] == device:
            comp[(r["method"], r["setting"])] = r["compression_ms"] / 1e3
    comp_any = {}
    for (m, s), t in comp.items():
        comp_any.setdefault(m, t)

    cfg = load_paper_config(Path(a.config))
    B, E = cfg["batch_size"], cfg["budget_epochs"]
    reg = registry()
    methods = sorted(reg) if cfg["methods"] == "all" else list(cfg["methods"])
    flops = load_flops(Path(a.flops))
    counters: dict = {}

    def flops_row(model, method, params):
        key = (model, method, setting_label(params))
        if key not in flops:
            if model not in counters:
                counters[model] = StepFlops(model, batch_size=B)
            row = counters[model].method_flops(method, params)
            flops[key] = {k: str(v) for k, v in row.items()}
        return {k: (float(v) if k.endswith(("gflops", "pct", "xi_expected")) else v) for k, v in flops[key].items()}

    tiny_base = flops_row(MEASURED_MODEL, "base", {})
    tiny_step_flops = tiny_base["client_base_gflops"] + tiny_base["server_base_gflops"]
    per_group, per_run, longest = [], [], None
    for dataset in cfg["datasets"]:
        n_train, n_test = DATASET_SIZES[dataset.split(":")[0]]
        steps_per_epoch = math.ceil(n_train / B)
        for model in cfg["models"]:
            base = flops_row(model, "base", {})
            base_step_flops = base["client_base_gflops"] + base["server_base_gflops"]
            t_base = step_base * base_step_flops / tiny_step_flops
            dim_scale = float(base["dim"]) / MEASURED_DIM if "dim" in base else 1.0
            t_eval_img = t_base / B * EVAL_COST
            g = {"dataset": dataset, "model": model, "runs": 0, "steps": 0, "hours": 0.0, "pflops": 0.0,
                 "gpu_hours_projected": 0.0,
                 "step_time_source": "measured" if model == MEASURED_MODEL else "scaled by FLOPs from DeiT-Tiny"}
            for method in methods:
                cls = reg[method]
                for params in cls.settings("paper"):
                    f = flops_row(model, method, params)
                    xi = f["xi_expected"]
                    steps = math.ceil(E * n_train / (B * xi))
                    evals = math.ceil(steps / steps_per_epoch)
                    frac = (f["client_base_gflops"] + f["server_gflops"]) / base_step_flops
                    t_comp = comp.get((method, setting_label(params)), comp_any.get(method, 0.0)) * dim_scale
                    t_run = steps * (t_base * frac + t_comp) + evals * n_test * t_eval_img
                    step_gflops = f["client_base_gflops"] + f["client_method_gflops"] + f["server_gflops"]
                    eval_gflops = evals * n_test * base_step_flops / B * EVAL_COST
                    run_pflops = (steps * step_gflops + eval_gflops) / 1e6
                    rate = a.gpu_tflops * 1e3                                     # GFLOP/s
                    gpu_s = steps * max(step_gflops / rate, a.gpu_step_ms / 1e3) + eval_gflops / rate
                    per_run.append({"dataset": dataset, "model": model, "method": method,
                                    "setting": setting_label(params), "steps": steps,
                                    "hours": t_run / 3600, "gpu_hours_projected": gpu_s / 3600})
                    g["runs"] += cfg["seeds"]
                    g["steps"] += cfg["seeds"] * steps
                    g["hours"] += cfg["seeds"] * t_run / 3600
                    g["pflops"] += cfg["seeds"] * run_pflops
                    g["gpu_hours_projected"] += cfg["seeds"] * gpu_s / 3600
                    if longest is None or t_run > longest["hours"] * 3600:
                        longest = {"dataset": dataset, "model": model, "method": method,
                                   "setting": setting_label(params), "steps": steps, "hours": t_run / 3600,
                                   "gpu_hours_projected": gpu_s / 3600}
            per_group.append(g)

    gpu_timed = device.startswith("cuda")
    where = (summary.get("machine", {}).get("gpu") if gpu_timed else summary.get("machine", {}).get("cpu")) or device
    unit = "GPU-hours" if gpu_timed else "CPU-hours"
    total = {"runs": sum(g["runs"] for g in per_group), "hours": sum(g["hours"] for g in per_group),
             "pflops": sum(g["pflops"] for g in per_group),
             "gpu_hours_projected": sum(g["gpu_hours_projected"] for g in per_group)}
    result = {"unit": unit, "timed_on": f"{device}: {where}", "threads": summary.get("machine", {}).get("threads"),
              "measured_base_step_s": step_base, "grid": cfg, "per_dataset_model": per_group, "total": total,
              "longest_run": longest, "runs": per_run, "assumed_gpu_tflops": None if gpu_timed else a.gpu_tflops,
              "assumed_gpu_step_ms": None if gpu_timed else a.gpu_step_ms,
              "assumptions": __doc__.split("How (every assumption is a flag or a constant below, and is written "
                                           "into the output):")[1].strip(),
              "dataset_sizes": DATASET_SIZES, "command": "python benchmarks/grid_estimate.py " + " ".join(
                  argv if argv is not None else sys.argv[1:])}

    from adc.report import tables
    header = ["dataset", "model", "runs", "steps", unit, "PFLOP",
              f"GPU-hours projected ({a.gpu_tflops:g} TFLOP/s, >= {a.gpu_step_ms:g} ms/step, assumed)", "step time"]
    rows = [[g["dataset"], g["model"], g["runs"], f"{g['steps']:,}", f"{g['hours']:,.1f}", f"{g['pflops']:,.1f}",
             f"{g['gpu_hours_projected']:,.1f}", g["step_time_source"]] for g in per_group]
    rows.append(["**total**", "", total["runs"], "", f"{total['hours']:,.1f}", f"{total['pflops']:,.1f}",
                 f"{total['gpu_hours_projected']:,.1f}", ""])
    no_gpu = [] if gpu_timed else [
        f"No GPU timings in {a.summary}: hours are for this CPU. The GPU column charges each step its FLOPs at an "
        f"assumed sustained {a.gpu_tflops:g} TFLOP/s, and at least an assumed {a.gpu_step_ms:g} ms; rerun "
        f"`python benchmarks/run.py` on a GPU for measured GPU-hours.\n"]
    parts = [f"# Wall-clock estimate of the paper grid ({unit}, timed on {device}: {where})\n", *no_gpu,
             f"{cfg['seeds']} seeds, batch {B}, budget {E:g} uncompressed epochs, methods: "
             f"{', '.join(methods)} at their paper grids. Measured base split step (DeiT-Tiny, B = {B}): "
             f"{step_base:.3f} s on {device}.\n",
             tables.markdown(tables.frame(header, rows)),
             f"Longest single run: {longest['method']} {longest['setting']} on {longest['dataset']} / "
             f"{longest['model']}: {longest['steps']:,} steps, {longest['hours']:,.1f} {unit}, "
             f"{longest['gpu_hours_projected']:,.1f} GPU-hours projected"
             + (f" (config/paper.yaml gives each job {cfg['runtime_margin']:g} x its run's projection, at "
                f"least {cfg['runtime_min']} min: the per-run projections are this file's JSON `runs`)"
                if cfg.get("runtime_margin") else
                f" (config/paper.yaml allows {cfg['runtime_min']} min per job)" if cfg.get("runtime_min") else "")
             + ".\n", "## Assumptions\n", result["assumptions"] + "\n"]
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    text = tables.write(out.with_suffix(".md"), parts)
    print(text)
    print(f"-> {out.with_suffix('.json')}, {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
