"""The foundation: context, verifier, pipelines and kvc-opt from Python."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlir import ir

import kvc
from kvc.context import available_dialects
from kvc.diagnostics import DiagnosticCollector, KvcError
from kvc.dialects import lowbit
from kvc.opt import main as kvc_opt
from kvc.pipeline import KvcPass, Option, parse_pipeline, registered_passes, run_pipeline
from kvc.verifier import verify

ROOT = Path(__file__).resolve().parents[2]


def test_context_loads_all_dialects_fast():
    start = time.perf_counter()
    ctx = kvc.make_context()
    elapsed = time.perf_counter() - start
    assert set(available_dialects()) >= {"lowbit"}
    with ctx:
        assert str(lowbit.format_type("int4")) == "!lowbit.int<4 : i32>"
    # Loading parses four small IRDL files; well under a second even on a slow CI core.
    assert elapsed < 1.0


def test_import_kvc_loads_no_mlir():
    code = "import sys, kvc; assert not any(m == 'mlir' or m.startswith('mlir.') for m in sys.modules), 'mlir imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    "name, text",
    [
        ("int4", "!lowbit.int<4 : i32>"),
        ("uint3", "!lowbit.uint<3 : i32>"),
        ("e2m1", "!lowbit.float<2 : i32, 1 : i32>"),
        ("e4m3", "!lowbit.float<4 : i32, 3 : i32>"),
        ("razer4:g128", "!lowbit.razer<array<f32: 5.000000e+00, 8.000000e+00, -5.000000e+00, -8.000000e+00>>"),
        ("bipolar2", "!lowbit.bipolar<2 : i32>"),
    ],
)
def test_format_type_round_trip(name, text):
    with kvc.make_context():
        ty = lowbit.format_type(name)
        assert str(ty) == text
        assert lowbit.format_name(ty) == name.split(":")[0]


def test_unknown_format_name():
    with kvc.make_context(), pytest.raises(ValueError, match="unknown low-bit format 'int4x'"):
        lowbit.format_type("int4x")


def _module_with_matmul(n_groups: int):
    ctx = kvc.make_context()
    with ctx, ir.Location.unknown():
        module = ir.Module.create()
        f32, f16 = ir.F32Type.get(), ir.F16Type.get()
        fmt = lowbit.format_type("int4")
        arg_types = [
            ir.RankedTensorType.get([2, 64], f32),
            ir.RankedTensorType.get([5, 64], fmt),
            ir.RankedTensorType.get([5, n_groups], f16),
        ]
        from mlir.dialects import func

        with ir.InsertionPoint(module.body):
            fn = func.FuncOp("f", ir.FunctionType.get(arg_types, [ir.RankedTensorType.get([2, 5], f32)]))
            block = fn.add_entry_block()
            with ir.InsertionPoint(block):
                mm = lowbit.build_matmul(*block.arguments, group_size=32)
                func.ReturnOp([mm.output])
    return ctx, module, mm


def test_builders_and_accessors():
    ctx, module, mm = _module_with_matmul(2)
    with ctx:
        assert module.operation.verify()
        assert verify(module, emit=False) == []
        assert mm.int_attr("group_size") == 32
        assert mm.zeros is None and mm.meta is None
        assert lowbit.format_name(lowbit.element_format(mm.codes)) == "int4"
        assert list(ir.DenseI32ArrayAttr(mm.op.attributes["operandSegmentSizes"])) == [1, 1, 1, 0, 0]


def test_verifier_reports_at_op_location():
    ctx, module, _ = _module_with_matmul(3)  # 64 / 32 = 2 groups, not 3
    with ctx:
        collector = DiagnosticCollector(ctx)
        problems = verify(module)
        collector.detach()
        assert len(problems) == 1
        assert "scales shape 5x3 does not match K = 64 in groups of 32: expected 5x2" in problems[0].message
        assert collector.errors()[0].message.startswith("'lowbit.matmul' op scales shape")


def test_pipeline_parsing_and_options():
    class Dummy(KvcPass):
        name = "test-dummy"
        summary = "test"
        options = (Option("count", int, 1, "n"), Option("mode", str, "a", "m", choices=("a", "b")))

    from kvc import pipeline

    pipeline.register_pass(Dummy)
    try:
        _check_dummy_pipelines()
    finally:
        del pipeline._PASSES["test-dummy"]


def _check_dummy_pipelines():
    pipe = parse_pipeline("builtin.module(test-dummy{count=3 mode=b},canonicalize,func.func(cse))")
    assert [e.text for e in pipe.elements] == ["test-dummy{count=3 mode=b}", "canonicalize", "func.func(cse)"]
    assert pipe.elements[0].kvc_pass.count == 3 and pipe.elements[0].kvc_pass.mode == "b"
    with pytest.raises(KvcError, match="option 'count' expects int"):
        parse_pipeline("test-dummy{count=x}")
    with pytest.raises(KvcError, match="must be one of a, b"):
        parse_pipeline("test-dummy{mode=c}")
    with pytest.raises(KvcError, match="nests one under another operation"):
        parse_pipeline("func.func(test-dummy)")


def test_mixed_pipeline_runs_python_and_upstream_passes():
    ctx = kvc.make_context()
    text = """
    func.func @f(%c: tensor<3x10x!lowbit.int<3 : i32>>) -> tensor<3x10x!lowbit.int<3 : i32>> {
      %p = "lowbit.pack"(%c) : (tensor<3x10x!lowbit.int<3 : i32>>) -> tensor<3x4xi8>
      %u = "lowbit.unpack"(%p) : (tensor<3x4xi8>) -> tensor<3x10x!lowbit.int<3 : i32>>
      %z = arith.constant 0 : i32
      %d = arith.addi %z, %z : i32
      return %u : tensor<3x10x!lowbit.int<3 : i32>>
    }"""
    seen = []
    with ctx:
        module = ir.Module.parse(text)
        run_pipeline(module, "builtin.module(lowbit-fold-pack,canonicalize)", after_each=lambda e, op: seen.append(e.label))
        printed = str(module)
    assert seen == ["lowbit-fold-pack", "canonicalize"]
    assert "lowbit.pack" not in printed and "lowbit.unpack" not in printed and "arith.addi" not in printed


def test_every_pass_is_documented_with_options():
    for name, cls in registered_passes().items():
        assert cls.__module__.startswith("kvc.passes."), name
        assert cls.summary and (sys.modules[cls.__module__].__doc__ or "").strip(), f"{name} lacks a summary or module docstring"
        for option in cls.options:
            assert option.help, f"{name}: option {option.name} lacks help"


def test_kvc_opt_split_input_and_exit_codes(tmp_path, capsys):
    good = "func.func @a() { return }\n// -----\nfunc.func @b() { return }\n"
    path = tmp_path / "in.mlir"
    path.write_text(good)
    assert kvc_opt([str(path), "--split-input-file"]) == 0
    out = capsys.readouterr().out
    assert out.count("// -----") == 1 and "@a" in out and "@b" in out

    bad = "func.func @a() { return }\n// -----\nfunc.func @b( {\n"
    path.write_text(bad)
    assert kvc_opt([str(path), "--split-input-file"]) == 1
    err = capsys.readouterr().err
    # Line numbers are those of the whole file, not of the chunk.
    assert f"{path}:3:" in err and "Traceback" not in err


def test_package_lists_every_subpackage():
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    roots = {"kvc": ROOT / "python" / "kvc", "kvc.dialects": ROOT / "dialects", "kvc.passes": ROOT / "passes", "kvc.targets": ROOT / "targets"}
    found = set()
    for prefix, root in roots.items():
        for init in root.rglob("__init__.py"):
            rel = init.parent.relative_to(root).parts
            found.add(".".join((prefix, *rel)))
    missing = found - listed
    assert not missing, f"add to pyproject.toml [tool.setuptools] packages: {sorted(missing)}"
