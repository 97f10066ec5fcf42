"""Image transforms for the real datasets (torchvision ``transforms.v2``).

The paper's recipe, as ADC-Bench applies it:

- train: RandAugment(num_ops=2, magnitude=9), ColorJitter(0.4, 0.4, 0.4), resize to the model's
  input size, random horizontal flip, then the model's normalization;
- test:  resize to the model's input size, then the model's normalization.

Where the work runs (``TransformConfig.stage``): ``"device"`` (the default) splits the pipeline.
The loader workers decode at the native resolution and ship uint8 tensors with the flip decision
of each image (:class:`StagedTransform`); the resize to the model's size, the flip and the
normalization run on the whole batch on the training device (:class:`BatchTransform`, applied by
:func:`adc.data.loading.dataloader_for` after the non-blocking copy). A 32 px CIFAR image then
crosses process and device boundaries as 3 KB of uint8 instead of 600 KB of float32 at 224 px,
and the resize runs batched where the model runs. The resize moves to the device only when every
image has the same size (``native_size``, e.g. CIFAR's 32 px); otherwise the worker resizes
(uint8, as before) and the device flips and normalizes. The augmentation, at the native size as
the paper orders it, is drawn in the worker and applied to the batch on the device
(``augment: "device"``, the default when the resize moves there: :class:`BatchAugment`, the same
images bit for bit on a CPU; at 32 px the per-image augmentation was most of a worker's time, a
few small torch ops per image) or applied per image in the worker (``augment: "worker"``).
``stage: "worker"`` is the earlier per-image path, everything in the worker (kept as the
reference: ``tests/test_perf_paths.py`` checks that both give the same images, and the benchmark
times one against the other). The
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
    augment: str = "device"                          # with stage "device" and a native_size: the worker draws
                                                     # the augmentation per image, the device applies it to the
                                                     # batch ("device"); or the worker applies it ("worker")

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

    def __init__(self, size: int | None, interpolation: str, mean, std, augment: "BatchAugment | None" = None):
        super().__init__()
        self.size = size
        self.interpolation = _interp(interpolation)
        self.normalize = ToNormalizedFloat(mean, std)
        self.augment = augment
        self._consts: dict = {}

    def forward(self, x: torch.Tensor, flip: torch.Tensor | None = None,
                draws: "AugmentDraws | None" = None) -> torch.Tensor:
        from torchvision.transforms.v2 import functional as TF
        if draws is not None:
            x = self.augment(x, draws)
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

    def per_image(self, img) -> tuple:
        """The worker's part of one image: uint8 tensor, flip (drawn from torch's default generator) and,
        when the device augments, the image's augmentation draws (drawn first, as the transforms draw)."""
        u8 = self.worker(img).as_subclass(torch.Tensor)
        draw = self.batch.augment.draw(*u8.shape[-2:]) if self.batch.augment is not None else None
        flip = bool(torch.rand(1) < self.flip_p) if self.flip_p > 0 else False   # as RandomHorizontalFlip draws
        return u8, flip, draw


def build_staged_transform(cfg: TransformConfig, train: bool) -> StagedTransform | None:
    """The same pipeline as :func:`build_transform`, staged (``cfg.stage == "device"``); None for ``"worker"``."""
    if cfg.stage not in ("device", "worker"):
        raise ValueError(f"transforms: stage {cfg.stage!r}; use 'device' or 'worker'")
    if cfg.stage == "worker":
        return None
    if cfg.backend not in ("pil", "tensor"):
        raise ValueError(f"transforms: backend {cfg.backend!r}; use 'pil' or 'tensor'")
    if cfg.augment not in ("device", "worker"):
        raise ValueError(f"transforms: augment {cfg.augment!r}; use 'device' or 'worker'")
    resize_on_device = cfg.native_size is not None
    augment = None
    if train and resize_on_device and cfg.augment == "device" and (cfg.randaugment or cfg.color_jitter):
        augment = BatchAugment(cfg.randaugment, cfg.color_jitter)
    ops: list = [v2.PILToTensor()] if cfg.backend == "tensor" or augment is not None else []
    if train and augment is None:
        ops += _augment(cfg)
    if not resize_on_device:
        ops.append(_resize(cfg))
    if cfg.backend == "pil" and augment is None:
        ops.append(v2.PILToTensor())
    batch = BatchTransform(cfg.image_size if resize_on_device else None, cfg.interpolation, cfg.mean, cfg.std,
                           augment=augment)
    return StagedTransform(v2.Compose(ops), cfg.hflip if train else 0.0, batch,
                           tensor_input=cfg.backend == "tensor" or augment is not None)


# ----- the augmentation, drawn per image in the worker and applied to the batch on the device ------
@dataclass
class AugmentDraws:
    """A batch's augmentation draws (CPU tensors): RandAugment's op (index into its augmentation space)
    and signed magnitude per round, ColorJitter's order of its four adjustments and its brightness,
    contrast and saturation factors (NaN where off)."""

    ops: torch.Tensor          # (B, num_ops) int64
    magnitudes: torch.Tensor   # (B, num_ops) float64
    order: torch.Tensor        # (B, 4) int64
    factors: torch.Tensor      # (B, 3) float64

    @staticmethod
    def stack(rows: list) -> "AugmentDraws":
        return AugmentDraws(*(torch.stack([r[i] for r in rows]) for i in range(4)))


