"""Real image datasets through Hugging Face ``datasets``, plus two local forms.

A dataset is named on the command line or in a config as

- ``cifar10``, ``cifar100``, ``food101``, ``imagenette``, ``flowers102``, ``imagenet1k``: downloaded
  from the Hugging Face Hub on first use and read from the local cache afterwards; hub id, splits,
  columns and classes come from the dataset catalog ``adc/data/datasets.yaml`` (:data:`SPECS`);
- ``NAME:DIR`` with one of those names: a local copy of that hub dataset in the hub's layout,
  e.g. made elsewhere with ``hf download uoft-cs/cifar100 --repo-type dataset --local-dir DIR``
  (or ``save_to_disk``), read with the spec's splits and columns, no network;
- ``imagefolder:DIR``: an ImageFolder tree, ``DIR/<class>/*.jpg|png``, or with split folders
  ``DIR/train/<class>/...`` and ``DIR/test|val|validation/<class>/...``;
- ``parquet:DIR``: parquet files in the hub's layout (an image column stored as the struct
  ``{bytes, path}``, an integer or ClassLabel label column; splits from the file names,
  ``train-*.parquet``, ``test-*.parquet``, ...).

A local form without a test split holds out a stratified 20% of its images as the test set,
with a fixed split seed, so that every run seed is evaluated on the same images.

All of them go through the same path: ``datasets.load_dataset`` (an Arrow cache, memory-mapped,
shared by the loader's workers), then :class:`ImageDataset` (decode, the paper's transforms from
:mod:`adc.transforms`), then :func:`adc.loading.dataloader_for`.

Offline: before touching the hub, :func:`adc.hub.hub_status` checks in at most a few seconds
whether it can be reached. If not, the load runs in offline mode and a dataset that is not in
the local cache fails at once with :class:`DatasetUnavailableError`, which names the dataset,
the cache folders it looked in and the ways to provide it.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import Dataset

from adc.data import hub
from adc.data.bundle import DataBundle
from adc.data.catalog import catalog
from adc.data.loading import LoaderOptions

#: split seed and held-out fraction of local datasets that have no test split
LOCAL_SPLIT_SEED = 0
LOCAL_TEST_FRACTION = 0.2


class DatasetUnavailableError(FileNotFoundError):
    """A dataset that is neither in the local cache nor reachable (or gated), with what to do about it."""

    def __str__(self) -> str:          # FileNotFoundError would prefix an errno otherwise
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class HubSpec:
    """One dataset on the Hugging Face Hub."""

    name: str
    hub_id: str
    num_classes: int
    train_split: str = "train"             # "a+b" concatenates splits
    test_split: str = "test"
    image_column: str = "image"
    label_column: str = "label"
    data_dir: str | None = None            # a sub-folder of the repo (a subset)
    revision: str | None = None
    gated: bool = False
    native_size: int | None = None         # side of the stored images when they all have one
    transforms: dict = field(default_factory=dict)   # TransformConfig overrides for this dataset
    note: str = ""

    @property
    def url(self) -> str:
        return f"https://huggingface.co/datasets/{self.hub_id}"


def _spec(name: str, entry: dict) -> HubSpec:
    splits, columns = entry.get("splits", {}), entry.get("columns", {})
    return HubSpec(name, entry["hub_id"], int(entry["num_classes"]), train_split=splits.get("train", "train"),
                   test_split=splits.get("test", "test"), image_column=columns.get("image", "image"),
                   label_column=columns.get("label", "label"), data_dir=entry.get("data_dir"),
                   revision=entry.get("revision"), gated=bool(entry.get("gated", False)),
                   native_size=entry.get("native_size"), transforms=dict(entry.get("transforms") or {}),
                   note=entry.get("note", ""))


#: the hub datasets of the catalog (adc/data/datasets.yaml: the entries with a ``hub_id``)
SPECS: dict[str, HubSpec] = {name: _spec(name, e) for name, e in catalog()["datasets"].items() if "hub_id" in e}

#: the local forms ``FORM:DIR`` and what DIR holds
LOCAL_FORMS: dict[str, str] = dict(catalog()["local_forms"])


# ----- the torch Dataset ---------------------------------------------------------------------
def _new_batch(shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """An empty batch; in a loader worker, in shared memory at once (as default_collate does)."""
    from torch.utils.data import get_worker_info
    if get_worker_info() is None:
        return torch.empty(shape, dtype=dtype)
    numel = 1
    for s in shape:
        numel *= s
    elem = torch.empty(0, dtype=dtype)
    return elem.new(elem._typed_storage()._new_shared(numel, device=elem.device)).resize_(*shape)


class ImageDataset(Dataset):
    """Images and labels from an Arrow-backed Hugging Face dataset, decoded and transformed on access.

    Items are an index, or ``(index, seed)`` (see :mod:`adc.loading`): with a seed, the random
    transforms run under it, so the result does not depend on which process draws it.

    ``transform`` is the whole per-image pipeline (the definition, and the ``stage: worker`` path).
    With ``staged`` (:class:`adc.data.transforms.StagedTransform`, the default ``stage: device``),
    the loader's workers call :meth:`worker_batch`: decode, and augment or draw the augmentation,
    and ship ``(uint8 images, labels, flips[, draws])``; ``device_transform`` ([augmentation,]
    resize, flip, normalize, batched) then runs on the training device in
    :func:`adc.data.loading.dataloader_for`. ``__getitems__`` returns the
    finished batch ``(x, y)`` either way (on the CPU).
    """

    def __init__(self, hf_dataset, image_column: str, label_column: str, transform, seeded: bool,
                 loader_options: LoaderOptions | None = None, eval_transform=None, staged=None, eval_staged=None):
        import datasets as hfds
        self.table = hf_dataset.select_columns([image_column, label_column]).cast_column(
            image_column, hfds.Image(decode=False))
        self.image_column, self.label_column = image_column, label_column
        self.loader_options = loader_options or LoaderOptions()
        self.eval_transform = eval_transform if eval_transform is not None else transform
        self.eval_staged = eval_staged if eval_transform is not None else staged
        self._set_transform(transform, seeded, staged)

    def _set_transform(self, transform, seeded: bool, staged=None) -> None:
        from torchvision.transforms import v2

        from adc.data.transforms import ToNormalizedFloat
        self.transform, self.seeded = transform, seeded
        self.staged = staged
        self.device_transform = staged.batch if staged is not None else None
        steps = list(getattr(transform, "transforms", []))
        if steps and isinstance(steps[-1], ToNormalizedFloat):
            self._to_uint8, self._normalize = v2.Compose(steps[:-1]), steps[-1]
        else:
            self._to_uint8 = self._normalize = None

    def subset(self, indices, evaluation: bool = False) -> "ImageDataset":
        """The rows ``indices`` as a dataset of their own; ``evaluation``: with the test transforms, unseeded
        (a validation set carved out of the training set must not be augmented)."""
        import copy
        new = copy.copy(self)
        new.__dict__.pop("_adc_loaders", None)
        new.table = self.table.select([int(i) for i in indices], keep_in_memory=True)
        if evaluation:
            new._set_transform(self.eval_transform, seeded=False, staged=self.eval_staged)
        return new

    def __len__(self) -> int:
        return len(self.table)

    @staticmethod
    def decode(cell):
        from PIL import Image
        try:
            if cell.get("bytes"):
                img = Image.open(io.BytesIO(cell["bytes"]))
            elif cell.get("path"):
                img = Image.open(cell["path"])
            else:
                raise ValueError("image: a row has neither bytes nor a path")
            return img.convert("RGB")
        except (OSError, SyntaxError) as e:    # PIL: UnidentifiedImageError, truncated file, bad header
            where = cell.get("path") or "an image stored in the data files"
            raise ValueError(f"image {where}: cannot be decoded ({type(e).__name__}: {e}); "
                             f"remove or replace it") from None

    @staticmethod
    def decode_tensor(cell) -> torch.Tensor | None:
        """An 8-bit RGB PNG (CIFAR's form) straight to a uint8 (3, H, W) tensor by libpng (torchvision.io):
        the pixels of ``decode`` + ``PILToTensor`` in a fifth of the time; None for any other image."""
        b = cell.get("bytes")
        if not b or b[:8] != b"\x89PNG\r\n\x1a\n" or b[24] != 8 or b[25] != 2 or b.find(b"tRNS") >= 0:
            return None
        from torchvision.io import ImageReadMode, decode_png
        return decode_png(torch.frombuffer(bytearray(b), dtype=torch.uint8), mode=ImageReadMode.RGB)

    @staticmethod
    def _apply(transform, img, seed):
        if seed is None:
            return transform(img)
        gen = torch.default_generator           # what torchvision's random transforms draw from
        state = gen.get_state()                 # (torch.manual_seed would also seed every device: 30x slower)
        try:
            gen.manual_seed(seed)
            return transform(img)
        finally:
            gen.set_state(state)

    def __getitems__(self, items: list) -> tuple[torch.Tensor, torch.Tensor]:
        """The finished batch ``(x, y)``: normalized float images at the model's size, on the CPU."""
        batch = self.worker_batch(items)
        if self.device_transform is None:
            return batch
        x, y, *extra = batch
        return self.device_transform(x, *extra), y

    def worker_batch(self, items: list) -> tuple:
        """What a loader worker makes of ``items``: ``(x, y)`` finished (``stage: worker``), or
        ``(uint8 images, y, flips)`` for :attr:`device_transform` (``stage: device``)."""
        idx = [int(it[0]) if isinstance(it, tuple) else int(it) for it in items]
        seeds = [it[1] if isinstance(it, tuple) else None for it in items]
        rows = self.table[idx]                               # one Arrow take for the whole batch
        y = torch.tensor([int(v) for v in rows[self.label_column]], dtype=torch.int64)
        cells = rows[self.image_column]
        if self.staged is not None:                          # uint8 at the native size + the flip decisions
            x, flips, draws = None, torch.zeros(len(items), dtype=torch.bool), []
            as_tensor = self.staged.tensor_input           # augmenting uint8 tensors: decode PNGs straight to one
            for i, (cell, seed) in enumerate(zip(cells, seeds)):
                img = self.decode_tensor(cell) if as_tensor else None
                u8, flips[i], draw = self._apply(self.staged.per_image, self.decode(cell) if img is None else img,
                                                 seed)
                if x is None:
                    x = _new_batch((len(items), *u8.shape), torch.uint8)
                x[i] = u8
                draws.append(draw)
            if self.staged.batch.augment is not None:      # the device augments: the draws travel with the batch
                from adc.data.transforms import AugmentDraws
                return x, y, flips, AugmentDraws.stack(draws)
            return x, y, flips
        if self._normalize is None:                          # a custom transform: per image, then stack
            xs = [self._apply(self.transform, self.decode(c), s) for c, s in zip(cells, seeds)]
            return torch.stack(xs), y
        x = None
        for i, (cell, seed) in enumerate(zip(cells, seeds)):
            u8 = self._apply(self._to_uint8, self.decode(cell), seed)
            if x is None:
                x = _new_batch((len(items), *u8.shape))
            self._normalize.into(u8, x[i])
        return x, y

    @staticmethod
    def collate_fn(batch):
        return batch

    def __getitem__(self, item) -> tuple[torch.Tensor, int]:
        x, y = self.__getitems__([item])
        return x[0], int(y[0])


def _pick(dsd, split: str, what: str):
    import datasets as hfds
    parts = []
    for s in split.split("+"):
        if s not in dsd:
            raise ValueError(f"dataset {what}: no split {s!r}; it has {sorted(dsd)}")
        parts.append(dsd[s])
    return parts[0] if len(parts) == 1 else hfds.concatenate_datasets(parts)


def _unavailable_message(spec: HubSpec, reason: str, error: Exception) -> str:
    hub_cache, ds_cache = hub.hub_cache_dir(), hub.datasets_cache_dir()
    lines = [f"dataset {spec.name!r} ({spec.hub_id} on the Hugging Face Hub) is not in the local cache "
             f"and cannot be downloaded now: {reason}.",
             f"  looked in: {ds_cache} (datasets cache, HF_DATASETS_CACHE) and {hub_cache} (hub cache, HF_HUB_CACHE)",
             "  to provide it, either:",
             f"  - on a machine with network, run `python -c \"from adc.data import load_dataset; "
             f"load_dataset('{spec.name}')\"`, then copy that machine's datasets cache (HF_DATASETS_CACHE, by "
             f"default ~/.cache/huggingface/datasets) to {ds_cache} here, or point HF_DATASETS_CACHE at the copy; or",
             f"  - download the hub's files there (`hf download {spec.hub_id} --repo-type dataset "
             f"{'--revision ' + spec.revision + ' ' if spec.revision else ''}--local-dir DIR`), copy DIR here "
             f"and use --dataset {spec.name}:DIR; or",
             "  - use a local copy in another form: --dataset parquet:DIR (hub parquet layout) or "
             "--dataset imagefolder:DIR (DIR/<class>/*.jpg)."]
    if spec.gated:
        lines.append("  " + _gated_hint(spec))
    lines.append(f"  ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})")
    return "\n".join(lines)


def _gated_hint(spec: HubSpec) -> str:
    return (f"{spec.hub_id} is gated: accept its terms at {spec.url} while logged in, then log in here with "
            f"`hf auth login` (formerly `huggingface-cli login`) or set HF_TOKEN; or point at a local copy: "
            f"--dataset {spec.name}:DIR (the hub's parquet files) or --dataset imagefolder:DIR "
            f"(DIR/train/<wnid>/*.JPEG and DIR/val/<wnid>/*.JPEG).")


def load_from_hub(spec: HubSpec, cache_dir: str | None = None):
    """The DatasetDict of ``spec`` from the local cache or the hub; fails fast and clearly without either."""
    import datasets as hfds
    ctx, reachable, reason = hub.offline_unless_reachable()
    try:
        with ctx:
            return hfds.load_dataset(spec.hub_id, data_dir=spec.data_dir, revision=spec.revision, cache_dir=cache_dir)
    except (OSError, hfds.exceptions.DatasetsError) as e:   # ConnectionError, FileNotFoundError, hub errors
        text = str(e).lower()
        if spec.gated and reachable and any(w in text for w in ("gated", "authenticated", "401", "403", "access")):
            raise DatasetUnavailableError(f"dataset {spec.name!r}: {_gated_hint(spec)} ({type(e).__name__}: "
                                          f"{str(e).splitlines()[0]})") from e
        if reachable and not isinstance(e, (ConnectionError, TimeoutError)):
            raise
        if reachable:
            reason = "the hub answered a probe but the download failed"
        raise DatasetUnavailableError(_unavailable_message(spec, reason, e)) from e


def _load_local(path: str, builder: str | None, data_dir: str | None = None, cache_dir: str | None = None):
    """A DatasetDict from a local folder (no network): save_to_disk output, parquet files or an ImageFolder."""
    import datasets as hfds
    root = Path(path).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"dataset: local folder {str(root)!r} does not exist (or is not a folder)")
    if (root / "dataset_dict.json").exists() or (root / "state.json").exists():
        d = hfds.load_from_disk(str(root))
        return d if isinstance(d, hfds.DatasetDict) else hfds.DatasetDict({"train": d})
    if data_dir and (root / data_dir).is_dir():
        root = root / data_dir
    kind = builder or "parquet"
    with hub.forced_offline():
        try:
            return hfds.load_dataset(kind, data_dir=str(root), cache_dir=cache_dir)
        except (FileNotFoundError, ValueError) as e:
            raise FileNotFoundError(f"dataset: no {kind} data found under {str(root)!r} ({e}); expected "
                                    f"{LOCAL_FORMS.get(kind, 'the hub layout')}") from e


