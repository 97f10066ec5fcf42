"""The one record type of a finished run: ``metrics.json`` (what the loop writes, what every reader reads).

The training loop writes it with :func:`write_record` (atomically, checked against :data:`FIELDS`
first); aggregation (:mod:`adc.report.collect`), the analyses and the time-to-accuracy figure read it
with :func:`read_record`, which raises :class:`RecordError` naming the file and the field for a
file that is not JSON, lacks a required field or holds a value of the wrong type.

A run folder is *complete* (:func:`check_run_folder`) when it holds ``metrics.json`` and
``history.csv`` and, where the pipeline wrote one, ``run_config.json`` whose keys equal the
record's ``config`` (the keys that do not change a result, :data:`RESULT_NEUTRAL_KEYS`, aside).
Fields may be added to the record; none of :data:`FIELDS` is ever removed or renamed.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

METRICS = "metrics.json"
HISTORY = "history.csv"
RUN_CONFIG = "run_config.json"

#: required fields of metrics.json and their JSON types ("number" = int or float, never bool)
FIELDS: dict[str, str] = {
    "final_test_accuracy": "number", "best_test_accuracy": "number",
    "bytes_up": "number", "bytes_down": "number", "bytes_total": "number", "bytes_uncompressed": "number",
    "xi_measured": "number", "xi_expected": "number", "steps": "integer", "epochs": "number",
    "wall_seconds": "number", "method": "string", "params": "object",
}
#: fields that must be finite (a NaN accuracy or ratio is a failed run, not a "–" in a table)
FINITE = ("final_test_accuracy", "best_test_accuracy", "bytes_up", "bytes_down", "bytes_total", "xi_measured", "steps")
#: optional fields checked when present
OPTIONAL: dict[str, str] = {"config": "object", "device": "string", "final_train_loss": "number",
                            "shape": "object", "versions": "object"}
#: TrainConfig keys that do not change a run's result: where it writes, how fast, what it prints.
#: A checkpoint or a run folder that differs only in these is the same run.
RESULT_NEUTRAL_KEYS = ("out", "threads", "progress", "num_workers", "eval_batch_size", "link_sleep", "save_model")

_TYPES = {"number": ((int, float), "a number"), "integer": ((int,), "an integer"), "string": ((str,), "a string"),
          "object": ((dict,), "a mapping")}


class RecordError(ValueError):
    """A metrics.json (or run folder) that cannot be used; the message names the file and the field."""

    def __init__(self, path, field: str | None, problem: str):
        self.path, self.field, self.problem = str(path), field, problem
        super().__init__(f"{path}: {field + ': ' if field else ''}{problem}")


def problems(record, path="metrics.json") -> list[RecordError]:
    """Every problem of one record (an empty list: valid)."""
    if not isinstance(record, dict):
        return [RecordError(path, None, f"expected a JSON object, got {type(record).__name__}")]
    out = []
    for name, kind in {**FIELDS, **{k: v for k, v in OPTIONAL.items() if k in record}}.items():
        if name not in record:
            out.append(RecordError(path, name, "missing (the run did not finish, or the file was edited); rerun it"))
            continue
        value = record[name]
        types, what = _TYPES[kind]
        if isinstance(value, bool) or not isinstance(value, types):
            out.append(RecordError(path, name, f"{value!r} is not {what}"))
        elif name in FINITE and not math.isfinite(value):
            out.append(RecordError(path, name, f"{value!r} is not finite"))
    return out


def validate(record, path="metrics.json") -> dict:
    """``record`` if valid, else :class:`RecordError` for its first problem."""
    errs = problems(record, path)
    if errs:
        raise errs[0]
    return record


def read_record(path) -> dict:
    """The record in ``path`` (a metrics.json or its run folder), validated."""
    path = Path(path)
    if path.is_dir():
        path = path / METRICS
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise RecordError(path, None, "not found; the run has not finished (rerun it)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise RecordError(path, None, f"unreadable ({e.__class__.__name__}: {e})") from None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as e:
        raise RecordError(path, None, f"not valid JSON (line {e.lineno}: {e.msg}); delete the run folder and rerun it") \
            from None
    return validate(record, path)


def write_record(out, record: dict) -> Path:
    """Validate ``record`` and write it atomically to ``out/metrics.json``."""
    from adc.runtime.checkpoint import atomic_write_text
    path = Path(out) / METRICS
    validate(record, path)
    atomic_write_text(path, json.dumps(record, indent=2, default=str) + "\n")
    return path


def result_config(cfg: dict) -> dict:
    """A config's keys that change the result (:data:`RESULT_NEUTRAL_KEYS` dropped)."""
    return {k: v for k, v in cfg.items() if k not in RESULT_NEUTRAL_KEYS}


def config_differences(a: dict, b: dict) -> dict:
    """``{key: (a's, b's)}`` over the result-changing keys where two configs differ (``None`` = unset)."""
    from adc.runtime.config import TrainConfig
    defaults = TrainConfig().to_dict()
    a, b = result_config({**defaults, **a}), result_config({**defaults, **b})
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def check_run_folder(folder, expected: dict | None = None) -> dict:
    """The record of a complete, consistent run folder, else :class:`RecordError` naming what is wrong.

    Complete: metrics.json (valid), history.csv and, when present or ``expected`` is given,
    run_config.json, whose result-changing keys equal the record's ``config`` (and ``expected``).
    """
    folder = Path(folder)
    record = read_record(folder / METRICS)
    if not (folder / HISTORY).is_file():
        raise RecordError(folder / HISTORY, None, "missing; the run folder is incomplete (rerun it)")
    run_cfg_path = folder / RUN_CONFIG
    if run_cfg_path.exists():
        try:
            run_cfg = json.loads(run_cfg_path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise RecordError(run_cfg_path, None, f"not valid JSON ({e}); rerun the run") from None
        if "config" in record and (diff := config_differences(run_cfg, record["config"])):
            raise RecordError(folder / METRICS, "config", f"differs from {RUN_CONFIG} in {diff} "
                                                          f"({RUN_CONFIG}, metrics.json): a stale run; rerun it")
        if expected is not None and (diff := config_differences(expected, run_cfg)):
            raise RecordError(run_cfg_path, None, f"differs from the config in {diff} (config, run): rerun it")
    elif expected is not None:
        raise RecordError(run_cfg_path, None, "missing; the run folder is incomplete (rerun it)")
    return record
