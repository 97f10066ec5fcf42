"""What a pipeline config needs from the Hugging Face Hub, fetched before any training job starts.

Compute nodes of a cluster often have no internet. The workflow therefore splits the two:

- ``snakemake download --configfile config/paper.yaml`` (rule ``download``, run on the submitting
  host) calls ``python -m adc.data.needs download`` for :func:`config_needs` of the config: every
  hub dataset among its ``datasets`` (not the bundled ``digits``, not a local ``NAME:DIR``,
  ``imagefolder:DIR`` or ``parquet:DIR``) and, with ``train.pretrained: true`` and no
  ``train.weights`` file, timm's pretrained weights of every model. It loads each exactly as a
  training job does (``datasets.load_dataset``, ``timm.create_model(pretrained=True)``), so the
  Hugging Face caches (``HF_DATASETS_CACHE``, ``HF_HUB_CACHE``; on a cluster, a shared ``HF_HOME``)
  then hold what the jobs read;
- every training job runs with :data:`JOB_ENV` (``HF_HUB_OFFLINE=1``, ``HF_DATASETS_OFFLINE=1``):
  it reads the caches and never waits on the network; a missing entry fails the job at once with
  the message of :class:`adc.data.hub_datasets.DatasetUnavailableError` or
  :class:`adc.core.models.WeightsUnavailableError`, which names the dataset or model and the
  remedies.

``python -m adc.data.needs list --config-json JSON`` prints the needs, one per line.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass

#: the environment of every training job: the hub's and datasets' offline modes
JOB_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


@dataclass(frozen=True)
class Needs:
    """Hub datasets (names of :data:`adc.data.hub_datasets.SPECS`) and models whose pretrained weights are needed."""

    datasets: tuple[str, ...] = ()
    models: tuple[str, ...] = ()

    def names(self) -> list[str]:
        return [*self.datasets, *self.models]

    def args(self) -> str:
        """The command-line arguments of ``python -m adc.data.needs download`` for these needs."""
        return " ".join([*(f"--dataset {d}" for d in self.datasets), *(f"--model {m}" for m in self.models)])


def config_needs(config: dict) -> Needs:
    """The hub datasets and pretrained weights that the runs of a (checked) pipeline config read."""
    from adc.data.hub_datasets import SPECS
    from adc.pipeline import dataset_name

    datasets = []
    for spec in config.get("datasets", []):
        name, local = dataset_name(spec), ":" in str(spec)
        if name in SPECS and not local and name not in datasets:
            datasets.append(name)
    train = config.get("train") or {}
    models = []
    if train.get("pretrained") and not train.get("weights"):
        models = [m for m in dict.fromkeys(config.get("models", [])) if m != "vit_micro"]
    return Needs(tuple(datasets), tuple(models))


def _online() -> None:
    """Undo :data:`JOB_ENV` for this process (the download step runs inside the workflow's environment)."""
    for k in JOB_ENV:
        os.environ.pop(k, None)
    from huggingface_hub import constants
    constants.HF_HUB_OFFLINE = False
    if "datasets" in sys.modules:
        import datasets.config
        datasets.config.HF_HUB_OFFLINE = False


def download(needs: Needs, log=print) -> None:
    """Fetch every need into the Hugging Face caches, as a training job would load it; raise if the hub is unreachable."""
    _online()
    from adc.data import hub
    reachable, reason = hub.hub_status()
    if not reachable and needs.names():
        raise SystemExit(f"download: cannot fetch {', '.join(needs.names())}: {reason}. Run the download step on a "
                         f"host that reaches the Hugging Face Hub (the one that submits the jobs), with the same "
                         f"HF_HOME / HF_HUB_CACHE / HF_DATASETS_CACHE as the jobs.")
    from adc.data.hub_datasets import SPECS, load_from_hub
    for name in needs.datasets:
        t0 = time.perf_counter()
        spec = SPECS[name]
        dsd = load_from_hub(spec)
        log(f"dataset {name}: {spec.hub_id} in {hub.datasets_cache_dir()} "
            f"({', '.join(f'{s} {len(d)}' for s, d in dsd.items())}; {time.perf_counter() - t0:.0f}s)")
    if needs.models:
        import timm

        from adc.core.models import pretrained_cached
        for name in needs.models:
            t0 = time.perf_counter()
            timm.create_model(name, pretrained=True)
            if not pretrained_cached(name):
                raise SystemExit(f"download: model {name!r}: timm loaded its weights but they are not in the hub "
                                 f"cache {hub.hub_cache_dir()} (a URL-only model?): give train.weights: PATH instead")
            log(f"model {name}: pretrained weights in {hub.hub_cache_dir()} ({time.perf_counter() - t0:.0f}s)")
    if not needs.names():
        log("download: the config needs nothing from the Hugging Face Hub")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m adc.data.needs", description=__doc__.split("\n\n")[0])
    p.add_argument("action", choices=["list", "download"])
    p.add_argument("--config-json", help="a pipeline config as JSON (its needs); or give --dataset/--model")
    p.add_argument("--dataset", action="append", default=[], help="a hub dataset name (repeatable)")
    p.add_argument("--model", action="append", default=[], help="a timm model whose pretrained weights to fetch")
    a = p.parse_args(argv)
    if a.config_json:
        needs = config_needs(json.loads(a.config_json))
    else:
        from adc.data.hub_datasets import SPECS
        bad = [d for d in a.dataset if d not in SPECS]
        if bad:
            p.error(f"--dataset: unknown hub dataset(s) {bad}; available: {', '.join(SPECS)}")
        needs = Needs(tuple(a.dataset), tuple(a.model))
    if a.action == "list":
        print("\n".join(needs.names()))
        return 0
    download(needs, log=lambda m: print(m, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
