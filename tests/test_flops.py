"""FLOPs accounting (adc/report/flops.py): exact against closed forms, no timing."""
import math

import pytest
import torch

from adc.report.flops import StepFlops, build_meta_split, count_flops, markdown
from adc.report.tables import read_markdown
from adc.core.models import create_model

B, C = 128, 100


@pytest.fixture(scope="module")
def tiny():
    return StepFlops("deit_tiny_patch16_224", batch_size=B, num_classes=C)


def server_closed_form(n_samples: int, n_tokens: int, D: int = 192, blocks: int = 9, classes: int = C) -> int:
    """Forward + backward (x3) of the server: per block qkv + proj + MLP (12 D^2 MACs per token),
    attention (2 n^2 D MACs per sample), and the head on the CLS token; 2 FLOPs per MAC."""
    per_block = 12 * D * D * n_samples * n_tokens + 2 * n_samples * n_tokens * n_tokens * D
    head = D * classes * n_samples
    return 3 * 2 * (blocks * per_block + head)


def test_base_is_exactly_plain_timm_split_in_two(tiny):
    with torch.device("meta"):
        vit = create_model("deit_tiny_patch16_224", C)
    for blk in vit.blocks:
        blk.attn.fused_attn = False
    x = torch.empty(B, 3, 224, 224, device="meta")
    plain = count_flops(lambda: vit(x).sum().backward())
    r = tiny.method_flops("base")
    assert r["client_overhead_pct"] == 0 and r["server_pct_of_base"] == pytest.approx(100.0)
    # the split adds exactly the CLS-attention read: q_cls . k for B samples, 3 heads, 197 keys, head dim 64
    cls_read = 2 * B * 3 * 197 * 64
    assert tiny.client_base + tiny.server_base == plain + cls_read


@pytest.mark.parametrize("xi", [0.05, 0.1, 0.5])
def test_adc_server_flops_follow_t_times_k(tiny, xi):
    r = tiny.method_flops("adc", {"xi": xi})
    T, k = (int(v) for v in r["server_tokens"].split("x"))
    assert T == max(2, int(math.sqrt(xi) * B + 1e-9)) and k == max(1, int(math.sqrt(xi) * 197 + 1e-9))
    expected = server_closed_form(T, k)
    assert r["server_gflops"] * 1e9 == pytest.approx(expected, rel=0.01)
    base = server_closed_form(B, 197)
    assert tiny.server_base == pytest.approx(base, rel=0.01)
    # roughly xi of the base (linear layers scale with T*k, attention with T*k^2)
    assert r["server_pct_of_base"] < 100 * xi * 1.05


def test_adc_matches_the_papers_fig5_bounds_and_client_overhead_is_small(tiny):
    low, high = tiny.method_flops("adc", {"xi": 0.05}), tiny.method_flops("adc", {"xi": 0.5})
    assert low["server_pct_of_base"] < 10 and high["server_pct_of_base"] < 60
    for r in (low, high):
        assert 0 < r["client_overhead_pct"] < 1.0      # the paper reports about 5 %; ours is far below
    paper, every = read_markdown(markdown([low, high]))
    assert paper[["model", "xi"]].values.tolist() == [["deit_tiny_patch16_224", "0.05"], ["deit_tiny_patch16_224", "0.5"]]
    assert len(every) == 2 and every["server % of base"][0] == f"{low['server_pct_of_base']:.1f}"


def test_index_add_and_fft_are_counted():
    src = torch.randn(10, 7)
    assert count_flops(lambda: torch.zeros(3, 7).index_add_(0, torch.randint(0, 3, (10,)), src)) == 70
    n = 1024
    assert count_flops(lambda: torch.fft.rfft(torch.randn(4, n), dim=-1)) == int(2.5 * 4 * n * math.log2(n))


def test_meta_model_holds_no_memory():
    split = build_meta_split("deit_tiny_patch16_224", C)
    assert all(p.device.type == "meta" for p in split.parameters())
