"""Small helpers shared by the baselines (a leading '_' keeps discovery from importing it as a method)."""
from __future__ import annotations

import torch
from torch import Tensor

from adc.messages import smallest_int_dtype


def generator_device(generator: torch.Generator | None, fallback: torch.device) -> torch.device:
    return generator.device if generator is not None else torch.device(fallback)


def uniform(shape, generator: torch.Generator | None, device) -> Tensor:
    """U[0, 1) drawn from ``generator`` (on its own device, as torch requires), returned on ``device``."""
    gdev = generator_device(generator, device)
    return torch.rand(shape, generator=generator, device=gdev).to(device)


def normal(shape, generator: torch.Generator | None, device) -> Tensor:
    gdev = generator_device(generator, device)
    return torch.randn(shape, generator=generator, device=gdev).to(device)


def sub_generator(generator: torch.Generator | None) -> torch.Generator:
    """A CPU generator seeded by one draw from ``generator``: for one-off draws at construction
    (parameter initialisation, fixed keys) that must be the same on CPU and GPU for one seed."""
    gdev = generator_device(generator, "cpu")
    seed = int(torch.randint(0, 2 ** 62, (1,), generator=generator, device=gdev).item())
    return torch.Generator().manual_seed(seed)


def index_dtype(max_value: int) -> torch.dtype:
    """The smallest dtype a sender would put indices 0..max_value in (unsigned 16-bit included)."""
    if 2 ** 8 <= max_value < 2 ** 16 and hasattr(torch, "uint16"):
        return torch.uint16
    return smallest_int_dtype(max_value)
