"""The command line is generated from TrainConfig: flags given beat --config, every flag has help,
--help lists each method's parameters (from the source, equal to the registry) without importing torch,
and runs take their dataset's training defaults unless told otherwise."""
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from adc.core.method_index import METHOD_PACKAGES, method_index
from adc.data.catalog import CATALOG_PATH, catalog, training_defaults
from adc.runtime.cli import build_parser, config_from_args, field_help, _field_comments
from adc.runtime.config import TrainConfig

ROOT = Path(__file__).resolve().parents[1]

#: every flag users have typed so far; each must stay valid
DOCUMENTED_FLAGS = ["--dataset", "--model", "--method", "--param", "--seed", "--split-index", "--batch-size", "--lr",
                    "--weight-decay", "--budget-epochs", "--epochs", "--eval-batch-size", "--pretrained", "--weights",
                    "--image-size", "--num-workers", "--device", "--no-amp", "--deterministic", "--threads",
                    "--progress", "--no-progress", "--validation-fraction", "--eval-compressed", "--save-model",
                    "--transport", "--link", "--link-sleep", "--config", "--out"]


def write(tmp_path, text: str) -> str:
    f = tmp_path / "run.yaml"
    f.write_text(text)
    return str(f)


def test_a_flag_beats_config_even_when_it_equals_the_default(tmp_path):
    # the bug: --lr 0.0001 --batch-size 128 (the old defaults) silently lost to the file's values
    f = write(tmp_path, "batch_size: 64\nlr: 0.001\nseed: 3\nparams: {xi: 0.2, balance: 0.3}\nmethod: adc\n")
    cfg = config_from_args(["--config", f, "--lr", "0.0001", "--batch-size", "128", "--param", "xi=0.1"])
    assert (cfg.lr, cfg.batch_size) == (0.0001, 128)
    assert cfg.seed == 3 and cfg.method == "adc"                         # the file's keys no flag touched
    assert cfg.params == {"xi": 0.1, "balance": 0.3}                      # --param overrides one parameter
    # a flag equal to the dataclass default beats the file too (seed 0, amp on, eval_compressed off)
    f = write(tmp_path, "seed: 5\namp: false\neval_compressed: true\n")
    cfg = config_from_args(["--config", f, "--seed", "0", "--amp", "--no-eval-compressed"])
    assert (cfg.seed, cfg.amp, cfg.eval_compressed) == (0, True, False)


def test_a_stopping_flag_replaces_the_files_other_rule(tmp_path):
    f = write(tmp_path, "epochs: 5\nbudget_epochs: null\n")
    cfg = config_from_args(["--config", f, "--budget-epochs", "3"])
    assert (cfg.stopping, cfg.epochs) == (("budget", 3.0), None)
    f = write(tmp_path, "budget_epochs: 7\n")
    cfg = config_from_args(["--config", f, "--epochs", "2"])
    assert (cfg.stopping, cfg.budget_epochs) == (("epochs", 2.0), None)
    with pytest.raises(SystemExit):
        config_from_args(["--epochs", "2", "--budget-epochs", "3"])          # mutually exclusive


def test_without_flags_the_file_and_then_the_dataset_decide(tmp_path):
    f = write(tmp_path, "dataset: cifar100\nlr: 0.01\n")
    cfg = config_from_args(["--config", f])
    assert (cfg.dataset, cfg.lr, cfg.batch_size, cfg.budget_epochs) == ("cifar100", 0.01, 128, 10)
    cfg = config_from_args([])
    assert (cfg.dataset, cfg.batch_size, cfg.lr, cfg.budget_epochs) == ("digits", 64, 0.001, 30)
    assert config_from_args(["--no-amp"]).amp is False and config_from_args([]).amp is True
    assert config_from_args(["--progress"]).progress is True and config_from_args([]).progress is None
    with pytest.raises(ValueError, match=r"run.yaml: expected a mapping"):
        config_from_args(["--config", write(tmp_path, "[1, 2]\n")])
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['bach_size'\]"):
        config_from_args(["--config", write(tmp_path, "bach_size: 3\n")])


def test_every_field_has_one_flag_with_help_and_documented_flags_stay_valid():
    p = build_parser()
    actions = {a.dest: a for a in p._actions if a.dest != "help"}
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    assert set(fields) | {"config"} == set(actions)
    comments = _field_comments()
    for name, f in fields.items():
        assert field_help(f, comments), f"TrainConfig.{name} has no help (metadata or trailing # comment)"
        assert actions[name].help and len(actions[name].help) > 10, name
    flags = {s for a in p._actions for s in a.option_strings}
    assert set(DOCUMENTED_FLAGS) <= flags, sorted(set(DOCUMENTED_FLAGS) - flags)
    assert "1 for vit_micro" in actions["split_index"].help                 # (it said 2)
    types = {a.dest: a.type for a in p._actions}
    assert (types["batch_size"], types["lr"], types["budget_epochs"], types["epochs"]) == (int, float, float, int)


