"""What the Snakemake workflow needs from the library: config checks, the run grid, GPU slots.

The workflow (``Snakefile``, ``workflow/rules/``) stays declarative; everything it computes is
here, as plain functions that tests call directly:

- :func:`check_config` types the values ``--config`` passes as strings, checks a config against
  ``workflow/schemas/config.schema.yaml`` and against the registries (methods, datasets, models,
  method parameters) and raises one :class:`ConfigError` that lists every problem as
  ``field: bad value ...; allowed: ...``;
- :func:`expand_runs` turns a checked config into the runs: datasets x models x methods x
  settings x seeds, where the methods and their settings come from the registry
  (:func:`adc.methods.registry`), never from a list in the workflow;
- :func:`run_config` is the per-run training config the ``train`` rule hands to ``adc.train``;
- :func:`runtime_minutes` is each job's Slurm wall-time: a margin over the run's projection in
  ``results/grid_estimate.json`` where the config names it (``resources.runtime_estimate``);
- ``python -m adc.pipeline gpu-slot -- CMD`` runs CMD on a GPU no other training job holds
  (local runs; under Slurm the allocation already chose one).
"""
from __future__ import annotations

import dataclasses
import difflib
import itertools
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
RUNS_DIR = "results/runs"
#: TrainConfig keys the workflow sets itself (not from the config's ``train:``)
#: characters a dataset, model, method or setting may use in a run folder's path (no shell syntax);
#: the same pattern constrains the workflow's wildcards (workflow/rules/common.smk)
SAFE_NAME = re.compile(r"[A-Za-z0-9_.=,+\-]+")
PER_RUN_KEYS = ("dataset", "model", "method", "params", "seed", "out", "threads", "progress")


class ConfigError(ValueError):
    """A config that cannot run; the message lists every problem, one a line."""


