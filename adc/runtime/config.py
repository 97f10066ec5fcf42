"""The training configuration: one dataclass, overridden by flags or a dict.

Each field's help text lives here, once, in its metadata (or, for a field written with a trailing
``# comment``, in that comment): the command line (:mod:`adc.runtime.cli`) generates one flag per
field from it. ``batch_size``, ``lr`` and ``budget_epochs`` default to ``None``, "the dataset's
default": :func:`resolve_dataset_defaults` fills them from the dataset catalog
(``adc/data/datasets.yaml``) when the config is built, so a run, its checkpoint and its
``metrics.json`` always hold the values used. Unknown keys are rejected with the list of allowed ones.
"""
from __future__ import annotations

import dataclasses
import math
import typing
from pathlib import Path
from dataclasses import dataclass, field

#: where a run's client and server live
TRANSPORTS = ("inprocess", "distributed")


def _f(default, help: str, **flag):
    """A field with its help text (and optional flag settings: metavar, choices, flag name)."""
    return field(default=default, metadata={"help": help, **flag})


@dataclass
class TrainConfig:
    dataset: str = _f("digits", "dataset name (adc/data/datasets.yaml), or NAME:DIR for a local copy: "
                                "imagefolder:DIR, parquet:DIR, cifar100:DIR, ...")
    model: str = _f("vit_micro", "timm model name: vit_micro (embedded) or a timm ViT/DeiT, e.g. deit_tiny_patch16_224")
    method: str = _f("base", "compression method (its parameters: see 'methods' below)")
    params: dict = field(default_factory=dict, metadata={
        "help": "a method parameter, repeatable, e.g. --param xi=0.1 (VALUE is read as YAML)",
        "flag": "--param", "metavar": "NAME=VALUE"})
    seed: int = _f(0, "run seed (weights, batch order, the method's randomness)")
    split_index: int | None = _f(None, "client blocks before the cut (default: the model's: 1 for vit_micro, "
                                       "3 for DeiT)")
    batch_size: int | None = _f(None, "training batch size (default: the dataset's, see 'datasets' below)")
    lr: float | None = _f(None, "Adam learning rate (default: the dataset's)")
    weight_decay: float = _f(0.0, "Adam weight decay")
    budget_epochs: float | None = _f(None, "train until the bytes sent equal E uncompressed epochs "
                                           "(default: the dataset's; the paper's is 10)", metavar="E")
    epochs: int | None = _f(None, "train for E passes over the data instead of a byte budget", metavar="E")
    eval_batch_size: int = _f(512, "evaluation batch size")
    pretrained: bool = _f(False, "load timm's pretrained weights")
    weights: str | None = _f(None, "a local weights file (instead of downloading)", metavar="FILE")
    image_size: int | None = _f(None, "input side in pixels (default: the model's, else the dataset's native size)")
    num_workers: int = _f(0, "data-loader worker processes (real datasets)")
    device: str = _f("auto", "auto | cpu | cuda | cuda:N")
    amp: bool = _f(True, "bf16 autocast on CUDA (ignored on CPU)")
    deterministic: bool = _f(False, "deterministic torch algorithms (slower on CUDA)")
    threads: int | None = _f(None, "torch CPU threads (default: torch's)")
    progress: bool | None = _f(None, "progress bar (default: only on a terminal)")
    validation_fraction: float = _f(0.0, "evaluate on this held-out fraction of the training set instead of "
                                         "the test set (0 = the test set)")
    eval_compressed: bool = _f(False, "evaluate through the method's compression too (as the top-k / C3-SL "
                                      "authors do); default: uncompressed evaluation, as the ADC paper")
    save_model: bool = _f(False, "also write the trained weights to OUT/model.pt")
    out: str = _f("runs/latest", "output folder (metrics.json, history.csv, checkpoint.pt)", metavar="DIR")
    transport: str = _f("inprocess", "inprocess: one process; distributed: client and server in two processes "
                                     "over torch.distributed, started by this command or by "
                                     "torchrun --nproc-per-node 2", choices=TRANSPORTS)
    link: str | None = _f(None, "a network link model, e.g. up=10Mbit,down=50Mbit,latency=20ms or 'example': "
                                "reports link_seconds", metavar="SPEC")
    link_sleep: bool = _f(False, "distributed: really wait the link model's time per message")
    protocol: str = _f("measured", "what a step costs against the budget: 'measured' (every byte that crosses, both "
                               "ways, labels included) or 'paper' (the ADC authors' rule: nominal ratio x batch size "
                               "samples per step, stop once the total exceeds the budget)", choices=("measured", "paper"))
    budget_samples: float | dict | None = _f(None, "the budget in samples (one uncompressed sample up and its gradient "
                                                   "down = 1), or a mapping {dataset: samples}; None = budget_epochs x "
                                                   "train size, except under protocol 'paper' on a dataset with a known "
                                                   "authors' budget (cifar100: 500000, food101: 750000)", metavar="N")
    epoch_cap: int | None = _f(None, "stop after this many passes even if budget is left (the ADC authors' loop runs "
                                     "at most 999: `for epoch in range(1, 1000)`); None = no cap", metavar="E")
    drop_last: bool = _f(False, "drop each epoch's last partial batch (the ADC authors do)")
    channel: str = _f("clean", "clean, or awgn: white Gaussian noise on what crosses the cut, both ways, training "
                               "only (the ADC authors' noisy channel)", choices=("clean", "awgn"))
    channel_snr_db: float = _f(10.0, "awgn: SNR drawn uniformly in [-s, s] dB per message", metavar="S")

    def __post_init__(self):
        resolve_dataset_defaults(self)
        self.validate()

    def validate(self) -> None:
        if self.budget_epochs is not None and self.epochs is not None:
            raise ValueError("budget_epochs and epochs are both set; choose one stopping rule")
        if self.budget_epochs is not None and not self.budget_epochs > 0:
            raise ValueError(f"budget_epochs: {self.budget_epochs} must be > 0 (uncompressed epochs of communication)")
        if self.epochs is not None and self.epochs < 1:
            raise ValueError(f"epochs: {self.epochs} must be >= 1")
        for name in ("batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: {getattr(self, name)} must be >= 1")
        if not self.lr > 0:
            raise ValueError(f"lr: {self.lr} must be > 0")
        if not 0 <= self.validation_fraction < 1:
            raise ValueError(f"validation_fraction: {self.validation_fraction} must be in [0, 1) (0 = use the test set)")
        if self.num_workers < 0:
            raise ValueError(f"num_workers: {self.num_workers} must be >= 0")
        if self.transport not in TRANSPORTS:
            raise ValueError(f"transport: {self.transport!r}; allowed: {list(TRANSPORTS)}")
        if self.link is not None:
            from adc.runtime.link import LinkModel
            LinkModel.parse(self.link)
        if self.link_sleep and (self.link is None or self.transport != "distributed"):
            raise ValueError("link_sleep: needs a link and transport: distributed")
        if self.epoch_cap is not None and self.epoch_cap < 1:
            raise ValueError(f"epoch_cap: {self.epoch_cap} must be >= 1, or null for no cap")
        from adc.core.accounting import PROTOCOLS
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol: {self.protocol!r}; allowed: {list(PROTOCOLS)}")
        if self.budget_samples is not None:
            if self.epochs is not None:
                raise ValueError("budget_samples and epochs are both set; choose one stopping rule")
            values = self.budget_samples.values() if isinstance(self.budget_samples, dict) else [self.budget_samples]
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in values):
                raise ValueError(f"budget_samples: {self.budget_samples!r} must be a number > 0 or a mapping "
                                 "{dataset: number > 0}, e.g. {cifar100: 500000}")
        if self.channel not in ("clean", "awgn"):
            raise ValueError(f"channel: {self.channel!r}; allowed: ['clean', 'awgn']")
        if not self.channel_snr_db >= 0:
            raise ValueError(f"channel_snr_db: {self.channel_snr_db} must be >= 0 (SNR uniform in [-s, s] dB)")
        if not isinstance(self.params, dict):
            raise ValueError(f"params: expected a mapping of method parameters, got {self.params!r}")

    @property
    def stopping(self) -> tuple[str, float]:
        """("epochs", E) or ("budget", E uncompressed epochs of communication)."""
        if self.epochs is not None:
            return "epochs", float(self.epochs)
        return "budget", float(self.budget_epochs) if self.budget_epochs is not None else math.nan

    def resolved_budget_samples(self, num_train: int) -> float | None:
        """The budget in samples for this run's dataset, or None when stopping by epochs.

        ``budget_samples`` (a number, or the entry for this dataset), else under ``paper`` the authors'
        budget for the dataset (``accounting.PAPER_BUDGET_SAMPLES``), else ``budget_epochs`` x ``num_train``."""
        from adc.core.accounting import PAPER_BUDGET_SAMPLES
        rule, amount = self.stopping
        if rule == "epochs":
            return None
        name = self.dataset.split(":")[0]
        b = self.budget_samples
        if isinstance(b, dict) and name in b:
            return float(b[name])
        if b is not None and not isinstance(b, dict):
            return float(b)
        if self.protocol == "paper" and self.budget_epochs is None and name in PAPER_BUDGET_SAMPLES:
            return float(PAPER_BUDGET_SAMPLES[name])
        return amount * num_train

    @classmethod
    def from_dict(cls, d: dict, source: str = "config") -> "TrainConfig":
        """A config from a mapping; values are coerced to the field's type where unambiguous
        (:func:`coerce_value`), else refused in one line naming ``source``, the key and the type."""
        if not isinstance(d, dict):
            raise ValueError(f"{source}: expected a mapping of options (key: value), got a {type(d).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"{source}: unknown key(s) {unknown}; allowed: {sorted(names)}")
        hints = typing.get_type_hints(cls)
        return cls(**{k: coerce_value(v, hints[k], k, source) for k, v in d.items()})

    @classmethod
    def from_file(cls, path) -> "TrainConfig":
        """A config from a YAML or JSON file (``--config FILE``)."""
        return cls.from_dict(read_config_file(path), source=str(path))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# ----- reading a config file ----------------------------------------------------------------------
def read_config_file(path) -> dict:
    """The mapping in a YAML/JSON config file; malformed YAML is named by file and line."""
    import yaml
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ValueError(f"{path}: cannot read the config file ({e.strerror or e})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = getattr(e, "problem", None) or str(e).splitlines()[0]
        ctx, cmark = getattr(e, "context", None), getattr(e, "context_mark", None)
        if ctx and cmark is not None:
            what += f", {ctx} started at line {cmark.line + 1}"
        raise ValueError(f"{path}:{where}: malformed YAML ({what})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of options (key: value, e.g. 'lr: 0.001'), "
                         f"got a YAML {type(data).__name__}")
    return data


def _type_name(tp) -> str:
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    base = args[0] if args else tp
    name = {int: "an integer", float: "a number", bool: "true or false", str: "a string",
            dict: "a mapping"}.get(base, str(base))
    return name + (" or null" if type(None) in typing.get_args(tp) else "")


def coerce_value(value, tp, key: str, source: str = "config"):
    """``value`` as the field type ``tp`` where that is unambiguous, else one-line ValueError.

    ``"1e-3"`` (YAML reads it as a string) -> 0.001 for a float; ``"0"`` -> 0 and ``2.0`` -> 2 for an
    integer; ``"true"`` -> True for a bool. ``1.5`` for an integer, ``"fast"`` for a number and
    ``1`` for a bool are refused.
    """
    args = typing.get_args(tp)
    if value is None:
        if type(None) in args:
            return None
        raise ValueError(f"{source}: {key}: null is not allowed; expected {_type_name(tp)}")
    if isinstance(value, dict) and _allows_mapping(tp):      # e.g. budget_samples: {cifar100: 500000}
        return value
    base = next((a for a in args if a is not type(None)), tp) if args else tp
    base = typing.get_origin(base) or base
    bad = ValueError(f"{source}: {key}: {value!r} is not {_type_name(tp)}")
    if base is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise bad
    if base in (int, float):
        if isinstance(value, bool):
            raise bad
        if isinstance(value, str):
            try:
                value = float(value.strip()) if base is float or any(c in value for c in ".eE") \
                    else int(value.strip())
            except ValueError:
                raise bad from None
        if not isinstance(value, (int, float)):
            raise bad
        if base is int:
            if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
                raise ValueError(f"{source}: {key}: {value!r} is not an integer (whole numbers only)")
            return int(value)
        return float(value)
    if base is str:
        if isinstance(value, (dict, list)):
            raise bad
        return value if isinstance(value, str) else str(value)
    if base is dict and not isinstance(value, dict):
        raise bad
    return value


def _allows_mapping(tp) -> bool:
    return any((typing.get_origin(a) or a) is dict for a in typing.get_args(tp))


def resolve_dataset_defaults(cfg: TrainConfig) -> None:
    """Fill ``batch_size``, ``lr`` and ``budget_epochs`` left at ``None`` with the dataset's training
    defaults (:func:`adc.data.catalog.training_defaults`); the budget only when ``epochs`` is not the
    stopping rule. The one place where "the dataset's default" is decided."""
    missing = [k for k in ("batch_size", "lr") if getattr(cfg, k) is None]
    paper_budget = cfg.protocol == "paper" and cfg.budget_samples is None     # the authors' budget applies?
    if paper_budget:
        from adc.core.accounting import PAPER_BUDGET_SAMPLES
        paper_budget = cfg.dataset.split(":")[0] in PAPER_BUDGET_SAMPLES
    if cfg.budget_epochs is None and cfg.epochs is None and not paper_budget:
        missing.append("budget_epochs")
    if not missing:
        return
    from adc.data.catalog import training_defaults
    defaults = training_defaults(cfg.dataset)
    for k in missing:
        setattr(cfg, k, defaults[k])
