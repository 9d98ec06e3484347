"""PyTorch frontend: torch.export -> torch-mlir -> kvc IR."""
