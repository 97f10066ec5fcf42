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
        if not isinstance(self.params, dict):
            raise ValueError(f"params: expected a mapping of method parameters, got {self.params!r}")

    @property
    def stopping(self) -> tuple[str, float]:
        """("epochs", E) or ("budget", E uncompressed epochs of communication)."""
        if self.epochs is not None:
            return "epochs", float(self.epochs)
        return "budget", float(self.budget_epochs)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"config: unknown key(s) {unknown}; allowed: {sorted(names)}")
        return cls(**d)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def resolve_dataset_defaults(cfg: TrainConfig) -> None:
    """Fill ``batch_size``, ``lr`` and ``budget_epochs`` left at ``None`` with the dataset's training
    defaults (:func:`adc.data.catalog.training_defaults`); the budget only when ``epochs`` is not the
    stopping rule. The one place where "the dataset's default" is decided."""
    missing = [k for k in ("batch_size", "lr") if getattr(cfg, k) is None]
    if cfg.budget_epochs is None and cfg.epochs is None:
        missing.append("budget_epochs")
    if not missing:
        return
    from adc.data.catalog import training_defaults
    defaults = training_defaults(cfg.dataset)
    for k in missing:
        setattr(cfg, k, defaults[k])
