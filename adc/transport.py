"""The wire between a client and a server process, and a model of the network link.

Three pieces, each usable on its own:

- **Bit packing** (:func:`pack_bits` / :func:`unpack_bits`): integers known to lie in
  ``0..max`` (sparse indices, quantisation codes) stored at ``bits_for(max)`` bits each in a
  ``uint8`` tensor of ``ceil(count * bits / 8)`` bytes. A method that wants its indices charged
  at ``ceil(log2(N*D))`` bits puts the *packed* tensor into its :class:`~adc.messages.Message`,
  so the bytes the meter counts (``Message.nbytes``) are the bytes serialised, on any transport.
- **Frames** (:class:`Wire`): one message in one direction is a frame over ``torch.distributed``
  point-to-point ``send``/``recv``: a 16-byte preamble (header length, body length), a small
  JSON header announcing the operation, the tensors' names, dtypes and shapes, the payload
  names and ``paper_bytes`` (plus a few control fields such as the loss), then each tensor's
  raw bytes in its own dtype. The body of a frame is exactly ``Message.nbytes``; preamble and
  header are protocol overhead and are counted apart (:class:`WireStats`). ``Message.meta`` is
  never sent.
- **The link model** (:class:`LinkModel`): bandwidth and latency per direction; a message of
  ``b`` bytes takes ``latency + 8 b / bandwidth`` seconds. It needs only message sizes, so it
  applies to in-process runs as well, and after the fact to any run's ``history.csv``
  (:meth:`LinkModel.seconds`).
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field

import torch
from torch import Tensor

from .messages import Message

# ----------------------------------------------------------------------------------------------
# bit packing


def bits_for(max_value: int) -> int:
    """Bits that hold every integer in 0..max_value: ``ceil(log2(max_value + 1))``, at least 1.

    For flat indices into an (N, D) tensor, ``bits_for(N * D - 1) == ceil(log2(N * D))``.
    """
    if max_value < 0:
        raise ValueError(f"bits_for: max_value={max_value} must be >= 0")
    return max(1, int(max_value).bit_length())


def packed_nbytes(count: int, bits: int) -> int:
    """Bytes of ``count`` integers packed at ``bits`` bits each."""
    return (count * bits + 7) // 8


def pack_bits(values: Tensor, bits: int) -> Tensor:
    """Pack non-negative integers < 2**bits into a uint8 tensor of ``packed_nbytes(numel, bits)`` bytes.

    Little-endian bit order (bit 0 of value 0 is bit 0 of byte 0); vectorised, on the values' device.
    """
    if not 1 <= bits <= 63:
        raise ValueError(f"pack_bits: bits={bits} must be in 1..63")
    if values.is_floating_point() or values.is_complex():
        raise TypeError(f"pack_bits: expected an integer tensor, got {values.dtype}")
    v = values.reshape(-1).long()
    if v.numel() and (int(v.min()) < 0 or int(v.max()) >= 2 ** bits):
        raise ValueError(f"pack_bits: values must lie in 0..{2 ** bits - 1} to fit in {bits} bits "
                         f"(got {int(v.min())}..{int(v.max())})")
    shifts = torch.arange(bits, device=v.device)
    flat = ((v[:, None] >> shifts) & 1).to(torch.uint8).reshape(-1)          # count * bits
    pad = (-flat.numel()) % 8
    if pad:
        flat = torch.cat([flat, flat.new_zeros(pad)])
    weights = (1 << torch.arange(8, device=v.device)).to(torch.uint8)
    return (flat.reshape(-1, 8) * weights).sum(1, dtype=torch.uint8)


def unpack_bits(packed: Tensor, bits: int, count: int) -> Tensor:
    """Inverse of :func:`pack_bits`: ``count`` int64 values from a uint8 tensor."""
    if packed.dtype != torch.uint8:
        raise TypeError(f"unpack_bits: expected uint8, got {packed.dtype}")
    if packed.numel() != packed_nbytes(count, bits):
        raise ValueError(f"unpack_bits: {packed.numel()} bytes, but {count} values at {bits} bits "
                         f"take {packed_nbytes(count, bits)}")
    shifts = torch.arange(8, device=packed.device)
    flat = ((packed.reshape(-1, 1) >> shifts) & 1).reshape(-1)[:count * bits].long()
    return (flat.reshape(count, bits) << torch.arange(bits, device=packed.device)).sum(1)


# ----------------------------------------------------------------------------------------------
# the link model

_RATE = {"bit": 1.0, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9,
         "b": 8.0, "kb": 8e3, "mb": 8e6, "gb": 8e9}            # -> bit/s (decimal units, bytes = 8 bits)
_TIME = {"s": 1.0, "ms": 1e-3, "us": 1e-6}
#: named links; ``example`` is the issue's: 10 Mbit/s up, 50 Mbit/s down, 20 ms each way
LINKS = {"example": "up=10Mbit,down=50Mbit,latency=20ms"}


def _parse_rate(key: str, text: str) -> float:
    m = re.fullmatch(r"\s*([0-9.eE+-]+)\s*([a-zA-Z]*?)(?:/s|ps)?\s*", text)
    unit = (m.group(2) if m else "").lower() or "bit"
    if not m or unit not in _RATE:
        raise ValueError(f"link: {key}={text!r}: expected a rate such as 10Mbit, 50Mbit/s, 1.5MB/s "
                         f"(units: bit, kbit, Mbit, Gbit, B, kB, MB, GB)")
    value = float(m.group(1)) * _RATE[unit]
    if not value > 0:
        raise ValueError(f"link: {key}={text!r} must be > 0")
    return value


def _parse_time(key: str, text: str) -> float:
    m = re.fullmatch(r"\s*([0-9.eE+-]+)\s*(s|ms|us)?\s*", text)
    if not m:
        raise ValueError(f"link: {key}={text!r}: expected a time such as 20ms, 0.02s, 500us")
    value = float(m.group(1)) * _TIME[m.group(2) or "s"]
    if value < 0:
        raise ValueError(f"link: {key}={text!r} must be >= 0")
    return value


@dataclass(frozen=True)
class LinkModel:
    """A network link: bandwidth (bit/s) and one-way latency (s) per direction.

    ``LinkModel.parse("up=10Mbit,down=50Mbit,latency=20ms")`` (or ``"example"``); keys: ``up``,
    ``down``, ``latency`` (both directions), ``latency_up``, ``latency_down``.
    """

    up_bps: float
    down_bps: float
    latency_up: float = 0.0
    latency_down: float = 0.0

    @classmethod
    def parse(cls, spec: str) -> "LinkModel":
        text = LINKS.get(spec.strip(), spec)
        kw: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            if "=" not in part:
                raise ValueError(f"link: {part!r} in {spec!r}: expected KEY=VALUE, e.g. "
                                 f"up=10Mbit,down=50Mbit,latency=20ms (or one of {sorted(LINKS)})")
            k, v = (s.strip() for s in part.split("=", 1))
            k = k.lower()
            if k in ("up", "down"):
                kw[f"{k}_bps"] = _parse_rate(k, v)
            elif k == "latency":
                kw["latency_up"] = kw["latency_down"] = _parse_time(k, v)
            elif k in ("latency_up", "latency_down"):
                kw[k] = _parse_time(k, v)
            else:
                raise ValueError(f"link: unknown key {k!r} in {spec!r}; allowed: up, down, latency, "
                                 f"latency_up, latency_down")
        missing = [k for k in ("up", "down") if f"{k}_bps" not in kw]
        if missing:
            raise ValueError(f"link: {spec!r} gives no bandwidth for {missing}; e.g. up=10Mbit,down=50Mbit,latency=20ms")
        return cls(**kw)

    def up_seconds(self, nbytes: float) -> float:
        """Time of one client -> server message of ``nbytes`` bytes."""
        return self.latency_up + 8.0 * nbytes / self.up_bps

    def down_seconds(self, nbytes: float) -> float:
        """Time of one server -> client message of ``nbytes`` bytes."""
        return self.latency_down + 8.0 * nbytes / self.down_bps

    def step_seconds(self, up_nbytes: float, down_nbytes: float) -> float:
        """One training step: the up-message then the down-message (sequential: the server waits)."""
        return self.up_seconds(up_nbytes) + self.down_seconds(down_nbytes)

    def seconds(self, steps: int, bytes_up: float, bytes_down: float) -> float:
        """Link time of ``steps`` steps that sent ``bytes_up`` / ``bytes_down`` in all (the model is linear)."""
        return steps * (self.latency_up + self.latency_down) + 8.0 * bytes_up / self.up_bps \
            + 8.0 * bytes_down / self.down_bps

    def describe(self) -> dict:
        return {"up_bit_per_s": self.up_bps, "down_bit_per_s": self.down_bps,
                "latency_up_s": self.latency_up, "latency_down_s": self.latency_down}


# ----------------------------------------------------------------------------------------------
# frames of named tensors over torch.distributed

_PREAMBLE = 2  # int64: header length, body length
PREAMBLE_NBYTES = _PREAMBLE * 8
_DTYPES = {str(d).removeprefix("torch."): d for d in (
    torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.int16,
    torch.int8, torch.uint8, torch.bool, torch.complex64, torch.complex128,
    *(getattr(torch, n) for n in ("uint16", "uint32", "uint64") if hasattr(torch, n)))}


def tensor_bytes(t: Tensor) -> Tensor:
    """The raw bytes of a tensor, in its own dtype, as a flat uint8 view (or copy, when not contiguous)."""
    flat = t.detach().contiguous().reshape(-1)
    return flat.view(torch.uint8) if flat.numel() else flat.new_empty(0, dtype=torch.uint8)


def header_for(op: str, msg: Message | None, fields: dict | None = None) -> dict:
    h: dict = {"op": op}
    if msg is not None:
        for name, t in msg.tensors.items():
            if str(t.dtype).removeprefix("torch.") not in _DTYPES:
                raise TypeError(f"wire: tensor {name!r} has dtype {t.dtype}, which the wire does not carry")
        h["tensors"] = [[k, str(t.dtype).removeprefix("torch."), list(t.shape)] for k, t in msg.tensors.items()]
        h["payload"] = list(msg.payload)
        if msg.paper_bytes is not None:
            h["paper_bytes"] = float(msg.paper_bytes)
    if fields:
        h["fields"] = fields
    return h


def encode_header(h: dict) -> bytes:
    return json.dumps(h, separators=(",", ":"), allow_nan=True).encode()


@dataclass
class WireStats:
    """Bytes that really crossed, per direction and operation: tensor bodies and protocol overhead apart."""

    body: dict = field(default_factory=dict)       # "sent:step" -> bytes of tensor bodies
    overhead: dict = field(default_factory=dict)   # "sent:step" -> preamble + header bytes
    frames: dict = field(default_factory=dict)     # "sent:step" -> number of frames

    def add(self, key: str, body: int, overhead: int) -> None:
        self.body[key] = self.body.get(key, 0) + body
        self.overhead[key] = self.overhead.get(key, 0) + overhead
        self.frames[key] = self.frames.get(key, 0) + 1

    def merge(self, other: "WireStats | dict") -> "WireStats":
        other = other if isinstance(other, WireStats) else WireStats(**other)
        for mine, theirs in ((self.body, other.body), (self.overhead, other.overhead), (self.frames, other.frames)):
            for k, v in theirs.items():
                mine[k] = mine.get(k, 0) + v
        return self

    def to_dict(self) -> dict:
        return {"body": dict(self.body), "overhead": dict(self.overhead), "frames": dict(self.frames)}

    def total(self, part: str, prefix: str = "") -> int:
        return sum(v for k, v in getattr(self, part).items() if k.startswith(prefix))


class Wire:
    """Frames to and from one peer over an initialised ``torch.distributed`` process group.

    ``send(op, msg, **fields)`` announces the tensors in a header, then sends each tensor's bytes;
    ``recv()`` returns ``(op, msg, fields)`` with freshly allocated tensors (leaves, no autograd
    history) on ``device``. Buffers travel on ``buffer_device`` (CPU for gloo, the GPU for NCCL).
    """

    def __init__(self, peer: int, device: torch.device | str = "cpu", buffer_device: torch.device | str = "cpu"):
        import torch.distributed as dist
        self.dist = dist
        self.peer = peer
        self.device = torch.device(device)
        self.buffer_device = torch.device(buffer_device)
        self.stats = WireStats()

    def _send(self, buf: Tensor) -> None:
        self.dist.send(buf.to(self.buffer_device), dst=self.peer)

    def _recv(self, nbytes: int, dtype=torch.uint8) -> Tensor:
        buf = torch.empty(nbytes, dtype=dtype, device=self.buffer_device)
        self.dist.recv(buf, src=self.peer)
        return buf

    def send(self, op: str, msg: Message | None = None, **fields) -> int:
        """Send one frame; return the body bytes sent (== ``msg.nbytes``)."""
        header = encode_header(header_for(op, msg, fields))
        bodies = [tensor_bytes(t) for t in msg.tensors.values()] if msg is not None else []
        body_len = sum(b.numel() for b in bodies)
        self._send(torch.tensor([len(header), body_len], dtype=torch.int64))
        self._send(torch.frombuffer(bytearray(header), dtype=torch.uint8))
        for b in bodies:
            if b.numel():
                self._send(b)
        self.stats.add(f"sent:{op}", body_len, PREAMBLE_NBYTES + len(header))
        return body_len

    def recv(self) -> tuple[str, Message | None, dict]:
        header_len, body_len = (int(v) for v in self._recv(_PREAMBLE, torch.int64).cpu())
        h = json.loads(bytes(self._recv(header_len).cpu().numpy()))
        msg = None
        got = 0
        if "tensors" in h:
            tensors = {}
            for name, dtype_name, shape in h["tensors"]:
                dtype = _DTYPES[dtype_name]
                numel = math.prod(shape)
                nbytes = numel * torch.empty((), dtype=dtype).element_size()
                raw = self._recv(nbytes) if nbytes else torch.empty(0, dtype=torch.uint8, device=self.buffer_device)
                got += nbytes
                t = raw.view(dtype) if nbytes else torch.empty(0, dtype=dtype, device=self.buffer_device)
                tensors[name] = t.reshape(shape).to(self.device)
            msg = Message(tensors, tuple(h.get("payload", ())), h.get("paper_bytes"))
        if got != body_len:
            raise RuntimeError(f"wire: frame {h['op']!r} announced {body_len} body bytes but carried {got}")
        self.stats.add(f"recv:{h['op']}", got, PREAMBLE_NBYTES + header_len)
        return h["op"], msg, h.get("fields", {})

    def expect(self, op: str) -> tuple[Message | None, dict]:
        got, msg, fields = self.recv()
        if got == "error":
            raise RuntimeError(f"wire: the peer failed: {fields.get('error')}")
        if got != op:
            raise RuntimeError(f"wire: expected a {op!r} frame from the peer, got {got!r}")
        return msg, fields


def blob_message(obj) -> Message:
    """Any picklable object (a state dict) as a one-tensor message (control traffic: checkpoints)."""
    import io
    buf = io.BytesIO()
    torch.save(obj, buf)
    return Message({"blob": torch.frombuffer(bytearray(buf.getvalue()), dtype=torch.uint8)})


def blob_object(msg: Message, map_location=None):
    import io
    return torch.load(io.BytesIO(bytes(msg["blob"].cpu().numpy())), map_location=map_location, weights_only=False)
