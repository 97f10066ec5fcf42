"""Real datasets and pretrained weights, tested offline on data built here in each local format.

The local forms (an ImageFolder of PNGs; parquet files in the hub's schema, both as ``parquet:DIR``
and as a local copy ``cifar100:DIR``) train through ``adc.train.train`` by the same path as the hub
datasets: ``datasets.load_dataset`` -> ImageDataset -> adc.loading.dataloader_for.
"""
import io
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image

import datasets as hfds
import huggingface_hub.constants as hub_constants

from adc.data import hub
from adc.runtime.config import TrainConfig
from adc.data import available_datasets, load_dataset
from adc.data.hub_datasets import SPECS, DatasetUnavailableError
from adc.data.loading import dataloader_for
from adc.core.models import WeightsUnavailableError, create_model
from adc.runtime.cli import build_parser, train

ROOT = Path(__file__).resolve().parents[1]
COLORS = [(230, 20, 20), (20, 230, 20), (20, 20, 230)]   # class k: a solid colour, so labels can be checked


pytestmark = pytest.mark.usefixtures("private_hf_caches")   # tests/conftest.py


def png_bytes(rgb, size=16, noise=0, rng=None) -> bytes:
    a = np.empty((size, size, 3), np.uint8)
    a[:] = rgb
    if noise:
        a = np.clip(a.astype(int) + rng.integers(-noise, noise + 1, a.shape), 0, 255).astype(np.uint8)
    b = io.BytesIO()
    Image.fromarray(a).save(b, format="PNG")
    return b.getvalue()


def make_imagefolder(root: Path, per_class=10, size=16) -> Path:
    rng = np.random.default_rng(0)
    for k, name in enumerate(["apple", "bean", "cherry"]):
        d = root / name
        d.mkdir(parents=True)
        for i in range(per_class):
            (d / f"{i}.png").write_bytes(png_bytes(COLORS[k], size, noise=20, rng=rng))
    return root


CIFAR100_NAMES = ["apple", "bean", "cherry"] + [f"class{i}" for i in range(3, 100)]


