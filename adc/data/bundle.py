"""What a loaded dataset is: a :class:`DataBundle` (train and test sets, classes, image geometry),
and :class:`TensorPair`, an in-memory dataset. Shared by the registry and the hub datasets."""
from __future__ import annotations

from dataclasses import dataclass


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

    x: "torch.Tensor"  # noqa: F821
    y: "torch.Tensor"  # noqa: F821

    def __len__(self) -> int:
        return len(self.y)
