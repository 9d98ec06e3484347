"""``python -m kvc.targets.cpu FILE``: compile a kvc module for the cpu target from the command line.

    python -m kvc.targets.cpu model.mlir --print-stage bufferized   # IR after one stage
    python -m kvc.targets.cpu model.mlir --run                      # run an entry without inputs
    python -m kvc.targets.cpu model.mlir --opt-level 0 --state-arg 2 --print-stage bufferized
    python -m kvc.targets.cpu --list-stages

``--run`` executes an entry function whose arguments are all bound weights or
that takes none (everything else is a constant) and prints every result with
numpy; lit tests FileCheck both forms. Errors print as ``error: message`` and
exit with status 1.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def main(argv: list[str] | None = None) -> int:
    from mlir import ir

    from kvc.context import make_context
    from kvc.diagnostics import KvcError
    from kvc.targets.cpu import compile_module, pipeline

    parser = argparse.ArgumentParser(prog="python -m kvc.targets.cpu", description=__doc__.splitlines()[0])
    parser.add_argument("input", nargs="?", help="MLIR file ('-' for stdin)")
    parser.add_argument("--entry", default="forward", help="entry function (default: forward)")
    parser.add_argument("--print-stage", action="append", default=[],
                        help="print the IR after this stage (repeatable): input, " +
                        ", ".join(name for name, _ in pipeline.STAGES))
    parser.add_argument("--run", action="store_true", help="run the entry (no activation inputs) and print results")
    parser.add_argument("--random-weights", type=int, metavar="SEED", default=None,
                        help="bind every kvc.weight argument to seeded standard-normal data")
    parser.add_argument("--state-arg", type=int, action="append", default=[], metavar="INDEX",
                        help="treat entry argument INDEX as state, updated in place (repeatable; arguments "
                        "tagged kvc.state or kvc.cache are state already)")
    parser.add_argument("--opt-level", type=int, choices=range(4), default=pipeline.DEFAULT_OPT_LEVEL,
                        metavar="{0,1,2,3}",
                        help=f"LLVM optimization level of the JIT (default {pipeline.DEFAULT_OPT_LEVEL})")
    parser.add_argument("--list-stages", action="store_true", help="print the pipeline, one element per line")
    args = parser.parse_args(argv)

    if args.list_stages:
        for name, elements in pipeline.STAGES:
            print(f"{name}:")
            for element in elements:
                print(f"  {element}")
        return 0
    if args.input is None:
        parser.error("an input file is required")
    text = sys.stdin.read() if args.input == "-" else open(args.input).read()
    context = make_context()
    try:
        with context, ir.Location.unknown():
            module = _parse(text, "<stdin>" if args.input == "-" else args.input)
        weights = _random_weights(module, args.entry, args.random_weights) if args.random_weights is not None else None
        exe = compile_module(module, entry=args.entry, weights=weights, keep_ir=bool(args.print_stage),
                             state_args=args.state_arg, opt_level=args.opt_level)
    except (KvcError, ValueError) as err:
        print(f"error: {getattr(err, 'message', str(err))}", file=sys.stderr)
        return 1
    for stage in args.print_stage:
        if stage not in exe.ir_stages:
            print(f"error: unknown stage '{stage}' (stages: {', '.join(exe.ir_stages)})", file=sys.stderr)
            return 1
        print(f"// ----- stage: {stage}")
        print(exe.ir_stages[stage])
    if args.run:
        if exe.args:
            print(f"error: --run needs an entry without activation inputs; '{args.entry}' takes "
                  f"{', '.join(a.describe() for a in exe.args)}", file=sys.stderr)
            return 1
        np.set_printoptions(precision=6, suppress=True, linewidth=120)
        for i, result in enumerate(exe()):
            print(f"result {i}: {result.dtype} {list(result.shape)}")
            print(result)
    return 0


def _parse(text: str, source_name: str):
    """Parse a module whose locations name the input file (``ir.Module.parse`` has no
    source name); bare top-level functions are wrapped as mlir-opt does."""
    from mlir import ir

    from kvc.opt import parse_source

    op = parse_source(text, source_name, ir.Context.current)
    module = ir.Module.create(op.location)
    for name in list(op.attributes):
        module.operation.attributes[name] = op.attributes[name]
    for inner in list(op.regions[0].blocks[0].operations):
        module.body.append(inner)
    return module


def _random_weights(module, entry: str, seed: int) -> dict:
    from mlir import ir

    from kvc import resources
    from kvc.resources import numpy_dtype

    rng = np.random.default_rng(seed)
    out = {}
    for op in module.body.operations:
        if op.operation.name == "func.func" and ir.StringAttr(op.attributes["sym_name"]).value == entry:
            for i, name in enumerate(resources.weight_arg_names(op)):
                if name is None:
                    continue
                ty = ir.RankedTensorType(op.regions[0].blocks[0].arguments[i].type)
                out[name] = rng.standard_normal(list(ty.shape)).astype(numpy_dtype(ty.element_type))
    return out


if __name__ == "__main__":
    sys.exit(main())
