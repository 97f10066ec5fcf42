"""The command line: ``python -m adc.train --method adc --param xi=0.1 --out runs/x``.

Builds a :class:`~adc.runtime.config.TrainConfig` from flags (and ``--config FILE``) and runs it
in-process (:class:`~adc.runtime.loop.SplitRun`) or in two processes
(:mod:`adc.runtime.distributed`).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from adc.runtime.config import TrainConfig
from adc.runtime.errors import Interrupted, NonFiniteError


def train(cfg: TrainConfig, log=print) -> dict:
    """Run (or resume) one training run; return its metrics (also written to ``cfg.out``)."""
    if cfg.transport == "distributed":
        from adc.runtime.distributed import train_distributed
        return train_distributed(cfg, log=log)
    from adc.runtime.loop import SplitRun
    return SplitRun(cfg).run(log=log)


# ----- command line --------------------------------------------------------------------------
def parse_value(text: str):
    import yaml
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def build_parser() -> argparse.ArgumentParser:
    from adc.data.registry import available_datasets
    from adc.core.methods import registry
    d = TrainConfig()
    methods = ", ".join(sorted(registry()))
    p = argparse.ArgumentParser(
        prog="python -m adc.train",
        description="Train one split-learning run and write metrics.json + history.csv to --out.",
        epilog=f"datasets: {', '.join(available_datasets())}\n"
               f"models:   vit_micro (embedded default), any timm ViT/DeiT, e.g. deit_tiny_patch16_224, "
               f"deit_small_patch16_224\nmethods:  {methods}\n\n"
               f"example:  python -m adc.train --dataset digits --model vit_micro --method adc --param xi=0.1 "
               f"--seed 0 --out /tmp/run",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default=d.dataset,
                   help="dataset name, or NAME:DIR for a local copy: imagefolder:DIR, parquet:DIR, cifar100:DIR "
                        "(default: %(default)s)")
    p.add_argument("--model", default=d.model, help="timm model name (default: %(default)s)")
    p.add_argument("--method", default=d.method, help="compression method (default: %(default)s)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a method parameter, repeatable, e.g. --param xi=0.1")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--split-index", type=int, default=None, help="client blocks (default: 2 for vit_micro, else 3)")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    stop = p.add_mutually_exclusive_group()
    stop.add_argument("--budget-epochs", type=float, default=None,
                      help=f"train until the bytes sent equal E uncompressed epochs (default: "
                           f"{TrainConfig.DEFAULT_BUDGET_EPOCHS:g}, the paper's)")
    stop.add_argument("--epochs", type=int, default=None, help="train for E passes over the data instead")
    p.add_argument("--eval-batch-size", type=int, default=d.eval_batch_size)
    p.add_argument("--pretrained", action="store_true", help="load timm's pretrained weights")
    p.add_argument("--weights", default=None, help="a local weights file (instead of downloading)")
    p.add_argument("--image-size", type=int, default=None)
    p.add_argument("--num-workers", type=int, default=d.num_workers)
    p.add_argument("--device", default=d.device)
    p.add_argument("--no-amp", dest="amp", action="store_false", help="disable bf16 autocast on CUDA")
    p.add_argument("--deterministic", action="store_true")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--progress", dest="progress", action="store_true", default=None)
    p.add_argument("--no-progress", dest="progress", action="store_false")
    p.add_argument("--validation-fraction", type=float, default=0.0,
                   help="evaluate on this held-out fraction of the training set instead of the test set")
    p.add_argument("--eval-compressed", action="store_true",
                   help="evaluate through the method's compression too (as top-k / C3-SL authors do); "
                        "default: uncompressed evaluation, as the ADC paper")
    p.add_argument("--save-model", action="store_true", help="also write the trained weights to OUT/model.pt")
    p.add_argument("--transport", default=d.transport, choices=["inprocess", "distributed"],
                   help="inprocess: one process; distributed: client and server in two processes over "
                        "torch.distributed, started by this command or by torchrun --nproc-per-node 2 "
                        "(default: %(default)s)")
    p.add_argument("--link", default=None, metavar="SPEC",
                   help="a link model, e.g. up=10Mbit,down=50Mbit,latency=20ms or 'example': reports link_seconds")
    p.add_argument("--link-sleep", action="store_true", help="distributed: really wait the link's time per message")
    p.add_argument("--config", default=None, help="a YAML/JSON file of these options (flags override it)")
    p.add_argument("--out", default=d.out, help="output folder (default: %(default)s)")
    return p


def config_from_args(argv: list[str] | None = None) -> TrainConfig:
    p = build_parser()
    a = p.parse_args(argv)
    base: dict = {}
    if a.config:
        from adc.runtime.config import read_config_file
        base = read_config_file(a.config)          # malformed YAML, a list: one line naming file and line
    if not isinstance(base.get("params") or {}, dict):
        raise ValueError(f"{a.config}: params: expected a mapping of method parameters, got {base['params']!r}")
    params = dict(base.get("params") or {})
    for item in a.param:
        if "=" not in item:
            p.error(f"--param {item!r}: expected NAME=VALUE, e.g. --param xi=0.1")
        k, v = item.split("=", 1)
        params[k.strip()] = parse_value(v.strip())
    explicit = {k: v for k, v in vars(a).items() if k not in ("param", "config")}
    defaults = vars(p.parse_args([]))
    merged = dict(base)
    for k, v in explicit.items():
        if k not in base or v != defaults.get(k):
            merged[k] = v
    merged["params"] = params
    return TrainConfig.from_dict(merged, source=a.config or "config")


def main(argv: list[str] | None = None) -> int:
    try:
        cfg = config_from_args(argv)
        metrics = train(cfg)
        if metrics is None:            # the server rank of `torchrun ... --transport distributed`
            return 0
    except Interrupted as e:
        print(f"adc.train: {e}", file=sys.stderr)
        return 143
    except (ValueError, NonFiniteError, FileNotFoundError) as e:
        print(f"adc.train: error: {e}", file=sys.stderr)
        return 2
    print(f"final test accuracy {metrics['final_test_accuracy']:.4f} | xi_measured {metrics['xi_measured']:.4f} | "
          f"steps {metrics['steps']} | {metrics['wall_seconds']:.1f}s -> {Path(cfg.out) / 'metrics.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
