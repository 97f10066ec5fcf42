"""Timing helpers: side-by-side, interleaved repetitions, medians; CUDA-synchronised.

Everything that is compared is timed in the same process, one repetition of each candidate after
another (the order alternates every repetition, A B / B A, so a slow drift of the machine hits
both), and summarised by medians. Ratios are medians of the per-repetition ratios, which cancels
most of the noise of a shared machine (the noise that matters: a neighbour's job slows both
members of a pair alike).
"""
from __future__ import annotations

import os
import statistics
import time
from typing import Callable

import torch


def sync(device: torch.device | str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def time_once(fn: Callable[[], object], device: torch.device | str = "cpu", cpu_out: list | None = None) -> float:
    """Wall seconds of one call, the device queue drained before and after (CUDA).

    ``cpu_out``: also append the CPU seconds this process spent (``time.process_time``): on a
    shared CPU, with one torch thread, that is the work done, without the time spent descheduled.
    """
    sync(device)
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    sync(device)
    t = time.perf_counter() - t0
    if cpu_out is not None:
        cpu_out.append(time.process_time() - c0)
    return t


def interleaved(fns: dict[str, Callable[[], object]], reps: int, warmup: int = 1,
                device: torch.device | str = "cpu", deadline: float | None = None,
                min_reps: int = 1, min_sample_s: float | None = None,
                cpu_times: dict | None = None) -> dict[str, list[float]]:
    """Time every candidate ``reps`` times, interleaved (order reversed every other repetition).

    ``min_sample_s``: a sample of a fast candidate is the mean over enough back-to-back calls to
    last about that long (``timeit``'s ``number``, calibrated on the warm-up call), so that a
    millisecond step and a second-long step see the preemptions of a shared machine in the same
    proportion. ``deadline`` (a ``time.perf_counter()`` value): stop early, once ``min_reps``
    repetitions are done, when the next one would not finish before it (used by ``--quick``).
    ``cpu_times``: filled with the CPU seconds of the same samples (see :func:`time_once`).
    """
    names = list(fns)
    number = {n: 1 for n in names}
    for w in range(max(warmup, 1 if min_sample_s else 0)):
        for n in names:
            t = time_once(fns[n], device)
            if min_sample_s and w == 0:
                number[n] = max(1, min(1000, round(min_sample_s / max(t, 1e-9))))

    def sample(n: str) -> float:
        cpu: list = []
        if number[n] == 1:
            t = time_once(fns[n], device, cpu)
        else:
            def many():
                for _ in range(number[n]):
                    fns[n]()
            t = time_once(many, device, cpu) / number[n]
        if cpu_times is not None:
            cpu_times.setdefault(n, []).append(cpu[0] / number[n])
        return t

    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(reps):
        t_rep = time.perf_counter()
        for n in (names if r % 2 == 0 else names[::-1]):
            times[n].append(sample(n))
        took = time.perf_counter() - t_rep
        if deadline is not None and r + 1 >= min_reps and time.perf_counter() + took > deadline:
            break
    return times


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def paired_ratio(num: list[float], den: list[float]) -> float:
    """Median over repetitions of num[i] / den[i] (the two were timed back to back)."""
    return median([a / b for a, b in zip(num, den) if b > 0])


def machine_info(device: torch.device | str = "cpu") -> dict:
    info = {"torch": torch.__version__, "threads": torch.get_num_threads(), "cpu_count": os.cpu_count()}
    try:
        info["loadavg_1min"] = os.getloadavg()[0]
    except OSError:
        pass
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), None)
    except OSError:
        pass
    if torch.device(device).type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info
