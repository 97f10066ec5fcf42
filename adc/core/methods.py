"""The compression-method interface and its registry.

A method is "what the client sends and what the server does with it", in both directions:

client  ``encode(acts, attn, labels)``  -> up :class:`Message`, client state
server  ``decode(up)``                  -> tokens for the server blocks, targets, server state
server  ``encode_grad(server_state)``   -> down :class:`Message` (after ``loss.backward()``)
client  ``decode_grad(client_state, down)``  continues backward on the client

The defaults implement the common case: the up-message's ``payload`` tensors are
differentiable functions of the client activations; the server makes them leaves, and the
gradient of each leaf goes back down, where the client continues backward from it. A method
then only writes ``encode`` and ``reconstruct``.

Methods register themselves with :func:`register`; every module in ``baselines/`` whose name
does not start with ``_`` is imported by :func:`discover` (and so is :mod:`adc.double_compression`,
ADC itself), so adding a file adds a method.
"""
from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from adc.core.messages import Message, smallest_int_dtype


@dataclass(frozen=True)
class CutShape:
    """The geometry of the cut that a method is built for."""

    batch_size: int
    num_tokens: int          # N, CLS included
    dim: int                 # D
    num_classes: int
    num_prefix_tokens: int = 1


class Method:
    """Base class: no compression. Subclasses set ``name`` and override what they change."""

    name: ClassVar[str] = ""
    #: the citation, shown in docs and tables
    citation: ClassVar[str] = ""
    #: parameter dataclass: its fields (with defaults) are the method's parameters
    Params: ClassVar[type] = None
    #: the sweep the paper makes: {param name: [values]}; one run per value
    grid: ClassVar[dict[str, list]] = {}
    #: three or more levels for the embedded default (digits + vit_micro on a CPU, minutes)
    demo_grid: ClassVar[dict[str, list]] = {}
    #: a small, fast setting for tests
    test_params: ClassVar[dict] = {}
    #: the method this one is an ablation of (e.g. "adc"): drawn in the ablations figure, not the main one
    ablation_of: ClassVar[str | None] = None
    #: whether evaluation also goes through the method (e.g. a learned bottleneck)
    compress_at_eval: ClassVar[bool] = False
    #: how the method's own authors evaluate: "uncompressed" (the server sees the client's activations,
    #: the ADC paper's convention) or "compressed" (through the method's own message, e.g. top-k, C3-SL)
    authors_eval: ClassVar[str] = "uncompressed"
    #: True where the server gets fewer rows than samples (e.g. ADC merges the batch): a compressed
    #: evaluation does not apply, since test predictions would not be per sample
    merges_batch: ClassVar[bool] = False

    def __init__(self, shape: CutShape, generator: torch.Generator | None = None, **params):
        self.shape = shape
        self.generator = generator
        self.params = self.parse_params(params)

    # ----- parameters ------------------------------------------------------------------
    @classmethod
    def parse_params(cls, params: dict) -> Any:
        if cls.Params is None:
            if params:
                raise ValueError(f"method {cls.name!r} takes no parameters, got {sorted(params)}")
            return None
        fields = {f.name: f for f in dataclasses.fields(cls.Params)}
        unknown = sorted(set(params) - set(fields))
        if unknown:
            raise ValueError(f"method {cls.name!r}: unknown parameter(s) {unknown}; allowed: {sorted(fields)}")
        typed = {}
        for k, v in params.items():
            typed[k] = _coerce(cls.name, k, v, fields[k])
        p = cls.Params(**typed)
        if hasattr(p, "validate"):
            p.validate()
        return p

    @classmethod
    def settings(cls, which: str = "paper") -> list[dict]:
        """The settings of a sweep ("paper" = ``grid``, "demo" = ``demo_grid``): one dict per run.

        A grid with several parameters is their cartesian product; an empty grid is one run
        with the defaults.
        """
        import itertools
        grid = {"paper": cls.grid, "demo": cls.demo_grid or cls.grid}[which]
        if not grid:
            return [{}]
        keys = list(grid)
        return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]

    #: the parameter that sets the compression level, with its range: ``(name, low, high)``; an
    #: int field is searched over every integer in the range, a float one over a fine geometric grid.
    #: ``None``: the method has no such knob (``base``). Used by :meth:`setting_for_xi`.
    xi_knob: ClassVar[tuple[str, float, float] | None] = None

    @classmethod
    def declared_xi(cls, shape: CutShape, params: dict) -> float:
        """:meth:`expected_xi` of ``params`` on ``shape`` without building the method (no keys, no
        layers): ``expected_xi`` depends on the shape and the parameters alone (a contract test checks
        it against a built method for every registered one)."""
        probe = cls.__new__(cls)
        probe.shape, probe.generator, probe.params = shape, None, cls.parse_params(dict(params))
        try:
            return probe.expected_xi()
        except AttributeError:        # expected_xi reads something __init__ derives: build the method
            return cls(shape, generator=None, **params).expected_xi()

    @classmethod
    def setting_for_xi(cls, xi: float, shape: CutShape, base: dict | None = None) -> dict:
        """The setting whose declared xi (:meth:`expected_xi`, the paper's payload convention) on
        ``shape`` is nearest to ``xi`` (in log ratio; ties go to the smaller xi), so that methods can be
        compared at equal xi. ``base`` holds the other parameters. The measured xi of a run is
        recorded beside it; the nearest setting can be far from ``xi`` when the knob is coarse (e.g.
        quantization's bits: xi = bits / 32 >= 1/32)."""
        if cls.xi_knob is None:
            raise ValueError(f"method {cls.name!r} has no compression knob (xi_knob); it runs at xi = 1 only")
        if not 0 < xi <= 1:
            raise ValueError(f"xi: {xi} must be in (0, 1]")
        name, low, high = cls.xi_knob
        ftype = next(f.type for f in dataclasses.fields(cls.Params) if f.name == name)
        if ftype in (int, "int"):
            candidates = list(range(int(low), int(high) + 1))
        else:
            import numpy as np
            candidates = sorted({float(f"{v:.4g}") for v in np.geomspace(low, high, 4000)})
        import math
        best, best_d = None, math.inf
        for v in candidates:
            params = {**(base or {}), name: v}
            try:
                got = cls.declared_xi(shape, params)
            except ValueError:            # outside what the method allows on this geometry
                continue
            d = abs(math.log(got / xi)) if got > 0 else math.inf
            if d < best_d - 1e-12:
                best, best_d = params, d
        if best is None:
            raise ValueError(f"method {cls.name!r}: no setting of {name} in [{low}, {high}] is valid on {shape}")
        if ftype not in (int, "int"):     # a readable value among those that give the same xi: the xi itself
            got = cls.declared_xi(shape, best)
            plain = {**best, name: float(f"{got:.4g}")}
            try:
                if low <= plain[name] <= high and cls.declared_xi(shape, plain) == got:
                    best = plain
            except ValueError:
                pass
        return best

    # ----- modules with parameters (e.g. a learned encoder / decoder) --------------------
    def client_module(self) -> nn.Module | None:
        return None

    def server_module(self) -> nn.Module | None:
        return None

    def expected_xi(self) -> float:
        """The paper-convention compression ratio this method is declared to reach on ``self.shape``."""
        return 1.0

    def nominal_xi(self) -> float:
        """The ratio the ``paper`` protocol charges per step (x batch size samples), as the ADC authors'
        code declares it for the method (e.g. ADC: its xi parameter; BottleNet++: c); by default
        :meth:`expected_xi`."""
        return self.expected_xi()

    def describe(self) -> dict:
        """Derived quantities worth recording in metrics.json (e.g. T and k for ADC)."""
        return {}

    # ----- one training step ---------------------------------------------------------------
    def encode(self, acts: Tensor, attn: Tensor | None, labels: Tensor) -> tuple[Message, Any]:
        msg = Message({"acts": acts, "labels": self.pack_labels(labels)}, payload=("acts",))
        return msg, {"acts": acts}

    def reconstruct(self, msg: Message, leaves: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Server side: tokens (B', N', D) for the server blocks and the targets, from the leaves."""
        return leaves["acts"], self.unpack_labels(msg)

    def decode(self, msg: Message) -> tuple[Tensor, Tensor, Any]:
        leaves = {k: msg[k].requires_grad_() for k in msg.payload}
        tokens, targets = self.reconstruct(msg, leaves)
        return tokens, targets, leaves

    def encode_grad(self, server_state: Any) -> Message:
        leaves: dict[str, Tensor] = server_state
        grads = {k: (t.grad if t.grad is not None else torch.zeros_like(t)) for k, t in leaves.items()}
        return Message(grads, payload=tuple(grads))

    def decode_grad(self, client_state: Any, msg: Message) -> None:
        sent: dict[str, Tensor] = client_state
        pairs = [(sent[k], msg[k]) for k in sent if sent[k].requires_grad]
        if pairs:
            torch.autograd.backward([p[0] for p in pairs], [p[1] for p in pairs])

    def loss(self, logits: Tensor, targets: Tensor) -> Tensor:
        """Cross-entropy; ``targets`` are class ids or (soft) class probabilities."""
        return F.cross_entropy(logits, targets)

    # ----- evaluation ----------------------------------------------------------------------
    def eval_transform(self, acts: Tensor) -> Tensor:
        """What the server's blocks see at evaluation (uncompressed unless ``compress_at_eval``)."""
        return acts

    def eval_roundtrip(self, acts: Tensor, attn: Tensor | None, labels: Tensor) -> Tensor:
        """Evaluation through the method's own up-message (``eval_compressed: true``), as e.g. the
        top-k and C3-SL authors evaluate. Only for methods that keep one output row per sample."""
        msg, _ = self.encode(acts, attn, labels)
        tokens, _, _ = self.decode(msg.detached())
        if tokens.shape[0] != acts.shape[0]:
            raise ValueError(f"eval_compressed: method {self.name!r} turns {acts.shape[0]} samples into "
                             f"{tokens.shape[0]} rows, so it cannot be evaluated compressed; set eval_compressed: false")
        return tokens.detach()

    # ----- helpers ---------------------------------------------------------------------------
    def pack_labels(self, labels: Tensor) -> Tensor:
        return labels.to(smallest_int_dtype(self.shape.num_classes - 1))

    @staticmethod
    def unpack_labels(msg: Message) -> Tensor:
        labels = msg["labels"]
        return labels.long() if not labels.is_floating_point() else labels


def setting_label(params: dict) -> str:
    """A filesystem-safe, readable name for a setting: {"xi": 0.1} -> "xi=0.1", {} -> "default"."""
    if not params:
        return "default"
    return ",".join(f"{k}={params[k]}" for k in sorted(params))


def parse_setting_label(label: str) -> dict:
    """Inverse of :func:`setting_label` (values parsed as YAML scalars)."""
    import yaml
    if label == "default":
        return {}
    out = {}
    for part in label.split(","):
        k, v = part.split("=", 1)
        out[k] = yaml.safe_load(v)
    return out


def _coerce(method: str, key: str, value, field: dataclasses.Field):
    typ = field.type if isinstance(field.type, type) else {"float": float, "int": int, "str": str,
                                                           "bool": bool}.get(str(field.type), None)
    if typ is None or isinstance(value, typ) and not (typ is int and isinstance(value, bool)):
        return value
    try:
        if typ is bool:
            if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
                return value.lower() in ("true", "1", "yes")
            raise ValueError
        if typ is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
        return typ(value)
    except (TypeError, ValueError):
        raise ValueError(f"method {method!r}: parameter {key}={value!r} is not a valid {typ.__name__}") from None


# ----- registry ------------------------------------------------------------------------------
_REGISTRY: dict[str, type[Method]] = {}
_DISCOVERED = False


def register(cls: type[Method]) -> type[Method]:
    """Class decorator: add a method to the registry under ``cls.name`` (duplicates are an error)."""
    if not cls.name:
        raise ValueError(f"{cls.__qualname__} has no `name`")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        other = _REGISTRY[cls.name]
        if (other.__module__, other.__qualname__) != (cls.__module__, cls.__qualname__):
            raise ValueError(f"method name {cls.name!r} is registered twice: by {other.__module__}.{other.__qualname__} "
                             f"and {cls.__module__}.{cls.__qualname__}")
    _REGISTRY[cls.name] = cls
    return cls


#: the packages whose modules register methods: ADC itself, then the competing methods
METHOD_PACKAGES = ("adc.double_compression", "baselines")


def discover(packages: tuple[str, ...] = METHOD_PACKAGES) -> None:
    """Import every module of each package whose name does not start with '_' (each registers itself)."""
    global _DISCOVERED
    if isinstance(packages, str):
        packages = (packages,)
    for package in packages:
        pkg = importlib.import_module(package)
        for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
            if not info.name.startswith("_"):
                importlib.import_module(f"{package}.{info.name}")
    _DISCOVERED = True


def registry() -> dict[str, type[Method]]:
    if not _DISCOVERED:
        discover()
    return dict(_REGISTRY)


def get_method(name: str) -> type[Method]:
    reg = registry()
    if name not in reg:
        raise ValueError(f"method: unknown method {name!r}; registered methods: {sorted(reg)}")
    return reg[name]


def create_method(name: str, shape: CutShape, generator: torch.Generator | None = None, **params) -> Method:
    return get_method(name)(shape, generator=generator, **params)
