"""Image transforms for the real datasets (torchvision ``transforms.v2``).

The paper's recipe, as ADC-Bench applies it:

- train: RandAugment(num_ops=2, magnitude=9), ColorJitter(0.4, 0.4, 0.4), resize to the model's
  input size, random horizontal flip, then the model's normalization;
- test:  resize to the model's input size, then the model's normalization.

Where the work runs (``TransformConfig.stage``): ``"device"`` (the default) splits the pipeline.
The loader workers decode and augment at the native resolution and ship uint8 tensors with the
flip decision of each image (:class:`StagedTransform`); the resize to the model's size, the flip
and the normalization run on the whole batch on the training device (:class:`BatchTransform`,
applied by :func:`adc.data.loading.dataloader_for` after the non-blocking copy). A 32 px CIFAR
image then crosses process and device boundaries as 3 KB of uint8 instead of 600 KB of float32
at 224 px, and the resize runs batched where the model runs. The resize moves to the device only
when every image has the same size (``native_size``, e.g. CIFAR's 32 px); otherwise the worker
resizes (uint8, as before) and the device flips and normalizes. ``"worker"`` is the earlier
per-image path, everything in the worker (kept as the reference: ``tests/test_perf_paths.py``
checks that both give the same images, and the benchmark times one against the other). The
random draws are the same in both: the flip is drawn in the worker, from the per-sample seed,
right after the augmentation's draws, exactly where ``RandomHorizontalFlip`` draws it.

The normalization (mean, std) and the resize interpolation are read from timm's pretrained
config of the model (DeiT: ImageNet mean/std, bicubic); a model without one (``vit_micro``)
gets mean = std = 0.5. Every step is a field of :class:`TransformConfig`, so a dataset (see
``adc.datasets.SPECS``) or a caller (``load_dataset(name, transforms={...})``) can change it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms import v2

FALLBACK_MEAN = (0.5, 0.5, 0.5)
FALLBACK_STD = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class TransformConfig:
    image_size: int
    mean: tuple[float, ...] = FALLBACK_MEAN
    std: tuple[float, ...] = FALLBACK_STD
    interpolation: str = "bicubic"
    randaugment: tuple[int, int] | None = (2, 9)     # (num_ops, magnitude); None = off
    color_jitter: float | None = 0.4                 # brightness = contrast = saturation; None = off
    hflip: float = 0.5                               # probability; 0 = off
    backend: str = "pil"                             # augment PIL images ("pil") or uint8 tensors ("tensor")
    stage: str = "device"                            # resize/flip/normalize batched on the training device
                                                     # ("device") or per image in the loader worker ("worker")
    native_size: int | None = None                   # side of every stored image, when all share it (CIFAR: 32):
                                                     # then the resize runs on the device too

    def replace(self, **overrides) -> "TransformConfig":
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise ValueError(f"transforms: unknown key(s) {unknown}; allowed: {sorted(names)}")
        fixed = {k: (tuple(v) if isinstance(v, list) else v) for k, v in overrides.items()}
        return dataclasses.replace(self, **fixed)


def model_data_config(model: str) -> dict:
    """Input size, mean, std and interpolation from timm's pretrained config of ``model`` (None if it has none)."""
    import timm

    try:
        cfg = timm.models.get_pretrained_cfg(model)
    except (RuntimeError, ValueError, KeyError):
        cfg = None
    if cfg is None:
        return {"input_size": None, "mean": FALLBACK_MEAN, "std": FALLBACK_STD, "interpolation": "bicubic"}
    return {"input_size": cfg.input_size[-1] if cfg.input_size else None, "mean": tuple(cfg.mean),
            "std": tuple(cfg.std), "interpolation": cfg.interpolation or "bicubic"}


def _interp(name: str) -> InterpolationMode:
    try:
        return InterpolationMode(name)
    except ValueError:
        raise ValueError(f"transforms: interpolation {name!r}; use one of "
                         f"{[m.value for m in InterpolationMode]}") from None


