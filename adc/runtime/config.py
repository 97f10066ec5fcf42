"""The training configuration: one dataclass, plain defaults, overridden by flags or a dict.

Unknown keys are rejected with the list of allowed ones (the nanoGPT way, with names)."""
from __future__ import annotations

import dataclasses
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
    channel: str = "clean"                         # clean | awgn: white Gaussian noise on what crosses (training)
    channel_snr_db: float = 10.0                   # awgn: SNR drawn uniformly in [-s, s] dB per message

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
        if self.channel not in ("clean", "awgn"):
            raise ValueError(f"channel: {self.channel!r}; allowed: ['clean', 'awgn']")
        if not self.channel_snr_db >= 0:
            raise ValueError(f"channel_snr_db: {self.channel_snr_db} must be >= 0 (SNR uniform in [-s, s] dB)")
        if not isinstance(self.params, dict):
            raise ValueError(f"params: expected a mapping of method parameters, got {self.params!r}")

    @property
    def stopping(self) -> tuple[str, float]:
        if self.epochs is not None:
            return "epochs", float(self.epochs)
        return "budget", float(self.budget_epochs if self.budget_epochs is not None else self.DEFAULT_BUDGET_EPOCHS)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"config: unknown key(s) {unknown}; allowed: {sorted(names)}")
        return cls(**d)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