# ----- checks ----------------------------------------------------------------------------------
def _loc(path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "config"


def _suggest(word: str, allowed) -> str:
    close = difflib.get_close_matches(str(word), [str(a) for a in allowed], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _describe(schema: dict, path) -> str | None:
    """The description of the deepest schema node on ``path`` that has one."""
    node, desc = schema, schema.get("description")
    for p in path:
        if isinstance(p, int):
            node = node.get("items", node)
        elif p in node.get("properties", {}):
            node = node["properties"][p]
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        else:
            break
        desc = node.get("description", desc)
    return " ".join(desc.split()) if desc else None


def _typed(value: str, types: list[str]):
    """A string from ``--config`` parsed as the YAML scalar the schema expects, else unchanged."""
    try:
        v = yaml.safe_load(value)
    except yaml.YAMLError:
        return value
    if isinstance(v, str) and "number" in types:      # YAML 1.1 reads 1e-3 as a string
        try:
            v = float(v)
        except ValueError:
            pass
    ok = (("integer" in types and isinstance(v, int) and not isinstance(v, bool))
          or ("number" in types and isinstance(v, (int, float)) and not isinstance(v, bool))
          or ("boolean" in types and isinstance(v, bool)) or ("null" in types and v is None))
    return v if ok else value


def coerce_cli_values(config: dict, schema: dict | None = None) -> dict:
    """Undo what ``--config`` does to values, in place, guided by the schema.

    Snakemake parses ``--config seeds=[0]`` with YAML's BaseLoader, so list items and nested
    values arrive as strings (``['0']``); they are parsed as the YAML scalars the schema asks for
    (and a scalar where a list is expected becomes a one-item list: ``seeds=1`` -> ``[1]``).
    """
    schema = schema if schema is not None else yaml.safe_load(SCHEMA.read_text())

    def walk(value, node):
        if not isinstance(node, dict):
            return value
        types = node.get("type", [])
        types = [types] if isinstance(types, str) else list(types)
        if types == ["array"] and not isinstance(value, (list, dict)) and value is not None:
            value = [value]
        if isinstance(value, dict):
            for k in list(value):
                sub = node.get("properties", {}).get(k, node.get("additionalProperties"))
                value[k] = walk(value[k], sub)
        elif isinstance(value, list):
            return [walk(v, node.get("items")) for v in value]
        elif isinstance(value, str) and set(types) & {"integer", "number", "boolean", "null"}:
            return _typed(value, types)
        return value

    return walk(config, schema)


def _schema_messages(config: dict, schema: dict) -> list[str]:
    from jsonschema import Draft202012Validator

    msgs = []
    for err in sorted(Draft202012Validator(schema).iter_errors(config), key=lambda e: list(map(str, e.absolute_path))):
        path = list(err.absolute_path)
        where, value = _loc(path), err.instance
        desc = _describe(schema, path)
        if err.validator == "additionalProperties" and err.schema.get("additionalProperties") is False:
            allowed = sorted(err.schema.get("properties", {}))
            for key in sorted(set(value) - set(allowed)):
                msgs.append(f"{_loc(path + [key])}: unknown key {key!r}{_suggest(key, allowed)}; "
                            f"allowed keys{' in ' + where if path else ''}: {', '.join(allowed)}")
        elif err.validator == "enum":
            msgs.append(f"{where}: {value!r} is not allowed{_suggest(value, err.validator_value)}; "
                        f"allowed: {', '.join(map(str, err.validator_value))}")
        elif err.validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            msgs.append(f"{where}: {value!r} is out of range ({err.message}); expected {desc}")
        else:
            msgs.append(f"{where}: {value!r} is invalid ({err.message}); expected {desc}")
    return msgs


def _registry_messages(config: dict, check_train: bool = True) -> list[str]:
    from adc.runtime.config import TrainConfig
    from adc.data.registry import available_datasets
    from adc.core.methods import registry
    from adc.core.models import available_models

    msgs = []
    reg = registry()
    methods = config.get("methods", "all")
    if isinstance(methods, list):
        for m in methods:
            if m not in reg:
                msgs.append(f"methods: unknown method {m!r}{_suggest(m, reg)}; registered methods: {', '.join(sorted(reg))}")
    datasets = available_datasets()
    seen = {}
    for d in config.get("datasets", []):
        name = dataset_name(d)
        if name not in datasets:
            msgs.append(f"datasets: unknown dataset {name!r}{_suggest(name, datasets)}; available: "
                        f"{', '.join(datasets)} (or NAME:DIR for a local copy)")
        elif name in seen:
            msgs.append(f"datasets: {seen[name]!r} and {d!r} would share the run folder {name!r}; keep one")
        seen.setdefault(name, d)
    models = available_models()
    for m in config.get("models", []):
        if not valid_model_name(m, models):
            msgs.append(f"models: unknown model {m!r}{_suggest(m, models)}; allowed: vit_micro or a timm ViT/DeiT "
                        f"name such as deit_tiny_patch16_224, deit_small_patch16_224 ({len(models)} in all: "
                        f"python -c 'import adc.models as m; print(m.available_models())')")
    train = dict(config.get("train") or {})
    allowed = sorted(f.name for f in dataclasses.fields(TrainConfig) if f.name not in PER_RUN_KEYS)
    for k in sorted(train):
        if k not in allowed:
            hint = " (set by the workflow for each run)" if k in PER_RUN_KEYS else _suggest(k, allowed)
            msgs.append(f"train.{k}: unknown key {k!r}{hint}; allowed keys in train: {', '.join(allowed)}")
            train.pop(k)
    if train.get("pretrained") and "vit_micro" in config.get("models", []):
        msgs.append("train.pretrained: true, but model 'vit_micro' has no pretrained weights; "
                    "allowed with vit_micro: false")
    try:
        if check_train:
            TrainConfig.from_dict(train)
    except (TypeError, ValueError) as e:
        hint = (" (set train.budget_epochs: null to stop by epochs; a --configfile extends config/default.yaml)"
                if "both set" in str(e) else "")
        msgs.append(f"train: {e}{hint}")
    flagged = set()
    selected = sorted(reg) if methods == "all" or not isinstance(methods, list) else [m for m in methods if m in reg]
    for m, grid in (config.get("settings") or {}).items():
        if m not in reg:
            msgs.append(f"settings.{m}: unknown method {m!r}{_suggest(m, reg)}; registered methods: {', '.join(sorted(reg))}")
            continue
        if m not in selected:
            msgs.append(f"settings.{m}: method {m!r} is not in methods ({', '.join(selected)}); add it or drop the override")
        cls = reg[m]
        fields = sorted(f.name for f in dataclasses.fields(cls.Params)) if cls.Params else []
        for p in grid if isinstance(grid, dict) else []:
            if p not in fields:
                flagged.add(m)
                msgs.append(f"settings.{m}.{p}: unknown parameter {p!r}{_suggest(p, fields)}; parameters of {m!r}: "
                            f"{', '.join(fields) or '(none)'}")
    for m in (m for m in selected if m not in flagged):   # every setting the runs use must parse (types, ranges)
        try:
            settings = method_settings(config, m).values()
        except Exception:   # a bad grid or override, reported above
            continue
        for params in settings:
            if not SAFE_NAME.fullmatch(label := setting_label_of(params)):
                msgs.append(f"settings.{m}: setting {label!r} has characters a run folder may not use; "
                            f"allowed: letters, digits and _ . = , + -")
                continue
            try:
                reg[m].parse_params(dict(params))
            except (TypeError, ValueError) as e:
                src = f"settings.{m}" if m in (config.get("settings") or {}) else f"{m} ({config.get('grid', 'demo')} grid)"
                msgs.append(f"{src}: {e}")
    return msgs


def check_config_file(path) -> int:
    """``python -m adc.pipeline check-config FILE``: a workflow config file checked as Snakemake would
    (extending config/default.yaml), malformed YAML named by file and line. Snakemake itself reads
    ``--configfile`` before any of this project's code runs and names neither."""
    from adc.runtime.config import read_config_file
    try:
        cfg = read_config_file(path)
        base = yaml.safe_load((ROOT / "config" / "default.yaml").read_text())
        for k, v in cfg.items():
            base[k] = {**base[k], **v} if isinstance(v, dict) and isinstance(base.get(k), dict) else v
        check_config(base)
    except (ValueError, ConfigError) as e:
        print(f"{e}", file=sys.stderr)
        return 2
    print(f"{path}: valid ({len(expand_runs(base))} runs)")
    return 0


def valid_model_name(name, models=None) -> bool:
    """Exactly a model name (:func:`adc.core.models.is_model_name`) in the characters a run folder
    may use: ``vit_micro.bogus`` or anything with shell syntax is not."""
    from adc.core.models import available_models, is_model_name
    if not isinstance(name, str) or not SAFE_NAME.fullmatch(name):
        return False
    return is_model_name(name, models if models is not None else available_models())


def check_config(config: dict, schema_path: str | Path = SCHEMA) -> None:
    """Raise :class:`ConfigError` listing every problem of ``config`` (the schema, then the registries)."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    coerce_cli_values(config, schema)
    msgs = _schema_messages(config, schema)
    try:
        msgs += _registry_messages(config, check_train=not any(m.startswith("train") for m in msgs))
    except Exception:       # a malformed config (already reported by the schema) can trip the registry checks
        if not msgs:
            raise
    if msgs:
        raise ConfigError("invalid config (nothing was run):\n  " + "\n  ".join(msgs))


# ----- the grid ----------------------------------------------------------------------------------
def dataset_name(spec: str) -> str:
    """``cifar100:/data/c100`` -> ``cifar100`` (the run folder); ``digits`` -> ``digits``."""
    return str(spec).split(":", 1)[0]


@dataclass
class Run:
    dataset: str
    model: str
    method: str
    setting: str
    seed: int
    params: dict = field(default_factory=dict)

    @property
    def dir(self) -> str:
        return f"{RUNS_DIR}/{self.dataset}/{self.model}/{self.method}/{self.setting}/seed{self.seed}"


def selected_methods(config: dict) -> list[str]:
    """The config's methods: every registered one for ``all`` (base first), else the list as given."""
    from adc.core.methods import registry
    methods = config.get("methods", "all")
    if methods == "all":
        return sorted(registry(), key=lambda m: (m != "base", m))
    return list(methods)


def method_settings(config: dict, method: str, dataset: str | None = None, model: str | None = None) -> dict[str, dict]:
    """{setting label: params} of one method: the config's override, else its settings at the config's
    ``xi`` levels (comparisons at equal xi, on the cut geometry of ``dataset`` and ``model``), else its
    demo/paper grid."""
    from adc.core.methods import get_method, setting_label
    override = (config.get("settings") or {}).get(method)
    cls = get_method(method)
    if override:
        keys = list(override)
        settings = [dict(zip(keys, vals)) for vals in itertools.product(*(override[k] for k in keys))]
    elif config.get("xi"):
        return {label: params for label, (params, _) in xi_settings(config, method, dataset, model).items()}
    else:
        settings = cls.settings(config.get("grid", "demo"))
    return {setting_label(p): p for p in settings}


def xi_settings(config: dict, method: str, dataset: str | None = None, model: str | None = None
                ) -> dict[str, tuple[dict, list[float]]]:
    """{setting label: (params, the xi levels it stands for)} for a config with ``xi: [levels]``.

    Each method with a compression knob runs the setting nearest each level on the cut geometry
    (:meth:`adc.core.methods.Method.setting_for_xi`); two levels that give the same setting share
    one run. A method without a knob (``base``) runs once, at xi = 1, standing for every level."""
    from adc.core.methods import get_method, setting_label
    cls = get_method(method)
    levels = sorted(float(x) for x in config.get("xi") or [])
    if cls.xi_knob is None:
        return {"default": ({}, levels)}
    shape = cut_shape(config, dataset or config["datasets"][0], model or config["models"][0])
    out: dict[str, tuple[dict, list[float]]] = {}
    for level in levels:
        params = cls.setting_for_xi(level, shape)
        label = setting_label(params)
        out.setdefault(label, (params, []))[1].append(level)
    return out


_SHAPES: dict = {}


def cut_shape(config: dict, dataset: str, model: str):
    """The cut geometry (B, N, D, classes) of ``model`` on ``dataset`` at the config's batch size,
    from the model built on the meta device (no weights, no data)."""
    from adc.core.methods import CutShape
    train = config.get("train") or {}
    name = dataset_name(dataset)
    batch = int(train.get("batch_size") or 128)
    key = (name, model, batch, train.get("image_size"), train.get("split_index"))
    if key not in _SHAPES:
        import torch
        from adc.core.models import create_model
        if name == "digits":
            in_chans, img, classes = 1, 8, 10
        else:
            from adc.data.hub_datasets import SPECS
            in_chans, img = 3, train.get("image_size") or 224
            classes = SPECS[name].num_classes if name in SPECS else 2
        with torch.device("meta"):
            vit = create_model(model, classes, in_chans=in_chans, img_size=img)
        tokens = vit.patch_embed.num_patches + vit.num_prefix_tokens
        _SHAPES[key] = CutShape(batch, tokens, vit.embed_dim, classes, vit.num_prefix_tokens)
    return _SHAPES[key]


def xi_level_of_runs(config: dict) -> dict[str, float]:
    """{run folder: the xi level it stands for} (the smallest, where one setting stands for several;
    every level for ``base``: it is reported at each); empty without ``xi`` levels."""
    if not config.get("xi"):
        return {}
    out = {}
    for r in expand_runs(config):
        levels = xi_settings(config, r.method, r.dataset, r.model)[r.setting][1]
        out[r.dir] = min(levels)
    return out


def expand_runs(config: dict) -> list[Run]:
    """Every run of a checked config, in a stable order."""
    runs = []
    for d in config["datasets"]:
        for mo in config["models"]:
            for m in selected_methods(config):
                for label, params in method_settings(config, m, d, mo).items():
                    for s in config["seeds"]:
                        runs.append(Run(dataset_name(d), mo, m, label, int(s), dict(params)))
    return runs


def run_config(config: dict, dataset: str, model: str, method: str, setting: str, seed: int) -> dict:
    """The TrainConfig of one run (``out`` and ``threads`` are given by the rule)."""
    from adc.core.methods import get_method, parse_setting_label
    params = method_settings(config, method, dataset, model).get(setting)
    if params is None:      # a target outside the grid, e.g. .../adc/xi=0.07/seed0/metrics.json
        params = parse_setting_label(setting)
        get_method(method).parse_params(dict(params))
    train = {k: v for k, v in (config.get("train") or {}).items() if k not in PER_RUN_KEYS}
    dataset = next((d for d in config["datasets"] if dataset_name(d) == dataset), dataset)   # NAME:DIR
    return {"dataset": dataset, "model": model, "method": method, "params": dict(params), "seed": int(seed), **train}


def run_config_json(config: dict, wildcards) -> str:
    return json.dumps(run_config(config, wildcards.dataset, wildcards.model, wildcards.method, wildcards.setting,
                                 int(wildcards.seed)), sort_keys=True)


def setting_label_of(params: dict) -> str:
    from adc.core.methods import setting_label
    return setting_label(params)


# ----- one training job: its config file, then the trainer, dying with the job --------------------
def die_with_parent(sig: int = signal.SIGTERM, poll_s: float = 1.0) -> None:
    """Send ``sig`` to this process when its parent (Snakemake, or the job's shell) dies.

    Linux: ``prctl(PR_SET_PDEATHSIG)``; everywhere: a watcher thread that notices the parent's pid
    change. SIGTERM makes adc.train save its checkpoint and exit, so a SIGKILLed Snakemake leaves
    no trainer behind and a rerun resumes.
    """
    import threading
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        import ctypes
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, int(sig), 0, 0, 0)     # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if parent == 1 or os.getppid() != parent:
        os.kill(os.getpid(), sig)

    def watch():
        while os.getppid() == parent:
            time.sleep(poll_s)
        os.kill(os.getpid(), sig)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def train_job(config_path: str, run_config_text: str, threads: int) -> int:
    """The train rule's job, in this process: write run_config.json (atomically), then train.

    The trainer *is* the job process (the rule execs it; no shell wrapper stays behind) and dies
    with its parent. The run folder is ``config_path``'s folder.
    """
    from adc.runtime import cli
    from adc.runtime.checkpoint import atomic_write_text
    die_with_parent()
    cfg = json.loads(run_config_text)
    out = Path(config_path).parent
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(Path(config_path), json.dumps(cfg, sort_keys=True) + "\n")
    return cli.main(["--config", str(config_path), "--threads", str(int(threads)), "--out", str(out)])


# ----- stale runs and summaries --------------------------------------------------------------------
STALE_NOTE = "STALE.txt"


def stale_runs(config: dict, runs: list[Run]) -> dict[str, str]:
    """{run folder: why} for runs whose metrics.json exists but is invalid, or whose files disagree
    with each other or with the config (a missing file is Snakemake's to see)."""
    from adc.runtime.record import RecordError, check_run_folder
    out = {}
    for r in runs:
        if not Path(r.dir, "metrics.json").exists():
            continue
        try:
            check_run_folder(r.dir, expected=run_config(config, r.dataset, r.model, r.method, r.setting, r.seed))
        except RecordError as e:
            out[r.dir] = str(e)
        except FileNotFoundError:
            pass
    return out


def warn_stale_runs(config: dict, runs: list[Run]) -> dict[str, str]:
    """Name every stale run folder, one line each, with the fix.

    Snakemake reruns a run whose files are missing (rule all asks for them) or whose config
    changed (the run config is a param); a folder edited or corrupted by hand is named here, and
    the aggregate leaves it out as a failed run, until it is removed and rerun."""
    stale = stale_runs(config, runs)
    for d, why in stale.items():
        print(f"adc.pipeline: stale run {why}\n  to redo it: rm -r '{d}' (or --forcerun '{d}/metrics.json')",
              file=sys.stderr)
    return stale


def mark_summaries_stale(results_dir: str | Path, log: str | None = None) -> None:
    """After a failed Snakemake run: say, beside the summaries, that they may predate it.

    The aggregate rule removes the note when it writes fresh summaries."""
    results = Path(results_dir)
    if not (results / "summary.csv").exists():
        return
    (results / STALE_NOTE).write_text(
        "The last snakemake run failed (see " + (str(log) if log else ".snakemake/log/") + "): summary.csv, "
        "summary_mean.csv, histories.csv, tables/ and paper_figs/ may not reflect every run in results/runs/.\n"
        "Fix the failed job(s) (their train.log), then rerun snakemake; this note goes away when the "
        "summaries are rebuilt.\n")
    print(f"adc.pipeline: the summaries in {results}/ may be out of date: see {results / STALE_NOTE}", file=sys.stderr)


# ----- each job's wall-time limit (Slurm) ---------------------------------------------------------
_ESTIMATES: dict = {}


def projected_hours(path: str | Path) -> dict[tuple[str, str, str, str], float]:
    """{(dataset, model, method, setting): projected GPU-hours} of one run, from a grid estimate's ``runs``
    (``benchmarks/grid_estimate.py`` writes results/grid_estimate.json); none (and a warning) if the file is
    missing, a :class:`ConfigError` if it cannot be read."""
    path = Path(path)
    if not path.is_absolute():
        path = ROOT / path
    key = str(path)
    if key not in _ESTIMATES and not path.exists():
        print(f"adc.pipeline: warning: resources.runtime_estimate: {key} does not exist; every job gets "
              f"resources.runtime (regenerate it with `python benchmarks/grid_estimate.py`)", file=sys.stderr)
        _ESTIMATES[key] = {}
    if key not in _ESTIMATES:
        try:
            runs = json.loads(path.read_text())["runs"]
        except (OSError, ValueError, KeyError) as e:
            raise ConfigError(f"resources.runtime_estimate: cannot read the per-run projections of {str(path)!r} "
                              f"({type(e).__name__}: {e}); regenerate it with `python benchmarks/grid_estimate.py` "
                              f"or set resources.runtime_estimate: null") from None
        _ESTIMATES[key] = {(r["dataset"], r["model"], r["method"], r["setting"]): float(r["gpu_hours_projected"])
                           for r in runs}
    return _ESTIMATES[key]


def runtime_minutes(config: dict, dataset: str, model: str, method: str, setting: str, attempt: int = 1) -> int:
    """The wall-time limit of one training job in minutes: ``resources.runtime``, or, with
    ``resources.runtime_estimate``, ``runtime_margin`` x the run's projected time where that is longer;
    times the attempt (a retry resumes from the checkpoint with more time)."""
    res = config.get("resources") or {}
    minutes = float(res.get("runtime", 30))
    if res.get("runtime_estimate"):
        hours = projected_hours(res["runtime_estimate"]).get((dataset, model, method, setting))
        if hours is not None:
            minutes = max(minutes, float(res.get("runtime_margin", 2.0)) * hours * 60)
    return int(math.ceil(minutes * max(1, int(attempt))))


# ----- one training job per GPU (local runs) -----------------------------------------------------
def _gpu_ids() -> list[str]:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g.strip() for g in visible.split(",") if g.strip()]
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, _ in enumerate(l for l in out.splitlines() if l.startswith("GPU "))]


