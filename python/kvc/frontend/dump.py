"""Print the frontend's output for a built-in model (used by test/Frontend lit tests).

    python -m kvc.frontend.dump linear [--weights int4:g32]
    python -m kvc.frontend.dump llama --entry decode [--weights int4:g32]

It prints the kvc IR the frontend hands to the target (no target pass, no
JIT). The target's stages of that IR come from the target's own driver, e.g.
``... | python -m kvc.targets.cpu - --entry decode --random-weights 0
--print-stage bufferized`` (test/Frontend/llama-decode-inplace.mlir).
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
    parser.add_argument("--max-seq-len", type=int, default=32)
    args = parser.parse_args(argv)
    from kvc.api import _Stages, _frontend, _Step, _builtin_adapter

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
    sys.stdout.write(str(module) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
