"""The training configuration: one dataclass, plain defaults, overridden by flags or a dict.

Unknown keys are rejected with the list of allowed ones (the nanoGPT way, with names)."""
from __future__ import annotations

import dataclasses
import math
import typing
from pathlib import Path
from dataclasses import dataclass, field


@dataclass
class TrainConfig:
    dataset: str = "digits"
    model: str = "vit_micro"
    method: str = "base"
    params: dict = field(default_factory=dict)     # method parameters, e.g. {"xi": 0.1}
    seed: int = 0
    split_index: int | None = None                 # client blocks; None = the model's default (3 for DeiT)
    batch_size: int = 128
    lr: float = 1e-4
    weight_decay: float = 0.0
    budget_epochs: float | None = None             # stop when bytes sent reach E uncompressed epochs
    epochs: int | None = None                      # or stop after E passes over the data
    eval_batch_size: int = 512
    pretrained: bool = False
    weights: str | None = None                     # a local weights file instead of a download
    image_size: int | None = None                  # None = the model's / dataset's native size
    num_workers: int = 0                           # data-loader workers (real datasets)
    device: str = "auto"                           # auto | cpu | cuda | cuda:N
    amp: bool = True                               # bf16 autocast on CUDA (ignored on CPU)
    deterministic: bool = False
    threads: int | None = None                     # torch CPU threads; None = torch's default
    progress: bool | None = None                   # progress bar; None = only on a terminal
    validation_fraction: float = 0.0               # > 0: evaluate on this held-out part of train, not test
    eval_compressed: bool = False                  # evaluate through the method's compression (default: uncompressed)
    save_model: bool = False                       # also write the trained weights to out/model.pt
    out: str = "runs/latest"
    transport: str = "inprocess"                   # inprocess | distributed (client and server in two processes)
    link: str | None = None                        # a link model, e.g. "up=10Mbit,down=50Mbit,latency=20ms" or "example"
    link_sleep: bool = False                       # distributed: really wait the link model's time per message
    protocol: str = field(default="measured", metadata={"help": (
        "what a step costs against the budget: 'measured' (every byte that crosses, both ways, labels "
        "included) or 'paper' (the ADC authors' rule: nominal ratio x batch size samples per step, "
        "stop once the total exceeds the budget)")})
    budget_samples: float | dict | None = field(default=None, metadata={"help": (
        "the budget in samples (one uncompressed sample up and its gradient down = 1), or a mapping "
        "{dataset: samples}; None = budget_epochs x train size, except under protocol 'paper' on a "
        "dataset with a known authors' budget (cifar100: 500000, food101: 750000)")})
    epoch_cap: int | None = field(default=None, metadata={"help": (
        "stop after this many passes even if budget is left (the ADC authors' loop runs at most 999: "
        "`for epoch in range(1, 1000)`, which cuts CIFAR-100 runs at xi = 0.01 short); None = no cap")})
    drop_last: bool = field(default=False, metadata={"help": "drop each epoch's last partial batch (the ADC authors do)"})

    DEFAULT_BUDGET_EPOCHS = 10.0                   # the paper's budget when neither rule is given

    def __post_init__(self):
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
        if self.transport not in ("inprocess", "distributed"):
            raise ValueError(f"transport: {self.transport!r}; allowed: ['inprocess', 'distributed']")
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
        if not isinstance(self.params, dict):
            raise ValueError(f"params: expected a mapping of method parameters, got {self.params!r}")

    @property
    def stopping(self) -> tuple[str, float]:
        if self.epochs is not None:
            return "epochs", float(self.epochs)
        return "budget", float(self.budget_epochs if self.budget_epochs is not None else self.DEFAULT_BUDGET_EPOCHS)

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
