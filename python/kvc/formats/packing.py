"""Bit packing of b-bit codes (pinned layout, see docs/formats.md).

Along the last axis each row is an LSB-first bit stream: code j occupies
stream bits [j*b, (j+1)*b) (its least significant bit first); stream bit i is
bit (i % 8) of byte (i // 8); each row is padded with zero bits to a whole
byte. Packed shape = codes.shape[:-1] + (ceil(K*b/8),), dtype uint8.

Implementation: 8 consecutive codes always fill exactly b bytes, so a block
of 8 codes is assembled in one little-endian uint64 (8*b <= 64 bits) and its
low b bytes are kept. Rows are processed in chunks to bound memory.
"""

from __future__ import annotations

import numpy as np

_CHUNK_BLOCKS = 1 << 20  # 8-code blocks per chunk (8M codes)


def packed_len(k: int, bits: int) -> int:
    """Bytes of one packed row of k codes."""
    return (k * bits + 7) // 8


def _check_bits(bits: int) -> None:
    if not (1 <= int(bits) <= 8):
        raise ValueError(f"bits must be in 1..8, got {bits}")


def pack_codes(codes, bits: int) -> np.ndarray:
    """Pack the low ``bits`` bits of each code along the last axis."""
    _check_bits(bits)
    codes = np.asarray(codes)
    if codes.ndim == 0:
        raise ValueError("pack_codes needs at least one axis")
    if codes.size and (codes.min() < 0 or codes.max() >= (1 << bits)):
        raise ValueError(f"codes out of range for {bits}-bit packing")
    lead, k = codes.shape[:-1], codes.shape[-1]
    nb = packed_len(k, bits)
    rows = int(np.prod(lead, dtype=np.int64))
    c2 = codes.reshape(rows, k).astype(np.uint8, copy=False)
    if bits == 8:
        return c2.reshape(*lead, k).copy()
    nblk = (k + 7) // 8
    out = np.empty((rows, nblk * bits), dtype=np.uint8)
    shifts = (np.arange(8, dtype=np.uint64) * np.uint64(bits))
    step = max(1, _CHUNK_BLOCKS // max(nblk, 1))
    for r0 in range(0, rows, step):
        r1 = min(rows, r0 + step)
        blk = np.zeros((r1 - r0, nblk * 8), dtype=np.uint64)
        blk[:, :k] = c2[r0:r1]
        blk = blk.reshape(r1 - r0, nblk, 8)
        word = np.bitwise_or.reduce(blk << shifts, axis=-1).astype("<u8")
        out[r0:r1] = word.view(np.uint8).reshape(r1 - r0, nblk, 8)[:, :, :bits].reshape(r1 - r0, -1)
    return out[:, :nb].reshape(*lead, nb)


def unpack_codes(packed, bits: int, k: int) -> np.ndarray:
    """Inverse of :func:`pack_codes`: uint8 codes of shape lead + (k,)."""
    _check_bits(bits)
    packed = np.asarray(packed, dtype=np.uint8)
    lead = packed.shape[:-1]
    nb = packed_len(k, bits)
    if packed.shape[-1] != nb:
        raise ValueError(f"packed row has {packed.shape[-1]} bytes, expected {nb} for k={k}, bits={bits}")
    rows = int(np.prod(lead, dtype=np.int64))
    p2 = packed.reshape(rows, nb)
    if bits == 8:
        return p2.reshape(*lead, k).copy()
    nblk = (k + 7) // 8
    out = np.empty((rows, k), dtype=np.uint8)
    shifts = (np.arange(8, dtype=np.uint64) * np.uint64(bits))
    mask = np.uint64((1 << bits) - 1)
    step = max(1, _CHUNK_BLOCKS // max(nblk, 1))
    for r0 in range(0, rows, step):
        r1 = min(rows, r0 + step)
        buf = np.zeros((r1 - r0, nblk, 8), dtype=np.uint8)
        flat = np.zeros((r1 - r0, nblk * bits), dtype=np.uint8)
        flat[:, :nb] = p2[r0:r1]
        buf[:, :, :bits] = flat.reshape(r1 - r0, nblk, bits)
        word = buf.reshape(r1 - r0, nblk * 8).view("<u8").reshape(r1 - r0, nblk, 1)
        vals = (word >> shifts) & mask
        out[r0:r1] = vals.reshape(r1 - r0, nblk * 8)[:, :k].astype(np.uint8)
    return out.reshape(*lead, k)
