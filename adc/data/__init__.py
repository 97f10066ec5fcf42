"""Data: which datasets exist, how they are loaded and transformed, and the seeded batch order.

- :mod:`adc.data.registry`      the dataset registry (embedded digits), validation split, seeded batching
- :mod:`adc.data.hub_datasets`  Hugging Face ``datasets`` (CIFAR, Food-101, ...) and the local forms
- :mod:`adc.data.transforms`    the paper's torchvision transforms
- :mod:`adc.data.loading`       multi-worker loading in a seeded order
- :mod:`adc.data.hub`           reachability probe and offline mode for the hub
"""
from adc.data.registry import (DataBundle, TensorPair, available_datasets, carve_validation, epoch_permutation,
                               eval_batches, load_dataset, num_batches, train_batches)
from adc.data import hub_datasets as _hub_datasets  # noqa: F401  registers the hub datasets and the local forms

__all__ = ["DataBundle", "TensorPair", "available_datasets", "carve_validation", "epoch_permutation",
           "eval_batches", "load_dataset", "num_batches", "train_batches"]
