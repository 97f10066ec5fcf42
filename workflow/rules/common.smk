# Config checks and the run grid. The logic lives in adc/pipeline.py (tested directly).
import os
import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

# The repository root: its adc/ and baselines/ are imported here and by every job (a copy of the
# project with a new baselines/ file uses that copy), with the interpreter running Snakemake.
ROOT = workflow.basedir
sys.path.insert(0, ROOT)
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)
os.environ["PATH"] = os.pathsep.join((os.path.dirname(sys.executable), os.environ.get("PATH", "")))

from adc import pipeline  # noqa: E402

try:  # every problem at once, named by field, before any job starts
    pipeline.check_config(config, os.path.join(ROOT, "workflow/schemas/config.schema.yaml"))
except pipeline.ConfigError as e:
    raise WorkflowError(str(e)) from None
validate(config, "../schemas/config.schema.yaml")  # and fill in the schema's defaults

RUNS = pipeline.expand_runs(config)
# A run is complete only with all three files, consistent with each other and with the config.
# Rule all asks for them, so a missing file reruns its run (Snakemake 9 would skip a missing
# intermediate file otherwise); a run whose files disagree is named here and left out by aggregate.
RUN_FILES = [f"{r.dir}/{name}" for r in RUNS for name in ("metrics.json", "history.csv", "run_config.json")]
if workflow.is_main_process:
    pipeline.warn_stale_runs(config, RUNS)
SUMMARY = ["results/summary.csv", "results/summary_mean.csv", "results/histories.csv"]
TABLES = expand(
    "results/tables/{name}.{ext}", name=["accuracy", "comm_to_target"], ext=["md", "tex"]
)
FIGURES = expand(
    "paper_figs/{name}.{ext}",
    name=["accuracy_vs_xi", "accuracy_vs_xi_ablations", "accuracy_vs_communication"],
    ext=["pdf", "png"],
)


wildcard_constraints:  # pipeline.SAFE_NAME: no shell syntax can reach a job through a path
    dataset=r"[A-Za-z0-9_.=,+\-]+",
    model=r"[A-Za-z0-9_.=,+\-]+",
    method=r"[A-Za-z0-9_.=,+\-]+",
    setting=r"[A-Za-z0-9_.=,+\-]+",
    seed=r"\d+",
