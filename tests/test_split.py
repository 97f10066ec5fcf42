"""The split model computes what the unsplit timm model computes; the captured attention is exact."""
import pytest
import timm
import torch

from adc.core.models import create_model
from adc.core.split import SplitViT


@pytest.mark.parametrize("name,split", [("deit_tiny_patch16_224", 3), ("vit_micro", 1), ("vit_micro", 3)])
def test_split_logits_equal_unsplit(name, split):
    torch.manual_seed(0)
    model = create_model(name, num_classes=10).eval()
    x = torch.randn(2, *model.patch_embed.proj.weight.shape[1:2], *model.patch_embed.img_size)
    with torch.no_grad():
        ref = model(x)
        got = SplitViT(model, split).eval()(x)
    assert got.shape == ref.shape == (2, 10)
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)


def test_client_returns_activations_and_attention_and_server_gives_logits():
    torch.manual_seed(0)
    split = SplitViT(create_model("vit_micro", num_classes=10), 1)
    x = torch.randn(5, 1, 8, 8)
    acts, attn = split.client(x)
    assert acts.shape == (5, split.num_tokens, split.embed_dim) == (5, 17, 32)
    assert attn.shape == (5, 17)
    torch.testing.assert_close(attn.sum(-1), torch.ones(5))
    assert split.server(acts).shape == (5, 10)
    _, none = split.client(x, with_attention=False)
    assert none is None


def explicit_cls_attention(block, x):
    """CLS attention of a timm Block computed by hand from its weights (no fused kernel)."""
    a = block.attn
    h = block.norm1(x)
    B, N, C = h.shape
    qkv = (h @ a.qkv.weight.t() + (a.qkv.bias if a.qkv.bias is not None else 0)).reshape(B, N, 3, a.num_heads, a.head_dim)
    q, k = qkv[:, :, 0].permute(0, 2, 1, 3), qkv[:, :, 1].permute(0, 2, 1, 3)
    scores = torch.einsum("bhd,bhnd->bhn", q[:, :, 0] * a.head_dim ** -0.5, k)
    return scores.softmax(-1).mean(1)


@pytest.mark.parametrize("name,split", [("deit_tiny_patch16_224", 3), ("vit_micro", 2)])
def test_captured_attention_equals_explicit(name, split):
    torch.manual_seed(1)
    model = create_model(name, num_classes=7).eval()
    s = SplitViT(model, split).eval()
    x = torch.randn(3, model.patch_embed.proj.in_channels, *model.patch_embed.img_size)
    with torch.no_grad():
        acts, attn = s.client(x)
        # the input of the client's last block
        h = model._pos_embed(model.patch_embed(x))
        for blk in model.blocks[:split - 1]:
            h = blk(h)
        ref = explicit_cls_attention(model.blocks[split - 1], h)
    torch.testing.assert_close(attn, ref, atol=1e-5, rtol=1e-4)


def explicit_block(block, x, mask):
    """A timm Block computed by hand: masked softmax attention (mask True = attend), projection, MLP."""
    a = block.attn
    h = block.norm1(x)
    B, N, C = h.shape
    qkv = (h @ a.qkv.weight.t() + a.qkv.bias).reshape(B, N, 3, a.num_heads, a.head_dim).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    scores = (q * a.head_dim ** -0.5) @ k.transpose(-2, -1)
    attended = scores.masked_fill(~mask, float("-inf")).softmax(-1) @ v
    x = x + a.proj(attended.transpose(1, 2).reshape(B, N, C))
    return x + block.mlp(block.norm2(x))


def test_attention_capture_keeps_working_with_attn_mask():
    """timm >= 1.0.16 passes attn_mask to blocks; the hook must not change what the block computes,
    and it captures the CLS query's attention from q and k (the explicit computation)."""
    torch.manual_seed(2)
    model = create_model("vit_micro", num_classes=3).eval()
    s = SplitViT(model, 2)
    x = torch.randn(2, 17, 32)
    blk = s.client.blocks[-1]
    mask = torch.ones(2, 1, 17, 17, dtype=torch.bool)
    mask[0, ..., 5:11] = False                     # sample 0 may not attend to tokens 5..10
    mask[1, ..., 1:3] = False                      # sample 1 not to tokens 1..2
    with torch.no_grad():
        s.client._capture = True
        captured_run = blk(x, attn_mask=mask)
        captured = s.client._attn
        s.client._capture, s.client._attn = False, None
        plain = blk(x, attn_mask=mask)
        unmasked = blk(x)
        reference = explicit_block(blk, x, mask)
        cls_reference = explicit_cls_attention(blk, x)
    assert s.client._attn is None                  # nothing captured while capture is off
    assert not torch.allclose(plain, unmasked, atol=1e-3)   # the mask changes what the block computes ...
    torch.testing.assert_close(plain, reference, atol=1e-5, rtol=1e-4)     # ... as the explicit masked block does
    torch.testing.assert_close(captured_run, plain, atol=0, rtol=0)        # the hook changes nothing
    assert captured.shape == (2, 17)
    torch.testing.assert_close(captured, cls_reference, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(captured.sum(-1), torch.ones(2))
    assert (captured[0, 5:11] > 0).all()           # read from q and k: the mask does not reach the capture


def test_split_index_out_of_range_is_a_clear_error():
    model = create_model("vit_micro", num_classes=3)
    with pytest.raises(ValueError, match="split_index: 4 is out of range.*1..3"):
        SplitViT(model, 4)


def test_unknown_model_is_a_clear_error():
    with pytest.raises(ValueError, match="model: unknown model 'resnet_nope'"):
        create_model("resnet_nope", num_classes=3)
