"""The fast paths give the same results as the paths they replace.

- Input on the device: the staged pipeline (workers: decode at the native size, uint8, and the
  augmentation's draws; device: batched augmentation, resize, flip, normalize) against the
  per-image pipeline (``stage: worker``), on the same images under the same per-sample seeds.
- C3-SL's binding batched over groups (one inverse FFT per group, real-FFT backward) against the
  per-sample binding it replaced: values and gradients.
"""
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from adc.data import load_dataset
from adc.data.loading import dataloader_for


pytestmark = pytest.mark.usefixtures("private_hf_caches")   # tests/conftest.py


def cifar_like_copy(root, n, sizes=None, label="fine_label"):
    """A local copy of cifar100 (hub layout): textured RGB PNGs, 32 px (or the given sizes)."""
    import io

    from PIL import Image
    rng = np.random.default_rng(0)
    images = []
    for i in range(n):
        s = sizes[i % len(sizes)] if sizes else 32
        base = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
        img = np.asarray(Image.fromarray(base).resize((s, s), Image.BICUBIC), dtype=np.int16)
        img = np.clip(img + rng.integers(-24, 25, img.shape), 0, 255).astype(np.uint8)
        b = io.BytesIO()
        Image.fromarray(img).save(b, format="PNG")
        images.append({"bytes": b.getvalue(), "path": None})
    labels = rng.integers(0, 3, n)
    feats = {"img": {"_type": "Image"}, label: {"names": [f"c{i}" for i in range(100)], "_type": "ClassLabel"},
             "coarse_label": {"names": ["s"], "_type": "ClassLabel"}}
    table = pa.table({"img": pa.array(images, pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
                      label: pa.array(labels, pa.int64()), "coarse_label": pa.array(labels * 0, pa.int64())})
    table = table.replace_schema_metadata({"huggingface": json.dumps({"info": {"features": feats}})})
    for split in ("train", "test"):
        (root / "cifar100").mkdir(parents=True, exist_ok=True)
        pq.write_table(table, root / "cifar100" / f"{split}-00000-of-00001.parquet")
    return root


def batches(dataset, batch_size, order, seed, device=None):
    torch.manual_seed(seed)                      # the per-sample seeds are drawn from the global RNG
    out = list(dataloader_for(dataset, batch_size, order, device=device))
    return torch.cat([x for x, _ in out]), torch.cat([y for _, y in out])


#: the stated tolerance: one uint8 level of the resized image, after normalization (1 / (255 std)). The only
#: source of a difference is batched against per-image bicubic resizing; on a CPU both give the same bits.
def one_level(std) -> float:
    return 1.0 / (255.0 * min(std)) + 1e-6


@pytest.mark.parametrize("workers", [0, 2])
def test_device_stage_gives_the_per_image_pipelines_images_32_to_224(tmp_path, workers):
    root = cifar_like_copy(tmp_path / "copy", 12)
    kw = dict(model="deit_tiny_patch16_224", num_workers=workers)
    new = load_dataset(f"cifar100:{root}", **kw)
    old = load_dataset(f"cifar100:{root}", transforms={"stage": "worker"}, **kw)
    assert new.train.staged is not None and old.train.staged is None
    assert new.train.device_transform.size == 224             # CIFAR: fixed 32 px, so the resize is on the device
    order = torch.tensor([5, 0, 11, 3, 7, 9, 1, 2, 10])
    x_new, y_new = batches(new.train, 4, order, seed=7)
    x_old, y_old = batches(old.train, 4, order, seed=7)
    assert x_new.shape == x_old.shape == (9, 3, 224, 224) and x_new.dtype == x_old.dtype == torch.float32
    assert torch.equal(y_new, y_old)
    tol = one_level(new.transforms.std)
    assert (x_new - x_old).abs().max() <= tol
    assert torch.equal(x_new, x_old)                           # on a CPU: bit for bit
    # the augmentation and the flip really are random per sample, drawn from the seeds
    x_other, _ = batches(new.train, 4, order, seed=8)
    assert not torch.equal(x_other, x_new)
    # workers ship uint8 at the native size, unaugmented, with the augmentation's draws; the flips are a mix
    x_u8, _, flips, draws = new.train.worker_batch([(int(i), 1000 + int(i)) for i in order])
    assert x_u8.dtype == torch.uint8 and x_u8.shape == (9, 3, 32, 32)
    assert 0 < int(flips.sum()) < 9
    assert draws.ops.shape == draws.magnitudes.shape == (9, 2) and draws.order.shape == (9, 4)
    assert len(set(draws.ops.flatten().tolist())) > 1 and not draws.factors.isnan().any()
    # the augmentation applied per image in the worker: the same images again
    per_image = load_dataset(f"cifar100:{root}", transforms={"augment": "worker"}, **kw)
    assert per_image.train.device_transform.augment is None
    assert torch.equal(batches(per_image.train, 4, order, seed=7)[0], x_old)
    # evaluation: no augmentation, no flip, same images
    e_new, _ = batches(new.test, 5, torch.arange(12), seed=0)
    e_old, _ = batches(old.test, 5, torch.arange(12), seed=1)
    assert torch.equal(e_new, e_old)


def test_batched_resize_equals_per_image_resize_and_flip_follows_the_flag():
    from adc.data.transforms import BatchTransform, ToNormalizedFloat
    from torchvision.transforms import v2
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8, generator=g)
    flip = torch.tensor([True, False, False, True, True, False])
    bt = BatchTransform(224, "bicubic", (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    per_image = v2.Compose([v2.Resize((224, 224), interpolation=v2.InterpolationMode.BICUBIC, antialias=True)])
    norm = ToNormalizedFloat((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    ref = torch.stack([norm(v2.functional.horizontal_flip(per_image(im)) if f else per_image(im))
                       for im, f in zip(x, flip)])
    out = bt(x, flip)
    assert out.shape == (6, 3, 224, 224) and (out - ref).abs().max() <= one_level((0.229, 0.224, 0.225))
    assert torch.equal(out, ref)


@pytest.mark.parametrize("jitter", [0.4, None])
def test_batched_augmentation_is_torchvisions_per_image_augmentation_bit_for_bit(jitter):
    """Every RandAugment op (each drawn many times, both signs) and ColorJitter with per-image factors
    and orders, applied to the batch: the images torchvision's per-image transforms make from the same seeds."""
    from adc.data.transforms import AugmentDraws, BatchAugment
    from torchvision.transforms import v2
    g = torch.Generator().manual_seed(0)
    low = torch.randint(0, 256, (300, 3, 4, 4), generator=g).float()
    x = torch.nn.functional.interpolate(low, size=32, mode="bilinear").round().to(torch.uint8)   # image-like
    aug = BatchAugment((2, 9), jitter)
    per_image = v2.Compose([aug.randaugment] + ([aug.jitter] if aug.jitter is not None else []))
    want, rows = [], []
    for i in range(len(x)):
        torch.manual_seed(i)
        want.append(per_image(x[i]))
        torch.manual_seed(i)
        rows.append(aug.draw(32, 32))
    draws = AugmentDraws.stack(rows)
    assert len(set(draws.ops.flatten().tolist())) == len(aug.names)        # every op of the space occurs
    got = aug(x, draws)
    assert got.dtype == torch.uint8 and torch.equal(got, torch.stack(want))
    assert not torch.equal(got, x)


def test_device_stage_with_images_of_mixed_sizes_resizes_in_the_worker(tmp_path):
    """No common native size (a parquet form): the worker resizes (uint8), the device flips and normalizes."""
    root = cifar_like_copy(tmp_path / "copy", 8, sizes=[20, 28, 36], label="label")
    new = load_dataset(f"parquet:{root / 'cifar100'}", model="vit_micro", image_size=16)
    old = load_dataset(f"parquet:{root / 'cifar100'}", model="vit_micro", image_size=16, transforms={"stage": "worker"})
    assert new.train.device_transform.size is None
    order = torch.arange(len(new.train))
    x_new, _ = batches(new.train, 3, order, seed=3)
    x_old, _ = batches(old.train, 3, order, seed=3)
    assert x_new.shape == (len(order), 3, 16, 16) and torch.equal(x_new, x_old)
    x_item, y_item = new.test[2]                               # a single item: finished on the CPU too
    assert x_item.shape == (3, 16, 16) and torch.equal(x_item, old.test[2][0])


def test_digits_batches_are_unchanged_tensors():
    """The embedded default keeps its in-memory path: the same tensors, batch for batch."""
    from adc.data import train_batches
    data = load_dataset("digits")
    perm = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(0 * 1_000_003 + 2))
    got = list(train_batches(data.train, 64, seed=0, epoch=2))
    assert torch.equal(got[1][0], data.train.x[perm[64:128]]) and torch.equal(got[1][1], data.train.y[perm[64:128]])


# ----- C3-SL --------------------------------------------------------------------------------------
@pytest.mark.parametrize("R,B", [(4, 10), (8, 16), (2, 5)])
def test_c3sl_batched_binding_equals_the_per_sample_binding(R, B):
    from adc.core.methods import CutShape, create_method
    N, D = 17, 32
    m = create_method("c3sl", CutShape(B, N, D, 10), generator=torch.Generator().manual_seed(0), R=R)
    G = m.num_groups(B)
    x = torch.randn(G, R, N * D, generator=torch.Generator().manual_seed(1), requires_grad=True)
    w = torch.randn(G, N * D, generator=torch.Generator().manual_seed(2))
    new = m.bind(x)
    (gx_new,) = torch.autograd.grad((new * w).sum(), x)
    old = m.bind_per_sample(x)
    (gx_old,) = torch.autograd.grad((old * w).sum(), x)
    assert new.shape == old.shape == (G, N * D)
    torch.testing.assert_close(new, old, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gx_new, gx_old, rtol=1e-5, atol=1e-5)
    # the unbinding and its gradient, against autograd through the FFTs
    s = new.detach().requires_grad_()
    v = torch.randn(G, R, N * D, generator=torch.Generator().manual_seed(3))
    u = m.unbind(s)
    (gs,) = torch.autograd.grad((u * v).sum(), s)
    spec = m.key_spectrum("cpu")
    u_ref = torch.fft.irfft(torch.fft.rfft(s, dim=-1)[:, None] * spec.conj(), n=N * D, dim=-1)
    (gs_ref,) = torch.autograd.grad((u_ref * v).sum(), s)
    assert torch.equal(u, u_ref)
    torch.testing.assert_close(gs, gs_ref, rtol=1e-5, atol=1e-5)
    # unbinding a bound group recovers each sample approximately (C3-SL's premise), padding included
    acts = torch.randn(B, N, D, generator=torch.Generator().manual_seed(4))
    msg, _ = m.encode(acts, None, torch.zeros(B, dtype=torch.long))
    tokens, targets, _ = m.decode(msg.detached())
    assert tokens.shape == (B, N, D) and msg["acts"].shape == (G, N, D)


# ----- the embedded default's start-up --------------------------------------------------------------
def test_digits_without_importing_sklearn_are_sklearns_digits_and_split():
    """The digits bundle reads scikit-learn's file and the saved split: the same tensors as load_digits +
    train_test_split (what the bundle computed before), so the embedded default's numbers do not move."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from adc.data.registry import DIGITS_SPLIT_SEED, load_digits_bundle
    b = load_digits_bundle()
    d = load_digits()
    x = (torch.tensor(d.images, dtype=torch.float32)[:, None] / 16.0 - 0.5) / 0.5
    y = torch.tensor(d.target, dtype=torch.int64)
    tr, te = train_test_split(np.arange(len(y)), test_size=0.2, random_state=DIGITS_SPLIT_SEED, stratify=d.target)
    assert torch.equal(b.train.x, x[tr]) and torch.equal(b.train.y, y[tr])
    assert torch.equal(b.test.x, x[te]) and torch.equal(b.test.y, y[te])


def test_the_training_loop_does_not_import_sklearn_for_digits(tmp_path):
    import subprocess
    import sys
    code = ("import sys; from adc.runtime.config import TrainConfig; from adc.runtime.loop import SplitRun; "
            "SplitRun(TrainConfig(dataset='digits', model='vit_micro', epochs=1, threads=1, out=sys.argv[1]))"
            ".load_data(); print('sklearn' in sys.modules, 'scipy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=300,
                         cwd=str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["False", "False"]
