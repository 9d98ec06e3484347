"""Print the frontend's output for a built-in model (used by test/Frontend lit tests).

    python -m kvc.frontend.dump linear [--weights int4:g32]
    python -m kvc.frontend.dump llama --entry decode [--weights int4:g32] [--stage kvc|bufferized]

``--stage kvc`` prints the kvc IR the frontend hands to the target;
``--stage bufferized`` prints the step after ``kvcache-lower-to-tensors``,
one-shot bufferization and dropping of results equivalent to arguments (the
in-place cache update). No JIT is involved, so this is fast.
"""

from __future__ import annotations

import argparse
import sys

import torch


def _models(name: str):
    from kvc import models

    torch.manual_seed(0)
    if name == "linear":
        model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 16, bias=False))
        return model.eval(), (torch.randn(2, 64),)
    if name == "llama":
        return models.tiny_llama(num_layers=1, hidden_size=64, intermediate_size=128, vocab_size=128,
                                 tie_embeddings=True), None
    raise SystemExit(f"unknown model {name}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kvc.frontend.dump")
    parser.add_argument("model", choices=("linear", "llama"))
    parser.add_argument("--weights", default=None)
    parser.add_argument("--entry", default="decode", choices=("prefill", "decode"))
    parser.add_argument("--stage", default="kvc", choices=("kvc", "bufferized"))
    parser.add_argument("--max-seq-len", type=int, default=32)
    args = parser.parse_args(argv)
    from mlir import ir

    from kvc.api import _Stages, _frontend, _Step, _builtin_adapter
    from kvc.pipeline import run_pipeline

    model, inputs = _models(args.model)
    cache_names = None
    entry = "forward"
    if inputs is None:
        layers, heads, dim = model.kv_spec()
        t = 1 if args.entry == "decode" else 8
        inputs = (torch.zeros(1, t, dtype=torch.int64), torch.tensor(0),
                  *[torch.zeros(2, args.max_seq_len, heads, dim) for _ in range(layers)])
        model = _Step(model, _builtin_adapter)
        cache_names = {2 + i: f"layer{i}" for i in range(layers)}
        entry = args.entry
    _, module, _, _, _ = _frontend(model, inputs, weights=args.weights, stages=_Stages(False), keep_ir=False,
                                   func_name=entry, cache_names=cache_names)
    if args.stage == "bufferized":
        with module.context, ir.Location.unknown():
            run_pipeline(module, "kvcache-lower-to-tensors,"
                         "one-shot-bufferize{bufferize-function-boundaries "
                         "function-boundary-type-conversion=identity-layout-map}")
            for op in module.body.operations:
                if op.operation.name == "func.func":
                    op.attributes["sym_visibility"] = ir.StringAttr.get("private")
            run_pipeline(module, "drop-equivalent-buffer-results,canonicalize")
            for op in module.body.operations:
                if op.operation.name == "func.func":
                    del op.attributes["sym_visibility"]
    sys.stdout.write(str(module) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
