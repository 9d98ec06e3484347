"""The ``kvc`` driver.

    kvc demo [--quiet]
    kvc compile MODEL [--weights FORMAT] [--max-seq-len N] [--prefill-len N] [-o ARTIFACT_DIR] [--quiet]
    kvc run ARTIFACT_DIR [--prompt ID ...] [-n N] [--seed S] [--quiet]

``MODEL`` is a built-in name (``llama``, ``gpt2``: small seeded decoders from
:mod:`kvc.models`, compiled with ``kvc.compile_llm``; ``linear``: a small
linear/ReLU stack compiled with ``kvc.compile``) or ``path.py:factory``, a
Python file and a function in it that takes no arguments and returns either a
decoder LM (a :mod:`kvc.models` decoder or a Hugging Face causal LM: compiled
with ``compile_llm``) or ``(model, example_inputs)`` (compiled with
``kvc.compile`` at those shapes). ``kvc run`` loads an artifact: an LLM
generates ``-n`` tokens greedily from the ``--prompt`` token ids and prints
them with the decode speed; a module runs once on random inputs of its saved
example shapes and prints its output shapes.

Errors print one line, ``kvc <command>: error: ...``, and exit with status 1
(``kvc --traceback ...`` shows the Python traceback instead).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

BUILTIN_MODELS = ("llama", "gpt2", "linear")


class CliError(Exception):
    """A user error the driver reports in one line."""


def _say(args, msg: str) -> None:
    if not getattr(args, "quiet", False):
        print(msg, file=sys.stderr, flush=True)


def _one_line(err: BaseException) -> str:
    from kvc.frontend.artifact import ArtifactError
    from kvc.frontend.errors import CompileError

    text = "; ".join(line.strip() for line in str(err).strip().splitlines() if line.strip())
    if isinstance(err, (CliError, CompileError, ArtifactError, ValueError, OSError)):
        if isinstance(err, OSError) and err.filename and str(err.filename) not in text:
            text = f"{err.filename}: {text}"
        return text or type(err).__name__
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


# ------------------------------------------------------------------ models
def _builtin(name: str):
    """(model, example_inputs or None for an LLM)."""
    import torch

    from kvc import models

    if name == "llama":
        return models.tiny_llama(seed=0), None
    if name == "gpt2":
        return models.tiny_gpt2(seed=0), None
    gen = torch.Generator().manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 16, bias=False))
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.1, generator=gen)
    return model.eval(), (torch.randn(2, 64, generator=gen),)


def _from_file(spec: str):
    import importlib.util

    path, _, func = spec.rpartition(":")
    if not path or not func:
        raise CliError(f"'{spec}': expected a built-in model ({', '.join(BUILTIN_MODELS)}) or path.py:factory")
    if not os.path.isfile(path):
        raise CliError(f"{path}: no such file")
    module_name = "_kvc_user_model_" + os.path.splitext(os.path.basename(path))[0].replace("-", "_")
    mod_spec = importlib.util.spec_from_file_location(module_name, path)
    if mod_spec is None or mod_spec.loader is None:
        raise CliError(f"{path}: cannot be imported as a Python file")
    module = importlib.util.module_from_spec(mod_spec)
    sys.modules[module_name] = module  # dataclasses and typing look a class's module up by name
    try:
        mod_spec.loader.exec_module(module)
    except Exception as err:  # noqa: BLE001 - reported in one line with the file
        raise CliError(f"{path}: importing it failed: {_one_line(err)}") from None
    factory = getattr(module, func, None)
    if not callable(factory):
        raise CliError(f"{path} has no function '{func}'")
    try:
        made = factory()
    except Exception as err:  # noqa: BLE001
        raise CliError(f"{path}:{func}() failed: {_one_line(err)}") from None
    import torch

    if isinstance(made, torch.nn.Module):
        return made, None
    if isinstance(made, (tuple, list)) and len(made) == 2 and isinstance(made[0], torch.nn.Module):
        inputs = made[1]
        return made[0], tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    raise CliError(f"{path}:{func}() must return an nn.Module (a decoder LM) or (model, example_inputs), "
                   f"got {type(made).__name__}")


def _is_llm(model) -> bool:
    cfg = getattr(model, "config", None)
    return hasattr(model, "kv_spec") or (cfg is not None and hasattr(cfg, "num_hidden_layers"))


# ----------------------------------------------------------------- compile
def cmd_compile(args) -> int:
    import kvc

    if args.model in BUILTIN_MODELS:
        model, example_inputs = _builtin(args.model)
    else:
        model, example_inputs = _from_file(args.model)
    progress = not args.quiet
    if example_inputs is None:
        if not _is_llm(model):
            raise CliError(f"{args.model}: the model is not a decoder LM (no kv_spec(), no Hugging Face config); "
                           "return (model, example_inputs) from the factory to compile it with kvc.compile")
        max_seq = args.max_seq_len or 256
        prefill = args.prefill_len or min(16, max_seq)
        _say(args, f"[kvc] compiling {args.model} as an LLM (max_seq_len={max_seq}, prefill_len={prefill}"
                   f"{', weights=' + args.weights if args.weights else ''})")
        compiled = kvc.compile_llm(model, max_seq_len=max_seq, prefill_len=prefill, weights=args.weights,
                                   keep_ir=False, progress=progress, opt_level=args.opt_level)
    else:
        if args.max_seq_len is not None or args.prefill_len is not None:
            raise CliError("--max-seq-len / --prefill-len apply to decoder LMs only; this model is compiled "
                           "with kvc.compile at its example input shapes")
        _say(args, f"[kvc] compiling {args.model}{' with weights=' + args.weights if args.weights else ''}")
        compiled = kvc.compile(model, example_inputs, weights=args.weights, keep_ir=False, progress=progress,
                               opt_level=args.opt_level)
    print(compiled.report().table())
    if args.output:
        compiled.save(args.output)
        print(f"saved {'LLM' if example_inputs is None else 'module'} artifact to {args.output}")
    return 0


# --------------------------------------------------------------------- run
def cmd_run(args) -> int:
    from kvc.frontend.artifact import LLM_FORMAT, read_manifest

    manifest = read_manifest(args.artifact)  # cheap checks before compiling anything
    is_llm = manifest["format"] == LLM_FORMAT
    if is_llm:
        if not args.prompt:
            raise CliError(f"{args.artifact} is an LLM: give the prompt as token ids, e.g. --prompt 1 2 3")
        vocab, max_seq = manifest.get("vocab_size"), manifest["kv_cache"]["max_seq_len"]
        bad = [t for t in args.prompt if t < 0 or (vocab is not None and t >= vocab)]
        if bad:
            raise CliError(f"token id {bad[0]} is out of range [0, {vocab})")
        if args.max_new_tokens < 1:
            raise CliError("-n/--max-new-tokens must be at least 1")
        if len(args.prompt) + args.max_new_tokens > max_seq:
            raise CliError(f"{len(args.prompt)} prompt + {args.max_new_tokens} new tokens exceed the artifact's "
                           f"max_seq_len={max_seq}")
    elif args.prompt:
        raise CliError(f"{args.artifact} is a compiled module, not an LLM: --prompt does not apply")
    import kvc

    start = time.perf_counter()
    compiled = kvc.load(args.artifact)
    _say(args, f"[kvc] loaded {args.artifact} ({manifest['format']}, target {manifest['target']}) "
               f"in {time.perf_counter() - start:.1f} s")
    if is_llm:
        import torch

        prompt = torch.tensor([args.prompt], dtype=torch.int64)
        out = compiled.generate(prompt, max_new_tokens=args.max_new_tokens)
        t = compiled.last_timings
        print("tokens: " + " ".join(str(x) for x in out[0, len(args.prompt):].tolist()))
        decoded = t["new_tokens"] - 1  # the first new token comes from the prefill's logits
        speed = f"{decoded} tokens at {t['decode_tokens_per_s']:.1f} tokens/s" if decoded > 0 else "no decode steps"
        print(f"prefill: {len(args.prompt)} tokens in {t['prefill_s'] * 1e3:.1f} ms; decode: {speed}")
        return 0
    missing = [s["name"] for s in compiled.input_specs if "shape" not in s and "value" not in s]
    if not compiled.input_specs or missing:
        raise CliError(f"{args.artifact} does not record its example input shapes; run it from Python instead")
    inputs = compiled.random_inputs(args.seed)
    start = time.perf_counter()
    outputs = compiled(*inputs)
    elapsed = time.perf_counter() - start
    import torch
    from torch.utils import _pytree

    for spec, x in zip(compiled.input_specs, inputs):
        if isinstance(x, torch.Tensor):
            print(f"input  {spec['name']}: {tuple(x.shape)} {str(x.dtype).replace('torch.', '')}")
    for i, y in enumerate(_pytree.tree_leaves(outputs)):
        print(f"output {i}: {tuple(y.shape)} {str(y.dtype).replace('torch.', '')}")
    print(f"ran in {elapsed * 1e3:.2f} ms")
    return 0


# -------------------------------------------------------------------- main
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kvc", description="kvc: a compiler for memory-efficient LLM inference")
    parser.add_argument("--traceback", action="store_true", help="show Python tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="compile and run the built-in example on the cpu target, print a report")
    demo.add_argument("--quiet", action="store_true", help="print only the report")

    comp = sub.add_parser("compile", help="compile a model, print its report, optionally save an artifact",
                          description="Compile a built-in model (llama, gpt2, linear) or path.py:factory for the "
                          "cpu target. The factory returns a decoder LM (compiled with prefill/decode steps over KV "
                          "caches) or (model, example_inputs).")
    comp.add_argument("model", help="llama | gpt2 | linear | path.py:factory")
    comp.add_argument("--weights", metavar="FORMAT", default=None,
                      help="quantize linear weights (int4, int4:g128, razer4:g128, e2m1:g32, uint3, bipolar2 ...)")
    comp.add_argument("--max-seq-len", type=_positive, default=None, help="KV cache capacity of an LLM (default 256)")
    comp.add_argument("--prefill-len", type=_positive, default=None,
                      help="tokens per prefill step of an LLM (default min(16, max-seq-len))")
    comp.add_argument("--opt-level", type=int, choices=range(4), default=3, metavar="{0,1,2,3}",
                      help="LLVM optimization level of the cpu target's JIT (default 3; 2 compiles much faster)")
    comp.add_argument("-o", "--output", metavar="ARTIFACT_DIR", default=None, help="save the compiled artifact here")
    comp.add_argument("--quiet", action="store_true", help="no progress lines on stderr")

    run = sub.add_parser("run", help="load an artifact and run it",
                         description="Load an artifact written by kvc compile -o (or .save()). An LLM generates "
                         "-n tokens from --prompt; a module runs on random inputs of its example shapes.")
    run.add_argument("artifact", metavar="ARTIFACT_DIR")
    run.add_argument("--prompt", type=int, nargs="+", metavar="ID", default=None, help="prompt token ids (LLMs)")
    run.add_argument("-n", "--max-new-tokens", type=int, default=16, help="tokens to generate (LLMs; default 16)")
    run.add_argument("--seed", type=int, default=0, help="seed of the random inputs (modules)")
    run.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from kvc.demo import run_demo

        return run_demo(quiet=args.quiet)
    command = {"compile": cmd_compile, "run": cmd_run}[args.command]
    if args.traceback:
        return command(args)
    try:
        return command(args)
    except KeyboardInterrupt:
        print(f"kvc {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - every failure is reported in one line
        print(f"kvc {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
