"""Split learning in two processes: ``python -m adc.train ... --transport distributed``.

The client process (rank 0) owns the data, the client blocks, the method's client module and
the client optimizer; the server process (rank 1) owns the server blocks, the head, the method's
server module and the server optimizer. Both build the same :class:`~adc.runtime.loop.SplitRun` from
the same seed (checked by a hash of the server half at the handshake), then each empties the
other half. The method object exists on both sides with the same generator seed; only the
side that calls a random draw advances its generator (ADC's k-means: the client).

The step is :meth:`SplitRun.train_step` unchanged; only :meth:`~SplitRun.cross` differs: the
up-message goes out as a frame (:class:`~adc.runtime.wire.Wire`), the server runs
:meth:`SplitRun.server_step` on what it received, and the gradient message comes back with the
loss in its header. Evaluation sends the client activations of each test batch and gets the
predictions back; checkpoints fetch the server's half (and resuming sends it back), so a
distributed checkpoint is a complete, ordinary checkpoint.

Bytes: the bodies of the ``step``/``down`` frames are the messages' tensors, so they equal
``bytes_up``/``bytes_down``; metrics.json's ``wire`` block reports them as counted on both ends,
with the protocol overhead (preamble + header) and the control traffic (handshake, evaluation,
checkpoints) apart.

Launch: this command spawns the server process itself (gloo on 127.0.0.1, port picked by the
OS), or ``torchrun --nproc-per-node 2 -m adc.train ... --transport distributed`` (rank 0 client,
rank 1 server). NCCL is used when both ranks have a GPU of their own (two or more GPUs);
otherwise gloo, with CUDA tensors staged through host memory.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import time
from datetime import timedelta

import torch
import torch.distributed as dist

from adc.runtime.config import TrainConfig
from adc.data.registry import DataBundle, eval_batches
from adc.core.messages import Message
from adc.runtime.loop import SplitRun, resolve_device
from adc.runtime.wire import Wire, WireStats, blob_message, blob_object

CLIENT, SERVER = 0, 1
TIMEOUT = timedelta(minutes=30)


# ----------------------------------------------------------------------------------------------
def choose_backend(device: torch.device) -> str:
    if device.type == "cuda" and torch.cuda.device_count() >= 2 and dist.is_nccl_available():
        return "nccl"
    return "gloo"


def half_hash(module: torch.nn.Module, extra: torch.nn.Module | None = None) -> str:
    """A hash of a module's parameters and buffers (names, dtypes, shapes, bytes)."""
    h = hashlib.sha256()
    for mod in (module, extra):
        if mod is None:
            continue
        for k, t in mod.state_dict().items():
            t = t.detach().cpu().contiguous()
            h.update(f"{k}:{t.dtype}:{tuple(t.shape)}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def empty_half(module: torch.nn.Module) -> None:
    """Free a half this process does not own: any use of it fails loudly instead of silently training it."""
    for t in list(module.parameters()) + list(module.buffers()):
        t.data = t.data.new_empty(0)


class HeldByPeer:
    """Stands in for an optimizer that lives in the other process."""

    def __init__(self, what: str):
        self.what = what

    def state_dict(self):
        return None

    def load_state_dict(self, state) -> None:  # the peer loads its own (see ClientRun.load_state_dict)
        pass

    def zero_grad(self, set_to_none: bool = True) -> None:
        raise RuntimeError(f"{self.what} is held by the other process")

    step = zero_grad


def _prefixed(state: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


# ----------------------------------------------------------------------------------------------
class ClientRun(SplitRun):
    """The client process: a :class:`SplitRun` whose server lives at the other end of a :class:`Wire`."""

    def __init__(self, cfg: TrainConfig, wire: Wire, backend: str = "gloo"):
        super().__init__(cfg)
        self.wire, self.backend = wire, backend
        self.wire_before = WireStats()        # counts of earlier segments of a resumed run
        self.server_wire_before = WireStats()
        self._server_cache: tuple[int, dict] | None = None
        d = self.data
        info = {"name": d.name, "num_classes": d.num_classes, "in_chans": d.in_chans, "img_size": d.img_size,
                "class_names": list(d.class_names), "num_train": len(d.train), "num_test": len(d.test)}
        self.wire.send("hello", config=cfg.to_dict(), data=info)
        _, fields = self.wire.expect("hello")
        mine = half_hash(self.model.server, self.method.server_module())
        if fields["server_hash"] != mine:
            raise RuntimeError("distributed: the server built a different server half from the same config and "
                               "seed (does loading the dataset draw from torch's global RNG?)")
        empty_half(self.model.server)
        if (m := self.method.server_module()) is not None:
            empty_half(m)
        self.server_opt = HeldByPeer("the server optimizer")

    # ----- the cut ------------------------------------------------------------------------------
    def cross(self, up: Message):
        if self.cfg.link_sleep:
            time.sleep(self.link_model.up_seconds(up.nbytes))
        self.wire.send("step", self.channel.up(up))      # the channel's noise, drawn here as in-process
        down, fields = self.wire.expect("down")
        down = self.channel.down(down)
        if self.cfg.link_sleep:
            time.sleep(self.link_model.down_seconds(down.nbytes))
        return down, torch.tensor(fields["loss"], dtype=torch.float32, device=self.device)

    @torch.no_grad()
    def evaluate(self) -> float:
        if self.method.compress_at_eval and (m := self.method.client_module()) is not None:
            # the server applies the method's eval transform: give it the client module's current weights
            self.wire.send("sync", Message(dict(m.state_dict())))
        self.model.eval()
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        total = 0
        for x, y in eval_batches(self.data.test, self.cfg.eval_batch_size, self.device):
            with self.autocast():
                acts, _ = self.model.client(x, with_attention=False)
            self.wire.send("eval", Message({"acts": acts}))
            pred = self.wire.expect("pred")[0]["pred"]
            correct += (pred == y).sum()
            total += len(y)
        self.model.train()
        return correct.item() / max(total, 1)

    def evaluate_both(self) -> dict:
        """Uncompressed only over the wire (a learned bottleneck stays in, so that one is also compressed)."""
        acc = self.evaluate()
        return {"uncompressed": acc, "compressed": acc if self.method.compress_at_eval else None}

    # ----- the server's half of the state ---------------------------------------------------------
    def server_state(self) -> dict:
        """The server's model half, module, optimizer, RNG and wire counts (fetched once per step count)."""
        if self._server_cache is None or self._server_cache[0] != self.meter.steps:
            self.wire.send("state")
            msg, _ = self.wire.expect("state")
            self._server_cache = (self.meter.steps, blob_object(msg, map_location=self.device))
        return self._server_cache[1]

    def weights_state(self) -> dict:
        w = super().weights_state()
        srv = self.server_state()
        w["model"] = {**{k: v for k, v in w["model"].items() if not k.startswith("server.")}, **srv["model"]}
        if srv["server_module"] is not None:
            w["method_modules"]["server_module"] = srv["server_module"]
        return w

    def load_weights(self, s: dict) -> None:
        self.model.client.load_state_dict(_prefixed(s["model"], "client."))
        if (m := self.method.client_module()) is not None:
            m.load_state_dict(s["method_modules"]["client_module"])

    def state_dict(self) -> dict:
        s = super().state_dict()
        srv = self.server_state()
        s["server_opt"] = srv["server_opt"]
        s["rng"]["server"] = srv["rng"]
        s["wire"] = {"client": self.wire_totals().to_dict(), "server": srv["wire"]}
        return s

    def load_state_dict(self, s: dict, log=print) -> None:
        super().load_state_dict(s, log=log)
        server = {"model": {k: v for k, v in s["model"].items() if k.startswith("server.")}, "server_opt": s["server_opt"],
                  "server_module": s["method_modules"].get("server_module"), "rng": s["rng"].get("server"),
                  "wire": s.get("wire", {}).get("server")}
        self.wire.send("load", blob_message(server))
        self.wire.expect("ok")
        if "wire" in s:
            self.wire_before = WireStats(**s["wire"]["client"])
        self._server_cache = None

    def wire_totals(self) -> WireStats:
        return WireStats().merge(self.wire_before).merge(self.wire.stats)

    def extra_metrics(self) -> dict:
        m = super().extra_metrics()
        self.wire.send("stats")
        _, fields = self.wire.expect("stats")
        client, server = self.wire_totals(), WireStats(**fields["wire"])
        step_up, step_down = ("sent:step", "recv:step"), ("sent:down", "recv:down")
        control = [k for k in client.body if k.split(":")[1] not in ("step", "down")]
        m["wire"] = {
            "backend": self.backend,
            "bytes_up_sent": client.body.get(step_up[0], 0), "bytes_up_received": server.body.get(step_up[1], 0),
            "bytes_down_sent": server.body.get(step_down[0], 0),
            "bytes_down_received": client.body.get(step_down[1], 0),
            "overhead_up": client.overhead.get(step_up[0], 0), "overhead_down": server.overhead.get(step_down[0], 0),
            "step_frames": client.frames.get(step_up[0], 0),
            "control_bytes": sum(client.body[k] + client.overhead[k] for k in control),
            "client": client.to_dict(), "server": server.to_dict(),
        }
        return m


# ----------------------------------------------------------------------------------------------
class ServerRun(SplitRun):
    """The server process: answers frames until the client says ``stop``."""

    def __init__(self, cfg: TrainConfig, wire: Wire, data_info: dict):
        self.wire, self._data_info = wire, data_info
        super().__init__(cfg)
        self.wire_before = WireStats()
        empty_half(self.model.client)
        if (m := self.method.client_module()) is not None and not self.method.compress_at_eval:
            empty_half(m)        # kept (as a copy synced before evaluation) when eval goes through the method
        self.client_opt = HeldByPeer("the client optimizer")

    def load_data(self) -> DataBundle:
        d = self._data_info  # geometry only: the server never sees the data
        return DataBundle(d["name"], range(d["num_train"]), range(d["num_test"]), d["num_classes"], d["in_chans"],
                          d["img_size"], d["class_names"])

    def serve(self) -> None:
        while True:
            op, msg, fields = self.wire.recv()
            if op == "stop":
                return
            try:
                getattr(self, f"on_{op}")(msg, fields)
            except Exception as e:
                with contextlib.suppress(Exception):      # tell the client why, if it is still there
                    self.wire.send("error", error=f"{type(e).__name__}: {e}")
                raise

    def on_step(self, msg: Message, fields: dict) -> None:
        down, loss = self.server_step(msg)
        self.wire.send("down", down, loss=loss.item())

    @torch.no_grad()
    def on_eval(self, msg: Message, fields: dict) -> None:
        self.model.server.eval()
        with self.autocast():
            logits = self.model.server(self.method.eval_transform(msg["acts"]))
        self.model.server.train()
        self.wire.send("pred", Message({"pred": logits.argmax(-1)}))

    def on_sync(self, msg: Message, fields: dict) -> None:
        self.method.client_module().load_state_dict(msg.tensors)

    def on_state(self, msg: Message, fields: dict) -> None:
        m = self.method.server_module()
        state = {"model": {f"server.{k}": v for k, v in self.model.server.state_dict().items()},
                 "server_module": m.state_dict() if m is not None else None,
                 "server_opt": self.server_opt.state_dict(),
                 "rng": {"torch": torch.get_rng_state(), "method": self.generator.get_state(),
                         "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None},
                 "wire": self.wire_totals().to_dict()}
        self.wire.send("state", blob_message(state))

    def on_load(self, msg: Message, fields: dict) -> None:
        s = blob_object(msg, map_location=self.device)
        self.model.server.load_state_dict(_prefixed(s["model"], "server."))
        if (m := self.method.server_module()) is not None:
            m.load_state_dict(s["server_module"])
        self.server_opt.load_state_dict(s["server_opt"])
        if s.get("rng"):
            torch.set_rng_state(s["rng"]["torch"])
            self.generator.set_state(s["rng"]["method"])
            if s["rng"].get("cuda") is not None and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(s["rng"]["cuda"])
        if s.get("wire"):
            self.wire_before = WireStats(**s["wire"])
        self.wire.send("ok")

    def on_stats(self, msg: Message, fields: dict) -> None:
        self.wire.send("stats", wire=self.wire_totals().to_dict())

    def wire_totals(self) -> WireStats:
        return WireStats().merge(self.wire_before).merge(self.wire.stats)


# ----------------------------------------------------------------------------------------------
def _devices(cfg: TrainConfig, rank: int) -> tuple[str, torch.device]:
    device = resolve_device(cfg.device)
    backend = choose_backend(device)
    if backend == "nccl":
        torch.cuda.set_device(rank % torch.cuda.device_count())
    return backend, device


def run_server(config: dict | None = None) -> None:
    """Rank 1 (an initialised process group): wait for the client's hello, build the server half, serve."""
    wire = Wire(CLIENT)
    op, _, fields = wire.recv()
    if op != "hello":
        raise RuntimeError(f"distributed: expected the client's hello, got {op!r}")
    cfg = TrainConfig.from_dict(fields["config"])
    if config is not None and config != cfg.to_dict():
        diff = {k: (v, config.get(k)) for k, v in cfg.to_dict().items() if config.get(k) != v}
        raise RuntimeError(f"distributed: the client and the server were started with different configs {diff}")
    backend, device = _devices(cfg, SERVER)
    wire.device = device
    wire.buffer_device = torch.device("cuda") if backend == "nccl" else torch.device("cpu")
    run = ServerRun(cfg, wire, fields["data"])
    wire.send("hello", server_hash=half_hash(run.model.server, run.method.server_module()))
    run.serve()


def _server_process(port: int, config: dict) -> None:
    """Entry point of the spawned server process."""
    for s in (signal.SIGINT, signal.SIGTERM):   # the client handles interruption (and checkpoints through us)
        signal.signal(s, signal.SIG_IGN)
    store = dist.TCPStore("127.0.0.1", port, world_size=2, is_master=False, timeout=TIMEOUT)
    backend, _ = _devices(TrainConfig.from_dict(config), SERVER)
    dist.init_process_group(backend, store=store, rank=SERVER, world_size=2, timeout=TIMEOUT)
    try:
        run_server(config)
    finally:
        dist.destroy_process_group()
    # served and shut down cleanly: skip the interpreter's teardown (seconds of module cleanup per run)
    import sys
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


@contextlib.contextmanager
def distributed_client(cfg: TrainConfig):
    """Yield a :class:`ClientRun` whose server runs in a process spawned here (or in torchrun's rank 1)."""
    torchrun = "RANK" in os.environ and "WORLD_SIZE" in os.environ
    proc = None
    backend, device = _devices(cfg, CLIENT)
    if torchrun:
        if int(os.environ["WORLD_SIZE"]) != 2 or int(os.environ["RANK"]) != CLIENT:
            raise RuntimeError("distributed: torchrun must start exactly 2 processes; rank 0 is the client")
        dist.init_process_group(backend, init_method="env://", rank=CLIENT, world_size=2, timeout=TIMEOUT)
    else:
        import torch.multiprocessing as mp
        store = dist.TCPStore("127.0.0.1", 0, world_size=2, is_master=True, wait_for_workers=False, timeout=TIMEOUT)
        proc = mp.get_context("spawn").Process(target=_server_process, args=(store.port, cfg.to_dict()),
                                               name="adc-server", daemon=True)
        proc.start()
        dist.init_process_group(backend, store=store, rank=CLIENT, world_size=2, timeout=TIMEOUT)
    wire = Wire(SERVER, device, "cuda" if backend == "nccl" else "cpu")
    ok = False
    try:
        run = ClientRun(cfg, wire, backend)
        yield run
        ok = True
    finally:
        with contextlib.suppress(Exception):
            wire.send("stop")
        if proc is not None:
            proc.join(timeout=60)
            if proc.is_alive():
                proc.terminate()
                proc.join()
            if ok and proc.exitcode != 0:
                raise RuntimeError(f"distributed: the server process exited with code {proc.exitcode}")
        dist.destroy_process_group()


def train_distributed(cfg: TrainConfig, log=print) -> dict | None:
    """``--transport distributed``: run (or resume) the client here and the server in its own process.

    Under torchrun, rank 1 serves and returns None; rank 0 returns the metrics.
    """
    if "RANK" in os.environ and int(os.environ["RANK"]) == SERVER:
        backend, _ = _devices(cfg, SERVER)
        dist.init_process_group(backend, init_method="env://", rank=SERVER, world_size=2, timeout=TIMEOUT)
        try:
            run_server(cfg.to_dict())
        finally:
            dist.destroy_process_group()
        return None
    with distributed_client(cfg) as run:
        return run.run(log=log)
