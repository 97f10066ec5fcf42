"""Images/s of the data loader alone: CIFAR-100-like data at 224 px with the paper's train transforms.

CIFAR-100 itself cannot be downloaded on a machine without network, so the script writes a
synthetic copy in the hub's layout (``cifar100/train-*.parquet``: 32x32 PNGs in the struct
``{bytes, path}``, ``fine_label``, ``coarse_label``; the same file size and decode work per image)
and reads it as ``--dataset cifar100:DIR``, the code path of the real dataset: datasets'
Arrow cache -> ImageDataset (PNG decode, RandAugment(2, 9), ColorJitter(0.4), resize to 224
bicubic, flip, DeiT normalization) -> adc.loading.dataloader_for.

For each worker count the loader is started once (persistent workers) and timed over whole
passes of ``--batches`` batches; the worker counts take turns, repetition after repetition, in
alternating order, so that a neighbour's load on a shared machine hits all of them alike; the
table gives medians. The first pass (worker start-up) is reported apart.

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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
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
    datasets, first = {}, {}
    g = torch.Generator().manual_seed(0)
    for w in a.workers:
        data = load_dataset(f"cifar100:{tmp / 'copy'}", model=a.model, image_size=a.image_size, num_workers=w,
                            pin_memory=False)
        datasets[w] = data.train
        t0 = time.perf_counter()
        for x, y in dataloader_for(data.train, a.batch_size, torch.randperm(a.images, generator=g)[:per_pass]):
            assert x.shape == (len(y), 3, a.image_size, a.image_size)
        first[w] = time.perf_counter() - t0
    times: dict[int, list[float]] = {w: [] for w in a.workers}
    cpu: dict[int, list[float]] = {w: [] for w in a.workers}
    load0 = os.getloadavg()
    for rep in range(a.reps):
        order = a.workers if rep % 2 == 0 else list(reversed(a.workers))
        for w in order:
            idx = torch.randperm(a.images, generator=g)[:per_pass]
            pids = worker_pids(datasets[w])
            c0, t0 = cpu_seconds(pids), time.perf_counter()
            n = sum(len(y) for _, y in dataloader_for(datasets[w], a.batch_size, idx))
            times[w].append(time.perf_counter() - t0)
            cpu[w].append(cpu_seconds(pids) - c0)
            assert n == per_pass
    load1 = os.getloadavg()
    for d in datasets.values():
        shutdown_workers(d)

    rows = []
    for w in a.workers:
        med = statistics.median(times[w])
        rows.append({"num_workers": w, "images_per_s": per_pass / med,
                     "images_per_s_each_pass": [per_pass / t for t in times[w]],
                     "images_per_cpu_s": per_pass / statistics.median(cpu[w]),
                     "first_pass_s": first[w], "first_pass_images_per_s": per_pass / first[w]})
    result = {
        "what": "data loader alone, CIFAR-100-like 32x32 PNG parquet (hub layout) -> 224 px, paper's train "
                "transforms, DeiT normalization; images/s = median over timed passes (persistent workers)",
        "command": "python benchmarks/loader_throughput.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "params": {k: v for k, v in vars(a).items() if k != "out"},
        "machine": {"cpu": cpu_name(), "cpu_count": os.cpu_count(), "loadavg_before": load0, "loadavg_after": load1,
                    "python": platform.python_version(), "torch": torch.__version__,
                    "torchvision": __import__("torchvision").__version__, "pillow": __import__("PIL").__version__},
        "results": rows,
    }
    print(f"loader alone: CIFAR-100-like PNGs -> {a.image_size} px, paper's train transforms, batch {a.batch_size}, "
          f"{a.batches} batches x {a.reps} passes; {cpu_name()}, {os.cpu_count()} CPUs, load {load0[0]:.1f}")
    print(f"{'workers':>8} {'images/s':>10} {'images/CPU-s':>13} {'first pass (start-up incl.)':>30}")
    for r in rows:
        print(f"{r['num_workers']:>8d} {r['images_per_s']:>10.1f} {r['images_per_cpu_s']:>13.1f} "
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