def write_hub_parquet(path: Path, n: int, seed: int, size=32, metadata=True, label="fine_label",
                      fine_names=CIFAR100_NAMES):
    """A parquet file in the hub's schema: image as struct {bytes, path}, labels int64, HF features metadata."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    images = [{"bytes": png_bytes(COLORS[k], size, noise=20, rng=rng), "path": None} for k in labels]
    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    cols = {"img": pa.array(images, image_type), label: pa.array(labels, pa.int64())}
    if label == "fine_label":
        cols["coarse_label"] = pa.array(np.zeros(n, np.int64))
    table = pa.table(cols)
    if metadata:
        hub_features = {"img": {"_type": "Image"}, "fine_label": {"names": fine_names, "_type": "ClassLabel"},
                        "coarse_label": {"names": ["fruit"], "_type": "ClassLabel"}}
        feats = {k: hub_features.get(k, {"dtype": "int64", "_type": "Value"}) for k in cols}
        table = table.replace_schema_metadata({"huggingface": json.dumps({"info": {"features": feats}})})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return labels


def quick(tmp_path, dataset, **kw) -> TrainConfig:
    d = dict(dataset=dataset, model="vit_micro", image_size=16, batch_size=8, lr=1e-3, epochs=1, threads=1,
             eval_batch_size=16, device="cpu", progress=False, out=str(tmp_path / "run"))
    d.update(kw)
    return TrainConfig(**d)


def expected_label(x: torch.Tensor) -> int:
    """The class of a (normalized) solid-colour image: its brightest channel."""
    return int(x.mean(dim=(1, 2)).argmax())


# ----- local forms, trained end to end ---------------------------------------------------------
def test_imagefolder_of_pngs_trains_and_holds_out_a_stratified_test_set(tmp_path):
    root = make_imagefolder(tmp_path / "folder", per_class=10)
    data = load_dataset(f"imagefolder:{root}", model="vit_micro", image_size=16)
    assert data.class_names == ["apple", "bean", "cherry"] and data.num_classes == 3
    assert (len(data.train), len(data.test)) == (24, 6)                  # 20% held out, 2 per class
    assert data.in_chans == 3 and data.img_size == 16
    xs, ys = data.test.__getitems__(list(range(len(data.test))))      # a collated batch
    assert sorted(ys.tolist()) == [0, 0, 1, 1, 2, 2]
    assert xs.shape == (6, 3, 16, 16) and xs.dtype == torch.float32
    assert [expected_label(x) for x in xs] == ys.tolist()

    m = train(quick(tmp_path, f"imagefolder:{root}", num_workers=1), log=lambda *_: None)
    assert m["steps"] == math.ceil(24 / 8) and m["shape"]["num_classes"] == 3
    assert 0.0 <= m["final_test_accuracy"] <= 1.0
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["config"]["dataset"] == f"imagefolder:{root}"


def test_a_validation_part_of_a_real_training_set_is_not_augmented(tmp_path):
    root = make_imagefolder(tmp_path / "folder", per_class=10)
    m = train(quick(tmp_path, f"imagefolder:{root}", validation_fraction=0.25, epochs=1), log=lambda *_: None)
    assert m["steps"] == math.ceil(18 / 8)                                 # 24 train images less 6 for validation
    from adc.data import carve_validation
    data = carve_validation(load_dataset(f"imagefolder:{root}", model="vit_micro", image_size=16), 0.25)
    a = torch.cat([x for x, _ in dataloader_for(data.test, 4, torch.arange(len(data.test)))])
    b = torch.cat([x for x, _ in dataloader_for(data.test, 4, torch.arange(len(data.test)))])
    assert len(data.test) == 6 and torch.equal(a, b)                        # test transforms: no randomness
    from torch.utils.data import Subset                                    # a plain torch Subset works too
    sub = Subset(data.train, [4, 0, 2])
    ys = torch.cat([y for _, y in dataloader_for(sub, 2, torch.tensor([2, 0, 1]))])
    assert ys.tolist() == [data.train[i][1] for i in (2, 4, 0)]


def test_parquet_in_hub_schema_trains_with_its_own_splits(tmp_path):
    root = tmp_path / "pq"
    write_hub_parquet(root / "data" / "train-00000-of-00001.parquet", 20, seed=1, metadata=False, label="label")
    write_hub_parquet(root / "data" / "test-00000-of-00001.parquet", 9, seed=2, metadata=False, label="label")
    data = load_dataset(f"parquet:{root}", model="vit_micro", image_size=16)
    assert (len(data.train), len(data.test), data.num_classes) == (20, 9, 3)
    xs, ys = data.test.__getitems__(list(range(9)))
    assert xs.shape == (9, 3, 16, 16) and [expected_label(x) for x in xs] == ys.tolist()
    m = train(quick(tmp_path, f"parquet:{root}", epochs=2), log=lambda *_: None)
    assert m["steps"] == 2 * math.ceil(20 / 8)


def test_local_copy_of_cifar100_uses_its_spec_columns_and_classes(tmp_path):
    """cifar100:DIR = the hub's files of uoft-cs/cifar100 (img, fine_label, coarse_label) in a folder."""
    bad = tmp_path / "not-cifar100"
    write_hub_parquet(bad / "cifar100" / "train-00000-of-00001.parquet", 4, seed=3, fine_names=["a", "b", "c"])
    write_hub_parquet(bad / "cifar100" / "test-00000-of-00001.parquet", 4, seed=4, fine_names=["a", "b", "c"])
    with pytest.raises(ValueError, match="3 classes, expected 100"):   # the spec's 100 classes are checked
        load_dataset(f"cifar100:{bad}", model="deit_tiny_patch16_224", image_size=32)

    root = tmp_path / "cifar100-copy"
    root.mkdir()
    (root / "README.md").write_text("---\nlicense: unknown\n---\n")
    fine = write_hub_parquet(root / "cifar100" / "train-00000-of-00001.parquet", 16, seed=3)
    write_hub_parquet(root / "cifar100" / "test-00000-of-00001.parquet", 8, seed=4)
    data = load_dataset(f"cifar100:{root}", model="deit_tiny_patch16_224", image_size=32)
    assert data.num_classes == 100 and data.class_names == CIFAR100_NAMES
    assert data.train.__getitems__(list(range(16)))[1].tolist() == fine.tolist()   # fine, not coarse labels
    assert data.transforms.mean == (0.485, 0.456, 0.406)          # DeiT's normalization, from timm's cfg
    m = train(quick(tmp_path, f"cifar100:{root}", model="deit_tiny_patch16_224", image_size=32, split_index=3),
              log=lambda *_: None)
    assert m["steps"] == 2 and m["shape"]["num_tokens"] == 5 and m["shape"]["num_classes"] == 100


