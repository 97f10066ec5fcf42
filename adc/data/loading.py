"""Fast input for the real datasets: a torch DataLoader over an exact index order.

``dataloader_for(dataset, batch_size, indices)`` yields ``(x, y)`` batches over ``dataset`` in
exactly the order of ``indices`` (the last batch may be short), which keeps the training order a
pure function of (seed, epoch) however many workers decode the images.

What keeps a GPU fed:

- decoding and augmentation run in ``num_workers`` worker processes, each making a whole batch
  in one call (``ImageDataset.__getitems__``: one Arrow ``take`` per batch, each image normalized
  straight into its slice of a batch tensor that is already in shared memory);
- with a staged transform (the default, see :mod:`adc.data.transforms`) the workers ship uint8
  images at their native size plus the flip decisions, and the resize, flip and normalization run
  batched on the training device (``dataset.device_transform``) right after the copy;
- ``pin_memory`` when the run uses CUDA, so ``x.to(device, non_blocking=True)`` is asynchronous;
- persistent workers: the DataLoader is built once per (dataset, batch size) and reused every
  epoch with a new index order, so workers are started once per run, not once per epoch;
- ``prefetch_factor`` batches queued per worker.

Random augmentations are seeded per sample: for a dataset with ``seeded = True`` each index is
paired with a seed drawn from torch's global RNG in the main process (which the training
checkpoint saves), and the worker applies the transform under that seed. So the augmented
images do not depend on the number of workers, and a run resumed at an epoch boundary sees the
same images as an uninterrupted one.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler, Subset, default_collate


@dataclass
class LoaderOptions:
    num_workers: int = 0
    pin_memory: bool | None = None        # None: when CUDA is available
    persistent_workers: bool = True       # only with num_workers > 0
    prefetch_factor: int = 4              # batches queued per worker (num_workers > 0)


class _IndexBatches(Sampler):
    """Yields the batches of a list of items (an index, or (index, seed)) in order; the list is swapped each epoch."""

    def __init__(self, batch_size: int):
        self.batch_size = batch_size
        self.items: list = []

    def __iter__(self):
        for i in range(0, len(self.items), self.batch_size):
            yield self.items[i:i + self.batch_size]

    def __len__(self) -> int:
        return (len(self.items) + self.batch_size - 1) // self.batch_size


class _WorkerBatches(Dataset):
    """What the DataLoader sees of a dataset with a staged transform: the workers' part of each batch."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitems__(self, items: list):
        return self.dataset.worker_batch(items)


def _options(dataset) -> LoaderOptions:
    return getattr(dataset, "loader_options", None) or LoaderOptions()


def _make_loader(dataset, batch_size: int, opts: LoaderOptions) -> DataLoader:
    pin = torch.cuda.is_available() if opts.pin_memory is None else opts.pin_memory
    kw = {}
    if opts.num_workers > 0:
        kw = dict(persistent_workers=opts.persistent_workers, prefetch_factor=opts.prefetch_factor)
    collate = getattr(dataset, "collate_fn", None) or default_collate
    if getattr(dataset, "device_transform", None) is not None:
        dataset = _WorkerBatches(dataset)
    return DataLoader(dataset, batch_sampler=_IndexBatches(batch_size), num_workers=opts.num_workers,
                      pin_memory=pin, collate_fn=collate, **kw)


def _loader(dataset, batch_size: int) -> DataLoader:
    opts = _options(dataset)
    if opts.num_workers == 0 or not opts.persistent_workers or not hasattr(dataset, "loader_options"):
        return _make_loader(dataset, batch_size, opts)
    cache = dataset.__dict__.setdefault("_adc_loaders", {})
    if batch_size not in cache:
        # The cached loader gets a shallow copy without the cache, so there is no reference cycle: when the
        # dataset goes, its loaders and their workers go with it at once (a cycle would leave them to the
        # garbage collector, whose shutdown of live workers waits out a 5 s timeout per worker).
        view = copy.copy(dataset)
        view.__dict__.pop("_adc_loaders", None)
        cache[batch_size] = _make_loader(view, batch_size, opts)
    return cache[batch_size]


def sample_items(dataset, indices: Tensor) -> list:
    """The items the sampler hands to the dataset: indices, paired with per-sample seeds if it augments."""
    idx = indices.tolist()
    if getattr(dataset, "seeded", False):
        seeds = torch.randint(0, 2 ** 62, (len(idx),), dtype=torch.int64).tolist()   # global RNG: checkpointed
        return list(zip(idx, seeds))
    return idx


def dataloader_for(dataset, batch_size: int, indices: Tensor,
                   device: torch.device | str | None = None) -> Iterator[tuple[Tensor, Tensor]]:
    """Batches ``(x, y)`` of ``dataset`` in exactly the order of ``indices`` (1-D), with multi-worker loading,
    on ``device`` (default: where the loader made them, the CPU). A dataset with a ``device_transform``
    gets its last steps (resize, flip, normalize) there, batched, after the non-blocking copy."""
    if indices.ndim != 1:
        raise ValueError(f"dataloader_for: indices must be 1-D, got shape {tuple(indices.shape)}")
    while isinstance(dataset, Subset):        # a torch Subset: its base dataset, at the mapped indices
        indices = torch.as_tensor(dataset.indices, dtype=torch.long)[indices]
        dataset = dataset.dataset
    items = sample_items(dataset, indices)   # seeds drawn when iteration starts, from the global RNG
    loader = _loader(dataset, batch_size)
    loader.batch_sampler.items = items
    finish = getattr(dataset, "device_transform", None)
    for x, y, *extra in loader:
        if device is not None:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            extra = [t.to(device, non_blocking=True) if isinstance(t, Tensor) else t for t in extra]  # draws: CPU
        yield (finish(x, *extra) if finish is not None else x), y


def shutdown_workers(dataset) -> None:
    """Stop the persistent workers of ``dataset`` now (they also stop when it is garbage-collected)."""
    for loader in dataset.__dict__.pop("_adc_loaders", {}).values():
        it = getattr(loader, "_iterator", None)
        if it is not None and hasattr(it, "_shutdown_workers"):
            it._shutdown_workers()
