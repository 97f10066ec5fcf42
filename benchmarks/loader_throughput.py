"""Images/s of the data loader alone: CIFAR-100-like data at 224 px with the paper's train transforms.

CIFAR-100 itself cannot be downloaded on a machine without network, so the script writes a
synthetic copy in the hub's layout (``cifar100/train-*.parquet``: 32x32 PNGs in the struct
``{bytes, path}``, ``fine_label``, ``coarse_label``; the same file size and decode work per image)
and reads it as ``--dataset cifar100:DIR``, the code path of the real dataset: datasets'
Arrow cache -> ImageDataset (PNG decode, RandAugment(2, 9), ColorJitter(0.4), resize to 224
bicubic, flip, DeiT normalization) -> adc.loading.dataloader_for.

Two pipelines, timed side by side (``--stages``): ``worker``, the per-image path (decode,
augment at 32 px, resize to 224 px, flip and normalize to float32, all in the worker) and
``device``, the staged path (the worker decodes at 32 px and draws the augmentation's random
numbers, and ships uint8 plus those draws and the flip draws; the augmentation at 32 px, resize,
flip and normalize run batched on the training device: the same images, bit for bit on a CPU).
Three measures:

- ``per_worker``: what one worker process makes per second, the worker's own work
  (``ImageDataset.worker_batch`` in-process, the two stages interleaved batch after batch, CPU
  time, medians). This is ``loader_images_per_s_per_worker`` in run.py's summary: the rate each
  worker adds, whatever the number of workers;
- ``device_transform``: the batched augmentation + resize + flip + normalize alone, images/s, on the CPU (and on
  CUDA when present): what the staged path moves onto the training device;
- ``results``: the whole DataLoader for each worker count and stage, started once (persistent
  workers), timed over whole passes of ``--batches`` batches, finished on the CPU (the device
  part included); the worker counts take turns, repetition after repetition, in alternating
  order, so that a neighbour's load on a shared machine hits all of them alike; medians. The
  first pass (worker start-up) is reported apart.

    python benchmarks/loader_throughput.py                      # 0, 1, 2 workers, as reported
    python benchmarks/loader_throughput.py --workers 0 4 8 --reps 5
"""
from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def write_synthetic_cifar100(root: Path, n: int, seed: int = 0) -> None:
    """``n`` 32x32 RGB PNGs with CIFAR-like content (smooth colour fields plus texture) in the hub's schema."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from PIL import Image

    rng = np.random.default_rng(seed)
    images = []
    for _ in range(n):
        base = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
        img = np.asarray(Image.fromarray(base).resize((32, 32), Image.BICUBIC), dtype=np.int16)
        img = np.clip(img + rng.integers(-24, 25, img.shape), 0, 255).astype(np.uint8)
        b = io.BytesIO()
        Image.fromarray(img).save(b, format="PNG")
        images.append({"bytes": b.getvalue(), "path": None})
    fine = rng.integers(0, 100, n)
    feats = {"img": {"_type": "Image"},
             "fine_label": {"names": [f"c{i}" for i in range(100)], "_type": "ClassLabel"},
             "coarse_label": {"names": [f"s{i}" for i in range(20)], "_type": "ClassLabel"}}
    table = pa.table({"img": pa.array(images, pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
                      "fine_label": pa.array(fine, pa.int64()), "coarse_label": pa.array(fine // 5, pa.int64())})
    table = table.replace_schema_metadata({"huggingface": json.dumps({"info": {"features": feats}})})
    (root / "cifar100").mkdir(parents=True, exist_ok=True)
    pq.write_table(table, root / "cifar100" / "train-00000-of-00001.parquet")
    pq.write_table(table.slice(0, max(1, n // 5)), root / "cifar100" / "test-00000-of-00001.parquet")


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of this process and of the given (worker) processes so far."""
    total = time.process_time()
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


