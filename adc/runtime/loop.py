"""One split-learning training run, read top to bottom (:class:`SplitRun`).

Read top to bottom: build (data, split model, method, optimizers), then steps until the
stopping rule (a communication budget in uncompressed epochs, or a number of epochs), an
uncompressed test evaluation after each epoch, and ``metrics.json`` + ``history.csv`` at the end.

One training step crosses the cut twice, explicitly, through :func:`adc.core.step.train_step`
(the one step function shared with the two-process runtime, the FLOP counter, the benchmarks and
the tests). The command line is :mod:`adc.runtime.cli` (``python -m adc.train``).

A checkpoint is written atomically after every epoch and on SIGTERM/SIGINT; rerunning the same
command resumes from it, and the result equals an uninterrupted run. ``metrics.json`` appears
only when the run is complete.
"""
from __future__ import annotations

import contextlib
import csv
import itertools
import json
import math
import os
import platform
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from adc.core import step
from adc.core import accounting
from adc.core.accounting import CommMeter, uncompressed_step_bytes
from adc.core.carrier import InProcessCarrier
from adc.core.channel import make_channel
from adc.core.methods import CutShape, create_method
from adc.core.models import create_model, default_split_index
from adc.core.split import SplitViT
from adc.data import carve_validation, eval_batches, load_dataset, train_batches
from adc.runtime.checkpoint import CHECKPOINT, _atomic, atomic_torch_save, check_writable, load_checkpoint
from adc.runtime.config import TrainConfig
from adc.runtime.errors import Interrupted, NonFiniteError
from adc.runtime.link import LinkModel
from adc.runtime.record import RESULT_NEUTRAL_KEYS, config_differences, write_record

#: seconds of training between two epoch-end checkpoints (the first epoch's end always saves)
CHECKPOINT_EVERY_S = 15.0

# ----------------------------------------------------------------------------------------------
def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: {name!r} asked for, but CUDA is not available here; use device: cpu or auto")
    return dev


def set_determinism(cfg: TrainConfig) -> None:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def versions() -> dict:
    import timm
    import torchvision
    return {"python": platform.python_version(), "torch": torch.__version__, "timm": timm.__version__,
            "torchvision": torchvision.__version__, "numpy": np.__version__, "adc_bench": __import__("adc").__version__}


