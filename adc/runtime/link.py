"""The network link model: bandwidth and latency per direction (config key ``link``).

A message of ``b`` bytes takes ``latency + 8 b / bandwidth`` seconds. It needs only message sizes,
so it applies to in-process runs as well, and after the fact to any run's ``history.csv``
(:meth:`LinkModel.seconds`). ``link`` is this model's one name: the in-process mover of messages
is the *carrier* (:mod:`adc.core.carrier`), the two-process frame format is the *wire*
(:mod:`adc.runtime.wire`), and ``transport`` (inprocess | distributed) chooses between them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass


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