def test_loader_keeps_the_index_order_and_augments_the_same_with_any_worker_count_and_on_resume(tmp_path):
    root = tmp_path / "pq"
    write_hub_parquet(root / "train-00000-of-00001.parquet", 12, seed=5, metadata=False, label="label")
    out = {}
    for workers in (0, 2):
        data = load_dataset(f"parquet:{root}", model="vit_micro", image_size=16, num_workers=workers)
        order = torch.tensor([7, 3, 8, 0, 5, 2, 1])     # 9 train images: 12 less 20% held out
        torch.manual_seed(123)
        batches = list(dataloader_for(data.train, 3, order))
        assert [len(y) for _, y in batches] == [3, 3, 1]
        ys = torch.cat([y for _, y in batches])
        assert ys.tolist() == [data.train[i][1] for i in order.tolist()]
        out[workers] = torch.cat([x for x, _ in batches])
        state = torch.get_rng_state()                    # what a checkpoint at this epoch boundary saves
        again = torch.cat([x for x, _ in dataloader_for(data.train, 3, order)])   # a new epoch, new draws
        assert not torch.equal(again, out[workers])
        resumed = load_dataset(f"parquet:{root}", model="vit_micro", image_size=16, num_workers=workers)
        torch.set_rng_state(state)                       # a fresh process (fresh workers) resumed from it
        assert torch.equal(torch.cat([x for x, _ in dataloader_for(resumed.train, 3, order)]), again)
    assert torch.equal(out[0], out[2])


# ----- offline --------------------------------------------------------------------------------
def test_cifar100_offline_without_a_local_copy_fails_at_once_with_what_to_do(tmp_path):
    t0 = time.perf_counter()
    with pytest.raises(DatasetUnavailableError) as e:
        load_dataset("cifar100", model="deit_tiny_patch16_224")
    assert time.perf_counter() - t0 < 5
    msg = str(e.value)
    for part in ("'cifar100'", "uoft-cs/cifar100", str(tmp_path / "hf" / "datasets"), str(tmp_path / "hf" / "hub"),
                 "HF_HUB_OFFLINE", "cifar100:DIR", "parquet:DIR", "imagefolder:DIR", "hf download"):
        assert part in msg, part