def gpu_slot(cmd: list[str], poll_s: float = 5.0) -> None:
    """Exec ``cmd`` with CUDA_VISIBLE_DEVICES set to a GPU that no other job of this user holds.

    Each GPU has a lock file; the lock is taken before the exec and held by the training process
    until it exits. Snakemake's ``--resources gpu=N`` bounds how many jobs start; this picks which
    GPU each one gets (Snakemake itself does not hand out GPU ids). Under Slurm (SLURM_JOB_ID set)
    or without GPUs, ``cmd`` runs as it is.
    """
    import fcntl
    ids = [] if os.environ.get("SLURM_JOB_ID") else _gpu_ids()
    if not ids:
        os.execvp(cmd[0], cmd)
    lockdir = Path(tempfile.gettempdir()) / f"adc-bench-gpu-locks-{os.getuid()}"
    lockdir.mkdir(parents=True, exist_ok=True)
    waited = False
    while True:
        for gid in ids:
            fd = os.open(lockdir / f"gpu{gid}.lock", os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            os.set_inheritable(fd, True)          # the lock lives as long as the training process
            print(f"adc.pipeline: training on GPU {gid}", file=sys.stderr, flush=True)
            os.execvpe(cmd[0], cmd, {**os.environ, "CUDA_VISIBLE_DEVICES": gid})
        if not waited:
            print(f"adc.pipeline: all GPUs {ids} busy; waiting (use --resources gpu=N to queue in Snakemake)",
                  file=sys.stderr, flush=True)
            waited = True
        time.sleep(poll_s)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["gpu-slot"] and "--" in argv and argv[-1] != "--":
        gpu_slot(argv[argv.index("--") + 1:])          # does not return
    if argv[:1] == ["check-config"] and len(argv) == 2:
        return check_config_file(argv[1])
    if argv[:1] == ["train-job"] and len(argv) == 4:
        return train_job(argv[1], argv[2], int(argv[3]))
    print("usage: python -m adc.pipeline gpu-slot -- CMD [ARGS...]\n"
          "       python -m adc.pipeline check-config CONFIG.yaml\n"
          "       python -m adc.pipeline train-job RUN_CONFIG_JSON_PATH RUN_CONFIG_JSON THREADS", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
