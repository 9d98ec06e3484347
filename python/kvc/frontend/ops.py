"""kvc's semantic units as PyTorch custom ops (``torch.ops.kvc.*``).

The frontend rewrites the FX graph so that the units kvc compiles specially
become calls of these ops; torch-mlir's FX importer then carries them as
``torch.operator "torch.kvc.<op>"`` and :mod:`kvc.frontend.torch_bridge` turns
them into kvc dialect ops. Each op is functional (no mutation, no aliasing of
inputs) and has an eager implementation, so a rewritten graph still runs in
PyTorch and computes exactly what the original model did.

- ``kvc::linear(x, weight)``: ``x @ weight.T`` for a weight that is a model
  parameter (bias, if any, stays a separate ``add``). Becomes ``linalg.matmul``
  (fp32) or ``lowbit.matmul`` over packed codes (quantized weights).
- ``kvc::cache_write(cache, pos, k, v)``: one layer's cache ``[2, S, H, D]``
  (K at 0, V at 1, token-major, the storage layout of a plain
  ``!kvcache.cache<"kv", S, [H, D], f32, {}>``) with ``k``, ``v`` ``[T, H, D]``
  written at positions ``pos .. pos+T-1`` (``pos``: int64 scalar tensor).
  Becomes ``kvcache.append``.
- ``kvc::cache_read(cache, length) -> (K, V)``: positions ``[0, length)``,
  each ``[length, H, D]``. Becomes ``kvcache.read``.
"""

from __future__ import annotations

import torch

@torch.library.custom_op("kvc::linear", mutates_args=())
def linear(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.linear(x, weight)


@linear.register_fake
def _linear_fake(x, weight):
    return x.new_empty(*x.shape[:-1], weight.shape[0])


@torch.library.custom_op("kvc::cache_write", mutates_args=())
def cache_write(cache: torch.Tensor, pos: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    out = cache.clone()
    start = int(pos.reshape(-1)[0])
    out[0, start : start + k.shape[0]] = k
    out[1, start : start + v.shape[0]] = v
    return out


@cache_write.register_fake
def _cache_write_fake(cache, pos, k, v):
    return torch.empty_like(cache)


@torch.library.custom_op("kvc::cache_read", mutates_args=())
def cache_read(cache: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    return cache[0, :length].clone(), cache[1, :length].clone()


@cache_read.register_fake
def _cache_read_fake(cache, length):
    shape = [length] + list(cache.shape[2:])
    return cache.new_empty(shape), cache.new_empty(shape)


#: custom op name (as torch-mlir spells it in ``torch.operator``) -> short name
KVC_OPS = {
    "torch.kvc.linear": "linear",
    "torch.kvc.cache_write": "cache_write",
    "torch.kvc.cache_read": "cache_read",
}
