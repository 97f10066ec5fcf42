"""Reaching the Hugging Face Hub without ever hanging on it.

Before anything is downloaded, :func:`hub_status` answers whether the hub can be reached: no if
``HF_HUB_OFFLINE`` is set, else a TCP connection to the endpoint (or to the HTTPS proxy in
use) with a short timeout (``ADC_HUB_TIMEOUT`` seconds, default 3), run in a daemon thread so
that a slow DNS cannot stall it either. When the hub cannot be reached, loads run under
:func:`forced_offline`, so ``datasets``, ``huggingface_hub`` and ``timm`` read their local caches
at once instead of retrying the network for half a minute, and fail at once when a file is not
there.
"""
from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
import time
import urllib.request
from urllib.parse import urlparse

DEFAULT_TIMEOUT = 3.0
_CACHE: dict = {}          # endpoint -> (monotonic time, reachable, reason)
_CACHE_SECONDS = 60.0


def _timeout() -> float:
    try:
        return float(os.environ.get("ADC_HUB_TIMEOUT", DEFAULT_TIMEOUT))
    except ValueError:
        return DEFAULT_TIMEOUT


def endpoint() -> str:
    from huggingface_hub import constants
    return constants.ENDPOINT


def hub_offline_env() -> bool:
    from huggingface_hub import constants
    return bool(constants.HF_HUB_OFFLINE)


def _target(url: str) -> tuple[str, int, str]:
    """(host, port, what) to connect to for ``url``: the proxy if one applies, else the endpoint itself."""
    u = urlparse(url)
    host, port = u.hostname or "huggingface.co", u.port or (443 if u.scheme == "https" else 80)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(u.scheme) or proxies.get("https")
    if proxy and not urllib.request.proxy_bypass(host):
        p = urlparse(proxy if "://" in proxy else f"http://{proxy}")
        if p.hostname:
            return p.hostname, p.port or 3128, f"proxy {p.hostname}:{p.port or 3128}"
    return host, port, f"{host}:{port}"


def hub_status() -> tuple[bool, str]:
    """(reachable, reason): whether the hub can be reached now; never takes more than about the timeout."""
    if hub_offline_env():
        return False, "HF_HUB_OFFLINE=1 is set (offline mode)"
    url = endpoint()
    now = time.monotonic()
    hit = _CACHE.get(url)
    if hit and now - hit[0] < _CACHE_SECONDS:
        return hit[1], hit[2]
    host, port, what = _target(url)
    timeout = _timeout()
    result: dict = {}

    def probe():
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result["ok"] = True
        except OSError as e:
            result["error"] = e

    t = threading.Thread(target=probe, daemon=True, name="adc-hub-probe")
    t.start()
    t.join(timeout + 0.5)
    if result.get("ok"):
        reachable, reason = True, f"{url} is reachable"
    elif "error" in result:
        reachable, reason = False, f"no network: {url} could not be reached ({what}: {result['error']})"
    else:
        reachable, reason = False, f"no network: {url} did not answer within {timeout:g}s ({what})"
    _CACHE[url] = (now, reachable, reason)
    return reachable, reason


@contextlib.contextmanager
def forced_offline():
    """Run Hugging Face loads in offline mode (local caches only) for the duration of the block."""
    from huggingface_hub import constants
    mods = [constants]
    if "datasets" in sys.modules:
        import datasets.config
        mods.append(datasets.config)
    old = [m.HF_HUB_OFFLINE for m in mods]
    for m in mods:
        m.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        for m, v in zip(mods, old):
            m.HF_HUB_OFFLINE = v


def offline_unless_reachable():
    """``(context, reachable, reason)``: a context that forces offline mode when the hub cannot be reached."""
    reachable, reason = hub_status()
    return (contextlib.nullcontext() if reachable else forced_offline()), reachable, reason


def hub_cache_dir() -> str:
    from huggingface_hub import constants
    return constants.HF_HUB_CACHE


def datasets_cache_dir() -> str:
    import datasets.config
    return str(datasets.config.HF_DATASETS_CACHE)
