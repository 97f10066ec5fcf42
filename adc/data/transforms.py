"""Image transforms for the real datasets (torchvision ``transforms.v2``).

The paper's recipe, as ADC-Bench applies it:

- train: RandAugment(num_ops=2, magnitude=9), ColorJitter(0.4, 0.4, 0.4), resize to the model's
  input size, random horizontal flip, then the model's normalization;
- test:  resize to the model's input size, then the model's normalization.

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


def build_transform(cfg: TransformConfig, train: bool) -> v2.Compose:
    """The train or test pipeline: PIL RGB image in, normalized float tensor (3, S, S) out.

    ``backend="tensor"`` converts to a uint8 tensor first and augments that (faster for small
    images such as CIFAR's 32 px, which are augmented before the resize); ``"pil"`` augments the
    PIL image (faster for large photographs). The operations and their order are the same.
    """
    if cfg.backend not in ("pil", "tensor"):
        raise ValueError(f"transforms: backend {cfg.backend!r}; use 'pil' or 'tensor'")
    size = (cfg.image_size, cfg.image_size)
    resize = v2.Resize(size, interpolation=_interp(cfg.interpolation), antialias=True)
    ops: list = [v2.PILToTensor()] if cfg.backend == "tensor" else []
    if train:
        if cfg.randaugment is not None:
            num_ops, magnitude = cfg.randaugment
            ops.append(v2.RandAugment(num_ops=num_ops, magnitude=magnitude))
        if cfg.color_jitter:
            j = cfg.color_jitter
            ops.append(v2.ColorJitter(brightness=j, contrast=j, saturation=j))
        ops.append(resize)
        if cfg.hflip > 0:
            ops.append(v2.RandomHorizontalFlip(p=cfg.hflip))
    else:
        ops.append(resize)
    if cfg.backend == "pil":
        ops.append(v2.PILToTensor())
    ops.append(ToNormalizedFloat(cfg.mean, cfg.std))
    return v2.Compose(ops)