def _image_column(ds, preferred: str | None) -> str:
    import datasets as hfds
    feats = ds.features
    if preferred and preferred in feats:
        return preferred
    cands = [k for k, f in feats.items() if isinstance(f, hfds.Image)
             or (isinstance(f, dict) and "bytes" in f)]
    if len(cands) != 1:
        raise ValueError(f"dataset: cannot tell the image column among {list(feats)}; expected one column of "
                         f"images (the hub's struct {{bytes, path}})")
    return cands[0]


def _label_column(ds, preferred: str | None) -> str:
    import datasets as hfds
    feats = ds.features
    if preferred and preferred in feats:
        return preferred
    if "label" in feats:
        return "label"
    cands = [k for k, f in feats.items() if isinstance(f, hfds.ClassLabel)]
    if len(cands) != 1:
        cands = [k for k, f in feats.items() if isinstance(f, hfds.Value) and f.dtype.startswith("int")]
    if len(cands) != 1:
        raise ValueError(f"dataset: cannot tell the label column among {list(feats)}; name it 'label'")
    return cands[0]


def _encode_string_labels(dsd, label_column: str):
    """String labels (class names) -> a ClassLabel over the sorted names of every split (one mapping)."""
    import datasets as hfds
    first = next(iter(dsd.values()))
    f = first.features[label_column]
    if not (isinstance(f, hfds.Value) and f.dtype in ("string", "large_string")):
        return dsd
    names = sorted({v for d in dsd.values() for v in d.unique(label_column) if v is not None})
    return hfds.DatasetDict({k: d.cast_column(label_column, hfds.ClassLabel(names=names)) for k, d in dsd.items()})


