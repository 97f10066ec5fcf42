"""ADC-Bench performance benchmarks: ratios measured side by side, printed and written as JSON.

    python benchmarks/run.py --quick          # < 3 min on a 2-core CPU -> results/benchmarks/summary.json
    python benchmarks/run.py                  # more repetitions, every method at every paper setting

Items (see benchmarks/README.md for what each one times and why):

1. ADC's compression step (k-means + merge + token selection, forward and backward) against a
   straightforward reference (benchmarks/reference_adc.py), B = 128, N = 197, D in {192, 384},
   xi in {0.01, 0.1, 0.5}.
2. The compression step of every registered method as % of one full DeiT-Tiny split training
   step (B = 128, 224 px, ``SplitRun.train_step`` of ``base``), on CPU and on CUDA if present.
3. Training throughput of the split ``base`` run against plain timm training of the same model,
   same batch, same optimizer (and bf16 autocast on CUDA, as ``SplitRun``).
4. The data loader alone (benchmarks/loader_throughput.py) against the training step, images/s;
   and per worker, the staged path (uint8 from the workers, resize/flip/normalize batched on the
   device) against the per-image path: ``loader_images_per_s_per_worker``.
5. The embedded default's step (vit_micro on digits, B = 64, 1 thread): ``micro_step_ms`` of
   ``base`` and ADC xi = 0.1, CPU time of ``SplitRun.run`` per step, evaluations included.
6. Small steps: one DeiT-Tiny training step of ``base`` and of each method at its lowest-xi paper
   setting (``SplitRun.train_step``, CPU), interleaved: ``small_step_ms``.

Every comparison is timed in one process, candidates interleaved repetition by repetition (the
order alternating), summarised by medians; CUDA timings are synchronised. No timing is ever an
assertion in the test suite: these numbers live here.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from benchmarks.reference_adc import reference_compress, reference_kmeans  # noqa: E402
from benchmarks.timing import interleaved, machine_info, median, paired_ratio, time_once  # noqa: E402

B, N, C = 128, 197, 100
MODEL = "deit_tiny_patch16_224"
SYNTHETIC = "bench_synthetic"


# ----- inputs --------------------------------------------------------------------------------
def cut_inputs(D: int, device, seed: int = 0, batch: int = B, tokens: int = N):
    """Activations (a leaf that requires grad), a CLS attention with cluster structure, labels.

    The attention is a softmax of one of 16 random logit profiles plus noise per sample, so that
    k-means has clusters to find (a real DeiT's CLS attention is far from uniform).
    """
    g = torch.Generator().manual_seed(seed)
    acts = torch.randn(batch, tokens, D, generator=g).to(device).requires_grad_()
    protos = 2.0 * torch.randn(16, tokens, generator=g)
    z = torch.randint(0, 16, (batch,), generator=g)
    attn = (protos[z] + 0.5 * torch.randn(batch, tokens, generator=g)).softmax(-1).to(device)
    labels = torch.randint(0, C, (batch,), generator=g).to(device)
    return acts, attn, labels


def register_synthetic_dataset(n: int, img_size: int = 224) -> None:
    """A fixed in-memory dataset of ``n`` random 224 px images, 100 classes, for ``SplitRun``."""
    from adc.data import registry as adc_data

    def load(**kwargs):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(n, 3, img_size, img_size, generator=g)
        y = torch.randint(0, C, (n,), generator=g)
        pair = adc_data.TensorPair(x, y)
        return adc_data.DataBundle(SYNTHETIC, pair, pair, num_classes=C, in_chans=3, img_size=img_size,
                                   class_names=[str(i) for i in range(C)])
    adc_data.DATASETS[SYNTHETIC] = load


# ----- item 1 ----------------------------------------------------------------------------------
def bench_adc_vs_reference(device, dims, xis, reps, warmup, log) -> list[dict]:
    """``reps``: repetitions, or {D: repetitions}."""
    from adc.methods import CutShape, create_method

    rows = []
    for D in dims:
        n_reps = reps[D] if isinstance(reps, dict) else reps
        acts, attn, labels = cut_inputs(D, device)
        for xi in xis:
            m = create_method("adc", CutShape(B, N, D, C), generator=torch.Generator(device).manual_seed(0), xi=xi)
            T, k = m.num_clusters(B), m.num_keep(N)
            grad = torch.randn(T, k, D, generator=torch.Generator().manual_seed(1)).to(device)
            ref_gen = torch.Generator().manual_seed(0)
            iters = []

            # the reference computes what ADC computes, given the same assignment
            out, soft, det = m.compress(acts, attn, labels)
            r_out, r_soft, r_tok = reference_compress(acts, attn, labels, T, k, C, assign=det["assign"])
            torch.testing.assert_close(out, r_out, rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(soft, r_soft)
            assert torch.equal(det["tokens"], r_tok)

            def vectorized():
                o, _, _ = m.compress(acts, attn, labels)
                o.backward(grad)
                acts.grad = None

            def reference():
                assign, it = reference_kmeans(attn, T, generator=ref_gen)
                iters.append(it)
                o, _, _ = reference_compress(acts, attn, labels, T, k, C, assign=assign)
                o.backward(grad)
                acts.grad = None

            t = interleaved({"vectorized": vectorized, "reference": reference}, n_reps, warmup, device,
                            min_sample_s=0.1)
            row = {"device": str(device), "B": B, "N": N, "D": D, "xi": xi, "T": T, "k": k,
                   "vectorized_ms": 1e3 * median(t["vectorized"]), "reference_ms": 1e3 * median(t["reference"]),
                   "speedup": paired_ratio(t["reference"], t["vectorized"]),
                   "reference_kmeans_iters": median([float(i) for i in iters]), "reps": len(t["vectorized"])}
            rows.append(row)
            log(f"  D={D:4d} xi={xi:<5g} T={T:3d} k={k:3d}  vectorized {row['vectorized_ms']:8.2f} ms  "
                f"reference {row['reference_ms']:8.2f} ms  ({row['reference_kmeans_iters']:.0f} k-means iters)  "
                f"speedup x{row['speedup']:.1f}")
    return rows


# ----- item 2 ----------------------------------------------------------------------------------
def paper_settings_with_xi(cls) -> list[tuple[float, dict]]:
    """(declared xi on the DeiT-Tiny cut, setting) for each paper-grid setting that can be built here."""
    from adc.methods import CutShape

    shape = CutShape(B, N, 192, C)
    out = []
    for s in cls.settings("paper"):
        try:
            out.append((cls(shape, generator=torch.Generator().manual_seed(0), **s).expected_xi(), s))
        except Exception:  # noqa: BLE001 - a method that cannot be built here is simply not chosen
            continue
    return out


def representative_setting(cls) -> dict:
    """The paper-grid setting whose declared xi is closest to 0.1 (base: none)."""
    found = paper_settings_with_xi(cls)
    return min(found, key=lambda p: abs(p[0] - 0.1))[1] if found else {}


def compression_step(method, acts, attn, labels, device, autocast):
    """One compression round trip of ``method`` without the model (:func:`adc.core.step.cross_cut`):
    encode, cross, decode, a fixed gradient on the server's input, encode_grad, cross, decode_grad."""
    from adc.core import step as cut

    grads: dict = {}

    def probe(tokens, targets):          # the server: a fixed gradient on its input
        if not tokens.requires_grad:
            return tokens.new_zeros((), requires_grad=True)
        key = tuple(tokens.shape)
        if key not in grads:
            grads[key] = torch.randn(key, generator=torch.Generator().manual_seed(2)).to(device, tokens.dtype)
        return (tokens * grads[key]).sum()

    cross = cut.in_process(method, probe)

    def step():
        cut.cross_cut(method, acts, attn, labels, cross, autocast=autocast)
        acts.grad = None
    return step


def bench_method_overheads(device, reps, warmup, every_setting, log) -> list[dict]:
    from adc.methods import CutShape, registry, setting_label

    acts, attn, labels = cut_inputs(192, device, seed=3)
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if device.type == "cuda" \
        else contextlib.nullcontext
    fns, meta = {}, {}
    for name, cls in sorted(registry().items()):
        settings = cls.settings("paper") if every_setting else [representative_setting(cls)]
        for s in settings:
            m = cls(CutShape(B, N, 192, C), generator=torch.Generator(device).manual_seed(0), **s)
            for mod in (m.client_module(), m.server_module()):
                if mod is not None:
                    mod.to(device).train()
            key = f"{name}[{setting_label(s)}]"
            fns[key] = compression_step(m, acts, attn, labels, device, autocast)
            meta[key] = {"method": name, "setting": setting_label(s), "xi_expected": m.expected_xi()}
    cpu: dict = {}
    t = interleaved(fns, reps, warmup, device, min_sample_s=0.1, cpu_times=cpu)
    # the same basis as item 3's headline ratio: CPU time when single-threaded on a CPU (a shared machine's
    # neighbours inflate wall time by whatever they take, differently for each sample), else wall
    single_cpu = device.type == "cpu" and torch.get_num_threads() == 1
    rows = []
    for key, ts in t.items():
        rows.append({"device": str(device), **meta[key],
                     "compression_ms": 1e3 * median(cpu[key] if single_cpu else ts),
                     "compression_wall_ms": 1e3 * median(ts), "compression_cpu_ms": 1e3 * median(cpu[key]),
                     "basis": "cpu_time" if single_cpu else "wall", "reps": len(ts)})
    return rows


# ----- item 3 ----------------------------------------------------------------------------------
class PlainTimm:
    """Plain timm training of the same model: forward, cross-entropy, backward, one Adam."""

    def __init__(self, run):
        from adc.core.models import create_model

        cfg = run.cfg
        torch.manual_seed(cfg.seed)
        self.model = create_model(cfg.model, run.data.num_classes, in_chans=run.data.in_chans,
                                  img_size=run.data.img_size).to(run.device).train()
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.autocast = run.autocast

    def step(self, x, y):
        self.opt.zero_grad(set_to_none=True)
        with self.autocast():
            loss = F.cross_entropy(self.model(x).float(), y)
        loss.backward()
        self.opt.step()
        return loss.detach()


def maybe_compile(run, plain, log) -> None:
    """``--compile``: torch.compile every block of both models except the client's last one (its
    qkv carries the CLS-attention hook), so the two sides compile the same blocks."""
    compile_blocks(run)
    last_client = run.model.split_index - 1
    for i, blk in enumerate(plain.model.blocks):
        if i != last_client:
            plain.model.blocks[i] = torch.compile(blk)
    log("  torch.compile: on (all blocks but the client's last, in both models)")


def bench_split_vs_plain(device, reps, deadline, compile_, log) -> dict:
    """Interleaved pairs of (split ``base`` step, plain timm step) on the same batch.

    A warm-up pair at the timed batch comes first (the first step at a new size pays its
    allocations and kernel set-up). With a ``deadline`` (``--quick``), the batch is B = 128 when
    ``reps`` pairs fit in the time left (estimated from a warm-up step at B = 16), else the largest
    of 64, 32, 16 that fits; the B = 128 step time is then extrapolated linearly (the step's FLOPs
    are linear in B) and marked so in the results. A smaller batch makes the ratio a conservative
    bound: what the split adds (the attention read, two optimizers, the message bookkeeping) is per
    step, not per sample.
    """
    from adc.runtime.config import TrainConfig
    from adc.runtime.loop import SplitRun

    register_synthetic_dataset(B)
    out = tempfile.mkdtemp(prefix="adc-bench-")
    cfg = TrainConfig(dataset=SYNTHETIC, model=MODEL, method="base", batch_size=B, epochs=1,
                      device=str(device), out=out, progress=False, threads=torch.get_num_threads())
    run = SplitRun(cfg)
    run.model.train()
    plain = PlainTimm(run)
    if compile_:
        maybe_compile(run, plain, log)
    x, y = run.data.train.x[:B].to(device), run.data.train.y[:B].to(device)
    # warm-up: optimizer state, allocator, kernels (a small batch on CPU, where a full step is slow)
    wb = 16 if device.type == "cpu" else B
    est = 0.0
    for _ in range(1 if device.type == "cpu" else 3):
        est = time_once(lambda: run.train_step(x[:wb], y[:wb]), device)
        est += time_once(lambda: plain.step(x[:wb], y[:wb]), device)
    pair_128 = est * B / wb
    batch = B
    if deadline is not None and device.type == "cpu":
        left = deadline - time.perf_counter()
        for b in (B, 64, 32, 16):
            batch = b
            if (reps + 1) * pair_128 * b / B <= left:                 # + 1: the warm-up pair at that batch
                break
    xb, yb = x[:batch], y[:batch]
    cpu: dict = {}
    t = interleaved({"split": lambda: run.train_step(xb, yb), "plain": lambda: plain.step(xb, yb)},
                    reps, warmup=1, device=device, deadline=deadline, min_reps=1, cpu_times=cpu)
    # the headline ratio: wall clock, except single-threaded on a CPU, where the process's CPU time is the
    # work done and wall time adds whatever the neighbours of a shared machine took (both are recorded)
    single_cpu = device.type == "cpu" and torch.get_num_threads() == 1
    basis = "cpu_time" if single_cpu else "wall"
    run.check_finite()
    scale = B / batch
    # what the split adds per step, timed alone (noise-free bound on its cost): the CLS-attention read
    # (hook), base's message round trip (leaf copy, labels, gradient message, client backward entry)
    # and the step's non-finite guard
    from adc.core.split import cls_attention_from_qkv
    D = run.model.embed_dim
    attn_mod = run.model.client.blocks[-1].attn
    qkv = torch.randn(B, N, 3 * D).to(device)
    acts, attn, labels = cut_inputs(D, device, seed=4)
    loss_like = torch.ones((), device=device)

    def attn_read():
        with torch.no_grad():
            cls_attention_from_qkv(attn_mod, qkv, run.model.num_prefix_tokens)

    def finite_guard():
        return torch.isfinite(loss_like) & torch.isfinite(acts.detach()).all()
    parts = interleaved({"attention_read": attn_read,
                         "message_round_trip": compression_step(run.method, acts, attn, labels, device, run.autocast),
                         "finite_guard": finite_guard}, 5, 1, device, min_sample_s=0.05)
    extra = {k: median(v) for k, v in parts.items()}
    res = {"device": str(device), "model": MODEL, "batch_size": batch, "img_size": 224,
           "split_step_s": median(t["split"]) * scale, "plain_step_s": median(t["plain"]) * scale,
           "split_steps_s": t["split"], "plain_steps_s": t["plain"],
           "split_vs_plain_throughput": paired_ratio(*((cpu["plain"], cpu["split"]) if single_cpu
                                                       else (t["plain"], t["split"]))),
           "split_vs_plain_basis": basis,
           "split_vs_plain_throughput_wall": paired_ratio(t["plain"], t["split"]),
           "split_vs_plain_throughput_cpu_time": paired_ratio(cpu["plain"], cpu["split"]),
           "split_cpu_s": cpu["split"], "plain_cpu_s": cpu["plain"], "reps": len(t["split"]),
           "compile": bool(compile_), "amp_bf16": device.type == "cuda" and cfg.amp,
           "step_s_extrapolated_from_batch": batch if batch != B else None,
           "split_extra_ms_at_B128": {k: 1e3 * v for k, v in extra.items()}}
    res["split_extra_pct_of_step"] = 100.0 * sum(extra.values()) / res["split_step_s"]
    res["split_samples_per_s"] = B / res["split_step_s"]
    res["plain_samples_per_s"] = B / res["plain_step_s"]
    note = f" (measured at B={batch}, B=128 time extrapolated x{scale:g})" if batch != B else ""
    log(f"  split base {res['split_step_s']:.3f} s/step ({res['split_samples_per_s']:.1f} samples/s)  "
        f"plain timm {res['plain_step_s']:.3f} s/step ({res['plain_samples_per_s']:.1f} samples/s)  "
        f"throughput ratio {res['split_vs_plain_throughput']:.3f} by {basis} "
        f"(wall {res['split_vs_plain_throughput_wall']:.3f}, "
        f"CPU time {res['split_vs_plain_throughput_cpu_time']:.3f}; {res['reps']} interleaved pairs){note}")
    log(f"  what the split adds, timed alone at B={B}: " + ", ".join(f"{k} {1e3 * v:.2f} ms" for k, v in extra.items())
        + f" = {res['split_extra_pct_of_step']:.3f} % of the step")
    return res


# ----- item 4 ----------------------------------------------------------------------------------
def bench_micro(quick: bool, compile_: bool, log) -> dict:
    """ms per step of the embedded default (``python -m adc.train --dataset digits --model vit_micro
    --batch-size 64 --lr 1e-3 --seed 0 --threads 1``), base and ADC xi = 0.1: CPU time of ``SplitRun.run``
    (steps, evaluations, checkpoints) / steps. ``--quick``: a shorter budget (same per-step mix)."""
    from adc.runtime.config import TrainConfig
    from adc.runtime.loop import SplitRun

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    budgets = {"base": 3.0, "adc": 1.0} if quick else {"base": 30.0, "adc": 30.0}
    res: dict = {}
    try:
        for name, params in (("base", {}), ("adc", {"xi": 0.1})):
            cfg = TrainConfig(dataset="digits", model="vit_micro", method=name, params=params, batch_size=64, lr=1e-3,
                              budget_epochs=budgets[name], seed=0, device="cpu", threads=1, progress=False,
                              out=tempfile.mkdtemp(prefix="adc-bench-micro-"))
            run = SplitRun(cfg)
            if compile_:
                compile_blocks(run)
            c0, t0 = time.process_time(), time.perf_counter()
            m = run.run(log=lambda s: None)
            cpu, wall = time.process_time() - c0, time.perf_counter() - t0
            key = "base" if name == "base" else "adc_xi0.1"
            res[key] = {"ms_per_step": 1e3 * cpu / m["steps"], "wall_ms_per_step": 1e3 * wall / m["steps"],
                        "steps": m["steps"], "budget_epochs": budgets[name], "final_test_accuracy":
                        m["final_test_accuracy"], "compile": compile_}
            log(f"  {key}: {res[key]['ms_per_step']:.2f} ms/step CPU ({res[key]['wall_ms_per_step']:.2f} wall), "
                f"{m['steps']} steps, budget {budgets[name]:g} epochs")
    finally:
        torch.set_num_threads(threads)
    return res


def compile_blocks(run) -> None:
    """torch.compile each block of the split model but the client's last (its qkv carries the attention hook)."""
    last_client = run.model.split_index - 1
    for i, blk in enumerate(run.model.client.blocks):
        if i != last_client:
            run.model.client.blocks[i] = torch.compile(blk)
    for i, blk in enumerate(run.model.server.blocks):
        run.model.server.blocks[i] = torch.compile(blk)


def lowest_xi_setting(cls) -> dict:
    found = paper_settings_with_xi(cls)
    return min(found, key=lambda p: p[0])[1] if found else {}


def bench_small_steps(device, batch: int, reps: int, deadline, compile_: bool, log) -> list[dict]:
    """One DeiT-Tiny ``SplitRun.train_step`` of base and of every method at its lowest-xi paper setting,
    interleaved (CPU time when single-threaded on a CPU, else wall)."""
    from adc.methods import registry, setting_label
    from adc.runtime.config import TrainConfig
    from adc.runtime.loop import SplitRun

    register_synthetic_dataset(batch)
    fns, meta, cpu = {}, {}, {}
    for name, cls in sorted(registry().items()):
        s = lowest_xi_setting(cls)
        cfg = TrainConfig(dataset=SYNTHETIC, model=MODEL, method=name, params=s, batch_size=batch, epochs=1,
                          device=str(device), out=tempfile.mkdtemp(prefix="adc-bench-"), progress=False,
                          threads=torch.get_num_threads())
        run = SplitRun(cfg)
        run.model.train()
        if compile_:
            compile_blocks(run)
        x, y = run.data.train.x[:batch].to(device), run.data.train.y[:batch].to(device)
        key = f"{name}[{setting_label(s)}]"
        fns[key] = (lambda r=run, x=x, y=y: r.train_step(x, y))
        meta[key] = {"method": name, "setting": setting_label(s), "xi_expected": run.method.expected_xi()}
    t = interleaved(fns, reps, warmup=1, device=device, deadline=deadline, min_reps=1, cpu_times=cpu)
    single_cpu = device.type == "cpu" and torch.get_num_threads() == 1
    base_key = next(k for k in t if k.startswith("base["))
    rows = []
    for k, ts in t.items():
        basis = cpu[k] if single_cpu else ts
        ref = cpu[base_key] if single_cpu else t[base_key]
        rows.append({"device": str(device), **meta[k], "batch_size": batch, "step_ms": 1e3 * median(basis),
                     "wall_ms": 1e3 * median(ts), "vs_base": paired_ratio(basis, ref), "reps": len(ts),
                     "basis": "cpu_time" if single_cpu else "wall", "compile": compile_})
        log(f"  {k:40s} xi {meta[k]['xi_expected']:.3f}  {rows[-1]['step_ms']:9.1f} ms  x{rows[-1]['vs_base']:.2f} of base")
    return rows


def bench_loader(quick: bool, out_dir: Path, log) -> dict | None:
    script = ROOT / "benchmarks" / "loader_throughput.py"
    if not script.exists():
        log("  benchmarks/loader_throughput.py not present: item 4 skipped")
        return None
    if quick:
        out = out_dir / "loader_quick.json"
        args = ["--workers", "0", "--images", "256", "--batches", "2", "--reps", "2", "--per-worker-reps", "5"]
    else:
        out = out_dir / "loader.json"
        args = []
    cmd = [sys.executable, str(script), *args, "--out", str(out)]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600 if quick else 1800)
    except subprocess.TimeoutExpired:
        log("  loader benchmark timed out: item 4 skipped")
        return None
    if proc.returncode != 0 or not out.exists():
        log(f"  loader benchmark failed (rc {proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}")
        return None
    data = json.loads(out.read_text())
    rows = data.get("results", [])
    best = max(rows, key=lambda r: r.get("images_per_s", 0)) if rows else None
    rel = lambda q: os.path.relpath(q, ROOT) if str(q).startswith(str(ROOT)) else str(q)  # noqa: E731
    return {"file": rel(out), "command": " ".join(["python", *(rel(c) for c in cmd[1:])]),
            "per_worker": data.get("per_worker"), "device_transform": data.get("device_transform"),
            "by_workers": {f"{r.get('stage', 'worker')},{r['num_workers']}": r["images_per_s"] for r in rows},
            "best_images_per_s": best["images_per_s"] if best else None,
            "best_num_workers": best["num_workers"] if best else None}


