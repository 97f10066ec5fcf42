"""The command line: ``python -m adc.train --method adc --param xi=0.1 --out runs/x``.

Builds a :class:`~adc.runtime.config.TrainConfig` from flags (and ``--config FILE``) and runs it
in-process (:class:`~adc.runtime.loop.SplitRun`) or in two processes
(:mod:`adc.runtime.distributed`).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from adc.runtime.config import TrainConfig, read_config_file
from adc.runtime.errors import Interrupted, NonFiniteError


def train(cfg: TrainConfig, log=print) -> dict:
    """Run (or resume) one training run; return its metrics (also written to ``cfg.out``)."""
    if cfg.transport == "distributed":
        from adc.runtime.distributed import train_distributed
        return train_distributed(cfg, log=log)
    from adc.runtime.loop import SplitRun
    return SplitRun(cfg).run(log=log)


# ----- command line: one flag per TrainConfig field ------------------------------------------
#: the fields whose flags exclude each other (the two stopping rules)
STOPPING_FIELDS = ("budget_epochs", "epochs")


def parse_value(text: str):
    import yaml
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _field_comments(cls: type = TrainConfig) -> dict[str, str]:
    """{field: trailing ``# comment``} of ``cls``'s source: the help of a field without metadata."""
    import ast
    import io
    import tokenize
    source = Path(sys.modules[cls.__module__].__file__).read_text()
    comments = {t.start[0]: t.string.lstrip("#").strip()
                for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type == tokenize.COMMENT}
    node = next(n for n in ast.parse(source).body if isinstance(n, ast.ClassDef) and n.name == cls.__name__)
    return {n.target.id: comments[n.end_lineno] for n in node.body
            if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name) and n.end_lineno in comments}


def field_help(f: dataclasses.Field, comments: dict[str, str]) -> str:
    return f.metadata.get("help") or comments.get(f.name, "")


def _value_type(annotation) -> str:
    """``"int | None"`` -> ``"int"`` (annotations are strings under ``from __future__ import annotations``)."""
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    kinds = [t.strip() for t in text.replace("Optional[", "").rstrip("]").split("|") if t.strip() != "None"]
    return kinds[0] if len(kinds) == 1 else "any"


_PARSERS = {"int": int, "float": float, "str": str}


def _default_text(f: dataclasses.Field) -> str:
    if f.default is dataclasses.MISSING or f.default is None:
        return ""
    if isinstance(f.default, bool):
        return f" (default: {'on' if f.default else 'off'})"
    return f" (default: {f.default})"


def _datasets_epilog() -> str:
    from adc.data.catalog import catalog
    c = catalog()
    rows = []
    for name, entry in sorted(c["datasets"].items()):
        t = {**c["defaults"]["train"], **(entry.get("train") or {})}
        rows.append(f"  {name:<16} batch {t['batch_size']}, lr {t['lr']:g}, budget {t['budget_epochs']:g} epochs"
                    + (f"  ({entry['note'].split(':')[0]})" if entry.get("note") else ""))
    t = c["defaults"]["train"]
    for form, text in sorted(c["local_forms"].items()):
        rows.append(f"  {form + ':DIR':<16} {text}")
    rows.append(f"  (NAME:DIR takes NAME's defaults; the local forms batch {t['batch_size']}, lr {t['lr']:g}, "
                f"budget {t['budget_epochs']:g} epochs)")
    return "\n".join(rows)


def build_parser() -> argparse.ArgumentParser:
    """The parser, generated from :class:`TrainConfig`'s fields; every default is SUPPRESS, so the
    namespace holds exactly the flags given (they beat ``--config``). Imports no torch."""
    from adc.core.method_index import describe_methods
    p = argparse.ArgumentParser(
        prog="python -m adc.train", argument_default=argparse.SUPPRESS,
        description="Train one split-learning run and write metrics.json + history.csv to --out.\n"
                    "Flags given here beat the keys of --config FILE; a run's batch size, lr and budget default "
                    "to its dataset's (below).",
        epilog=f"datasets (adc/data/datasets.yaml) and their training defaults:\n{_datasets_epilog()}\n\n"
               f"models: vit_micro (embedded default), any timm ViT/DeiT, e.g. deit_tiny_patch16_224, "
               f"deit_small_patch16_224\n\n"
               f"methods and their parameters (--param NAME=VALUE):\n{describe_methods()}\n\n"
               f"example: python -m adc.train --dataset digits --model vit_micro --method adc --param xi=0.1 "
               f"--seed 0 --out /tmp/run",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    stop = p.add_mutually_exclusive_group()
    comments = _field_comments()
    for f in dataclasses.fields(TrainConfig):
        md = f.metadata
        flag = md.get("flag", "--" + f.name.replace("_", "-"))
        kwargs = {"dest": f.name, "help": field_help(f, comments) + _default_text(f)}
        kind = _value_type(f.type)
        if f.name == "params":
            kwargs.update(action="append", metavar=md.get("metavar", "NAME=VALUE"))
        elif kind == "bool":
            kwargs.update(action=argparse.BooleanOptionalAction)
        else:
            kwargs.update(type=_PARSERS.get(kind, parse_value), metavar=md.get("metavar"))
            if "choices" in md:
                kwargs.update(choices=list(md["choices"]), metavar=None)
        (stop if f.name in STOPPING_FIELDS else p).add_argument(flag, **kwargs)
    p.add_argument("--config", metavar="FILE", help="a YAML/JSON file of these options (keys: the flags' names "
                                                   "with _, e.g. batch_size); flags given beat it")
    return p


def config_from_args(argv: list[str] | None = None) -> TrainConfig:
    """The run's config: ``--config FILE`` (if given), then every flag given on top of it."""
    p = build_parser()
    given = vars(p.parse_args(argv))
    config_file = given.pop("config", None)
    merged = read_config_file(config_file) if config_file else {}   # malformed YAML: one line naming file, line
    if not isinstance(merged.get("params") or {}, dict):
        raise ValueError(f"{config_file}: params: expected a mapping of method parameters, got {merged['params']!r}")
    params = dict(merged.get("params") or {})
    for item in given.pop("params", []):
        if "=" not in item:
            raise ValueError(f"--param {item!r}: expected NAME=VALUE, e.g. --param xi=0.1")
        k, v = item.split("=", 1)
        params[k.strip()] = parse_value(v.strip())
    for rule, other in (STOPPING_FIELDS, STOPPING_FIELDS[::-1]):
        if rule in given:               # a stopping rule given as a flag replaces the file's other rule
            merged[other] = None
    merged.update(given)
    merged["params"] = params
    return TrainConfig.from_dict(merged, source=config_file or "config")


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
