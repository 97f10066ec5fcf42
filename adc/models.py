"""Model factory: timm Vision Transformers, plus the embedded ``vit_micro``.

``vit_micro`` is a real timm :class:`~timm.models.vision_transformer.VisionTransformer`
sized for 8x8 images on a CPU (patch 2 -> 16 patches + CLS = 17 tokens, width 64).
It is registered with timm's own registry, so ``timm.create_model("vit_micro")`` works.
"""
from __future__ import annotations

import timm
from timm.models import register_model
from timm.models.vision_transformer import VisionTransformer

#: default split index (number of client blocks) per model family; the paper splits DeiT after block 3
DEFAULT_SPLIT = {"vit_micro": 1}
PAPER_SPLIT = 3


@register_model
def vit_micro(pretrained: bool = False, **kwargs) -> VisionTransformer:
    """A micro ViT for the embedded digits default: 8x8 input, patch 2, dim 32, depth 4, 4 heads; split after block 1 (1/4 of the depth, as the paper splits DeiT 3/12)."""
    if pretrained:
        raise ValueError("model 'vit_micro' has no pretrained weights; set pretrained: false")
    for k in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):  # passed by timm.create_model
        kwargs.pop(k, None)
    args = dict(img_size=8, patch_size=2, in_chans=1, embed_dim=32, depth=4, num_heads=4, mlp_ratio=2.0)
    args.update(kwargs)
    return VisionTransformer(**args)


def available_models() -> list[str]:
    """Model names a user may pass: the micro default and timm's ViT/DeiT families."""
    return ["vit_micro"] + timm.list_models(["deit_*", "vit_*"])


def create_model(name: str, num_classes: int, in_chans: int | None = None, img_size: int | None = None,
                 pretrained: bool = False, **kwargs) -> VisionTransformer:
    """Create a timm VisionTransformer with a fresh classifier head of ``num_classes``."""
    if name not in timm.list_models() and name.split(".")[0] not in timm.list_models():
        raise ValueError(f"model: unknown model {name!r}; use 'vit_micro' or a timm ViT/DeiT name "
                         f"such as 'deit_tiny_patch16_224' (see `python -m adc.train --help`)")
    extra = dict(kwargs)
    if in_chans is not None:
        extra["in_chans"] = in_chans
    if img_size is not None:
        extra["img_size"] = img_size
    model = timm.create_model(name, pretrained=pretrained, num_classes=num_classes, **extra)
    if not isinstance(model, VisionTransformer):
        raise ValueError(f"model: {name!r} is a {type(model).__name__}, not a timm VisionTransformer; "
                         f"ADC-Bench splits ViT/DeiT models only")
    return model


def default_split_index(name: str) -> int:
    return DEFAULT_SPLIT.get(name.split(".")[0], PAPER_SPLIT)
