"""Datasets and seeded batching.

A dataset is resolved by name to a :class:`DataBundle`: train and test sets, the number of
classes, and the image geometry the model must be built for. The embedded default is
scikit-learn's bundled handwritten digits (1,797 real 8x8 images, no download), split 80/20
with a fixed split seed so that every run seed is evaluated on the same test set (the split is
kept in ``digits_split.json``, so a run does not import scikit-learn).

Batch order is a pure function of (seed, epoch), so an interrupted run can resume mid-epoch by
skipping the batches it already took.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from torch import Tensor

from adc.data.bundle import DataBundle, TensorPair
from adc.data.catalog import dataset_names

DIGITS_SPLIT_SEED = 0


#: the digits split (train and test indices, in train_test_split's order), computed once: see digits_split()
DIGITS_SPLIT_FILE = Path(__file__).with_name("digits_split.json")


def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled digits, (images (n, 8, 8) float64, target (n,) int), read as ``load_digits``
    reads them, from the file scikit-learn ships, without importing scikit-learn (1.4 s of imports
    on a shared core: scipy, pandas), which would be a tenth of the embedded default's base run."""
    import gzip
    import importlib.util
    import io

    spec = importlib.util.find_spec("sklearn")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz" if spec else None
    if path is None or not path.exists():
        from sklearn.datasets import load_digits      # an unusual install: let scikit-learn find its file
        d = load_digits()
        return d.images, d.target
    with gzip.open(path) as f:
        data = np.loadtxt(io.TextIOWrapper(f, encoding="utf-8"), delimiter=",")
    return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(int, copy=False)


def digits_split(target: np.ndarray, test_fraction: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices: ``train_test_split(arange(n), test_size, random_state=DIGITS_SPLIT_SEED,
    stratify=target)``, read from :data:`DIGITS_SPLIT_FILE` when it holds that split (checked against
    scikit-learn by tests/test_perf_paths.py), else computed."""
    if test_fraction == 0.2 and DIGITS_SPLIT_FILE.exists():
        import json
        saved = json.loads(DIGITS_SPLIT_FILE.read_text())
        if len(saved["train"]) + len(saved["test"]) == len(target):
            return np.asarray(saved["train"]), np.asarray(saved["test"])
    from sklearn.model_selection import train_test_split
    return train_test_split(np.arange(len(target)), test_size=test_fraction, random_state=DIGITS_SPLIT_SEED,
                            stratify=target)


def load_digits_bundle(test_fraction: float = 0.2) -> DataBundle:
    images, target = digits_arrays()
    x = torch.tensor(images, dtype=torch.float32)[:, None] / 16.0   # n, 1, 8, 8 in [0, 1]
    x = (x - 0.5) / 0.5
    y = torch.tensor(target, dtype=torch.int64)
    idx_tr, idx_te = digits_split(target, test_fraction)
    idx_tr, idx_te = torch.as_tensor(idx_tr), torch.as_tensor(idx_te)
    return DataBundle("digits", TensorPair(x[idx_tr], y[idx_tr]), TensorPair(x[idx_te], y[idx_te]),
                      num_classes=10, in_chans=1, img_size=8, class_names=[str(i) for i in range(10)])


#: name -> loader of the datasets defined here (tests and benchmarks add their own); the catalog's
#: hub datasets and local forms load through :mod:`adc.data.hub_datasets`
DATASETS: dict[str, Callable[..., DataBundle]] = {"digits": load_digits_bundle}


def available_datasets() -> list[str]:
    """The catalog's names (adc/data/datasets.yaml) and any loader added to :data:`DATASETS`."""
    return sorted({*dataset_names(), *DATASETS})


def _loader(key: str) -> Callable[..., DataBundle] | None:
    if key in DATASETS:
        return DATASETS[key]
    if key in dataset_names():
        from adc.data.hub_datasets import LOADERS
        return LOADERS.get(key)
    return None


def load_dataset(name: str, **kwargs) -> DataBundle:
    """``name`` or ``name:DIR`` (a local copy: ``imagefolder:DIR``, ``parquet:DIR``, ``cifar100:DIR``, ...)."""
    key, sep, path = name.partition(":")
    loader = _loader(key)
    if loader is None:
        raise ValueError(f"dataset: unknown dataset {name!r}; available: {available_datasets()}, "
                         f"or NAME:DIR for a local copy (e.g. imagefolder:DIR, parquet:DIR)")
    if sep:
        import inspect
        if not path or "path" not in inspect.signature(loader).parameters:
            raise ValueError(f"dataset: {name!r}: {key!r} takes no folder" if path else
                             f"dataset: {name!r}: expected {key}:DIR")
        kwargs["path"] = path
    return loader(**kwargs)


def carve_validation(bundle: DataBundle, fraction: float = 0.2, seed: int = 0) -> DataBundle:
    """Hold out ``fraction`` of the training set (fixed by ``seed``) as the evaluation set.

    For model selection (e.g. the grid search over T/B and k/N): the test set stays untouched.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"validation_fraction: {fraction} must be in (0, 1)")
    n = len(bundle.train)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(10_007 + seed))
    n_val = int(round(fraction * n))
    val_idx, tr_idx = perm[:n_val].sort().values, perm[n_val:].sort().values
    if isinstance(bundle.train, TensorPair):
        tr = TensorPair(bundle.train.x[tr_idx], bundle.train.y[tr_idx])
        va = TensorPair(bundle.train.x[val_idx], bundle.train.y[val_idx])
    elif hasattr(bundle.train, "subset"):     # real datasets: the validation part gets the test transforms
        tr, va = bundle.train.subset(tr_idx.tolist()), bundle.train.subset(val_idx.tolist(), evaluation=True)
    else:
        from torch.utils.data import Subset
        tr, va = Subset(bundle.train, tr_idx.tolist()), Subset(bundle.train, val_idx.tolist())
    return DataBundle(bundle.name, tr, va, bundle.num_classes, bundle.in_chans, bundle.img_size, bundle.class_names)


def epoch_permutation(n: int, seed: int, epoch: int) -> Tensor:
    """The order of the training set in ``epoch`` for run ``seed`` (independent of any global RNG)."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g)


def num_batches(n: int, batch_size: int) -> int:
    return (n + batch_size - 1) // batch_size


def train_batches(data, batch_size: int, seed: int, epoch: int, start_batch: int = 0,
                  device: torch.device | str = "cpu") -> Iterator[tuple[Tensor, Tensor]]:
    """Yield the training batches of ``epoch`` in seeded order, skipping the first ``start_batch``."""
    perm = epoch_permutation(len(data), seed, epoch)
    if isinstance(data, TensorPair):
        for b in range(start_batch, num_batches(len(data), batch_size)):
            idx = perm[b * batch_size:(b + 1) * batch_size]
            yield data.x[idx].to(device, non_blocking=True), data.y[idx].to(device, non_blocking=True)
    else:
        from adc.data.loading import dataloader_for  # torch Dataset path (real datasets): finished on `device`
        yield from dataloader_for(data, batch_size, perm[start_batch * batch_size:], device=device)


def eval_batches(data, batch_size: int, device: torch.device | str = "cpu") -> Iterator[tuple[Tensor, Tensor]]:
    if isinstance(data, TensorPair):
        for i in range(0, len(data), batch_size):
            yield data.x[i:i + batch_size].to(device), data.y[i:i + batch_size].to(device)
    else:
        from adc.data.loading import dataloader_for
        yield from dataloader_for(data, batch_size, torch.arange(len(data)), device=device)

