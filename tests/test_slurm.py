"""Slurm for real: scripts/slurm-test.sh brings up a one-node cluster (munge, slurmctld, slurmd),
runs a two-run config through workflow/profiles/slurm and checks that both training runs were
Slurm jobs that COMPLETED. It needs root and the Debian packages (.ci/run installs them); where it
cannot run it exits 77 with the reason, and this test skips with it."""
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "workflow" / "profiles" / "slurm" / "config.yaml"


def test_the_profile_uses_the_slurm_executor_and_explains_the_flags_for_clusters_without_accounting():
    text = PROFILE.read_text()
    cfg = yaml.safe_load(text)
    assert cfg["executor"] == "slurm" and cfg["retries"] >= 1
    for flag in ("slurm-no-account", "slurm-status-command: squeue"):
        assert flag in text, f"the profile does not explain {flag}"
    readme = (ROOT / "README.md").read_text()
    for flag in ("--slurm-no-account", "--slurm-status-command squeue", "snakemake download", "[slurm]"):
        assert flag in readme, f"README's Slurm section does not mention {flag}"


@pytest.mark.slow
def test_a_tiny_config_runs_through_the_slurm_profile_on_a_one_node_cluster():
    env = {**os.environ, "ADC_PYTHON": os.environ.get("ADC_PYTHON", str(ROOT / ".venv" / "bin" / "python"))}
    t0 = time.perf_counter()
    p = subprocess.run(["bash", str(ROOT / "scripts" / "slurm-test.sh")], capture_output=True, text=True, env=env,
                       timeout=1200)
    out = p.stdout + p.stderr
    if p.returncode == 77:
        pytest.skip(out.strip().splitlines()[-1])
    assert p.returncode == 0, out[-4000:]
    assert "PASS slurm-test" in out and re.search(r"\b(\d+) of \1 steps \(100%\) done", out)
    states = [line.split()[-1] for line in out.splitlines() if line.startswith("  ") and line.strip()[:1].isdigit()]
    assert len(states) == 2 and set(states) == {"COMPLETED"}, out[-2000:]
    print(f"slurm-test: {time.perf_counter() - t0:.0f}s\n{out}")
