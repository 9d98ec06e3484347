"""Explicit KV-cache state for decoder steps, and the attention that uses it.

``kvc.compile_llm`` traces a *step*: ``(input_ids[1, T], pos, cache_0 ...
cache_{L-1}) -> (logits, new_cache_0 ...)``. While a :class:`KVState` is
active, :func:`attention` (called by the built-in models, and registered as
the ``"kvc"`` attention implementation for Hugging Face models) does, per
layer:

1. ``cache = kvc::cache_write(cache, pos, K_new, V_new)``  -> ``kvcache.append``
2. ``K, V = kvc::cache_read(cache, S)``                   -> ``kvcache.read``
3. causal attention of the T queries (absolute positions ``pos + t``) over
   the S cached keys, masking key positions ``> pos + t``; grouped-query
   attention repeats K/V heads.

The read is the whole capacity S with a position mask (static shapes); keys
past ``pos + t`` are never attended, so stale or padded entries there are
harmless - that is also why a right-padded prompt can be prefilled in one
fixed-length step. Without an active state, :func:`attention` is plain causal
self-attention over the given tokens (eager PyTorch).
"""

from __future__ import annotations

import contextlib
import threading

import torch

from kvc.frontend import ops  # noqa: F401  (registers torch.ops.kvc.*)

_LOCAL = threading.local()


class KVState:
    def __init__(self, caches, pos: torch.Tensor):
        self.caches = list(caches)
        self.pos = pos
        self.new_caches = list(caches)
        self.used = set()


def active() -> KVState | None:
    return getattr(_LOCAL, "state", None)


@contextlib.contextmanager
def kv_state(caches, pos):
    prev = active()
    state = KVState(caches, pos)
    _LOCAL.state = state
    try:
        yield state
    finally:
        _LOCAL.state = prev


def _causal(q, k, v, scale, q_offset=None):
    t, s = q.shape[-2], k.shape[-2]
    qpos = torch.arange(t, dtype=torch.int64)
    if q_offset is not None:
        qpos = qpos + q_offset
    kpos = torch.arange(s, dtype=torch.int64)
    # an additive float bias (not a bool mask tensor): the comparison fuses
    # into the one elementwise op that produces it
    bias = torch.zeros(t, s, dtype=q.dtype).masked_fill(kpos[None, :] > qpos[:, None], float("-inf"))
    scores = torch.matmul(q, k.transpose(-1, -2)) * scale + bias
    return torch.matmul(torch.softmax(scores, dim=-1), v)


def _repeat_kv(x, n_rep: int):
    if n_rep == 1:
        return x
    b, h, s, d = x.shape
    return x[:, :, None].expand(b, h, n_rep, s, d).reshape(b, h * n_rep, s, d)


def attention(layer: int, q, k, v, *, scale: float):
    """q [B, H, T, D], k/v [B, Hkv, T, D] (after RoPE) -> [B, H, T, D]."""
    n_rep = q.shape[1] // k.shape[1]
    state = active()
    if state is None:
        return _causal(q, _repeat_kv(k, n_rep), _repeat_kv(v, n_rep), scale)
    if q.shape[0] != 1:
        raise ValueError("kvc KV caches hold one sequence (batch 1)")
    if layer in state.used:
        raise ValueError(f"layer {layer} attended twice in one step")
    state.used.add(layer)
    cache = state.caches[layer]
    cache = torch.ops.kvc.cache_write(cache, state.pos, k[0].transpose(0, 1), v[0].transpose(0, 1))
    state.new_caches[layer] = cache
    keys, values = torch.ops.kvc.cache_read(cache, cache.shape[1])
    keys = keys.transpose(0, 1)[None]
    values = values.transpose(0, 1)[None]
    return _causal(q, _repeat_kv(keys, n_rep), _repeat_kv(values, n_rep), scale, state.pos.reshape(()))


def hf_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """The ``"kvc"`` attention implementation for Hugging Face models.

    HF passes q/k/v as [B, H, T, D] after RoPE and expects [B, T, H, D] back.
    Padding masks are not supported (one unpadded sequence); the causal mask
    is built from positions here.
    """
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    out = attention(module.layer_idx, query, key, value, scale=scale)
    return out.transpose(1, 2).contiguous(), None


def register_hf_attention() -> str:
    """Register :func:`hf_attention` with transformers as ``"kvc"``; returns the name."""
    from transformers import AttentionInterface

    AttentionInterface.register("kvc", hf_attention)
    return "kvc"
