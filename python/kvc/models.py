"""Built-in models: a Llama-style decoder and a GPT-2-style decoder.

Plain PyTorch (no kvc imports at module level), with seeded weights made in
code: :func:`build` constructs on the meta device and fills every parameter
in place with ``normal_`` from a seeded generator, so even a ~1B-parameter
model is materialised in seconds without a second copy.

Attention goes through :func:`kvc.frontend.kv.attention`, which is ordinary
causal attention in eager mode and, while :mod:`kvc.frontend.kv` holds a KV
state (``kvc.compile_llm`` tracing or running a step), writes K/V into the
explicit cache and attends over it.

- :class:`Llama`: RMSNorm, RoPE (rotate-half), grouped-query attention,
  SwiGLU MLP, tied or untied input/output embeddings, no biases.
- :class:`GPT2`: learned absolute positions, LayerNorm, fused QKV projection
  with bias, tanh-GELU MLP, output head tied to the token embedding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


def _kv():
    from kvc.frontend import kv

    return kv


@dataclass
class LlamaConfig:
    vocab_size: int = 512
    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    intermediate_size: int = 256
    max_position: int = 512
    rope_theta: float = 10000.0
    rms_eps: float = 1e-5
    tie_embeddings: bool = False

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads


@dataclass
class GPT2Config:
    vocab_size: int = 512
    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    max_position: int = 256
    ln_eps: float = 1e-5

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def num_kv_heads(self) -> int:
        return self.num_heads


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def _rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def positions(input_ids: torch.Tensor, pos: torch.Tensor | None) -> torch.Tensor:
    """Absolute positions of the tokens of ``input_ids`` [B, T], starting at ``pos``."""
    t = torch.arange(input_ids.shape[1], dtype=torch.int64, device=input_ids.device)
    return t if pos is None else t + pos.reshape(())


class LlamaAttention(nn.Module):
    def __init__(self, cfg: LlamaConfig, layer: int):
        super().__init__()
        self.cfg, self.layer = cfg, layer
        d, hd = cfg.hidden_size, cfg.head_dim
        self.q_proj = nn.Linear(d, cfg.num_heads * hd, bias=False)
        self.k_proj = nn.Linear(d, cfg.num_kv_heads * hd, bias=False)
        self.v_proj = nn.Linear(d, cfg.num_kv_heads * hd, bias=False)
        self.o_proj = nn.Linear(cfg.num_heads * hd, d, bias=False)

    def forward(self, x, cos, sin):
        b, t, _ = x.shape
        cfg = self.cfg
        q = self.q_proj(x).view(b, t, cfg.num_heads, cfg.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, cfg.num_kv_heads, cfg.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, cfg.num_kv_heads, cfg.head_dim).transpose(1, 2)
        q = q * cos + _rotate_half(q) * sin
        k = k * cos + _rotate_half(k) * sin
        out = _kv().attention(self.layer, q, k, v, scale=1.0 / math.sqrt(cfg.head_dim))
        return self.o_proj(out.transpose(1, 2).reshape(b, t, cfg.num_heads * cfg.head_dim))


class LlamaBlock(nn.Module):
    def __init__(self, cfg: LlamaConfig, layer: int):
        super().__init__()
        self.input_norm = RMSNorm(cfg.hidden_size, cfg.rms_eps)
        self.attn = LlamaAttention(cfg, layer)
        self.post_norm = RMSNorm(cfg.hidden_size, cfg.rms_eps)
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x, cos, sin):
        x = x + self.attn(self.input_norm(x), cos, sin)
        h = self.post_norm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class Llama(nn.Module):
    """Llama-architecture decoder: ``forward(input_ids[B, T], pos=None) -> logits[B, T, V]``."""

    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(LlamaBlock(cfg, i) for i in range(cfg.num_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_eps)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.lm_head.weight = self.embed.weight
        inv_freq = 1.0 / (cfg.rope_theta ** (torch.arange(0, cfg.head_dim, 2, dtype=torch.float32) / cfg.head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def _rope_buffers(self):
        # inv_freq is recomputed after meta-device construction (see build()).
        cfg = self.cfg
        self.inv_freq = 1.0 / (cfg.rope_theta ** (torch.arange(0, cfg.head_dim, 2, dtype=torch.float32) / cfg.head_dim))

    def forward(self, input_ids, pos=None):
        p = positions(input_ids, pos).to(torch.float32)
        freqs = p[:, None] * self.inv_freq[None, :]  # [T, D/2]
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos()[None, None], emb.sin()[None, None]
        x = self.embed(input_ids)
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.lm_head(self.norm(x))

    def kv_spec(self) -> tuple[int, int, int]:
        """(layers, kv_heads, head_dim) of the KV cache."""
        return self.cfg.num_layers, self.cfg.num_kv_heads, self.cfg.head_dim


class GPT2Attention(nn.Module):
    def __init__(self, cfg: GPT2Config, layer: int):
        super().__init__()
        self.cfg, self.layer = cfg, layer
        self.c_attn = nn.Linear(cfg.hidden_size, 3 * cfg.hidden_size)
        self.c_proj = nn.Linear(cfg.hidden_size, cfg.hidden_size)

    def forward(self, x):
        b, t, d = x.shape
        cfg = self.cfg
        q, k, v = self.c_attn(x).split(d, dim=-1)
        q, k, v = (z.view(b, t, cfg.num_heads, cfg.head_dim).transpose(1, 2) for z in (q, k, v))
        out = _kv().attention(self.layer, q, k, v, scale=1.0 / math.sqrt(cfg.head_dim))
        return self.c_proj(out.transpose(1, 2).reshape(b, t, d))


class GPT2Block(nn.Module):
    def __init__(self, cfg: GPT2Config, layer: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.hidden_size, eps=cfg.ln_eps)
        self.attn = GPT2Attention(cfg, layer)
        self.ln_2 = nn.LayerNorm(cfg.hidden_size, eps=cfg.ln_eps)
        self.c_fc = nn.Linear(cfg.hidden_size, 4 * cfg.hidden_size)
        self.mlp_proj = nn.Linear(4 * cfg.hidden_size, cfg.hidden_size)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT2(nn.Module):
    """GPT-2-style decoder: ``forward(input_ids[B, T], pos=None) -> logits[B, T, V]``."""

    def __init__(self, cfg: GPT2Config):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.wpe = nn.Embedding(cfg.max_position, cfg.hidden_size)
        self.blocks = nn.ModuleList(GPT2Block(cfg, i) for i in range(cfg.num_layers))
        self.ln_f = nn.LayerNorm(cfg.hidden_size, eps=cfg.ln_eps)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight

    def forward(self, input_ids, pos=None):
        x = self.wte(input_ids) + self.wpe(positions(input_ids, pos))[None]
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))

    def kv_spec(self) -> tuple[int, int, int]:
        return self.cfg.num_layers, self.cfg.num_heads, self.cfg.head_dim


def build(cfg, *, seed: int = 0, std: float = 0.02) -> nn.Module:
    """Construct the model for ``cfg`` with seeded random weights (fast, in place).

    Linear and embedding weights ~ N(0, std); norm weights ~ 1 + N(0, 0.1) and
    biases ~ N(0, std), so that no parameter is trivially 1 or 0 (tests then
    catch a dropped scale or bias).
    """
    cls = Llama if isinstance(cfg, LlamaConfig) else GPT2
    with torch.device("meta"):
        model = cls(cfg)
    model = model.to_empty(device="cpu")
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            is_ln = ".ln_" in name or name.startswith("ln_")
            if name.endswith("norm.weight") or (is_ln and name.endswith(".weight")):
                p.normal_(0.0, 0.1, generator=gen).add_(1.0)
            else:
                p.normal_(0.0, std, generator=gen)
    if isinstance(model, Llama):
        model._rope_buffers()
    return model.eval()


def tiny_llama(*, tie_embeddings: bool = False, seed: int = 0, **overrides) -> Llama:
    return build(LlamaConfig(tie_embeddings=tie_embeddings, **overrides), seed=seed)


def tiny_gpt2(*, seed: int = 0, **overrides) -> GPT2:
    return build(GPT2Config(**overrides), seed=seed)
