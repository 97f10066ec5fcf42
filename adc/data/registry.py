"""Datasets and seeded batching.

A dataset is resolved by name to a :class:`DataBundle`: train and test sets, the number of
classes, and the image geometry the model must be built for. The embedded default is
scikit-learn's bundled handwritten digits (1,797 real 8x8 images, no download), split 80/20
with a fixed split seed so that every run seed is evaluated on the same test set.

Batch order is a pure function of (seed, epoch), so an interrupted run can resume mid-epoch by
skipping the batches it already took.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch
from torch import Tensor

DIGITS_SPLIT_SEED = 0


@dataclass
class DataBundle:
    name: str
    train: object              # TensorPair or a torch Dataset
    test: object
    num_classes: int
    in_chans: int
    img_size: int
    class_names: list[str]

    @property
    def num_train(self) -> int:
        return len(self.train)


@dataclass
class TensorPair:
    """An in-memory dataset: images (n, C, H, W) float and labels (n,) int64."""

    x: Tensor
    y: Tensor

    def __len__(self) -> int:
        return len(self.y)


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


#: name -> loader; other modules (real datasets) add to this
DATASETS: dict[str, Callable[..., DataBundle]] = {"digits": load_digits_bundle}


def available_datasets() -> list[str]:
    return sorted(DATASETS)


def load_dataset(name: str, **kwargs) -> DataBundle:
    """``name`` or ``name:DIR`` (a local copy: ``imagefolder:DIR``, ``parquet:DIR``, ``cifar100:DIR``, ...)."""
    key, sep, path = name.partition(":")
    if key not in DATASETS:
        raise ValueError(f"dataset: unknown dataset {name!r}; available: {available_datasets()}, "
                         f"or NAME:DIR for a local copy (e.g. imagefolder:DIR, parquet:DIR)")
    if sep:
        import inspect
        if not path or "path" not in inspect.signature(DATASETS[key]).parameters:
            raise ValueError(f"dataset: {name!r}: {key!r} takes no folder" if path else
                             f"dataset: {name!r}: expected {key}:DIR")
        kwargs["path"] = path
    return DATASETS[key](**kwargs)


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

