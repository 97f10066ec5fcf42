"""Analysis files -> :class:`~adc.report.analyses.common.Analysis` objects, and what Snakemake asks of them.

An analysis file holds ``base`` (keys shared by its analyses) and ``analyses: {name: {...}}``;
each name is a kind (:data:`~adc.report.analyses.kinds.KINDS`). An analysis's keys are those of
``config/default.yaml`` (checked by :func:`adc.pipeline.check_config`) plus ``vary`` and ``figure``.
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import json
from pathlib import Path

import yaml

from adc import pipeline
from adc.report.analyses.common import FILES, ROOT, Analysis, AnalysisError
from adc.report.analyses.kinds import KINDS


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def _with_defaults(cfg: dict, schema: dict) -> dict:
    """The schema's defaults filled in (top level and one level of objects), as snakemake.utils.validate does."""
    for k, node in schema.get("properties", {}).items():
        if k not in cfg and "default" in node:
            cfg[k] = copy.deepcopy(node["default"])
        if isinstance(cfg.get(k), dict):
            for kk, sub in node.get("properties", {}).items():
                if kk not in cfg[k] and isinstance(sub, dict) and "default" in sub:
                    cfg[k][kk] = copy.deepcopy(sub["default"])
    return cfg


def parse_analysis(name: str, spec: dict, base: dict, source: str, schema_path=pipeline.SCHEMA) -> Analysis:
    where = f"{source}: analyses.{name}"
    kind = KINDS.get(name)
    if kind is None:
        close = difflib.get_close_matches(name, KINDS, n=1)
        raise AnalysisError(f"{where}: unknown analysis {name!r}{f' (did you mean {close[0]!r}?)' if close else ''}; "
                            f"allowed: {', '.join(KINDS)}")
    if not isinstance(spec, dict):
        raise AnalysisError(f"{where}: expected a mapping of config keys, got {spec!r}")
    spec = dict(spec)
    vary, figure = spec.pop("vary", None), spec.pop("figure", None) or {}
    cfg = _merge(base, spec)
    if kind.train:
        cfg = _merge(cfg, {"train": kind.train})
    schema = yaml.safe_load(Path(schema_path).read_text())
    try:
        pipeline.check_config(cfg, schema_path)
    except pipeline.ConfigError as e:
        raise AnalysisError(f"{where}: {e}") from None
    cfg = _with_defaults(cfg, schema)
    if vary is not None:
        from adc.runtime.config import TrainConfig
        allowed = sorted(f.name for f in dataclasses.fields(TrainConfig) if f.name not in pipeline.PER_RUN_KEYS)
        if not (isinstance(vary, dict) and len(vary) == 1):
            raise AnalysisError(f"{where}.vary: expected one train key and its values, e.g. "
                                f"{{split_index: [1, 2, 3]}}; got {vary!r}")
        (key, values), = vary.items()
        if key not in allowed:
            raise AnalysisError(f"{where}.vary: {key!r} is not a train key; allowed: {', '.join(allowed)}")
        if not isinstance(values, list) or not values or len(set(map(str, values))) != len(values):
            raise AnalysisError(f"{where}.vary.{key}: expected a list of distinct values, got {values!r}")
        for v in values:            # every variant must be a valid TrainConfig
            try:
                TrainConfig.from_dict({**{k: x for k, x in cfg.get("train", {}).items()}, key: v})
            except (TypeError, ValueError) as e:
                raise AnalysisError(f"{where}.vary.{key}={v!r}: {e}") from None
        vary = (key, list(values))
    if kind.vary and (vary is None or vary[0] != kind.vary):
        raise AnalysisError(f"{where}: needs vary: {{{kind.vary}: [values]}}")
    a = Analysis(name, source, cfg, vary, dict(figure))
    if kind.check:
        kind.check(a, where)
    return a


def load_file(path: str | Path, root: str | Path = ROOT) -> dict[str, Analysis]:
    p = Path(path) if Path(path).is_absolute() else Path(root) / path
    if not p.exists():
        raise AnalysisError(f"{path}: analysis file not found")
    doc = yaml.safe_load(p.read_text()) or {}
    unknown = sorted(set(doc) - {"base", "analyses"})
    if unknown:
        raise AnalysisError(f"{path}: unknown top-level key(s) {unknown}; allowed: base, analyses")
    base = doc.get("base") or {}
    return {name: parse_analysis(name, spec, base, str(path)) for name, spec in (doc.get("analyses") or {}).items()}


def load(which: str = "default", root: str | Path = ROOT) -> dict[str, Analysis]:
    """Every analysis of the set ``which`` (``default``/``paper``), by name; a name in two files is an error."""
    if which not in FILES:
        raise AnalysisError(f"analyses: {which!r}; allowed: {', '.join(FILES)}")
    out: dict[str, Analysis] = {}
    for f in FILES[which]:
        for name, a in load_file(f, root).items():
            if name in out:
                raise AnalysisError(f"analysis {name!r} is defined in both {out[name].source} and {f}")
            out[name] = a
    return out


def targets(analyses: dict[str, Analysis], name: str) -> list[str]:
    """The files the Snakemake target ``name`` makes (none when the loaded files do not define it)."""
    if name not in analyses:
        return []
    return KINDS[name].targets(analyses[name])


def run_config(analyses: dict[str, Analysis], analysis: str, variant: str, dataset: str, model: str,
               method: str, setting: str, seed: int) -> dict:
    a = analyses[analysis]
    cfg = a.variants()[variant]
    return pipeline.run_config(cfg, dataset, model, method, setting, int(seed))


def run_config_json(analyses: dict[str, Analysis], wc) -> str:
    return json.dumps(run_config(analyses, wc.analysis, wc.variant, wc.dataset, wc.model, wc.method, wc.setting,
                                 int(wc.seed)), sort_keys=True)
