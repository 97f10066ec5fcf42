"""Model factory: timm Vision Transformers, plus the embedded ``vit_micro``.

``vit_micro`` is a real timm :class:`~timm.models.vision_transformer.VisionTransformer`
sized for 8x8 images on a CPU (patch 2 -> 16 patches + CLS = 17 tokens, width 32).
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


def is_model_name(name, models=None) -> bool:
    """Exactly a model name: a timm model (``vit_micro`` included), or one with one of its timm
    pretrained tags (``deit_tiny_patch16_224.fb_in1k``); ``vit_micro.bogus`` is not."""
    if not isinstance(name, str):
        return False
    models = models if models is not None else timm.list_models()
    if name in models:
        return True
    base, _, tag = name.partition(".")
    return bool(tag) and base in models and name in timm.list_pretrained(f"{base}.*")


class WeightsUnavailableError(FileNotFoundError):
    """Pretrained weights asked for that are neither in the local cache nor downloadable now."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def create_model(name: str, num_classes: int, in_chans: int | None = None, img_size: int | None = None,
                 pretrained: bool = False, weights: str | None = None, **kwargs) -> VisionTransformer:
    """Create a timm VisionTransformer with a classifier head of ``num_classes``.

    ``weights``: a local weights file (see :func:`load_weights`), which wins over ``pretrained``;
    ``pretrained``: timm's own pretrained weights, downloaded as timm does (Hugging Face Hub
    cache), or read from that cache when the hub cannot be reached; with neither the file nor the
    cache nor a network, :class:`WeightsUnavailableError` is raised at once.
    The head is sized to ``num_classes``: a pretrained head of another size is dropped and
    re-initialised, the position embedding is resampled to ``img_size``.
    """
    if not is_model_name(name):
        raise ValueError(f"model: unknown model {name!r}; use 'vit_micro' or a timm ViT/DeiT name "
                         f"such as 'deit_tiny_patch16_224' (see `python -m adc.train --help`)")
    extra = dict(kwargs)
    if in_chans is not None:
        extra["in_chans"] = in_chans
    if img_size is not None:
        extra["img_size"] = img_size
    if weights:
        model = timm.create_model(name, pretrained=False, num_classes=num_classes, **extra)
        load_weights(model, weights)
    elif pretrained:
        with pretrained_download_context(name):
            model = timm.create_model(name, pretrained=True, num_classes=num_classes, **extra)
    else:
        model = timm.create_model(name, pretrained=False, num_classes=num_classes, **extra)
    if not isinstance(model, VisionTransformer):
        raise ValueError(f"model: {name!r} is a {type(model).__name__}, not a timm VisionTransformer; "
                         f"ADC-Bench splits ViT/DeiT models only")
    return model


# ----- pretrained weights: a local file, or timm's download with a fast offline check --------------
def _classifier_names(model) -> list[str]:
    c = (getattr(model, "pretrained_cfg", None) or {}).get("classifier", "head")
    return list(c) if isinstance(c, (list, tuple)) else [c]


