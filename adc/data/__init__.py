"""Data: which datasets exist, how they are loaded and transformed, and the seeded batch order.

- ``adc/data/datasets.yaml``    the dataset catalog: every dataset, its source and its training defaults
- :mod:`adc.data.catalog`       reads that catalog (no torch: the command line's ``--help`` uses it)
- :mod:`adc.data.bundle`        what a loaded dataset is (:class:`DataBundle`, :class:`TensorPair`)
- :mod:`adc.data.registry`      name -> dataset (embedded digits), validation split, seeded batching
- :mod:`adc.data.hub_datasets`  Hugging Face ``datasets`` (CIFAR, Food-101, ...) and the local forms
- :mod:`adc.data.transforms`    the paper's torchvision transforms
- :mod:`adc.data.loading`       multi-worker loading in a seeded order
- :mod:`adc.data.hub`           reachability probe and offline mode for the hub

The names below are imported on first use, so that ``import adc.data.catalog`` stays light.
"""

__all__ = ["DataBundle", "TensorPair", "available_datasets", "carve_validation", "epoch_permutation",
           "eval_batches", "load_dataset", "num_batches", "train_batches"]


def __getattr__(name):
    if name in __all__ or name == "DATASETS":     # DATASETS: name -> loader, for tests and benchmarks to extend
        from adc.data import registry
        return getattr(registry, name)
    raise AttributeError(f"module 'adc.data' has no attribute {name!r}")
