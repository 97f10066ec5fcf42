"""The wire between a client and a server process: frames of named tensors over ``torch.distributed``.

One message in one direction is a frame over point-to-point ``send``/``recv``: a 16-byte preamble
(header length, body length), a small JSON header announcing the operation, the tensors' names,
dtypes and shapes, the payload names and ``paper_bytes`` (plus a few control fields such as the
loss), then each tensor's raw bytes in its own dtype. The body of a frame is exactly
``Message.nbytes``; preamble and header are protocol overhead and are counted apart
(:class:`WireStats`). ``Message.meta`` is never sent. Bit packing is :mod:`adc.core.bitpack`;
the network time model is :mod:`adc.runtime.link`.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from adc.core.messages import Message


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
    """A nested state (dicts, lists, tuples, numbers, strings, tensors) as a message of tensors plus
    one JSON skeleton (control traffic: checkpoints). Nothing is pickled: the peer's
    :func:`blob_object` only parses JSON and rebuilds tensors of the wire's dtypes."""
    tensors: dict[str, Tensor] = {}

    def enc(x):
        if isinstance(x, Tensor):
            key = f"t{len(tensors)}"
            tensors[key] = x.detach()
            return {"tensor": key}
        if isinstance(x, dict):
            return {"dict": [[enc(k), enc(v)] for k, v in x.items()]}
        if isinstance(x, tuple):
            return {"tuple": [enc(v) for v in x]}
        if isinstance(x, list):
            return [enc(v) for v in x]
        if x is None or isinstance(x, (bool, int, float, str)):
            return x
        raise TypeError(f"wire: a {type(x).__name__} cannot cross as a blob (tensors, numbers, strings, "
                        f"dicts, lists and tuples only)")

    skeleton = json.dumps(enc(obj), separators=(",", ":"), allow_nan=True).encode()
    if "json" in tensors:
        raise AssertionError("unreachable: tensor keys are t<N>")
    return Message({"json": torch.frombuffer(bytearray(skeleton), dtype=torch.uint8), **tensors})


def blob_object(msg: Message, map_location=None):
    """The state :func:`blob_message` sent: JSON and tensors only, no code."""
    tensors = msg.tensors

    def dec(x):
        if isinstance(x, list):
            return [dec(v) for v in x]
        if isinstance(x, dict):
            (kind, v), = x.items()
            if kind == "tensor":
                t = tensors[v]
                return t.to(map_location) if map_location is not None else t
            if kind == "tuple":
                return tuple(dec(i) for i in v)
            if kind == "dict":
                return {dec(k): dec(val) for k, val in v}
            raise ValueError(f"wire: unknown blob node {kind!r}")
        return x

    return dec(json.loads(bytes(tensors["json"].cpu().numpy())))