def _one_class_message(name: str, classes: list) -> str:
    return (f"dataset {name}: has one class ({classes[0]!r}); a classifier needs at least 2: "
            f"put each class's images in its own folder, DIR/<class>/*.jpg")


def verify_images(ds, image_column: str, name: str, cache_dir: str | Path | None = None) -> None:
    """Decode every image of a local dataset once, before training; name the first bad file.

    A dataset that passed is remembered (a marker keyed by its Arrow fingerprint under
    ``~/.cache/adc-bench/verified``), so later runs skip the check."""
    import hashlib
    import datasets as hfds
    from PIL import Image
    key = hashlib.sha256(f"{ds._fingerprint}:{image_column}:{len(ds)}".encode()).hexdigest()[:24]
    marker = Path(cache_dir or Path.home() / ".cache" / "adc-bench" / "verified") / key
    if marker.exists():
        return
    raw = ds.cast_column(image_column, hfds.Image(decode=False))
    for i in range(len(raw)):
        cell = raw[i][image_column]
        try:
            with (Image.open(io.BytesIO(cell["bytes"])) if cell.get("bytes") else Image.open(cell["path"])) as img:
                img.load()
        except Exception as e:
            where = cell.get("path") or f"row {i}"
            raise ValueError(f"dataset {name}: image {where} cannot be decoded ({type(e).__name__}: "
                             f"{' '.join(str(e).split())[:120]}); remove or replace it") from None
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(f"{name}\n")
    except OSError:
        pass


