"""Files a run writes and reads back: atomically, safely, with one-line errors.

Writes go to a temporary beside the target, then a rename, so a crash never leaves a half-written
checkpoint, ``metrics.json`` or ``history.csv``; after *any* failure (a full disk, a signal) the
temporary is removed and the error names the file. Reads use ``torch.load(weights_only=True)``:
a checkpoint holds tensors and plain containers of numbers and strings only, so a crafted file
cannot run code (it is refused as "not a checkpoint"). :func:`check_writable` checks the output
folder before a run spends any time training.
"""
from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

from adc.runtime.errors import OutputError

CHECKPOINT = "checkpoint.pt"


@contextlib.contextmanager
def _atomic(path: Path):
    """Yield a temporary path beside ``path``; on success rename it onto ``path``, on failure remove it."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise OutputError(f"{path}: disk full while writing it (nothing half-written was left); "
                              f"free space and rerun the same command to resume") from None
        if isinstance(e, PermissionError):
            raise OutputError(f"{path}: cannot write here ({e.strerror}); choose a writable --out") from None
        raise


def atomic_write_text(path: Path, text: str) -> None:
    with _atomic(path) as tmp:
        Path(tmp).write_text(text)


def atomic_torch_save(obj, path: Path) -> None:
    import torch
    with _atomic(path) as tmp:
        torch.save(obj, tmp)


def load_checkpoint(path: Path, map_location=None) -> dict:
    """A checkpoint (or model.pt) written by :func:`atomic_torch_save`; refuses anything else in one line.

    ``weights_only=True``: only tensors and containers of plain values are unpickled, never code.
    """
    import pickle

    import torch
    path = Path(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError, AttributeError, KeyError,
            IndexError, TypeError, UnicodeDecodeError) as e:
        why = " ".join(str(e).split())[:160] or e.__class__.__name__
        raise OutputError(f"{path}: not a readable checkpoint (truncated, corrupt or not written by adc.train: "
                          f"{why}); delete it to start the run afresh") from None
    if not isinstance(state, dict) or "config" not in state:
        raise OutputError(f"{path}: not a checkpoint of adc.train (no config inside); delete it to start afresh")
    return state


def check_writable(folder: Path) -> None:
    """Create ``folder`` and prove a file can be written there, before any training."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test"):
            pass
    except OSError as e:
        raise OutputError(f"output folder {folder}: not writable ({e.strerror or e}); "
                          f"choose another --out or fix its permissions") from None
