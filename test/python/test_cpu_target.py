"""The cpu target: compile_module, the calling convention, bound weights, dynamic shapes,
in-place state arguments, opt_level.

Numerics are checked against numpy on seeded random data. fp32 tolerance: both
sides sum K products in f32 in different orders, so each is within
(K+1)*2^-24 * sum|x_k w_k| of the exact value (standard summation bound); the
check allows twice that, per element, and tanh/bias add one more rounding.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest
import torch
from mlir import ir

from kvc import resources
from kvc.context import make_context
from kvc.targets.cpu import CpuCompileError, compile_module, pipeline_elements

U = 2.0**-24
K, N = 64, 48

LINEAR = f"""
func.func @forward(%x: tensor<?x{K}xf32>, %w: tensor<{K}x{N}xf32> {{kvc.weight = "w"}}, %b: tensor<{N}xf32>)
    -> tensor<?x{N}xf32> {{
  %c0 = arith.constant 0 : index
  %m = tensor.dim %x, %c0 : tensor<?x{K}xf32>
  %e = tensor.empty(%m) : tensor<?x{N}xf32>
  %zero = arith.constant 0.0 : f32
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<?x{N}xf32>) -> tensor<?x{N}xf32>
  %y = linalg.matmul ins(%x, %w : tensor<?x{K}xf32>, tensor<{K}x{N}xf32>) outs(%f : tensor<?x{N}xf32>) -> tensor<?x{N}xf32>
  %t = linalg.generic {{indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>,
                                         affine_map<(d0, d1) -> (d0, d1)>],
                       iterator_types = ["parallel", "parallel"]}}
      ins(%y, %b : tensor<?x{N}xf32>, tensor<{N}xf32>) outs(%e : tensor<?x{N}xf32>) {{
  ^bb0(%a: f32, %bias: f32, %o: f32):
    %s = arith.addf %a, %bias : f32
    %r = math.tanh %s : f32
    linalg.yield %r : f32
  }} -> tensor<?x{N}xf32>
  return %t : tensor<?x{N}xf32>
}}
"""


@pytest.fixture(scope="module")
def ctx():
    return make_context()


@pytest.fixture(scope="module")
def linear(ctx):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((K, N)).astype(np.float32)
    with ctx, ir.Location.unknown():
        module = ir.Module.parse(LINEAR)
    return compile_module(module, weights={"w": w}), w


def _reference(x, w, b):
    return np.tanh(x.astype(np.float64) @ w.astype(np.float64) + b)


def _bound(x, w):
    # |tanh'| <= 1: the matmul error passes through; + two roundings (bias add, tanh) of |result| <= 1.
    return 2 * (K + 1) * U * (np.abs(x) @ np.abs(w)) + 4 * U


@pytest.mark.parametrize("rows", [1, 7, 0])
def test_matmul_elementwise_matches_numpy(linear, rows):
    exe, w = linear
    rng = np.random.default_rng(rows)
    x = rng.standard_normal((rows, K)).astype(np.float32)
    b = rng.standard_normal(N).astype(np.float32)
    (y,) = exe(x, b)
    assert y.shape == (rows, N) and y.dtype == np.float32
    assert np.all(np.abs(y - _reference(x, w, b)) <= _bound(x, w))


def test_dynamic_dim_and_torch_inputs(linear):
    exe, w = linear
    x = torch.randn(5, K, generator=torch.Generator().manual_seed(1))
    b = torch.randn(N, generator=torch.Generator().manual_seed(2))
    (y,) = exe(x, b)
    assert np.all(np.abs(y - _reference(x.numpy(), w, b.numpy())) <= _bound(x.numpy(), w))
    # A non-contiguous input is made contiguous (one copy), not misread.
    xt = np.asfortranarray(x.numpy())
    (y2,) = exe(xt, b.numpy())
    np.testing.assert_array_equal(y, y2)


def test_weights_bound_without_copy_and_only_activations_passed(linear):
    exe, w = linear
    assert [a.name for a in exe.args] == ["arg0", "arg2"]
    assert np.shares_memory(exe.weights["w"], w)


def test_input_validation_messages(linear):
    exe, _ = linear
    x = np.zeros((2, K), np.float32)
    b = np.zeros(N, np.float32)
    with pytest.raises(TypeError, match=r"takes 2 input\(s\)"):
        exe(x)
    with pytest.raises(TypeError, match=r"arg0: expected dtype float32 for tensor<\?x64xf32>, got float64"):
        exe(x.astype(np.float64), b)
    with pytest.raises(ValueError, match=r"arg2: dimension 0 must be 48"):
        exe(x, np.zeros(5, np.float32))
    with pytest.raises(ValueError, match=r"arg0: expected rank 2"):
        exe(np.zeros(K, np.float32), b)


def test_missing_weight_and_entry_errors(ctx):
    with ctx, ir.Location.unknown():
        module = ir.Module.parse(LINEAR)
    with pytest.raises(CpuCompileError, match=r"no array bound for weight argument\(s\) 'w'"):
        compile_module(module)
    with pytest.raises(CpuCompileError, match=r"no func.func named 'main'.*functions: forward"):
        compile_module(module, entry="main", weights={"w": np.zeros((K, N), np.float32)})
    # The caller's module is never modified.
    assert "memref" not in str(module) and "llvm.emit_c_interface" not in str(module)


MULTI = """
func.func @forward(%x: tensor<?x3xf32>, %n: tensor<i64>) -> (tensor<?x3xf32>, tensor<?x3xf32>, tensor<2xf32>, tensor<i64>) {
  %c = arith.constant dense<[1.5, -2.0]> : tensor<2xf32>
  %c0 = arith.constant 0 : index
  %d = tensor.dim %x, %c0 : tensor<?x3xf32>
  %e = tensor.empty(%d) : tensor<?x3xf32>
  %sq = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                        iterator_types = ["parallel", "parallel"]} ins(%x : tensor<?x3xf32>) outs(%e : tensor<?x3xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.mulf %a, %a : f32
    linalg.yield %m : f32
  } -> tensor<?x3xf32>
  return %sq, %x, %c, %n : tensor<?x3xf32>, tensor<?x3xf32>, tensor<2xf32>, tensor<i64>
}
"""


def test_multiple_results_fresh_buffers_and_lifetime(ctx):
    with ctx, ir.Location.unknown():
        module = ir.Module.parse(MULTI)
    exe = compile_module(module)
    x = np.random.default_rng(3).standard_normal((4, 3)).astype(np.float32)
    sq, same, const, n = exe(x, np.array(7, np.int64))
    np.testing.assert_array_equal(sq, x * x)
    # A returned input and a returned constant come back as fresh arrays, not views of them.
    np.testing.assert_array_equal(same, x)
    assert not np.shares_memory(same, x)
    np.testing.assert_array_equal(const, np.array([1.5, -2.0], np.float32))
    assert n.shape == () and int(n) == 7
    del exe
    gc.collect()
    np.testing.assert_array_equal(sq, x * x)  # outputs outlive the executable


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def test_outputs_are_freed(ctx):
    # 200 calls returning 4 MB each: without freeing, RSS would grow by ~800 MB.
    with ctx, ir.Location.unknown():
        module = ir.Module.parse(MULTI)
    exe = compile_module(module, keep_ir=False)
    x = np.ones((350_000, 3), np.float32)
    n = np.array(1, np.int64)
    for _ in range(5):
        exe(x, n)
    gc.collect()
    before = _rss_bytes()
    for _ in range(200):
        exe(x, n)
    gc.collect()
    assert _rss_bytes() - before < 200 * 2**20


def test_large_constants_become_bound_weights(ctx):
    rng = np.random.default_rng(4)
    w = rng.standard_normal((256, 128)).astype(np.float32)  # 128 KiB: above the threshold
    with ctx, ir.Location.unknown():
        module = ir.Module.parse("""