def _classes(splits: list, label_column: str) -> list[str]:
    import datasets as hfds
    import pyarrow.compute as pc
    f = splits[0].features[label_column]
    if isinstance(f, hfds.ClassLabel):
        return list(f.names)
    top = max(pc.max(s.data.column(label_column)).as_py() or 0 for s in splits)
    return [str(i) for i in range(int(top) + 1)]


def _native_size(ds, image_column: str) -> int:
    import datasets as hfds
    cell = ds.cast_column(image_column, hfds.Image(decode=False))[0][image_column]
    return min(ImageDataset.decode(cell).size)


def make_bundle(name: str, train, test, image_column: str, label_column: str, num_classes: int | None,
                class_names: list[str] | None, model: str, image_size: int | None, native_size: int | None,
                num_workers: int, pin_memory: bool | None, transforms: dict | None) -> DataBundle:
    from adc.data.transforms import TransformConfig, build_staged_transform, build_transform, model_data_config
    classes = class_names or _classes([train, test], label_column)
    n = num_classes or len(classes)
    if n < 2:
        raise ValueError(_one_class_message(name, classes or ["?"]))
    if len(classes) != n:
        raise ValueError(f"dataset {name}: the label column {label_column!r} has {len(classes)} classes, "
                         f"expected {n}")
    mcfg = model_data_config(model)
    size = image_size or mcfg["input_size"] or native_size or _native_size(train, image_column)
    tcfg = TransformConfig(image_size=int(size), mean=mcfg["mean"], std=mcfg["std"],
                           interpolation=mcfg["interpolation"], native_size=native_size).replace(**(transforms or {}))
    opts = LoaderOptions(num_workers=num_workers, pin_memory=pin_memory)
    test_transform, test_staged = build_transform(tcfg, train=False), build_staged_transform(tcfg, train=False)
    tr = ImageDataset(train, image_column, label_column, build_transform(tcfg, train=True), seeded=True,
                      loader_options=opts, eval_transform=test_transform,
                      staged=build_staged_transform(tcfg, train=True), eval_staged=test_staged)
    te = ImageDataset(test, image_column, label_column, test_transform, seeded=False, loader_options=opts,
                      staged=test_staged)
    bundle = DataBundle(name, tr, te, num_classes=n, in_chans=3, img_size=int(size), class_names=classes)
    bundle.transforms = tcfg
    return bundle