def test_cli_with_no_network_fails_within_seconds_and_writes_nothing(tmp_path):
    """No offline variable set, the hub's address unreachable: the probe, not a 20 s retry loop, decides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env.update(HF_HOME=str(tmp_path / "hf"), HF_ENDPOINT="http://127.0.0.1:9", PYTHONPATH=str(ROOT),
               ADC_HUB_TIMEOUT="3", OMP_NUM_THREADS="1")
    out = tmp_path / "run"
    code = ("import sys, time; from adc.train import main; "
            "import adc.runtime.loop, adc.data.hub_datasets; "   # the library's imports are not the probe's time
            "t = time.perf_counter(); "
            f"rc = main(['--dataset', 'cifar100', '--model', 'deit_tiny_patch16_224', '--epochs', '1', "
            f"'--threads', '1', '--out', {str(out)!r}]); print('SECONDS', time.perf_counter() - t); sys.exit(rc)")
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert p.returncode == 2, p.stderr[-2000:]
    seconds = float(p.stdout.split("SECONDS")[1])
    assert seconds < 15, seconds                 # the probe answers within ADC_HUB_TIMEOUT; retries took 23 s
    assert "dataset 'cifar100'" in p.stderr and "no network" in p.stderr and "cifar100:DIR" in p.stderr
    assert str(tmp_path / "hf") in p.stderr
    assert not out.exists()


def test_gated_imagenet_tells_how_to_accept_the_terms_and_log_in(monkeypatch):
    def gated(*a, **k):
        raise hfds.exceptions.DatasetNotFoundError(
            "Dataset 'ILSVRC/imagenet-1k' is a gated dataset on the Hub. You must be authenticated to access it.")
    monkeypatch.setattr(hub, "hub_status", lambda: (True, "reachable"))
    monkeypatch.setattr(hfds, "load_dataset", gated)
    with pytest.raises(DatasetUnavailableError) as e:
        load_dataset("imagenet1k")
    msg = str(e.value)
    for part in ("https://huggingface.co/datasets/ILSVRC/imagenet-1k", "hf auth login", "huggingface-cli login",
                 "HF_TOKEN", "imagenet1k:DIR", "imagefolder:DIR"):
        assert part in msg, part


# ----- pretrained weights ----------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["safetensors", "pth"])
def test_deit_tiny_from_a_local_weights_file_gives_the_same_logits(tmp_path, fmt):
    torch.manual_seed(0)
    src = create_model("deit_tiny_patch16_224", num_classes=10, img_size=32).eval()
    path = tmp_path / f"deit_tiny.{fmt}"
    if fmt == "safetensors":
        from safetensors.torch import save_file
        save_file(src.state_dict(), path)
    else:
        torch.save({"model": src.state_dict()}, path)         # as DeiT's own checkpoints are laid out
    torch.manual_seed(1)                                       # a different init, overwritten by the file
    dst = create_model("deit_tiny_patch16_224", num_classes=10, img_size=32, weights=str(path)).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(dst(x), src(x))

    other = create_model("deit_tiny_patch16_224", num_classes=7, img_size=32, weights=str(path))  # new head
    assert other.head.weight.shape == (7, 192)
    assert torch.equal(other.blocks[0].attn.qkv.weight, src.blocks[0].attn.qkv.weight)
    with pytest.raises(ValueError, match="does not fit"):
        create_model("vit_micro", num_classes=10, in_chans=3, img_size=32, weights=str(path))
    with pytest.raises(FileNotFoundError, match="is not a file"):
        create_model("deit_tiny_patch16_224", num_classes=10, weights=str(tmp_path / "missing.pth"))


def test_pretrained_offline_with_an_empty_cache_names_both_remedies():
    t0 = time.perf_counter()
    with pytest.raises(WeightsUnavailableError) as e:
        create_model("deit_tiny_patch16_224.fb_in1k", num_classes=100, pretrained=True)
    assert time.perf_counter() - t0 < 5
    msg = str(e.value)
    for part in ("timm/deit_tiny_patch16_224.fb_in1k", "--weights PATH", "hf download", hub_constants.HF_HUB_CACHE,
                 "run once with network"):
        assert part in msg, part


def test_pretrained_offline_reads_timms_weights_from_the_cache_and_sizes_the_head(tmp_path):
    """pretrained: true without a network, the weights already in the hub cache: timm's own load, head resized."""
    from safetensors.torch import save_file
    torch.manual_seed(0)
    src = create_model("deit_tiny_patch16_224", num_classes=1000)         # stands in for the hub's file
    repo = Path(hub_constants.HF_HUB_CACHE) / "models--timm--deit_tiny_patch16_224.fb_in1k"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "snapshots" / commit).mkdir(parents=True)
    save_file(src.state_dict(), repo / "snapshots" / commit / "model.safetensors")
    model = create_model("deit_tiny_patch16_224.fb_in1k", num_classes=100, img_size=32, pretrained=True)
    assert model.head.weight.shape == (100, 192)
    assert torch.equal(model.blocks[5].mlp.fc1.weight, src.blocks[5].mlp.fc1.weight)
    assert model.pos_embed.shape == (1, 5, 192)                           # resampled from 14x14 to 2x2