def load_weights(model: VisionTransformer, path: str) -> dict:
    """Load a local weights file into ``model``; return what was dropped or adapted.

    Accepted: ``.safetensors`` / ``.pth`` / ``.pt`` / ``.bin`` state dicts (plain, or under
    ``model`` / ``state_dict`` / ``state_dict_ema`` as timm and DeiT save them; a ``module.``
    prefix is removed) and big_vision ``.npz`` files. The file goes through timm's own ViT
    checkpoint filter (position embedding resampled to the model's grid, patch embedding
    resized); a classifier head whose shape differs from the model's is dropped and the model
    keeps its freshly initialised head. Any other missing or unexpected key is an error.
    """
    from pathlib import Path

    from timm.models import load_state_dict as timm_load_state_dict
    from timm.models._manipulate import adapt_input_conv
    from timm.models.vision_transformer import checkpoint_filter_fn

    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"weights: {str(p)!r} is not a file; give a weights file (.safetensors, .pth, "
                                f".pt, .bin or .npz) or use pretrained: true to download timm's")
    try:
        if p.suffix == ".npz":
            model.load_pretrained(str(p))    # timm's big_vision loader: resamples, skips a head of another size
            return {"dropped": [], "format": "npz"}
        sd = timm_load_state_dict(str(p), weights_only=True)    # tensors only: a weights file runs no code
    except (ValueError, FileNotFoundError):
        raise
    except Exception as e:   # safetensors, pickle, zip and numpy each raise their own kind for a garbage file
        why = " ".join(str(e).split())[:160] or type(e).__name__
        raise ValueError(f"weights: {str(p)!r} is not a readable weights file ({type(e).__name__}: {why}); "
                         f"give a .safetensors/.pth/.pt/.bin/.npz state dict saved from the model") from None
    if not isinstance(sd, dict) or not all(hasattr(v, "shape") for v in sd.values()):
        raise ValueError(f"weights: {str(p)!r} holds no state dict of tensors; give one saved from the model")
    sd = checkpoint_filter_fn(sd, model)
    own = model.state_dict()
    dropped = []
    for c in _classifier_names(model):
        for k in (f"{c}.weight", f"{c}.bias"):
            if k in sd and (k not in own or sd[k].shape != own[k].shape):
                dropped.append(k)
                del sd[k]
    w = sd.get("patch_embed.proj.weight")
    if w is not None and w.shape[1] != own["patch_embed.proj.weight"].shape[1]:
        sd["patch_embed.proj.weight"] = adapt_input_conv(own["patch_embed.proj.weight"].shape[1], w)
    mismatched = [f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}" for k, v in sd.items()
                  if k in own and v.shape != own[k].shape]
    if mismatched:
        raise ValueError(f"weights: {str(p)!r} does not fit model {type(model).__name__} "
                         f"(embed_dim {model.embed_dim}, depth {len(model.blocks)}): shapes differ for "
                         f"{mismatched[:4]}{'...' if len(mismatched) > 4 else ''}; was it saved from another model?")
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [k for k in missing if k not in dropped]
    if missing or unexpected:
        raise ValueError(f"weights: {str(p)!r} does not fit model {type(model).__name__} "
                         f"(embed_dim {model.embed_dim}, depth {len(model.blocks)}): "
                         f"missing keys {missing[:8]}{'...' if len(missing) > 8 else ''}, "
                         f"unexpected keys {unexpected[:8]}{'...' if len(unexpected) > 8 else ''}")
    return {"dropped": dropped, "format": p.suffix.lstrip(".")}


HF_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "open_clip_model.safetensors",
                   "open_clip_pytorch_model.bin")


def _hf_source(name: str) -> tuple[str | None, str | None, list[str]]:
    cfg = timm.models.get_pretrained_cfg(name)
    if cfg is None or not (cfg.hf_hub_id or cfg.url or cfg.file):
        raise ValueError(f"model: {name!r} has no pretrained weights in timm; set pretrained: false or give "
                         f"weights: PATH")
    if not cfg.hf_hub_id:
        return None, None, []
    repo, _, revision = cfg.hf_hub_id.partition("@")
    files = ([cfg.hf_hub_filename] if cfg.hf_hub_filename else []) + list(HF_WEIGHT_FILES)
    return repo, revision or None, files


def pretrained_cached(name: str) -> bool:
    """Whether timm's pretrained weights of ``name`` are in the local Hugging Face cache."""
    from huggingface_hub import try_to_load_from_cache
    repo, revision, files = _hf_source(name)
    if repo is None:
        return False
    return any(isinstance(try_to_load_from_cache(repo, f, revision=revision), str) for f in files)


def pretrained_download_context(name: str):
    """A context for ``timm.create_model(pretrained=True)`` that cannot hang without a network.

    Reachable hub: download as timm does. Unreachable but cached: offline mode, the cache is read.
    Neither: :class:`WeightsUnavailableError` naming both remedies, raised within a few seconds.
    """
    import contextlib

    from adc.data import hub

    repo, _, _ = _hf_source(name)
    if repo is None:                       # a URL-only model: timm's torch.hub download, as it is
        return contextlib.nullcontext()
    reachable, reason = hub.hub_status()
    if reachable:
        return contextlib.nullcontext()
    if pretrained_cached(name):
        return hub.forced_offline()
    raise WeightsUnavailableError(
        f"model {name!r}: pretrained weights ({repo} on the Hugging Face Hub) are not in the local cache "
        f"({hub.hub_cache_dir()}) and cannot be downloaded now: {reason}. Either\n"
        f"  - give a local weights file: --weights PATH (weights: PATH in a config), e.g. the file that "
        f"`hf download {repo} model.safetensors --local-dir DIR` fetches on a machine with network; or\n"
        f"  - fill the cache: run once with network (pretrained: true downloads as timm does), or copy the hub "
        f"cache of a machine that has them (HF_HUB_CACHE, by default ~/.cache/huggingface/hub) to "
        f"{hub.hub_cache_dir()} here, or point HF_HUB_CACHE at the copy; or\n"
        f"  - train from random initialisation: drop --pretrained (pretrained: false).")


def default_split_index(name: str) -> int:
    return DEFAULT_SPLIT.get(name.split(".")[0], PAPER_SPLIT)
