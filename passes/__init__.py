"""kvc passes: one module per pass or pattern family.

Each module defines a :class:`kvc.pipeline.KvcPass` subclass registered with
``@register_pass``. Importing this package imports every module in this folder,
so kvc-opt and pipeline strings know every pass without a list to maintain.
"""

import pkgutil
from importlib import import_module

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if not _info.name.startswith("_"):
        import_module(f"{__name__}.{_info.name}")