# ----- transforms, names, config ---------------------------------------------------------------
def test_the_paper_transforms_and_the_models_normalization(tmp_path):
    from torchvision.transforms import v2
    root = tmp_path / "pq"
    write_hub_parquet(root / "train-00000-of-00001.parquet", 4, seed=6, metadata=False, label="label")
    data = load_dataset(f"parquet:{root}", model="deit_small_patch16_224.fb_in1k")
    assert data.img_size == 224                                  # the model's input size when none is given
    ops = [t for t in data.train.transform.transforms if not isinstance(t, v2.PILToTensor)]
    kinds = [type(t) for t in ops]
    assert kinds[:4] == [v2.RandAugment, v2.ColorJitter, v2.Resize, v2.RandomHorizontalFlip]
    assert (ops[0].num_ops, ops[0].magnitude) == (2, 9)
    assert ops[1].brightness == ops[1].contrast == ops[1].saturation == (0.6, 1.4)
    assert ops[2].size == [224, 224] and ops[-1].mean == [0.485, 0.456, 0.406]
    assert [type(t) for t in data.test.transform.transforms][:1] == [v2.Resize]
    x = torch.randint(0, 256, (3, 8, 8), dtype=torch.uint8)          # the fused normalization is Normalize's
    reference = v2.Normalize(ops[-1].mean, ops[-1].std)(x.float() / 255)
    assert torch.allclose(ops[-1](x), reference, atol=1e-5)
    tensor_path = load_dataset(f"parquet:{root}", model="deit_small_patch16_224", transforms={"backend": "tensor"})
    torch.manual_seed(0)
    a = tensor_path.test[0][0]
    assert torch.allclose(a, data.test[0][0], atol=0.05)                 # same pipeline, other backend
    assert not any(isinstance(t, (v2.RandAugment, v2.ColorJitter)) for t in data.test.transform.transforms)
    assert data.train[0][0].shape == (3, 224, 224)
    plain = load_dataset(f"parquet:{root}", model="vit_micro", image_size=16, transforms={"randaugment": None})
    assert not any(isinstance(t, v2.RandAugment) for t in plain.train.transform.transforms)


def test_every_dataset_of_the_catalog_is_named_in_help_and_loads_through_the_registry():
    from adc.data.catalog import catalog
    from adc.data.hub_datasets import LOADERS
    names = set(SPECS) | {"imagefolder", "parquet", "digits"}
    assert names == set(available_datasets())
    help_text = build_parser().format_help()
    for n in names:
        assert n in help_text
    entries = catalog()["datasets"]
    assert set(SPECS) == {k for k, e in entries.items() if "hub_id" in e} and set(LOADERS) == names - {"digits"}
    cifar = SPECS["cifar100"]                    # the catalog's fields reach the spec the loader uses
    assert (cifar.hub_id, cifar.label_column, cifar.image_column, cifar.native_size) == \
        ("uoft-cs/cifar100", "fine_label", "img", 32)
    assert SPECS["flowers102"].train_split == "train+validation" and SPECS["imagenet1k"].gated
    assert (SPECS["imagenette"].revision, SPECS["imagenette"].data_dir) == ("refs/convert/parquet", "320px")
    for key in entries:
        TrainConfig.from_dict({"dataset": key})  # each dataset's training defaults make a valid config