def worker_pids(dataset) -> list[int]:
    pids = []
    for loader in getattr(dataset, "_adc_loaders", {}).values():
        it = getattr(loader, "_iterator", None)
        pids += [w.pid for w in getattr(it, "_workers", [])]
    return pids


def measure_per_worker(a, tmp: Path, torch, load_dataset) -> tuple[dict, list]:
    """Images per CPU-second of one worker's own work (``worker_batch``), both stages interleaved; and
    the device part of the staged path alone (batched augmentation, resize, flip, normalize) on each device."""
    data = {st: load_dataset(f"cifar100:{tmp / 'copy'}", model=a.model, image_size=a.image_size, num_workers=0,
                             pin_memory=False, transforms={"stage": st}).train for st in ("worker", "device")}
    g = torch.Generator().manual_seed(1)
    cpu: dict = {st: [] for st in data}
    batch_u8 = None
    for rep in range(a.per_worker_reps + 1):                    # the first: warm-up, not counted
        order = list(data) if rep % 2 == 0 else list(reversed(data))
        idx = torch.randperm(a.images, generator=g)[:a.batch_size].tolist()
        seeds = torch.randint(0, 2 ** 62, (len(idx),), generator=g).tolist()
        for st in order:
            c0 = time.process_time()
            out = data[st].worker_batch(list(zip(idx, seeds)))
            if rep:
                cpu[st].append(time.process_time() - c0)
            if st == "device":
                batch_u8 = out
    ips = {st: a.batch_size / statistics.median(v) for st, v in cpu.items()}
    per_worker = {"images_per_s": ips, "ratio": ips["device"] / ips["worker"], "batch_size": a.batch_size,
                  "reps": a.per_worker_reps, "basis": "CPU time of the worker's work (worker_batch), in-process",
                  "each_batch_s": cpu}
    rows = []
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    bt = data["device"].device_transform
    for dev in devices:
        x, _, flip = (t.to(dev) for t in batch_u8[:3])
        draws = batch_u8[3:]                                   # the augmentation draws stay on the CPU
        ts = []
        for rep in range(a.per_worker_reps + 1):
            if dev == "cuda":
                torch.cuda.synchronize()
            c0, t0 = time.process_time(), time.perf_counter()
            bt(x, flip, *draws)
            if dev == "cuda":
                torch.cuda.synchronize()
            if rep:
                ts.append((time.perf_counter() - t0) if dev == "cuda" else (time.process_time() - c0))
        rows.append({"device": dev, "images_per_s": len(x) / statistics.median(ts),
                     "basis": "wall, synchronised" if dev == "cuda" else "CPU time, 1 thread"})
    return per_worker, rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--stages", nargs="+", default=["worker", "device"], choices=["worker", "device"],
                   help="worker: the per-image pipeline; device: uint8 from the workers, the rest batched")
    p.add_argument("--per-worker-reps", type=int, default=5, help="interleaved batches per stage, per-worker rate")
    p.add_argument("--images", type=int, default=2048, help="synthetic training images written")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--batches", type=int, default=8, help="batches per timed pass")
    p.add_argument("--reps", type=int, default=5, help="timed passes per worker count")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--model", default="deit_tiny_patch16_224", help="whose normalization and input size")
    p.add_argument("--out", default=str(ROOT / "results" / "benchmarks" / "loader.json"))
    a = p.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="adc-loader-bench-"))
    try:
        return run(a, p, tmp, argv)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(a, p, tmp: Path, argv) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ["HF_DATASETS_CACHE"] = str(tmp / "hf-cache")
    import torch
    torch.set_num_threads(1)
    from adc.data import load_dataset
    from adc.data.loading import dataloader_for, shutdown_workers

    write_synthetic_cifar100(tmp / "copy", a.images)
    per_pass = a.batches * a.batch_size
    if per_pass > a.images:
        p.error(f"--batches x --batch-size = {per_pass} > --images {a.images}")
    per_worker, device_rows = measure_per_worker(a, tmp, torch, load_dataset)
    keys = [(st, w) for st in a.stages for w in a.workers]
    datasets, first = {}, {}
    g = torch.Generator().manual_seed(0)
    for st, w in keys:
        data = load_dataset(f"cifar100:{tmp / 'copy'}", model=a.model, image_size=a.image_size, num_workers=w,
                            pin_memory=False, transforms={"stage": st})
        datasets[st, w] = data.train
        t0 = time.perf_counter()
        for x, y in dataloader_for(data.train, a.batch_size, torch.randperm(a.images, generator=g)[:per_pass]):
            assert x.shape == (len(y), 3, a.image_size, a.image_size)
        first[st, w] = time.perf_counter() - t0
    times: dict = {k: [] for k in keys}
    cpu: dict = {k: [] for k in keys}
    load0 = os.getloadavg()
    for rep in range(a.reps):
        order = keys if rep % 2 == 0 else list(reversed(keys))
        for k in order:
            idx = torch.randperm(a.images, generator=g)[:per_pass]
            pids = worker_pids(datasets[k])
            c0, t0 = cpu_seconds(pids), time.perf_counter()
            n = sum(len(y) for _, y in dataloader_for(datasets[k], a.batch_size, idx))
            times[k].append(time.perf_counter() - t0)
            cpu[k].append(cpu_seconds(pids) - c0)
            assert n == per_pass
    load1 = os.getloadavg()
    for d in datasets.values():
        shutdown_workers(d)

    rows = []
    for st, w in keys:
        med = statistics.median(times[st, w])
        rows.append({"stage": st, "num_workers": w, "images_per_s": per_pass / med,
                     "images_per_s_each_pass": [per_pass / t for t in times[st, w]],
                     "images_per_cpu_s": per_pass / statistics.median(cpu[st, w]),
                     "first_pass_s": first[st, w], "first_pass_images_per_s": per_pass / first[st, w]})
    result = {
        "what": "data loader alone, CIFAR-100-like 32x32 PNG parquet (hub layout) -> 224 px, paper's train "
                "transforms, DeiT normalization; images/s = median over timed passes (persistent workers)",
        "command": "python benchmarks/loader_throughput.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "params": {k: v for k, v in vars(a).items() if k != "out"},
        "machine": {"cpu": cpu_name(), "cpu_count": os.cpu_count(), "loadavg_before": load0, "loadavg_after": load1,
                    "python": platform.python_version(), "torch": torch.__version__,
                    "torchvision": __import__("torchvision").__version__, "pillow": __import__("PIL").__version__},
        "per_worker": per_worker,
        "device_transform": device_rows,
        "results": rows,
    }
    print(f"loader alone: CIFAR-100-like PNGs -> {a.image_size} px, paper's train transforms, batch {a.batch_size}, "
          f"{a.batches} batches x {a.reps} passes; {cpu_name()}, {os.cpu_count()} CPUs, load {load0[0]:.1f}")
    print("per worker (the worker's own work, CPU time, interleaved): "
          + ", ".join(f"{st} {v:.0f} images/s" for st, v in per_worker["images_per_s"].items())
          + (f"; staged / per-image x{per_worker['ratio']:.1f}" if per_worker.get("ratio") else ""))
    for r in device_rows:
        print(f"device part (batched augmentation + resize + flip + normalize) on {r['device']}: {r['images_per_s']:.0f} images/s")
    print(f"{'stage':>7} {'workers':>8} {'images/s':>10} {'images/CPU-s':>13} {'first pass (start-up incl.)':>30}")
    for r in rows:
        print(f"{r['stage']:>7} {r['num_workers']:>8d} {r['images_per_s']:>10.1f} {r['images_per_cpu_s']:>13.1f} "
              f"{r['first_pass_s']:>23.2f} s ({r['first_pass_images_per_s']:.0f}/s)")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_name(f".{out.name}.tmp")
    tmp_out.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp_out, out)
    print(f"-> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