class BatchAugment:
    """RandAugment(num_ops, magnitude) then ColorJitter(j, j, j), as torchvision's ``v2`` transforms
    apply them one image at a time, split in two:

    - :meth:`draw` (in the loader worker, per image, from the per-sample seed): the random numbers,
      drawn by torchvision's own code in the same order (op, sign of its magnitude; ColorJitter's
      permutation and factors), so the flip drawn next is the same draw as before;
    - :meth:`__call__` (on the training device, on the uint8 batch at the native size): each
      RandAugment round groups the images by (op, magnitude), a handful of groups, and applies
      torchvision's own op to each group at once; ColorJitter groups by order and blends with a
      factor per image.

    The result is the per-image pipeline's uint8 images, bit for bit on a CPU (``tests/test_perf_paths.py``);
    RandAugment's ops are torchvision's own, ColorJitter's three adjustments are torchvision's kernels
    with the scalar factor made a per-image one (:func:`_blend`, :func:`_brightness`).
    """

    def __init__(self, randaugment: tuple[int, int] | None, color_jitter: float | None):
        self.randaugment = v2.RandAugment(*randaugment) if randaugment is not None else None
        j = color_jitter
        self.jitter = v2.ColorJitter(brightness=j, contrast=j, saturation=j) if j else None
        self.names = tuple(v2.RandAugment._AUGMENTATION_SPACE)

    # ----- the worker: one image's draws -----------------------------------------------------------
    def draw(self, height: int, width: int) -> tuple[torch.Tensor, ...]:
        ra, n = self.randaugment, self.randaugment.num_ops if self.randaugment is not None else 0
        ops, mags = torch.zeros(n, dtype=torch.int64), torch.zeros(n, dtype=torch.float64)
        for r in range(n):                                    # as v2.RandAugment.forward draws
            name, (magnitudes_fn, signed) = ra._get_random_item(ra._AUGMENTATION_SPACE)
            magnitudes = magnitudes_fn(ra.num_magnitude_bins, height, width)
            magnitude = 0.0
            if magnitudes is not None:
                magnitude = float(magnitudes[ra.magnitude])
                if signed and torch.rand(()) <= 0.5:
                    magnitude *= -1
            ops[r], mags[r] = self.names.index(name), magnitude
        order, factors = torch.arange(4), torch.full((3,), float("nan"), dtype=torch.float64)
        if self.jitter is not None:
            p = self.jitter.make_params([])
            order = p["fn_idx"]
            for i, k in enumerate(("brightness_factor", "contrast_factor", "saturation_factor")):
                if p[k] is not None:
                    factors[i] = p[k]
        return ops, mags, order, factors

    # ----- the device: the whole batch -------------------------------------------------------------
    @staticmethod
    def _groups(keys: torch.Tensor):
        """(unique key row, indices of the images with it) for each distinct row of ``keys`` (CPU)."""
        uniq, inverse = torch.unique(keys, dim=0, return_inverse=True)
        for g in range(uniq.shape[0]):
            yield uniq[g], (inverse == g).nonzero().squeeze(1)

    def __call__(self, x: torch.Tensor, draws: AugmentDraws) -> torch.Tensor:
        x = x.as_subclass(torch.Tensor).clone()
        ra = self.randaugment
        for r in range(draws.ops.shape[1]):                   # the rounds, in order
            keys = torch.stack([draws.ops[:, r].double(), draws.magnitudes[:, r]], 1)
            for (op, magnitude), idx in self._groups(keys):   # a few (op, magnitude) groups, not the images
                idx = idx.to(x.device, non_blocking=True)
                x[idx] = ra._apply_image_or_video_transform(x[idx], self.names[int(op)], float(magnitude),
                                                            interpolation=ra.interpolation, fill=ra._fill)
        if self.jitter is None:
            return x
        for order, idx in self._groups(draws.order):          # at most 24 orders of the four adjustments
            f = draws.factors[idx]                            # (G, 3) float64, on the CPU
            idx = idx.to(x.device, non_blocking=True)
            y = x[idx]
            for fn in order.tolist():
                if fn < 3 and not torch.isnan(f[0, fn]):
                    y = _JITTER[fn](y, f[:, fn])
            x[idx] = y
        return x


def _ratio(f: torch.Tensor, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image factors as torchvision's scalar kernels use them: f and 1 - f (computed in double), as float32."""
    shape = (-1,) + (1,) * (like.ndim - 1)
    return f.float().view(shape).to(like.device), (1.0 - f).float().view(shape).to(like.device)


def _blend(a: torch.Tensor, b: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """torchvision's ``a.mul(f).add_(b, alpha=1 - f)`` with f per image: ``addcmul_`` rounds as that
    fused kernel does (a separate ``b.mul(1 - f)`` is one rounding more: 1 level apart on ~10% of images)."""
    r, one_minus = _ratio(f, a)
    return a.mul(r).addcmul_(b, one_minus).clamp_(0, 255).to(a.dtype)


def _gray(x: torch.Tensor) -> torch.Tensor:
    """The grayscale torchvision's contrast and saturation kernels blend with: float, floored for uint8."""
    from torchvision.transforms.v2.functional._color import _rgb_to_grayscale_image
    return _rgb_to_grayscale_image(x, num_output_channels=1, preserve_dtype=False).floor_()


def _brightness(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    return x.mul(_ratio(f, x)[0]).clamp_(0, 255).to(x.dtype)


def _contrast(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    return _blend(x, torch.mean(_gray(x), dim=(-3, -2, -1), keepdim=True), f)


def _saturation(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    return _blend(x, _gray(x), f)


_JITTER = (_brightness, _contrast, _saturation)   # ColorJitter's fn_idx 0, 1, 2 (3, hue, is off in the recipe)