def _held_out(dsd, label_column: str, what: str):
    """(train, test): the test split if there is one, else a stratified held-out fraction of train."""
    import datasets as hfds
    test_name = next((s for s in ("test", "validation", "val", "valid") if s in dsd), None)
    if "train" not in dsd:
        raise ValueError(f"dataset {what}: no 'train' split among {sorted(dsd)}")
    train = dsd["train"]
    if test_name:
        return train, dsd[test_name]
    import numpy as np
    from sklearn.model_selection import train_test_split
    labels = np.asarray(train.data.column(label_column).to_numpy())
    idx = np.arange(len(labels))
    try:
        tr, te = train_test_split(idx, test_size=LOCAL_TEST_FRACTION, random_state=LOCAL_SPLIT_SEED, stratify=labels)
    except ValueError:          # a class too small to stratify
        tr, te = train_test_split(idx, test_size=LOCAL_TEST_FRACTION, random_state=LOCAL_SPLIT_SEED)
    return train.select(np.sort(tr), keep_in_memory=True), train.select(np.sort(te), keep_in_memory=True)


# ----- the loaders (adc.data.registry.load_dataset finds them in LOADERS) -------------------------------------------
def load_hub_dataset(spec: HubSpec, path: str | None = None, model: str = "vit_micro", image_size: int | None = None,
                     seed: int = 0, num_workers: int = 0, pin_memory: bool | None = None,
                     transforms: dict | None = None, cache_dir: str | None = None) -> DataBundle:
    """``spec`` from the hub / its cache, or from a local copy at ``path`` in the hub's layout."""
    if path:
        dsd = _load_local(path, None, data_dir=spec.data_dir, cache_dir=cache_dir)
        name = f"{spec.name}:{path}"
    else:
        dsd = load_from_hub(spec, cache_dir=cache_dir)
        name = spec.name
    train, test = _pick(dsd, spec.train_split, name), _pick(dsd, spec.test_split, name)
    image_column = _image_column(train, spec.image_column)
    label_column = _label_column(train, spec.label_column)
    return make_bundle(name, train, test, image_column, label_column, spec.num_classes, None, model, image_size,
                       spec.native_size, num_workers, pin_memory, {**spec.transforms, **(transforms or {})})


