"""kvc.compile_llm: prefill/decode steps over explicit KV caches, greedy generate.

Checks against eager PyTorch: logits within 1e-4 relative error (max|d| /
max|ref|; fp32 with a different summation order, observed ~1e-6), greedy
tokens exactly equal. Quantized models are compared with an eager model whose
linear weights are the dequantized ones. Compiled models are shared through
module-scoped fixtures (each compile_llm is two JIT compilations).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

import kvc
from kvc import formats, models


def rel_err(y, ref) -> float:
    y, ref = torch.as_tensor(y).double(), torch.as_tensor(ref).double()
    return float((y - ref).abs().max() / ref.abs().max())


def eager_greedy(model, prompt, n):
    ids = prompt.clone()
    with torch.no_grad():
        for _ in range(n):
            ids = torch.cat([ids, model(ids)[0, -1].argmax().view(1, 1)], dim=1)
    return ids


@pytest.fixture(scope="module")
def llama():
    model = models.tiny_llama(seed=3)
    return model, kvc.compile_llm(model, max_seq_len=48, prefill_len=8)


def test_llama_prefill_and_decode_logits_match_eager(llama):
    model, llm = llama
    torch.manual_seed(0)
    prompt = torch.randint(0, model.cfg.vocab_size, (1, 11))  # two prefill chunks, the 2nd padded
    last = llm.prefill(prompt)
    with torch.no_grad():
        ref = model(prompt)
    assert rel_err(last, ref[0, -1]) <= 1e-4
    seq = prompt
    for step in range(3):
        token = torch.randint(0, model.cfg.vocab_size, (1, 1))
        logits = llm.step(token, seq.shape[1])
        seq = torch.cat([seq, token], dim=1)
        with torch.no_grad():
            assert rel_err(logits[0, -1], model(seq)[0, -1]) <= 1e-4


def test_llama_generate_matches_eager_greedy(llama):
    model, llm = llama
    prompt = torch.randint(0, model.cfg.vocab_size, (1, 5), generator=torch.Generator().manual_seed(7))
    out = llm.generate(prompt, max_new_tokens=16)
    assert out.tolist() == eager_greedy(model, prompt, 16).tolist()
    assert llm.last_timings["new_tokens"] == 16


def test_cache_is_updated_in_place(llama):
    model, llm = llama
    buffers = [c.__array_interface__["data"][0] for c in llm.caches]
    prompt = torch.randint(0, model.cfg.vocab_size, (1, 6), generator=torch.Generator().manual_seed(1))
    llm.prefill(prompt)
    llm.step(torch.tensor([[3]]), 6)
    assert [c.__array_interface__["data"][0] for c in llm.caches] == buffers
    for cache in llm.caches:
        assert np.count_nonzero(np.abs(cache[:, :7]).sum(axis=(2, 3))) == 14  # K and V rows 0..6 written
        assert np.abs(cache[:, 8:]).max() == 0.0  # never written (prefill chunk padding ends at 8)
    # the kvc IR carries the cache as kvcache state
    ir = llm.kvc_ir["decode"]
    assert "!kvcache.cache<\"kv\", 48" in ir and "kvcache.append" in ir and "kvcache.read" in ir
    # the cpu target's bufferized stage: the cache is a state argument, written in place,
    # no cache-sized allocation, and no longer a result (test/Frontend/llama-decode-inplace.mlir)
    bufferized = llm.ir["decode:cpu:bufferized"]
    assert "memref<2x48x2x32xf32> {kvc.cache = \"layer0\"}" in bufferized
    assert "memref.alloc() {alignment = 64 : i64} : memref<2x48x2x32xf32>" not in bufferized
    assert [a.state for a in llm._decode.args][2:] == [f"layer{i}" for i in range(model.cfg.num_layers)]
    assert len(llm._decode.results) == 1  # logits only: the cache results were dropped


@pytest.fixture(scope="module")
def llama_tied_int4():
    model = models.tiny_llama(tie_embeddings=True, seed=4)
    return model, kvc.compile_llm(model, max_seq_len=32, prefill_len=8, weights="int4:g32")


def test_quantized_llama_matches_dequantized_eager(llama_tied_int4):
    model, llm = llama_tied_int4
    ref = copy.deepcopy(model)
    fmt = formats.get("int4:g32")
    with torch.no_grad():
        for mod in ref.modules():
            if isinstance(mod, nn.Linear):  # tied: the embedding sees the dequantized table too
                mod.weight.copy_(torch.from_numpy(fmt.quantize(mod.weight.numpy(), axis=-1).dequantize()))
    prompt = torch.randint(0, model.cfg.vocab_size, (1, 7), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert rel_err(llm.prefill(prompt), ref(prompt)[0, -1]) <= 1e-4
        seq = torch.cat([prompt, torch.tensor([[5]])], dim=1)
        assert rel_err(llm.step(torch.tensor([[5]]), 7)[0, -1], ref(seq)[0, -1]) <= 1e-4
    report = llm.report()
    assert report.bytes_after < report.bytes_before / 2
    assert report.formats.get("int4:g32") == 7 * model.cfg.num_layers + 1  # q k v o gate up down + lm_head
    assert "lowbit.matmul" in llm.kvc_ir["decode"]


def test_gpt2_generate_matches_eager():
    model = models.tiny_gpt2(seed=5)
    llm = kvc.compile_llm(model, max_seq_len=32, prefill_len=8)
    prompt = torch.randint(0, model.cfg.vocab_size, (1, 4), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert rel_err(llm.prefill(prompt), model(prompt)[0, -1]) <= 1e-4
    assert llm.generate(prompt, max_new_tokens=10).tolist() == eager_greedy(model, prompt, 10).tolist()


def test_hf_llama_greedy_generate_is_exact():
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128)
    model = transformers.LlamaForCausalLM(cfg).eval()
    llm = kvc.compile_llm(model, max_seq_len=48, prefill_len=8)
    prompt = torch.randint(0, 256, (1, 6), generator=torch.Generator().manual_seed(11))
    out = llm.generate(prompt, max_new_tokens=32)
    with torch.no_grad():
        ref = model.generate(prompt, max_new_tokens=32, do_sample=False, eos_token_id=None, pad_token_id=0)
    assert out.shape == (1, 38)
    assert out.tolist() == ref.tolist()
    # HF's own attention implementation is restored after tracing
    assert model.config._attn_implementation != "kvc"


def test_llm_save_load_generates_identical_tokens(llama_tied_int4, tmp_path):
    import json
    import os
    import re

    model, llm = llama_tied_int4
    path = tmp_path / "llm"
    llm.save(path)
    names = sorted(os.listdir(path))
    assert names == ["decode.mlir", "manifest.json", "prefill.mlir", "weights"]
    files = os.listdir(path / "weights")
    assert files and all(f.endswith(".npy") for f in files)  # raw arrays, never pickle
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["format"] == "kvc.compiled-llm/1" and manifest["vocab_size"] == model.cfg.vocab_size
    assert manifest["opt_level"] == llm.opt_level == 3  # compile_llm's default; loading uses the same
    texts = [(path / f"{e}.mlir").read_text() for e in ("prefill", "decode")]
    assert texts == [llm.kvc_ir["prefill"], llm.kvc_ir["decode"]]
    bound = set()
    for text in texts:
        assert "dense_resource" not in text and "dense<[" not in text  # no weight data in the IR
        bound |= set(re.findall(r'kvc\.weight = "([^"]+)"', text))
    # both steps bind the same arrays: each is stored once
    assert {w["name"] for w in manifest["weights"]} == bound and len(files) == len(bound)
    assert any(n.endswith(".codes") for n in bound)

    loaded = kvc.load(path)
    assert isinstance(loaded, type(llm)) and loaded.vocab_size == llm.vocab_size
    assert loaded.opt_level == llm.opt_level and loaded._decode.opt_level == llm.opt_level
    assert loaded.report().bytes_after == llm.report().bytes_after
    assert loaded.report().formats == llm.report().formats
    prompt = torch.randint(0, model.cfg.vocab_size, (1, 9), generator=torch.Generator().manual_seed(21))
    out = llm.generate(prompt, max_new_tokens=12)
    assert loaded.generate(prompt, max_new_tokens=12).tolist() == out.tolist()
    # same code, same arrays: bitwise equal logits; the loaded model has its own caches
    assert torch.equal(loaded.prefill(prompt), llm.prefill(prompt))
    assert all(a.ctypes.data != b.ctypes.data for a, b in zip(loaded.caches, llm.caches))


def test_step_rejects_out_of_range_token_ids(llama):
    model, llm = llama
    with pytest.raises(ValueError, match=r"token id 512 is out of range \[0, 512\)"):
        llm.step(torch.tensor([[model.cfg.vocab_size]]), 0)
    with pytest.raises(ValueError, match="token id -1"):
        llm.step(torch.tensor([[-1]]), 0)