class ToNormalizedFloat(torch.nn.Module):
    """uint8 (C, H, W) -> float32 ``(x / 255 - mean) / std``: ToDtype(scale) and Normalize fused in two in-place passes."""

    def __init__(self, mean, std):
        super().__init__()
        self.mean, self.std = [float(m) for m in mean], [float(s) for s in std]
        m, s = torch.tensor(self.mean), torch.tensor(self.std)
        self._scale = (1.0 / (255.0 * s)).view(-1, 1, 1)
        self._shift = (m / s).view(-1, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.as_subclass(torch.Tensor).float().mul_(self._scale).sub_(self._shift)

    def into(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """The same, written into ``out`` (a slice of a batch): no per-image float tensor, no collate copy."""
        torch.mul(x.as_subclass(torch.Tensor), self._scale, out=out)
        return out.sub_(self._shift)


def _resize(cfg: TransformConfig) -> v2.Resize:
    return v2.Resize((cfg.image_size, cfg.image_size), interpolation=_interp(cfg.interpolation), antialias=True)


def _augment(cfg: TransformConfig) -> list:
    ops: list = []
    if cfg.randaugment is not None:
        num_ops, magnitude = cfg.randaugment
        ops.append(v2.RandAugment(num_ops=num_ops, magnitude=magnitude))
    if cfg.color_jitter:
        j = cfg.color_jitter
        ops.append(v2.ColorJitter(brightness=j, contrast=j, saturation=j))
    return ops


def build_transform(cfg: TransformConfig, train: bool) -> v2.Compose:
    """The train or test pipeline: PIL RGB image in, normalized float tensor (3, S, S) out.

    ``backend="tensor"`` converts to a uint8 tensor first and augments that (faster for small
    images such as CIFAR's 32 px, which are augmented before the resize); ``"pil"`` augments the
    PIL image (faster for large photographs). The operations and their order are the same.
    """
    if cfg.backend not in ("pil", "tensor"):
        raise ValueError(f"transforms: backend {cfg.backend!r}; use 'pil' or 'tensor'")
    resize = _resize(cfg)
    ops: list = [v2.PILToTensor()] if cfg.backend == "tensor" else []
    if train:
        ops += _augment(cfg)
        ops.append(resize)
        if cfg.hflip > 0:
            ops.append(v2.RandomHorizontalFlip(p=cfg.hflip))
    else:
        ops.append(resize)
    if cfg.backend == "pil":
        ops.append(v2.PILToTensor())
    ops.append(ToNormalizedFloat(cfg.mean, cfg.std))
    return v2.Compose(ops)


# ----- the staged pipeline: per image in the worker (uint8), the rest batched on the device ----------
class BatchTransform(torch.nn.Module):
    """A batch of uint8 images (B, C, H, W) -> float32 (B, C, S, S): resize, flip, normalize, batched.

    Runs where the batch is (the training device). The resize is torchvision's (bicubic, antialias,
    uint8 in and out: the same rounding as the per-image path); ``size=None``: the images already
    have the model's size. ``flip`` (B,) bool: which images to mirror (drawn in the worker).
    """

    def __init__(self, size: int | None, interpolation: str, mean, std):
        super().__init__()
        self.size = size
        self.interpolation = _interp(interpolation)
        self.normalize = ToNormalizedFloat(mean, std)
        self._consts: dict = {}

    def forward(self, x: torch.Tensor, flip: torch.Tensor | None = None) -> torch.Tensor:
        from torchvision.transforms.v2 import functional as TF
        if self.size is not None and tuple(x.shape[-2:]) != (self.size, self.size):
            x = TF.resize(x, [self.size, self.size], interpolation=self.interpolation, antialias=True)
        if flip is not None:
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
        key = x.device
        if key not in self._consts:
            self._consts[key] = (self.normalize._scale.to(key), self.normalize._shift.to(key))
        scale, shift = self._consts[key]
        return x.float().mul_(scale).sub_(shift)


@dataclass
class StagedTransform:
    """The pipeline split in two: ``worker`` per image (PIL or uint8 in, uint8 tensor out at the
    native size, or at the model's size when images differ in size), the flip decision drawn right
    after it (probability ``flip_p``), and ``batch`` on the device."""

    worker: v2.Compose
    flip_p: float
    batch: BatchTransform
    tensor_input: bool = False       # the worker takes a uint8 tensor as well as a PIL image (backend "tensor")

    def per_image(self, img) -> tuple[torch.Tensor, bool]:
        """The worker's part of one image: uint8 tensor, flip (drawn from torch's default generator)."""
        u8 = self.worker(img)
        flip = bool(torch.rand(1) < self.flip_p) if self.flip_p > 0 else False   # as RandomHorizontalFlip draws
        return u8.as_subclass(torch.Tensor), flip


def build_staged_transform(cfg: TransformConfig, train: bool) -> StagedTransform | None:
    """The same pipeline as :func:`build_transform`, staged (``cfg.stage == "device"``); None for ``"worker"``."""
    if cfg.stage not in ("device", "worker"):
        raise ValueError(f"transforms: stage {cfg.stage!r}; use 'device' or 'worker'")
    if cfg.stage == "worker":
        return None
    if cfg.backend not in ("pil", "tensor"):
        raise ValueError(f"transforms: backend {cfg.backend!r}; use 'pil' or 'tensor'")
    resize_on_device = cfg.native_size is not None
    ops: list = [v2.PILToTensor()] if cfg.backend == "tensor" else []
    if train:
        ops += _augment(cfg)
    if not resize_on_device:
        ops.append(_resize(cfg))
    if cfg.backend == "pil":
        ops.append(v2.PILToTensor())
    batch = BatchTransform(cfg.image_size if resize_on_device else None, cfg.interpolation, cfg.mean, cfg.std)
    return StagedTransform(v2.Compose(ops), cfg.hflip if train else 0.0, batch, tensor_input=cfg.backend == "tensor")