def numpy_rng_state() -> list:
    """NumPy's global RNG state as plain values and a tensor (a checkpoint holds no NumPy objects)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)]


def set_numpy_rng_state(state) -> None:
    name, keys, pos, has_gauss, cached = state
    np.random.set_state((name, np.asarray(keys, dtype=np.int64).astype(np.uint32), pos, has_gauss, cached))


# ----------------------------------------------------------------------------------------------
class SplitRun:
    """Everything one training run holds: model halves, method, optimizers, counters, RNGs."""

    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        set_determinism(cfg)
        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed)
        random.seed(cfg.seed)

        self.data = self.load_data()
        if cfg.batch_size > self.data.num_train:
            print(f"adc.train: warning: batch_size {cfg.batch_size} is larger than the {self.data.num_train} "
                  f"training samples of {cfg.dataset!r}: every step is one full batch of {self.data.num_train}; "
                  f"lower batch_size for minibatch training", file=sys.stderr)
        vit = create_model(cfg.model, self.data.num_classes, in_chans=self.data.in_chans,
                           img_size=self.data.img_size, pretrained=cfg.pretrained and not cfg.weights,
                           **({"weights": cfg.weights} if cfg.weights else {}))
        split_index = cfg.split_index if cfg.split_index is not None else default_split_index(cfg.model)
        self.model = SplitViT(vit, split_index).to(self.device)
        self.shape = CutShape(cfg.batch_size, self.model.num_tokens, self.model.embed_dim, self.data.num_classes,
                              self.model.num_prefix_tokens)
        self.generator = torch.Generator(device=self.device).manual_seed(cfg.seed)
        self.method = create_method(cfg.method, self.shape, generator=self.generator, **cfg.params)
        self.carrier = InProcessCarrier()
        self.channel = make_channel(cfg.channel, cfg.channel_snr_db, self.generator)   # noise on what crosses
        self.meter = CommMeter()
        self.link_model = LinkModel.parse(cfg.link) if cfg.link else None   # modelled network time per message
        self.link_seconds = 0.0

        client_params = list(self.model.client.parameters())
        server_params = list(self.model.server.parameters())
        if (m := self.method.client_module()) is not None:
            client_params += list(m.to(self.device).parameters())
        if (m := self.method.server_module()) is not None:
            server_params += list(m.to(self.device).parameters())
        # foreach: one multi-tensor update instead of a Python loop over parameters (torch only picks it
        # on CUDA by default). Bit-identical results on a CPU; a vit_micro step is 18% faster.
        adam = dict(lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)
        self.client_opt = torch.optim.Adam(client_params, **adam)
        self.server_opt = torch.optim.Adam(server_params, **adam)

        self._last_save: float | None = None          # perf_counter of this process's last checkpoint
        self.steps_per_epoch = accounting.steps_per_epoch(self.data.num_train, cfg.batch_size, cfg.drop_last)
        if self.steps_per_epoch < 1:
            raise ValueError(f"drop_last: batch_size {cfg.batch_size} is larger than the {self.data.num_train} "
                             "training samples, so no batch is left; lower batch_size or set drop_last: false")
        rule, amount = cfg.stopping
        self.rule = rule
        self.max_epochs = int(amount) if rule == "epochs" else None
        # the budget, in both units: samples (what `paper` charges: nominal ratio x batch size per step)
        # and bytes (what `measured` charges: every byte that crosses, both ways); one uncompressed
        # sample up and its gradient down is one sample = uncompressed_epoch_bytes / num_train bytes
        self.protocol = cfg.protocol
        self.xi_nominal = float(self.method.nominal_xi())
        self.budget_samples = cfg.resolved_budget_samples(self.data.num_train)
        if rule != "budget":
            self.budget_bytes = None
        elif cfg.budget_samples is None and not (cfg.protocol == "paper" and cfg.budget_epochs is None):
            self.budget_bytes = amount * self.uncompressed_epoch_bytes()
        else:
            self.budget_bytes = self.budget_samples / self.data.num_train * self.uncompressed_epoch_bytes()
        self.paper_used = 0.0               # sample-equivalents charged under `paper` (counted under both)

        # progress through the run (all of it is checkpointed)
        self.epoch = 0
        self.batch_in_epoch = 0
        self.history: list[dict] = []
        self.loss_sum = torch.zeros((), device=self.device)
        self.loss_count = 0
        self.first_bad_step = torch.full((), -1, dtype=torch.long, device=self.device)
        self.wall_before = 0.0

    def load_data(self):
        data = load_dataset(self.cfg.dataset, **self._dataset_kwargs())
        if self.cfg.validation_fraction > 0:
            data = carve_validation(data, self.cfg.validation_fraction, self.cfg.seed)
        return data

    def _dataset_kwargs(self) -> dict:
        kw = {}
        if self.cfg.dataset != "digits":
            kw.update(model=self.cfg.model, image_size=self.cfg.image_size, seed=self.cfg.seed,
                      num_workers=self.cfg.num_workers, pin_memory=self.device.type == "cuda")
        return kw

    def uncompressed_epoch_bytes(self) -> int:
        n, b = self.data.num_train, self.cfg.batch_size
        sizes = [b] * (n // b) + ([n % b] if n % b else [])
        return sum(sum(uncompressed_step_bytes(s, self.shape.num_tokens, self.shape.dim, self.shape.num_classes)[:2])
                   for s in sizes)

    def autocast(self):
        if self.device.type == "cuda" and self.cfg.amp:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # ----- one step, across the cut ------------------------------------------------------------
    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        s = step.train_step(self.model.client, self.method, x, y, self.cross, client_opt=self.client_opt,
                            autocast=self.autocast)
        self.record_step(x.shape[0], s.up, s.down, s.loss)
        return s.loss

    def cross(self, up):
        """Up-message across the carrier, the server's step, the gradient message back (+ the loss)."""
        down, loss = self.server_step(self.channel.up(self.carrier.up(up)))
        return self.channel.down(self.carrier.down(down)), loss

    def server_step(self, up):
        return step.server_step(self.method, step.model_loss(self.model.server, self.method), up,
                                optimizer=self.server_opt, autocast=self.autocast)

    def record_step(self, batch_size: int, up, down, loss: torch.Tensor) -> None:
        self.meter.add(up, down, batch_size, self.shape.num_tokens, self.shape.dim, self.shape.num_classes)
        self.paper_used += accounting.paper_step_charge(self.xi_nominal, batch_size)
        if self.link_model is not None:
            self.link_seconds += self.link_model.step_seconds(up.nbytes, down.nbytes)
        finite = torch.isfinite(loss)
        for t in down.tensors.values():
            if t.is_floating_point():
                finite = finite & torch.isfinite(t).all()
        # remember the first bad step without a host synchronisation
        # (a Python scalar, not torch.tensor(..., device): a host-to-device copy would synchronise on CUDA)
        self.first_bad_step = torch.where((self.first_bad_step < 0) & ~finite, self.meter.steps, self.first_bad_step)
        self.loss_sum += loss.float() * batch_size
        self.loss_count += batch_size

    def check_finite(self) -> None:
        bad = int(self.first_bad_step)
        if bad >= 0:
            raise NonFiniteError(f"non-finite loss or gradient at step {bad} (method {self.cfg.method!r}, "
                                 f"params {self.cfg.params}); lower the lr or check the method's parameters")

    # ----- evaluation: both conventions ---------------------------------------------------------
    @property
    def final_eval(self) -> str:
        """Which evaluation ``final_test_accuracy`` is: "compressed" with ``eval_compressed`` (through the
        method's message) or for a learned bottleneck (``compress_at_eval``), else "uncompressed"."""
        return "compressed" if (self.cfg.eval_compressed or self.method.compress_at_eval) else "uncompressed"

    @property
    def compressed_eval_applies(self) -> bool:
        return self.method.compress_at_eval or not self.method.merges_batch

    def evaluate(self) -> float:
        """Test accuracy under the run's own convention (:attr:`final_eval`)."""
        if self.cfg.eval_compressed and not self.compressed_eval_applies:
            raise ValueError(f"eval_compressed: method {self.cfg.method!r} merges the batch, so it cannot be "
                             "evaluated compressed; set eval_compressed: false")
        accs = self.evaluate_both()
        return accs[self.final_eval]

    @torch.no_grad()
    def evaluate_both(self) -> dict:
        """Test accuracy uncompressed (the ADC paper's convention: the server sees the client's
        activations; a learned bottleneck stays in) and through the method's own compression (the
        convention of top-k, C3-SL, quantization; None where the method merges the batch).

        The compressed pass draws from neither the method's generator nor torch's global RNG as far
        as training can see: their states are restored, so training is the same with or without it."""
        self.model.eval()
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        correct_c = torch.zeros((), device=self.device, dtype=torch.long)
        total = 0
        m = self.method
        roundtrip = self.compressed_eval_applies and not m.compress_at_eval
        with self._rng_kept(roundtrip):
            for x, y in eval_batches(self.data.test, self.cfg.eval_batch_size, self.device):
                with self.autocast():
                    # the attention capture is a side computation: acts are the same with or without it
                    acts, attn = self.model.client(x, with_attention=roundtrip)
                    logits = self.model.server(m.eval_transform(acts))
                    correct += (logits.argmax(-1) == y).sum()
                    if roundtrip:
                        logits_c = self.model.server(m.eval_roundtrip(acts, attn, y))
                        correct_c += (logits_c.argmax(-1) == y).sum()
                total += len(y)
        self.model.train()
        plain = correct.item() / max(total, 1)
        if m.compress_at_eval:
            compressed = plain                   # the bottleneck is the model: one evaluation, through it
        elif roundtrip:
            compressed = correct_c.item() / max(total, 1)
        else:
            compressed = None
        return {"uncompressed": plain, "compressed": compressed}

    @contextlib.contextmanager
    def _rng_kept(self, active: bool):
        if not active:
            yield
            return
        state = self.generator.get_state()
        devices = [self.device] if self.device.type == "cuda" else []
        try:
            with torch.random.fork_rng(devices=devices):
                yield
        finally:
            self.generator.set_state(state)

    # ----- the budget ------------------------------------------------------------------------------
    def budget_used(self) -> dict:
        """The fraction of the budget used under each protocol (None when stopping by epochs)."""
        if self.rule != "budget":
            return {"paper": None, "measured": None}
        return {"paper": self.paper_used / self.budget_samples, "measured": self.meter.bytes_total / self.budget_bytes}

    def done(self) -> bool:
        if self.rule == "epochs":
            return self.epoch >= self.max_epochs
        if self.cfg.epoch_cap is not None and self.epoch >= self.cfg.epoch_cap:
            return True
        if self.protocol == "paper":
            return accounting.budget_reached("paper", self.paper_used, self.budget_samples)
        return accounting.budget_reached("measured", self.meter.bytes_total, self.budget_bytes)

    # ----- checkpoints ----------------------------------------------------------------------
    def weights_state(self) -> dict:
        mods = {k: m.state_dict() for k, m in (("client_module", self.method.client_module()),
                                                ("server_module", self.method.server_module())) if m is not None}
        return {"model": self.model.state_dict(), "method_modules": mods}

    def load_weights(self, s: dict) -> None:
        self.model.load_state_dict(s["model"])
        for k, m in (("client_module", self.method.client_module()), ("server_module", self.method.server_module())):
            if m is not None:
                m.load_state_dict(s["method_modules"][k])

    def state_dict(self) -> dict:
        return {
            "config": self.cfg.to_dict(), **self.weights_state(),
            "client_opt": self.client_opt.state_dict(), "server_opt": self.server_opt.state_dict(),
            "meter": self.meter.state_dict(), "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
            "history": self.history, "loss_sum": self.loss_sum.cpu(), "loss_count": self.loss_count,
            "first_bad_step": self.first_bad_step.cpu(), "wall_seconds": self.wall_before + self.elapsed(),
            "link_seconds": self.link_seconds, "paper_used": self.paper_used,
            "rng": {"torch": torch.get_rng_state(), "numpy": numpy_rng_state(), "python": random.getstate(),
                    "method": self.generator.get_state(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None},
        }

    def check_checkpoint_config(self, saved: dict, log=print) -> None:
        """Refuse a checkpoint whose result-changing keys differ; name the other differences and go on."""
        now = self.cfg.to_dict()
        if diff := config_differences(saved, now):
            raise ValueError(f"checkpoint: {self.checkpoint_path} was written by a different config {diff} "
                             f"(checkpoint, now); delete it or use another --out")
        if neutral := sorted(k for k in RESULT_NEUTRAL_KEYS if saved.get(k) != now.get(k)):
            log(f"note: resuming {self.checkpoint_path} written with other {', '.join(neutral)} "
                f"(these do not change the result)")

    def load_state_dict(self, s: dict, log=print) -> None:
        self.check_checkpoint_config(s["config"], log)
        self.load_weights(s)
        self.client_opt.load_state_dict(s["client_opt"])
        self.server_opt.load_state_dict(s["server_opt"])
        self.meter.load_state_dict(s["meter"])
        self.epoch, self.batch_in_epoch, self.history = s["epoch"], s["batch_in_epoch"], s["history"]
        self.loss_sum, self.loss_count = s["loss_sum"].to(self.device), s["loss_count"]
        self.first_bad_step = s["first_bad_step"].to(self.device)
        self.wall_before = s["wall_seconds"]
        self.link_seconds = s.get("link_seconds", 0.0)
        self.paper_used = s.get("paper_used", 0.0)
        rng = s["rng"]
        torch.set_rng_state(rng["torch"])
        set_numpy_rng_state(rng["numpy"])
        random.setstate(rng["python"])
        self.generator.set_state(rng["method"])
        if rng.get("cuda") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])

    @property
    def checkpoint_path(self) -> Path:
        return Path(self.cfg.out) / CHECKPOINT

    def save_checkpoint(self) -> None:
        atomic_torch_save(self.state_dict(), self.checkpoint_path)
        self._last_save = time.perf_counter()

    def checkpoint_due(self) -> bool:
        """At an epoch's end: the first one of this process, then one every ``CHECKPOINT_EVERY_S``
        seconds (a signal always saves; a SIGKILL loses at most that much training, replayed exactly
        on resume). Saving after every epoch cost 3% of a short run's time."""
        return self._last_save is None or time.perf_counter() - self._last_save >= CHECKPOINT_EVERY_S

    def elapsed(self) -> float:
        return time.perf_counter() - self._t0 if hasattr(self, "_t0") else 0.0

    # ----- the loop -----------------------------------------------------------------------------
    def run(self, log=print) -> dict:
        out = Path(self.cfg.out)
        check_writable(out)                      # before any training: a read-only folder fails now
        if self.checkpoint_path.exists():
            self.load_state_dict(load_checkpoint(self.checkpoint_path, map_location=self.device), log=log)
            log(f"resumed from {self.checkpoint_path}: epoch {self.epoch}, batch {self.batch_in_epoch}, "
                f"step {self.meter.steps}")
        self._t0 = time.perf_counter()
        stop = {"signal": None}

        def on_signal(signum, frame):
            stop["signal"] = signum

        old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        bar = self._progress_bar()
        try:
            self.model.train()
            while not self.done():
                # islice: with drop_last the epoch ends before the last, partial batch
                for x, y in itertools.islice(train_batches(self.data.train, self.cfg.batch_size, self.cfg.seed,
                                                           self.epoch, self.batch_in_epoch, self.device),
                                             self.steps_per_epoch - self.batch_in_epoch):
                    self.train_step(x, y)
                    self.batch_in_epoch += 1
                    bar.update(1)
                    if stop["signal"] is not None:
                        self.save_checkpoint()
                        raise Interrupted(f"stopped by signal {stop['signal']} at step {self.meter.steps}; "
                                          f"checkpoint saved to {self.checkpoint_path}, rerun to resume")
                    if self.done():
                        break
                self.check_finite()
                if self.batch_in_epoch >= self.steps_per_epoch:
                    self.epoch, self.batch_in_epoch = self.epoch + 1, 0
                self.end_epoch(log, bar)
                if not self.done() and self.checkpoint_due():
                    self.save_checkpoint()
        finally:
            bar.close()
            for s, h in old.items():
                signal.signal(s, h)
        try:
            if self.cfg.save_model:
                atomic_torch_save({"config": self.cfg.to_dict(), **self.weights_state()}, out / "model.pt")
            metrics = self.write_results(out)
        except BaseException:            # e.g. a full disk: keep the finished training for the rerun
            with contextlib.suppress(Exception):
                self.save_checkpoint()
            raise
        self.checkpoint_path.unlink(missing_ok=True)
        return metrics

    def end_epoch(self, log, bar) -> None:
        accs = self.evaluate_both()
        acc = accs[self.final_eval]
        loss = (self.loss_sum / max(self.loss_count, 1)).item()
        self.loss_sum.zero_()
        self.loss_count = 0
        partial = self.batch_in_epoch / self.steps_per_epoch
        row = {"epoch": self.epoch + partial, "step": self.meter.steps, "train_loss": loss, "test_accuracy": acc,
               "bytes_up": self.meter.bytes_up, "bytes_down": self.meter.bytes_down,
               "bytes_total": self.meter.bytes_total, "xi_measured": self.meter.xi_measured,
               "wall_seconds": self.wall_before + self.elapsed()}
        if self.link_model is not None:
            row["link_seconds"] = self.link_seconds
        used = self.budget_used()
        row.update(test_accuracy_uncompressed=accs["uncompressed"], test_accuracy_compressed=accs["compressed"],
                   budget_used_paper=used["paper"], budget_used_measured=used["measured"])
        self.history.append(row)
        bar.set_postfix(acc=f"{acc:.3f}", loss=f"{loss:.3f}")
        if not bar.enabled:
            budget = (f" | comm {used[self.protocol]:6.1%} of budget ({self.protocol})"
                      if self.budget_bytes else "")
            log(f"epoch {row['epoch']:7.2f} | step {row['step']:6d} | loss {loss:.4f} | test acc {acc:.4f}{budget}")

    def _progress_bar(self):
        from tqdm.auto import tqdm
        enabled = self.cfg.progress if self.cfg.progress is not None else sys.stderr.isatty()
        total = None
        if self.rule == "epochs":
            total = self.max_epochs * self.steps_per_epoch
        elif self.protocol == "paper" and self.xi_nominal > 0:
            total = math.floor(self.budget_samples / accounting.paper_step_charge(self.xi_nominal, self.cfg.batch_size)) + 1
        elif self.method.expected_xi() > 0:
            total = math.ceil(self.budget_bytes / max(self.expected_step_bytes(), 1))
        bar = tqdm(total=total, initial=self.meter.steps, disable=not enabled, unit="step",
                   desc=f"{self.cfg.method} {self.cfg.params or ''}".strip(), dynamic_ncols=True)
        bar.enabled = enabled
        return bar

    def expected_step_bytes(self) -> float:
        up, down, act = uncompressed_step_bytes(self.cfg.batch_size, self.shape.num_tokens, self.shape.dim,
                                                self.shape.num_classes)
        return (up + down) * self.method.expected_xi()

    def write_results(self, out: Path) -> dict:
        accs = [h["test_accuracy"] for h in self.history]
        comm = self.meter.summary()
        metrics = {
            "final_test_accuracy": accs[-1] if accs else float("nan"),
            "best_test_accuracy": max(accs) if accs else float("nan"),
            "final_train_loss": self.history[-1]["train_loss"] if self.history else float("nan"),
            **{k: comm[k] for k in ("bytes_up", "bytes_down", "bytes_total", "bytes_uncompressed", "payload_up",
                                    "payload_down", "xi_measured", "xi_up", "xi_down", "xi_bytes", "steps")},
            "xi_expected": self.method.expected_xi(),
            **self.protocol_metrics(),
            "epochs": self.history[-1]["epoch"] if self.history else 0.0,
            "budget_bytes": self.budget_bytes,
            "wall_seconds": self.wall_before + self.elapsed(),
            "method": self.cfg.method, "params": self.cfg.params, "method_details": self.method.describe(),
            "shape": {"batch_size": self.shape.batch_size, "num_tokens": self.shape.num_tokens,
                      "dim": self.shape.dim, "num_classes": self.shape.num_classes,
                      "split_index": self.model.split_index},
            "device": str(self.device), "config": self.cfg.to_dict(), "versions": versions(),
            "git_commit": git_commit(),
            **self.extra_metrics(),
        }
        if self.history:
            with _atomic(out / "history.csv") as tmp, open(tmp, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=list(self.history[0]))
                w.writeheader()
                w.writerows(self.history)
        write_record(out, json.loads(json.dumps(metrics, default=str)))   # checked against adc.runtime.record
        return metrics

    def protocol_metrics(self) -> dict:
        """Additive fields of metrics.json: the protocol, both xi, the budget used under each protocol, and
        both evaluations (``final_test_accuracy`` is the one ``final_eval`` names)."""
        used = self.budget_used()
        last = self.history[-1] if self.history else {}
        unc = [h["test_accuracy_uncompressed"] for h in self.history if "test_accuracy_uncompressed" in h]
        comp = [h["test_accuracy_compressed"] for h in self.history if h.get("test_accuracy_compressed") is not None]
        return {
            "protocol": self.protocol, "xi_nominal": self.xi_nominal,
            "budget_samples": self.budget_samples, "budget_used_paper": used["paper"],
            "budget_used_measured": used["measured"], "paper_samples_charged": self.paper_used,
            "drop_last": self.cfg.drop_last, "final_eval": self.final_eval,
            "authors_eval": self.method.authors_eval, "merges_batch": self.method.merges_batch,
            "test_accuracy_uncompressed": last.get("test_accuracy_uncompressed"),
            "test_accuracy_compressed": last.get("test_accuracy_compressed"),
            "best_test_accuracy_uncompressed": max(unc) if unc else None,
            "best_test_accuracy_compressed": max(comp) if comp else None,
        }

    def extra_metrics(self) -> dict:
        """Additive fields of metrics.json: the channel; the link model's time, when a link is set."""
        out = {"channel": self.channel.describe()}
        if self.link_model is None:
            return out
        return {**out, "link": self.cfg.link, "link_model": self.link_model.describe(), "link_seconds": self.link_seconds}


def load_trained(out_dir: str | Path, device: str = "cpu") -> SplitRun:
    """The run saved in ``out_dir/model.pt`` (``save_model: true``), rebuilt with its weights, for analysis."""
    path = Path(out_dir) / "model.pt"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; train with save_model: true (--save-model) to keep the weights")
    s = load_checkpoint(path, map_location=device)
    cfg = TrainConfig.from_dict({**s["config"], "device": device, "out": str(out_dir)})
    run = SplitRun(cfg)
    run.load_weights(s)
    run.model.eval()
    return run
