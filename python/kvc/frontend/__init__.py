"""PyTorch frontend: torch.export -> torch-mlir -> kvc IR (docs/frontend.md).

capture (FX, semantic units as kvc custom ops) -> torch_bridge (torch-mlir
import and lowering to linalg-on-tensors, in torch-mlir's own MLIR) ->
to_kvc (kvc IR in the LLVM 22 context, weights quantized with kvc.formats).
kv holds the explicit KV-cache state and attention used by compile_llm.
"""