# ----- report ----------------------------------------------------------------------------------
def table(rows: list[list], header: list[str]) -> str:
    cells = [header] + [[str(c) for c in r] for r in rows]
    w = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = lambda r: "  ".join(c.rjust(w[i]) if i else c.ljust(w[i]) for i, c in enumerate(r))  # noqa: E731
    return "\n".join([line(cells[0]), "  ".join("-" * x for x in w)] + [line(r) for r in cells[1:]])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer repetitions; under 3 minutes on a 2-core CPU")
    p.add_argument("--items", default="1,2,3,4,5,6", help="which items to run, e.g. 1,3")
    p.add_argument("--devices", default="auto", help="cpu, cuda, or auto (cpu, plus cuda when available)")
    p.add_argument("--threads", default="auto",
                   help="torch CPU threads; auto (default): torch's default, or 1 when the machine is already "
                        "loaded (1-min load average > half the CPUs), where a multi-threaded op mostly measures "
                        "how long it waits for a descheduled thread")
    p.add_argument("--item1-threads", type=int, default=None,
                   help="CPU threads for item 1 (default: 1 with --quick, else both 1 and --threads); see README")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the blocks in items 3, 5 and 6 (off by default: on a CPU, inductor's compile takes "
                        "minutes; meant for a GPU)")
    p.add_argument("--budget-s", type=float, default=170.0, help="--quick: wall-clock budget for everything")
    p.add_argument("--out", default=str(ROOT / "results" / "benchmarks"))
    a = p.parse_args(argv)
    t_start = time.perf_counter()
    deadline = t_start + a.budget_s
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    load0 = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if a.threads == "auto":
        if load0 > 0.5 * (os.cpu_count() or 1) and torch.get_num_threads() > 1:
            print(f"note: the machine is loaded (1-min load {load0:.1f} on {os.cpu_count()} CPUs) before we start: "
                  f"timing single-threaded; --threads N overrides", flush=True)
            torch.set_num_threads(1)
    else:
        torch.set_num_threads(int(a.threads))
    items = {int(i) for i in a.items.split(",") if i.strip()}
    if a.devices == "auto":
        devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    else:
        devices = [torch.device(d) for d in a.devices.split(",")]
    out_dir = Path(a.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    log = lambda s: print(s, flush=True)  # noqa: E731
    q = a.quick

    summary: dict = {"command": "python benchmarks/run.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                     "quick": q, "machine": machine_info(devices[-1]), "devices": [str(d) for d in devices]}
    log(f"ADC-Bench benchmarks ({'quick' if q else 'full'}); torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, load {summary['machine'].get('loadavg_1min', float('nan')):.2f}, "
        f"devices {summary['devices']}")

    adc_rows, overhead_rows, split_res, loader = [], [], {}, None
    if 1 in items:
        threads = torch.get_num_threads()
        item1_threads = [a.item1_threads] if a.item1_threads else ([1] if q else sorted({1, threads}))
        for dev in devices:
            for nt in (item1_threads if dev.type == "cpu" else [threads]):
                torch.set_num_threads(nt)
                log(f"[1] ADC compression step (fwd + bwd) vs a straightforward reference, B={B}, N={N}, on {dev}"
                    + (f", {nt} thread(s)" if dev.type == "cpu" else ""))
                gpu = dev.type == "cuda"
                rows = bench_adc_vs_reference(dev, (192, 384), (0.01, 0.1, 0.5),
                                              reps=(10 if q else 30) if gpu else ({192: 9, 384: 3} if q else 15),
                                              warmup=2 if gpu else (0 if q else 2), log=log)
                adc_rows += [dict(r, threads=nt) for r in rows]
        torch.set_num_threads(threads)
    if 2 in items:
        for dev in devices:
            log(f"[2] compression step of every registered method (B={B}, N={N}, D=192), on {dev}")
            reps = (10 if q else 30) if dev.type == "cuda" else (3 if q else 11)
            overhead_rows += bench_method_overheads(dev, reps=reps, warmup=2 if dev.type == "cuda" else 1,
                                                    every_setting=not q, log=log)
    if 4 in items:
        log("[4] data loader alone (benchmarks/loader_throughput.py)")
        loader = bench_loader(q, out_dir, log)
    if 5 in items:
        log("[5] the embedded default's step: vit_micro on digits, B=64, 1 thread")
        summary["micro_step_ms"] = {k: v["ms_per_step"] for k, v in bench_micro(q, a.compile, log).items()}
        summary["micro_step_ms_note"] = ("CPU time of SplitRun.run / steps (evaluations and checkpoints included), "
                                         "one thread" + ("; --quick: budget 3 epochs (base), 1 (adc)" if q else ""))
    if 6 in items:
        for dev in devices:
            batch = (8 if q else 32) if dev.type == "cpu" else B
            log(f"[6] small steps: {MODEL}, B={batch}, base and every method at its lowest-xi paper setting, on {dev}")
            rows = bench_small_steps(dev, batch, reps=(2 if q else 5) if dev.type == "cpu" else 20,
                                     deadline=None, compile_=a.compile, log=log)
            summary.setdefault("small_steps", []).extend(rows)
        first_dev = summary["small_steps"][0]["device"]
        summary["small_step_ms"] = {f"{r['method']}[{r['setting']}]": r["step_ms"] for r in summary["small_steps"]
                                    if r["device"] == first_dev}
    if 3 in items or 2 in items:
        for dev in sorted(devices, key=lambda d: d.type == "cpu"):    # the GPU first: the CPU takes what is left
            log(f"[3] split `base` vs plain timm training, {MODEL}, B={B}, 224 px, on {dev}")
            reps = (20 if q else 50) if dev.type == "cuda" else (5 if q else 8)
            split_res[str(dev)] = bench_split_vs_plain(dev, reps=reps,
                                                       deadline=deadline - 5 if q and dev.type == "cpu" else None,
                                                       compile_=a.compile, log=log)

    # ----- summary ----------------------------------------------------------------------------
    if adc_rows:
        cpu192 = [r for r in adc_rows if r["device"] == "cpu" and r["D"] == 192]
        pick = cpu192 or [r for r in adc_rows if r["D"] == 192]
        speedups = [r["speedup"] for r in pick]
        summary["adc_step_speedup_vs_reference"] = math.exp(sum(math.log(x) for x in speedups) / len(speedups))
        summary["adc_step_speedup_vs_reference_min"] = min(speedups)
        summary["adc_step_speedup_vs_reference_note"] = (
            "geometric mean over xi in {0.01, 0.1, 0.5} at B=128, N=197, D=192 on " + pick[0]["device"]
            + "; _min: the smallest of them (usually xi=0.01: the reference loops over only T=12 clusters, and both "
              "are bound by writing the dense (B, N, D) gradient)")
        summary["adc_step_speedup_vs_reference_by_xi"] = {
            f"D={r['D']},xi={r['xi']}" + (f",threads={r['threads']}" if r["device"] == "cpu" else f",{r['device']}"):
            r["speedup"] for r in adc_rows}
        summary["adc_vs_reference"] = adc_rows
        log("\n[1] ADC compression step (k-means + merge + token selection, forward + backward)")
        log(table([[r["device"], r["threads"], r["D"], r["xi"], f"{r['T']}x{r['k']}", f"{r['vectorized_ms']:.2f}",
                    f"{r['reference_ms']:.2f}", f"{r['reference_kmeans_iters']:.0f}", f"{r['speedup']:.1f}x"]
                   for r in adc_rows],
                  ["device", "threads", "D", "xi", "T x k", "ADC ms", "reference ms", "ref iters", "speedup"]))
    if split_res:
        first = split_res.get("cpu") or next(iter(split_res.values()))
        summary["split_vs_plain_throughput"] = first["split_vs_plain_throughput"]
        summary["split_vs_plain_basis"] = first["split_vs_plain_basis"]
        summary["split_vs_plain_throughput_wall"] = first["split_vs_plain_throughput_wall"]
        summary["split_vs_plain_throughput_cpu_time"] = first["split_vs_plain_throughput_cpu_time"]
        summary["split_extra_pct_of_step"] = first["split_extra_pct_of_step"]
        summary["split_vs_plain"] = split_res
        log("\n[3] training throughput, split `base` vs plain timm (same model, batch, optimizer)")
        log(table([[d, r["batch_size"], f"{r['split_step_s']:.3f}", f"{r['plain_step_s']:.3f}",
                    f"{r['split_samples_per_s']:.1f}", f"{r['plain_samples_per_s']:.1f}",
                    f"{r['split_vs_plain_throughput_wall']:.3f}", f"{r['split_vs_plain_throughput_cpu_time']:.3f}",
                    r["reps"], f"{r['split_extra_pct_of_step']:.3f}"]
                   for d, r in split_res.items()],
                  ["device", "batch", "split s/step*", "plain s/step*", "split samples/s", "plain samples/s",
                   "split/plain wall", "split/plain CPU time", "pairs", "split-only work %"]))
        log("  * per B=128 step (extrapolated when measured at a smaller batch); split/plain: median of the "
            "per-pair throughput ratios (the summary's split_vs_plain_throughput: CPU time when single-threaded on "
            "a CPU, else wall); split-only work: attention read + message round trip + finite guard, timed alone")
    if overhead_rows and split_res:
        by_dev: dict = {}
        for r in overhead_rows:
            sr = split_res[r["device"]]
            step = (median(sr["split_cpu_s"]) * B / sr["batch_size"] if r.get("basis") == "cpu_time"
                    else sr["split_step_s"])
            r["pct_of_split_step"] = 100.0 * r["compression_ms"] / 1e3 / step
            by_dev.setdefault(r["device"], {})
        for dev in by_dev:
            rows = [r for r in overhead_rows if r["device"] == dev]
            # one number per method: its representative setting (quick) or its worst setting (full)
            per_method: dict = {}
            for r in rows:
                per_method[r["method"]] = max(per_method.get(r["method"], 0.0), r["pct_of_split_step"])
            by_dev[dev] = per_method
        key = "cpu" if "cpu" in by_dev else next(iter(by_dev))
        summary["overhead_pct"] = by_dev[key]
        summary["overhead_pct_device"] = key
        summary["overhead_pct_by_device"] = by_dev
        summary["overhead_pct_note"] = (f"compression step (encode, decode, encode_grad, decode_grad, forward + "
                                        f"backward) as % of one {MODEL} split training step (base, B={B}, 224 px); "
                                        + ("the method's paper setting nearest xi=0.1" if q else
                                           "the worst setting of the method's paper grid"))
        summary["method_overheads"] = overhead_rows
        log("\n[2] compression step as % of one split training step (base, B=128, 224 px)")
        log(table([[r["device"], r["method"], r["setting"], f"{r['xi_expected']:.3f}", f"{r['compression_ms']:.2f}",
                    f"{r['pct_of_split_step']:.3f}"] for r in overhead_rows],
                  ["device", "method", "setting", "xi", "ms", "% of step"]))
    if loader:
        summary["loader"] = loader
        pw = loader.get("per_worker") or {}
        if pw:
            summary["loader_images_per_s_per_worker"] = {"per_image": pw["images_per_s"]["worker"],
                                                         "staged": pw["images_per_s"]["device"],
                                                         "ratio": pw["ratio"]}
            summary["loader_images_per_s_per_worker_note"] = (
                "CIFAR-like 32 px PNG -> 224 px, paper's train transforms, DeiT normalization; per_image: the whole "
                "pipeline in the worker (stage: worker, the earlier path); staged: what the worker does when the resize, "
                "flip and normalization run batched on the device (stage: device); images per CPU-second of one worker")
        train_ips = {d: r["split_samples_per_s"] for d, r in split_res.items()}
        loader["train_step_images_per_s"] = train_ips
        log("\n[4] data loader alone vs the training step (images/s)")
        rows = [[f"loader ({w.split(',')[0]} stage), {w.split(',')[-1]} workers", f"{ips:.1f}"]
                for w, ips in loader["by_workers"].items()]
        rows += [[f"training step ({d})", f"{ips:.1f}"] for d, ips in train_ips.items()]
        log(table(rows, ["what", "images/s"]))
        if pw:
            log(f"  per worker (CPU time of the worker's own work): per-image path {pw['images_per_s']['worker']:.0f}, "
                f"staged path {pw['images_per_s']['device']:.0f} images/s: x{pw['ratio']:.2f}")
        for d, ips in train_ips.items():
            best = loader["best_images_per_s"] or 0
            limit = "the data loader" if best < ips else "the training step"
            log(f"  on {d}: {limit} limits ({best:.0f} vs {ips:.0f} images/s; loader with "
                f"{loader['best_num_workers']} workers on {os.cpu_count()} CPUs)")
            loader.setdefault("limited_by", {})[d] = limit
    summary["wall_s"] = time.perf_counter() - t_start
    summary["machine"]["loadavg_1min_end"] = os.getloadavg()[0]
    path = out_dir / "summary.json"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    os.replace(tmp, path)
    log(f"\nwall {summary['wall_s']:.0f} s -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