def test_a_field_written_with_a_trailing_comment_gets_that_comment_as_help(tmp_path, monkeypatch):
    (tmp_path / "cfgmod.py").write_text("from dataclasses import dataclass, field\n\n\n@dataclass\nclass C:\n"
                                        "    a: int = 1          # the a option\n"
                                        "    b: str = field(default='x', metadata={'help': 'the b option'})\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import cfgmod
    comments = _field_comments(cfgmod.C)
    assert comments == {"a": "the a option"}
    assert [field_help(f, comments) for f in dataclasses.fields(cfgmod.C)] == ["the a option", "the b option"]


def test_the_source_listing_of_methods_equals_the_registry():
    from adc.core.methods import METHOD_PACKAGES as discovered, registry
    assert METHOD_PACKAGES == discovered
    listed = method_index()
    reg = registry()
    assert sorted(listed) == sorted(reg)
    for name, cls in reg.items():
        expected = [(f.name, f.type if isinstance(f.type, str) else f.type.__name__, f.default)
                    for f in dataclasses.fields(cls.Params)] if cls.Params else []
        assert [(p.name, p.type, p.default) for p in listed[name]] == expected, name
    assert [p.default for p in listed["bottlenet_norelu"] if p.name == "relu"] == [False]   # inherited, overridden


def test_help_lists_methods_parameters_and_datasets_without_importing_torch():
    code = ("import sys, contextlib, io\n"
            "from adc.train import main\n"
            "buf = io.StringIO()\n"
            "with contextlib.redirect_stdout(buf):\n"
            "    try: main(['--help'])\n"
            "    except SystemExit: pass\n"
            "print(__import__('json').dumps({'help': buf.getvalue(), 'heavy': sorted(m for m in "
            "('torch', 'timm', 'numpy', 'datasets') if m in sys.modules)}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    res = json.loads(out)
    assert res["heavy"] == [], f"--help imported {res['heavy']}"
    text = res["help"]
    assert "adc_prune_only" in text and "xi: float = 0.1" in text and "R: int = 4" in text
    assert "relu: bool = False" in text and "bits: int = 8" in text
    for name in catalog()["datasets"]:
        assert name in text
    assert "digits           batch 64, lr 0.001, budget 30 epochs" in text
    assert "imagefolder:DIR" in text and "parquet:DIR" in text


def test_the_catalog_ships_in_the_package_and_gives_each_dataset_its_defaults():
    assert CATALOG_PATH == ROOT / "adc" / "data" / "datasets.yaml" and CATALOG_PATH.exists()
    assert not (ROOT / "config" / "datasets.yaml").exists()                  # one copy
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert "datasets.yaml" in pyproject                                        # installed with the package
    assert training_defaults("digits") == {"batch_size": 64, "lr": 0.001, "budget_epochs": 30}
    for paper in ("cifar100", "food101", "cifar100:/data/c100", "imagefolder:/x", "parquet:/y"):
        assert training_defaults(paper) == {"batch_size": 128, "lr": 0.0001, "budget_epochs": 10}, paper


def test_the_dataset_defaults_are_resolved_once_and_recorded():
    cfg = TrainConfig(dataset="cifar100")
    assert (cfg.batch_size, cfg.lr, cfg.budget_epochs, cfg.stopping) == (128, 0.0001, 10, ("budget", 10.0))
    cfg = TrainConfig(dataset="digits", epochs=3)                               # epochs is the rule: no budget
    assert (cfg.batch_size, cfg.lr, cfg.budget_epochs, cfg.stopping) == (64, 0.001, None, ("epochs", 3.0))
    cfg = TrainConfig(dataset="digits", lr=0.5, batch_size=7, budget_epochs=2)   # explicit values win
    assert (cfg.batch_size, cfg.lr, cfg.budget_epochs) == (7, 0.5, 2)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg                          # resolved values round-trip
    d = TrainConfig().to_dict()
    assert (d["batch_size"], d["lr"], d["budget_epochs"]) == (64, 0.001, 30)   # what metrics.json's config holds


def test_the_default_pipeline_hands_the_same_explicit_values_to_each_run():
    import types

    import yaml

    from adc import pipeline
    config = yaml.safe_load((ROOT / "config" / "default.yaml").read_text())
    pipeline.check_config(config)
    run = pipeline.expand_runs(config)[0]
    wc = types.SimpleNamespace(dataset=run.dataset, model=run.model, method=run.method, setting=run.setting,
                               seed=run.seed)
    rc = json.loads(pipeline.run_config_json(config, wc))
    # the benchmark's budget (1 uncompressed epoch: communication matters) beats the dataset's (30)
    assert (rc["batch_size"], rc["lr"], rc["budget_epochs"], rc["epochs"]) == (64, 0.001, 1, None)
    resolved = TrainConfig.from_dict({**rc, "out": "x"})
    assert (resolved.batch_size, resolved.lr, resolved.budget_epochs) == (64, 0.001, 1)


@pytest.mark.parametrize("method, flags, setting", [("base", [], "default"), ("adc", ["--param", "xi=0.1"], "xi=0.1")])
def test_the_readme_one_run_trains_what_the_embedded_default_trains(method, flags, setting):
    """`python -m adc.train --dataset digits --model vit_micro --method M ... --seed 0 --out DIR`, no other flag,
    is the default pipeline's run of M with the dataset's own training budget (30 uncompressed epochs, which
    trains a good model: base 0.947) instead of the benchmark's 1-epoch budget, but for where it runs
    (device, threads) and writes."""
    import types

    import yaml

    from adc import pipeline
    cli = config_from_args(["--dataset", "digits", "--model", "vit_micro", "--method", method, *flags,
                            "--seed", "0", "--out", "/tmp/x"]).to_dict()
    config = yaml.safe_load((ROOT / "config" / "default.yaml").read_text())
    config["xi"], config["train"]["budget_epochs"] = [], 30
    pipeline.check_config(config)
    wc = types.SimpleNamespace(dataset="digits", model="vit_micro", method=method, setting=setting, seed=0)
    default = TrainConfig.from_dict({**json.loads(pipeline.run_config_json(config, wc)), "out": "/tmp/x"}).to_dict()
    where = {"device", "threads", "progress"}
    assert {k: v for k, v in cli.items() if k not in where} == {k: v for k, v in default.items() if k not in where}