func.func @forward(%x: tensor<2x256xf32>) -> tensor<2x128xf32> {
  %w = arith.constant dense<0.0> : tensor<256x128xf32>
  %z = arith.constant dense<0.0> : tensor<2x128xf32>
  %y = linalg.matmul ins(%x, %w : tensor<2x256xf32>, tensor<256x128xf32>) outs(%z : tensor<2x128xf32>) -> tensor<2x128xf32>
  return %y : tensor<2x128xf32>
}""")
        const = [op for op in module.body.operations[0].regions[0].blocks[0].operations
                 if op.name == "arith.constant"][0]
        const.attributes["value"] = resources.resource_attr(w, "big_weight")
    exe = compile_module(module)
    assert list(exe.weights) == ["__const.0"] and np.shares_memory(exe.weights["__const.0"], w)
    assert 'kvc.weight = "__const.0"' in exe.ir_stages["linalg"]
    x = rng.standard_normal((2, 256)).astype(np.float32)
    (y,) = exe(x)
    assert np.all(np.abs(y - x.astype(np.float64) @ w) <= 2 * 257 * U * (np.abs(x) @ np.abs(w)))


def test_ir_stages_and_pipeline(linear):
    exe, _ = linear
    assert list(exe.ir_stages) == ["input", "kvc-lowering", "linalg", "bufferized", "loops", "llvm"]
    assert exe.pipeline == pipeline_elements()
    assert "one-shot-bufferize" in " ".join(exe.pipeline)
    assert "llvm.func @_mlir_ciface_forward" in exe.ir_stages["llvm"]
    assert "tensor<" not in exe.ir_stages["bufferized"].split("func.func @forward")[1].split("{")[0]


KERNELS = """
func.func @forward(%x: tensor<?x96xf32>, %w: tensor<40x96xf32> {kvc.weight = "w"}, %b: tensor<40xf32>,
                   %q: tensor<3x?x16xf32>, %k: tensor<3x?x16xf32>) -> (tensor<?x40xf32>, tensor<3x?x?xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %m = tensor.dim %x, %c0 : tensor<?x96xf32>
  %e0 = tensor.empty() : tensor<96x40xf32>
  %t = linalg.transpose ins(%w : tensor<40x96xf32>) outs(%e0 : tensor<96x40xf32>) permutation = [1, 0]
  %e = tensor.empty(%m) : tensor<?x40xf32>
  %bb = linalg.broadcast ins(%b : tensor<40xf32>) outs(%e : tensor<?x40xf32>) dimensions = [0]
  %y = linalg.matmul ins(%x, %t : tensor<?x96xf32>, tensor<96x40xf32>) outs(%bb : tensor<?x40xf32>) -> tensor<?x40xf32>
  %sq = tensor.dim %q, %c1 : tensor<3x?x16xf32>
  %sk = tensor.dim %k, %c1 : tensor<3x?x16xf32>
  %ek = tensor.empty(%sk) : tensor<3x16x?xf32>
  %kt = linalg.transpose ins(%k : tensor<3x?x16xf32>) outs(%ek : tensor<3x16x?xf32>) permutation = [0, 2, 1]
  %es = tensor.empty(%sq, %sk) : tensor<3x?x?xf32>
  %zero = arith.constant 0.0 : f32
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<3x?x?xf32>) -> tensor<3x?x?xf32>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<3x?x16xf32>, tensor<3x16x?xf32>) outs(%fs : tensor<3x?x?xf32>) -> tensor<3x?x?xf32>
  return %y, %s : tensor<?x40xf32>, tensor<3x?x?xf32>
}
"""


def test_dense_matmul_kernels_fold_transposes(ctx):
    """F.linear (matmul of a transposed [N, K] weight) and Q K^T run as register K-loop kernels."""
    rng = np.random.default_rng(6)
    w = rng.standard_normal((40, 96)).astype(np.float32)
    with ctx, ir.Location.unknown():
        module = ir.Module.parse(KERNELS)
    exe = compile_module(module, weights={"w": w})
    lowered = exe.ir_stages["kvc-lowering"]
    assert "linalg.transpose" not in lowered and "linalg.matmul" not in lowered and "batch_matmul" not in lowered
    for rows, tq, tk in [(1, 1, 5), (6, 4, 9)]:
        x = rng.standard_normal((rows, 96)).astype(np.float32)
        b = rng.standard_normal(40).astype(np.float32)
        q = rng.standard_normal((3, tq, 16)).astype(np.float32)
        k = rng.standard_normal((3, tk, 16)).astype(np.float32)
        y, s = exe(x, b, q, k)
        ref_y = x.astype(np.float64) @ w.T.astype(np.float64) + b
        assert np.all(np.abs(y - ref_y) <= 2 * 98 * U * (np.abs(x) @ np.abs(w).T + np.abs(b)))
        ref_s = np.einsum("bid,bjd->bij", q.astype(np.float64), k.astype(np.float64))
        assert s.shape == (3, tq, tk)
        assert np.all(np.abs(s - ref_s) <= 2 * 17 * U * np.einsum("bid,bjd->bij", np.abs(q), np.abs(k)))


def test_strided_slices_link_the_runtime_copy(ctx):
    """Strided insert/extract slices lower to memrefCopy (MLIR's C runner utils, linked in)."""
    with ctx, ir.Location.unknown():
        module = ir.Module.parse("""
func.func @forward(%x: tensor<4x6xf32>, %y: tensor<4x3xf32>) -> (tensor<4x6xf32>, tensor<2x3xf32>) {
  %r = tensor.insert_slice %y into %x[0, 1] [4, 3] [1, 2] : tensor<4x3xf32> into tensor<4x6xf32>
  %s = tensor.extract_slice %x[1, 0] [2, 3] [2, 2] : tensor<4x6xf32> to tensor<2x3xf32>
  return %r, %s : tensor<4x6xf32>, tensor<2x3xf32>
}""")
    x = np.random.default_rng(8).standard_normal((4, 6)).astype(np.float32)
    y = np.random.default_rng(9).standard_normal((4, 3)).astype(np.float32)
    x_before = x.copy()
    r, s = compile_module(module, keep_ir=False)(x, y)
    # %x is an input, not state: read-only, so the insert works on a copy (x is unchanged)
    np.testing.assert_array_equal(x, x_before)
    expected = x.copy()
    expected[:, 1::2] = y
    np.testing.assert_array_equal(r, expected)
    np.testing.assert_array_equal(s, x[1:4:2, 0:6:2])


# ------------------------------------------------------------------ in-place state
STATE_STEP = """
func.func @step(%state: tensor<8x4xf32> {{kvc.state = "kv"}}, %row: tensor<1x4xf32>, %pos: index)
    -> (tensor<4xf32>, tensor<8x4xf32>) {{
  %new = tensor.insert_slice %row into %state[%pos, 0] [1, 4] [1, 1] : tensor<1x4xf32> into tensor<8x4xf32>
  %e = tensor.empty() : tensor<4xf32>
  %z = arith.constant 0.0 : f32
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<4xf32>) -> tensor<4xf32>
  %sum = linalg.reduce ins({reduced} : tensor<8x4xf32>) outs(%f : tensor<4xf32>) dimensions = [0]
    (%a: f32, %b: f32) {{
      %r = arith.addf %a, %b : f32
      linalg.yield %r : f32
    }}
  return %sum, %new : tensor<4xf32>, tensor<8x4xf32>
}}
"""


def _parse(ctx, text):
    with ctx, ir.Location.unknown():
        return ir.Module.parse(text)


@pytest.mark.parametrize("how", ["attribute", "state_args"])
def test_state_argument_is_updated_in_place(ctx, how):
    text = STATE_STEP.format(reduced="%new")
    if how == "state_args":
        text = text.replace(' {kvc.state = "kv"}', "")
    exe = compile_module(_parse(ctx, text), entry="step", state_args=[0] if how == "state_args" else None,
                         opt_level=0 if how == "state_args" else 3)
    assert [a.state is not None for a in exe.args] == [True, False, False]
    assert len(exe.results) == 1 and exe.results[0].shape == (4,)  # the state's result is dropped
    rng = np.random.default_rng(10)
    state = rng.standard_normal((8, 4)).astype(np.float32)
    expected = state.copy()
    address = state.__array_interface__["data"][0]
    for pos in (2, 5):  # two calls accumulate into the same buffer
        row = rng.standard_normal((1, 4)).astype(np.float32)
        (total,) = exe(state, row, np.array(pos, np.int64))
        expected[pos] = row[0]
        assert state.__array_interface__["data"][0] == address  # the caller's own buffer, mutated
        np.testing.assert_array_equal(state, expected)  # slices copy exactly
        # 8 f32 additions in some order: within 8 * 2^-24 * sum|x| of the exact sum
        ref = expected.astype(np.float64).sum(axis=0)
        assert np.all(np.abs(total - ref) <= 8 * U * np.abs(expected).sum(axis=0))
    assert "memref.alloc() {alignment = 64 : i64} : memref<8x4xf32>" not in exe.ir_stages["bufferized"]
    # a CPU torch tensor is state too, updated without a copy
    t = torch.zeros(8, 4)
    exe(t, torch.ones(1, 4), np.array(7, np.int64))
    assert float(t[7].sum()) == 4.0 and float(t.sum()) == 4.0


def test_state_updated_in_a_callee_and_a_loop(ctx):
    """State threaded through a private function and an scf.for loop is still the
    caller's buffer; a function whose only results are state updates returns []."""
    exe = compile_module(_parse(ctx, """
func.func private @put(%s: tensor<8x4xf32>, %row: tensor<1x4xf32>, %p: index) -> tensor<8x4xf32> {
  %new = tensor.insert_slice %row into %s[%p, 0] [1, 4] [1, 1] : tensor<1x4xf32> into tensor<8x4xf32>
  return %new : tensor<8x4xf32>
}
func.func @step(%a: tensor<8x4xf32> {kvc.state = "a"}, %b: tensor<8x4xf32> {kvc.state = "b"},
                %row: tensor<1x4xf32>, %pos: index, %n: index) -> (tensor<8x4xf32>, tensor<8x4xf32>) {
  %a2 = func.call @put(%a, %row, %pos) : (tensor<8x4xf32>, tensor<1x4xf32>, index) -> tensor<8x4xf32>
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %b2 = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %b) -> tensor<8x4xf32> {
    %next = tensor.insert_slice %row into %acc[%i, 0] [1, 4] [1, 1] : tensor<1x4xf32> into tensor<8x4xf32>
    scf.yield %next : tensor<8x4xf32>
  }
  return %b2, %a2 : tensor<8x4xf32>, tensor<8x4xf32>
}"""), entry="step", opt_level=0)
    assert exe.results == []
    rng = np.random.default_rng(12)
    a = rng.standard_normal((8, 4)).astype(np.float32)
    b = rng.standard_normal((8, 4)).astype(np.float32)
    row = rng.standard_normal((1, 4)).astype(np.float32)
    want_a, want_b = a.copy(), b.copy()
    want_a[6] = row[0]
    want_b[:3] = row[0]
    pointers = (a.ctypes.data, b.ctypes.data)
    assert exe(a, b, row, np.array(6, np.int64), np.array(3, np.int64)) == []
    assert (a.ctypes.data, b.ctypes.data) == pointers
    np.testing.assert_array_equal(a, want_a)
    np.testing.assert_array_equal(b, want_b)


def test_state_argument_checks_at_call(ctx):
    exe = compile_module(_parse(ctx, STATE_STEP.format(reduced="%new")), entry="step", opt_level=0, keep_ir=False)
    row, pos = np.ones((1, 4), np.float32), np.array(0, np.int64)
    with pytest.raises(ValueError, match="kv: a state argument is updated in place and must be C-contiguous"):
        exe(np.zeros((4, 8), np.float32).T, row, pos)
    readonly = np.zeros((8, 4), np.float32)
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="kv: a state argument is updated in place; this array is read-only"):
        exe(readonly, row, pos)
    with pytest.raises(TypeError, match="kv: expected dtype float32"):
        exe(np.zeros((8, 4), np.float64), row, pos)
    with pytest.raises(TypeError, match="kv: a state argument is updated in place: pass a numpy array"):
        exe([[0.0] * 4] * 8, row, pos)
    both = np.zeros((8, 4), np.float32)
    with pytest.raises(ValueError, match="kv: the state buffer overlaps another argument"):
        exe(both, both[:1], pos)


