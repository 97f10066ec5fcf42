"""A timm VisionTransformer cut into a client part and a server part.

client: patch embedding, class token and position embedding, ``blocks[:split_index]``
server: ``blocks[split_index:]``, final norm, pooling and head

The client also returns, from its last block, the CLS query's softmax attention over all N
tokens averaged over heads (B x N). It is read with a forward hook on that block's ``qkv``
projection, so the block itself computes exactly what timm computes (fused attention and
``attn_mask`` included): only the CLS row is recomputed beside it, without gradient.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from timm.models.vision_transformer import VisionTransformer


def cls_attention_from_qkv(attn_module: nn.Module, qkv: Tensor, num_prefix_tokens: int = 1) -> Tensor:
    """CLS-query softmax attention over all tokens, mean over heads, from a timm ``Attention``'s qkv output."""
    B, N, _ = qkv.shape
    H, hd = attn_module.num_heads, attn_module.head_dim
    qkv = qkv.reshape(B, N, 3, H, hd)
    q = attn_module.q_norm(qkv[:, 0:1, 0].transpose(1, 2))  # B, H, 1, hd
    k = attn_module.k_norm(qkv[:, :, 1].transpose(1, 2))    # B, H, N, hd
    scores = (q.float() * attn_module.scale) @ k.float().transpose(-2, -1)  # B, H, 1, N
    return scores.softmax(dim=-1).mean(dim=1).squeeze(1)    # B, N


class ClientModel(nn.Module):
    def __init__(self, vit: VisionTransformer, split_index: int):
        super().__init__()
        self.patch_embed = vit.patch_embed
        self.cls_token = vit.cls_token
        self.reg_token = vit.reg_token
        self.pos_embed = vit.pos_embed
        self.pos_drop = vit.pos_drop
        self.patch_drop = vit.patch_drop
        self.norm_pre = vit.norm_pre
        self.blocks = nn.Sequential(*vit.blocks[:split_index])
        self.num_prefix_tokens = vit.num_prefix_tokens
        self._vit_pos_embed = vit._pos_embed  # bound method; uses the shared parameters above
        self._attn: Tensor | None = None
        self._capture = False
        last_attn = self.blocks[-1].attn
        if not hasattr(last_attn, "qkv"):
            raise ValueError("split: the client's last block has no fused qkv projection; "
                             "CLS attention capture needs a timm Attention block")
        last_attn.qkv.register_forward_hook(self._qkv_hook)

    def _qkv_hook(self, module, inputs, output):
        if self._capture:
            with torch.no_grad():
                self._attn = cls_attention_from_qkv(self.blocks[-1].attn, output.detach(), self.num_prefix_tokens)

    def forward(self, x: Tensor, with_attention: bool = True) -> tuple[Tensor, Tensor | None]:
        """Return the activations (B, N, D) and, if asked, the CLS attention (B, N)."""
        self._capture, self._attn = with_attention, None
        x = self.patch_embed(x)
        x = self._vit_pos_embed(x)
        x = self.patch_drop(x)
        x = self.norm_pre(x)
        x = self.blocks(x)
        attn, self._attn, self._capture = self._attn, None, False
        return x, attn


class ServerModel(nn.Module):
    def __init__(self, vit: VisionTransformer, split_index: int):
        super().__init__()
        self.blocks = nn.Sequential(*vit.blocks[split_index:])
        self.norm = vit.norm
        self._forward_head = vit.forward_head  # pool + fc_norm + head_drop + head, as timm defines them
        self.head_modules = nn.ModuleList([vit.fc_norm, vit.head_drop, vit.head])
        if hasattr(vit, "attn_pool") and vit.attn_pool is not None:
            self.head_modules.append(vit.attn_pool)

    def forward(self, x: Tensor) -> Tensor:
        x = self.blocks(x)
        x = self.norm(x)
        return self._forward_head(x)


class SplitViT(nn.Module):
    """A timm ViT as a client and a server that share the original parameters."""

    def __init__(self, vit: VisionTransformer, split_index: int):
        super().__init__()
        depth = len(vit.blocks)
        if not 1 <= split_index < depth:
            raise ValueError(f"split_index: {split_index} is out of range for a model of depth {depth}; "
                             f"use 1..{depth - 1}")
        if getattr(vit, "global_pool", "token") != "token":
            raise ValueError(f"model: global_pool={vit.global_pool!r}; ADC-Bench needs CLS-token pooling ('token')")
        self.split_index = split_index
        self.client = ClientModel(vit, split_index)
        self.server = ServerModel(vit, split_index)
        self.num_prefix_tokens = vit.num_prefix_tokens
        self.embed_dim = vit.embed_dim
        self.num_tokens = vit.patch_embed.num_patches + vit.num_prefix_tokens

    def forward(self, x: Tensor) -> Tensor:
        acts, _ = self.client(x, with_attention=False)
        return self.server(acts)
