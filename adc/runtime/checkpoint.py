"""Files a run writes: atomically (a temporary beside the target, then a rename), so a crash never
leaves a half-written checkpoint, ``metrics.json`` or ``history.csv``."""
from __future__ import annotations

import os
from pathlib import Path

CHECKPOINT = "checkpoint.pt"


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def atomic_torch_save(obj, path: Path) -> None:
    import torch
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)
