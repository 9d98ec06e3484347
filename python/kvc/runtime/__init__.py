"""Runtimes that execute compiled kvc artifacts without MLIR (cpu, cuda)."""
