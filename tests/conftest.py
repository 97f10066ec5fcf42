import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture
def rng():
    return torch.Generator().manual_seed(0)


@pytest.fixture
def private_hf_caches(tmp_path, monkeypatch):
    """Empty Hugging Face caches of the test's own, offline; one CPU thread (the tensors are small, and
    a second thread only spins on a busy machine: 20x slower here). Modules that read datasets use it
    for every test: ``pytestmark = pytest.mark.usefixtures("private_hf_caches")``."""
    import datasets as hfds
    import huggingface_hub.constants as hub_constants
    monkeypatch.setattr(hfds.config, "HF_DATASETS_CACHE", tmp_path / "hf" / "datasets")
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hfds.config, "HF_HUB_OFFLINE", True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
