"""kvc-opt: the mlir-opt of kvc.

Reads MLIR (a file or stdin), verifies it (upstream verifier + kvc verifier),
runs a pipeline that mixes kvc passes and upstream passes, and prints the
result. Usage mirrors mlir-opt:

    kvc-opt in.mlir --pass-pipeline='builtin.module(lowbit-fold-qdq,canonicalize)'
    kvc-opt in.mlir --lowbit-fold-qdq --canonicalize -o out.mlir
    kvc-opt bad.mlir --split-input-file --verify-diagnostics

Every problem is reported as ``file:line:col: error: message`` with a non-zero
exit status; a Python traceback is shown only with ``--kvc-debug``.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from dataclasses import dataclass

from mlir import ir

from kvc.context import make_context
from kvc.diagnostics import Diagnostic, DiagnosticCollector, KvcError, from_mlir
from kvc.pipeline import Pipeline, parse_pipeline, validate_pipeline, pipeline_from_flags, registered_passes, run_pipeline
from kvc import verifier

SPLIT_MARKER = re.compile(r"^// -----\s*$", re.M)


def _help_epilog() -> str:
    lines = ["kvc passes (usable as --NAME[=\"opt=value ...\"] or inside --pass-pipeline):", ""]
    for name, cls in registered_passes().items():
        lines.append(f"  --{name}")
        lines += ["      " + line for line in textwrap.wrap(cls.summary, 74)]
        for option in cls.options:
            choices = f" (one of: {', '.join(option.choices)})" if option.choices else ""
            lines.append(f"      {option.name}=<{option.type.__name__}>  default {option.default!r}{choices}")
            lines += ["          " + line for line in textwrap.wrap(option.help, 70)]
    lines += [
        "",
        "Every upstream MLIR pass of LLVM 22 is available the same way (e.g. --canonicalize, --cse,",
        "'func.func(convert-linalg-to-loops)'); kvc passes run at module level.",
    ]
    return "\n".join(lines)


def _arg_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kvc-opt",
        description="kvc's mlir-opt: parse, verify and transform MLIR with kvc and upstream passes.",
        epilog=_help_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("input", nargs="?", default="-", help="input file ('-' or nothing for stdin)")
    parser.add_argument("-o", dest="output", default="-", help="output file (default stdout)")
    parser.add_argument("--pass-pipeline", default=None, help="textual pipeline, e.g. 'builtin.module(a,b{x=1})'")
    parser.add_argument("--split-input-file", action="store_true", help="process each '// -----' chunk separately")
    parser.add_argument("--verify-diagnostics", action="store_true", help="check expected-error/... comments against diagnostics")
    parser.add_argument("--mlir-print-ir-after-all", action="store_true", help="print the IR (to stderr) after every pass")
    parser.add_argument("--mlir-print-op-generic", action="store_true", help="print operations in generic form")
    parser.add_argument("--mlir-elide-elementsattrs-if-larger", type=int, default=None, metavar="N")
    parser.add_argument("--mlir-elide-resource-strings-if-larger", type=int, default=None, metavar="N")
    parser.add_argument("--allow-unregistered-dialect", action="store_true")
    parser.add_argument("--no-kvc-verify", action="store_true", help="skip the kvc verifier (upstream verification still runs)")
    parser.add_argument("--list-dialects", action="store_true", help="print the kvc dialects loaded and exit")
    parser.add_argument("--kvc-debug", action="store_true", help="show Python tracebacks for internal errors")
    return parser


@dataclass
class _Chunk:
    text: str  # padded with newlines so that line numbers match the original file
    first_line: int


def _split(source: str, split: bool) -> list[_Chunk]:
    if not split:
        return [_Chunk(source, 1)]
    chunks, start = [], 0
    for match in SPLIT_MARKER.finditer(source):
        chunks.append((start, match.start()))
        start = match.end()
    chunks.append((start, len(source)))
    out = []
    for begin, end in chunks:
        line = source.count("\n", 0, begin)
        out.append(_Chunk("\n" * line + source[begin:end], line + 1))
    return out


# ------------------------------------------------------------ expected diagnostics
_EXPECTED = re.compile(r"expected-(error|warning|note|remark)\s*(?:@([+-]\d+|above|below))?\s*\{\{(.*?)\}\}")


@dataclass
class _Expected:
    severity: str
    line: int
    text: str
    matched: bool = False


def _expected_diagnostics(chunk: str) -> list[_Expected]:
    lines = chunk.split("\n")
    expected = []
    for index, line in enumerate(lines):
        lineno = index + 1
        for match in _EXPECTED.finditer(line):
            severity, offset, text = match.groups()
            target = lineno
            if offset in ("above",):
                target = lineno - 1
            elif offset in ("below",):
                target = lineno + 1
            elif offset:
                target = lineno + int(offset)
            expected.append(_Expected(severity, target, text))
    return expected


def _check_expected(diags: list[Diagnostic], expected: list[_Expected], filename: str) -> list[str]:
    failures = []
    flat: list[Diagnostic] = []
    for diag in diags:
        flat.append(diag)
        flat.extend(diag.notes)
    for diag in flat:
        try:
            _, line, _ = diag.location.rsplit(":", 2)
            line = int(line)
        except ValueError:
            line = -1
        for exp in expected:
            if not exp.matched and exp.severity == diag.severity and exp.line == line and exp.text in diag.message:
                exp.matched = True
                break
        else:
            if diag.severity in ("error", "warning") or any(e.severity == diag.severity for e in expected):
                failures.append(f"{diag.location}: error: unexpected {diag.severity}: {diag.message}")
    for exp in expected:
        if not exp.matched:
            failures.append(f"{filename}:{exp.line}: error: expected {exp.severity} \"{exp.text}\" was not produced")
    return failures


# ----------------------------------------------------------------------- driver
def _print_module(op: ir.Operation, args) -> str:
    kwargs = {}
    if args.mlir_print_op_generic:
        kwargs["print_generic_op_form"] = True
    if args.mlir_elide_elementsattrs_if_larger is not None:
        kwargs["large_elements_limit"] = args.mlir_elide_elementsattrs_if_larger
    if args.mlir_elide_resource_strings_if_larger is not None:
        kwargs["large_resource_limit"] = args.mlir_elide_resource_strings_if_larger
    return op.get_asm(**kwargs)


def parse_source(text: str, filename: str, context: ir.Context) -> ir.Operation:
    """Parse MLIR text into a builtin.module, wrapping bare top-level ops as mlir-opt does.

    The wrapper is spliced onto the first line so line numbers stay those of the file."""
    try:
        op = ir.Operation.parse(text, source_name=filename, context=context)
    except ir.MLIRError as err:
        if not any("single top-level operation" in d.message for d in err.error_diagnostics):
            raise
        return ir.Operation.parse("module {" + text + "\n}", source_name=filename, context=context).operation
    op = op.operation
    if op.name == "builtin.module":
        return op
    with context:
        wrapper = ir.Module.create(loc=ir.Location.unknown(context))
        wrapper.body.append(op)
    return wrapper.operation


def _process_chunk(chunk: _Chunk, filename: str, pipeline: Pipeline, args, context: ir.Context,
                   collector: DiagnosticCollector) -> tuple[str | None, bool]:
    """Returns (printed output or None, ok)."""
    try:
        module = parse_source(chunk.text, filename, context)
    except ir.MLIRError as err:  # parse or upstream verification error
        collector.diagnostics.extend(from_mlir(d) for d in err.error_diagnostics)
        return None, False
    if not args.no_kvc_verify and verifier.verify(module):
        return None, False

    def after_each(element, op):
        if args.mlir_print_ir_after_all:
            print(f"// -----// IR Dump After {element.label} //----- //", file=sys.stderr)
            print(_print_module(op, args), file=sys.stderr)

    try:
        run_pipeline(module, pipeline, verify_each=not args.no_kvc_verify, after_each=after_each)
    except ir.MLIRError as err:
        collector.diagnostics.extend(from_mlir(d) for d in err.error_diagnostics)
        return None, False
    except KvcError as err:
        if not collector.errors():
            (err.location or module.location).emit_error(err.message)
        return None, False
    return _print_module(module, args), True


def _parse_cli(argv: list[str]):
    """argparse for known options; every other --flag is a pass (mlir-opt style)."""
    parser = _arg_parser()
    args, rest = parser.parse_known_args(argv)
    flags: list[tuple[str, str | None]] = []
    for item in rest:
        if not item.startswith("--") or len(item) <= 2:
            parser.error(f"unexpected argument '{item}'")
        name, eq, value = item[2:].partition("=")
        flags.append((name, value if eq else None))
    return parser, args, flags


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        parser, args, flags = _parse_cli(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        return _run(args, flags)
    except KvcError as err:
        print(f"kvc-opt: error: {err.message}", file=sys.stderr)
        return 1
    except Exception as err:  # never leak a traceback to users
        if args.kvc_debug:
            raise
        print(f"kvc-opt: internal error: {type(err).__name__}: {err} (rerun with --kvc-debug for a traceback)", file=sys.stderr)
        return 2


def _run(args, flags) -> int:
    from kvc.context import available_dialects

    if args.list_dialects:
        print("\n".join(available_dialects()))
        return 0
    if args.pass_pipeline and flags:
        raise KvcError("use either --pass-pipeline or pass flags, not both")
    pipeline = parse_pipeline(args.pass_pipeline) if args.pass_pipeline else pipeline_from_flags(flags)

    if args.input == "-":
        source, filename = sys.stdin.read(), "<stdin>"
    else:
        try:
            with open(args.input, encoding="utf-8") as handle:
                source = handle.read()
        except OSError as err:
            raise KvcError(f"cannot read '{args.input}': {err.strerror}") from None
        filename = args.input

    context = make_context()
    context.allow_unregistered_dialects = args.allow_unregistered_dialect
    validate_pipeline(pipeline, context)
    outputs, all_ok, failures = [], True, []
    for chunk in _split(source, args.split_input_file):
        collector = DiagnosticCollector(context)
        try:
            text, ok = _process_chunk(chunk, filename, pipeline, args, context, collector)
        finally:
            collector.detach()
        if args.verify_diagnostics:
            failures += _check_expected(collector.diagnostics, _expected_diagnostics(chunk.text), filename)
        else:
            for diag in collector.diagnostics:
                print(diag.render(), file=sys.stderr)
            all_ok &= ok
        if text is not None:
            outputs.append(text)

    if args.verify_diagnostics:
        for failure in failures:
            print(failure, file=sys.stderr)
        all_ok = not failures
    output = "\n// -----\n".join(o.rstrip("\n") for o in outputs) + ("\n" if outputs else "")
    if args.output == "-":
        sys.stdout.write(output)
    else:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(output)
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
