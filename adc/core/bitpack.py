"""The one bit packer: integers known to lie in ``0..max`` stored at ``bits_for(max)`` bits each.

Used by every method that sends indices or codes (top-k's indices, quantisation's codes) and by
nothing else: a method puts the *packed* ``uint8`` tensor into its :class:`~adc.core.messages.Message`,
so the bytes the meter counts (``Message.nbytes``) are the bytes serialised, on any transport.
Little-endian bit order (bit 0 of value 0 is bit 0 of byte 0); vectorised, on the values' device.
"""
from __future__ import annotations

import torch
from torch import Tensor




def bits_for(max_value: int) -> int:
    """Bits that hold every integer in 0..max_value: ``ceil(log2(max_value + 1))``, at least 1.

    For flat indices into an (N, D) tensor, ``bits_for(N * D - 1) == ceil(log2(N * D))``.
    """
    if max_value < 0:
        raise ValueError(f"bits_for: max_value={max_value} must be >= 0")
    return max(1, int(max_value).bit_length())


def packed_nbytes(count: int, bits: int) -> int:
    """Bytes of ``count`` integers packed at ``bits`` bits each."""
    return (count * bits + 7) // 8


def pack_bits(values: Tensor, bits: int, check: bool = True) -> Tensor:
    """Pack non-negative integers < 2**bits into a uint8 tensor of ``packed_nbytes(numel, bits)`` bytes.

    ``check`` verifies the range (one host synchronisation); a caller whose values are in range by
    construction (clamped quantisation codes) passes ``check=False`` to keep its step sync-free.
    Fast paths for 1, 2, 4, 8 and 16 bits give the same bytes as the general bit stream.
    """
    if not 1 <= bits <= 63:
        raise ValueError(f"pack_bits: bits={bits} must be in 1..63")
    if values.is_floating_point() or values.is_complex():
        raise TypeError(f"pack_bits: expected an integer tensor, got {values.dtype}")
    v = values.reshape(-1)
    if check and v.numel() and (int(v.min()) < 0 or int(v.max()) >= 2 ** bits):
        raise ValueError(f"pack_bits: values must lie in 0..{2 ** bits - 1} to fit in {bits} bits "
                         f"(got {int(v.min())}..{int(v.max())})")
    dev = v.device
    if 8 % bits == 0:                          # 1, 2, 4, 8 bits: several whole values per byte, in uint8
        per = 8 // bits                        # (a byte's values OR-ed at their shifts: 1/8 of int64's traffic)
        u = v.to(torch.uint8)
        if per == 1:
            return u
        u = torch.nn.functional.pad(u, (0, (-u.numel()) % per)).view(-1, per)
        out = u[:, 0].clone()
        for j in range(1, per):                # the values within one byte (at most 8), not the data
            out |= u[:, j] << (j * bits)
        return out
    v = v.long()
    if bits == 16:                             # two bytes per value, low byte first
        return torch.stack([v & 0xFF, v >> 8], 1).reshape(-1).to(torch.uint8)
    flat = ((v[:, None] >> torch.arange(bits, device=dev)) & 1).reshape(-1)          # count * bits
    flat = torch.nn.functional.pad(flat, (0, (-flat.numel()) % 8))
    return (flat.view(-1, 8) << torch.arange(8, device=dev)).sum(1).to(torch.uint8)


def unpack_bits(packed: Tensor, bits: int, count: int, dtype: torch.dtype = torch.int64) -> Tensor:
    """Inverse of :func:`pack_bits`: ``count`` values from a uint8 tensor, as ``dtype`` (int64 by
    default, for indexing; a caller about to convert to float passes ``torch.uint8`` up to 8 bits)."""
    if packed.dtype != torch.uint8:
        raise TypeError(f"unpack_bits: expected uint8, got {packed.dtype}")
    if packed.numel() != packed_nbytes(count, bits):
        raise ValueError(f"unpack_bits: {packed.numel()} bytes, but {count} values at {bits} bits "
                         f"take {packed_nbytes(count, bits)}")
    p = packed.reshape(-1)
    if 8 % bits == 0:                          # in uint8, widened once at the end
        per = 8 // bits
        if per == 1:
            return p[:count].to(dtype)
        out = torch.empty(p.numel(), per, dtype=torch.uint8, device=p.device)
        for j in range(per):
            torch.bitwise_and(p >> (j * bits), (1 << bits) - 1, out=out[:, j])
        return out.reshape(-1)[:count].to(dtype)
    p = p.long()
    dev = p.device
    if bits == 16:
        two = p.view(-1, 2)
        return (two[:, 0] | (two[:, 1] << 8))[:count].to(dtype)
    flat = ((p[:, None] >> torch.arange(8, device=dev)) & 1).reshape(-1)[:count * bits]
    return (flat.view(count, bits) << torch.arange(bits, device=dev)).sum(1).to(dtype)