def load_local_dataset(kind: str, path: str | None = None, model: str = "vit_micro", image_size: int | None = None,
                       seed: int = 0, num_workers: int = 0, pin_memory: bool | None = None,
                       transforms: dict | None = None, cache_dir: str | None = None) -> DataBundle:
    """``imagefolder:DIR`` or ``parquet:DIR``."""
    if not path:
        raise ValueError(f"dataset: {kind!r} needs a folder: --dataset {kind}:DIR ({LOCAL_FORMS[kind]})")
    dsd = _load_local(path, kind, cache_dir=cache_dir)
    name = f"{kind}:{path}"
    first = next(iter(dsd.values()))
    image_column = _image_column(first, None)
    if kind == "imagefolder" and "label" not in first.features:   # HF drops the labels of a single folder
        classes = sorted(d.name for d in Path(path).expanduser().iterdir() if d.is_dir()) or [Path(path).name]
        raise ValueError(_one_class_message(name, classes))
    label_column = _label_column(first, None)
    dsd = _encode_string_labels(dsd, label_column)                # parquet with class names as labels
    for split in dsd.values():
        verify_images(split, image_column, name)                  # once per dataset, before any training
    train, test = _held_out(dsd, label_column, name)
    return make_bundle(name, train, test, image_column, label_column, None, None, model, image_size, None,
                       num_workers, pin_memory, transforms)


def _loaders() -> dict:
    from functools import partial
    loaders = {}
    for name, spec in SPECS.items():
        loader = partial(load_hub_dataset, spec)
        loader.__doc__ = f"{spec.note} ({spec.hub_id})"
        loaders[name] = loader
    for kind in LOCAL_FORMS:
        loaders[kind] = partial(load_local_dataset, kind)
    return loaders


#: name -> loader, used by :func:`adc.data.registry.load_dataset`
LOADERS = _loaders()