def test_state_update_that_cannot_be_in_place_is_rejected(ctx):
    # The reduction reads the *old* state after the insert overwrote it: bufferization
    # would have to copy the state. The target refuses, naming function, argument, write and read.
    module = _parse(ctx, STATE_STEP.format(reduced="%state"))
    with pytest.raises(CpuCompileError, match=r'@step: state argument #0 \(kvc.state = "kv"\) cannot be updated in '
                       r"place: one-shot bufferization would copy it before 'tensor.insert_slice' .* writes it, "
                       r"because the value it overwrites is still read afterwards by 'linalg.reduce'"):
        compile_module(module, entry="step")
    # A state whose new value is not returned cannot be an in-place update either.
    module = _parse(ctx, """
func.func @f(%s: tensor<8x4xf32> {kvc.cache = "layer0"}, %row: tensor<1x4xf32>) -> tensor<8x4xf32> {
  %new = tensor.insert_slice %row into %s[0, 0] [1, 4] [1, 1] : tensor<1x4xf32> into tensor<8x4xf32>
  %e = tensor.empty() : tensor<8x4xf32>
  %d = linalg.add ins(%new, %new : tensor<8x4xf32>, tensor<8x4xf32>) outs(%e : tensor<8x4xf32>) -> tensor<8x4xf32>
  return %d : tensor<8x4xf32>
}""")
    with pytest.raises(CpuCompileError, match=r'@f: state argument #0 \(kvc.cache = "layer0"\) cannot be updated in '
                       r"place: no result of @f is its new value"):
        compile_module(module, entry="f")
    with pytest.raises(CpuCompileError, match=r"state_args: 5 is not an argument index of 'f' \(it has 2"):
        compile_module(module, entry="f", state_args=[5])


def test_opt_level(ctx, linear):
    exe, w = linear
    assert exe.opt_level == 3  # the default
    with pytest.raises(ValueError, match="opt_level must be an integer from 0 to 3, got 4"):
        compile_module(_parse(ctx, LINEAR), weights={"w": w}, opt_level=4)
    exe0 = compile_module(_parse(ctx, LINEAR), weights={"w": w}, opt_level=0, keep_ir=False)
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, K)).astype(np.float32)
    b = rng.standard_normal(N).astype(np.float32)
    (y0,) = exe0(x, b)
    assert exe0.opt_level == 0 and np.all(np.abs(y0 - _reference(x, w, b)) <= _bound(x, w))
