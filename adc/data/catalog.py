"""The dataset catalog: ``adc/data/datasets.yaml``, the one list of datasets and their training defaults.

Read with ``yaml`` only (no torch), so that the command line's ``--help`` and the config checks
can name datasets and their defaults at once. :mod:`adc.data.hub_datasets` builds its hub specs
from the same file, and :func:`training_defaults` gives :class:`adc.runtime.config.TrainConfig`
the values it uses for a field the run left unset (``None``).
"""
from __future__ import annotations

import functools
from pathlib import Path

CATALOG_PATH = Path(__file__).with_name("datasets.yaml")
#: the TrainConfig fields a dataset gives defaults for
TRAINING_DEFAULT_KEYS = ("batch_size", "lr", "budget_epochs")


@functools.lru_cache(maxsize=1)
def catalog() -> dict:
    """The parsed catalog: ``{"defaults": ..., "datasets": {name: entry}, "local_forms": {form: text}}``."""
    import yaml
    try:
        data = yaml.safe_load(CATALOG_PATH.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{CATALOG_PATH}: the dataset catalog is missing; reinstall adc-bench "
                                f"(`pip install .` ships adc/data/datasets.yaml)") from None
    for key in ("defaults", "datasets", "local_forms"):
        if not isinstance(data.get(key), dict):
            raise ValueError(f"{CATALOG_PATH}: `{key}:` must be a mapping")
    for name, entry in {"defaults": data["defaults"], **data["datasets"]}.items():
        unknown = sorted(set(entry.get("train") or {}) - set(TRAINING_DEFAULT_KEYS))
        if unknown:
            raise ValueError(f"{CATALOG_PATH}: {name}.train: unknown key(s) {unknown}; allowed: "
                             f"{list(TRAINING_DEFAULT_KEYS)}")
    return data


def dataset_names() -> list[str]:
    """Every name ``--dataset`` accepts before an optional ``:DIR``: the datasets and the local forms."""
    c = catalog()
    return sorted({*c["datasets"], *c["local_forms"]})


def dataset_entry(name: str) -> dict | None:
    """The catalog entry of ``name`` or ``name:DIR``; None for a local form or an unknown name."""
    return catalog()["datasets"].get(str(name).partition(":")[0])


def training_defaults(name: str) -> dict:
    """``{batch_size, lr, budget_epochs}`` of dataset ``name`` (or ``name:DIR``); the catalog's
    ``defaults`` (the paper's) fill what the dataset does not name, and serve local forms and unknown names."""
    entry = dataset_entry(name) or {}
    return {**catalog()["defaults"]["train"], **(entry.get("train") or {})}
