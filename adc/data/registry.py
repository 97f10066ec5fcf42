"""Datasets and seeded batching.

A dataset is resolved by name to a :class:`DataBundle`: train and test sets, the number of
classes, and the image geometry the model must be built for. The embedded default is
scikit-learn's bundled handwritten digits (1,797 real 8x8 images, no download), split 80/20
with a fixed split seed so that every run seed is evaluated on the same test set.

Batch order is a pure function of (seed, epoch), so an interrupted run can resume mid-epoch by
skipping the batches it already took.
"""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np
import torch
from torch import Tensor

from adc.data.bundle import DataBundle, TensorPair
from adc.data.catalog import dataset_names

DIGITS_SPLIT_SEED = 0


def load_digits_bundle(test_fraction: float = 0.2) -> DataBundle:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32)[:, None] / 16.0   # n, 1, 8, 8 in [0, 1]
    x = (x - 0.5) / 0.5
    y = torch.tensor(d.target, dtype=torch.int64)
    idx_tr, idx_te = train_test_split(np.arange(len(y)), test_size=test_fraction, random_state=DIGITS_SPLIT_SEED,
                                      stratify=d.target)
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
        from adc.data.loading import dataloader_for  # torch Dataset path (real datasets)
        for x, y in dataloader_for(data, batch_size, perm[start_batch * batch_size:]):
            yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)


def eval_batches(data, batch_size: int, device: torch.device | str = "cpu") -> Iterator[tuple[Tensor, Tensor]]:
    if isinstance(data, TensorPair):
        for i in range(0, len(data), batch_size):
            yield data.x[i:i + batch_size].to(device), data.y[i:i + batch_size].to(device)
    else:
        from adc.data.loading import dataloader_for
        for x, y in dataloader_for(data, batch_size, torch.arange(len(data))):
            yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)

