"""kvc's dialects: one IRDL file, one spec (markdown) and one Python module each.

Importing this package registers every dialect's verifier rules.
"""

from importlib import import_module

from kvc.context import KVC_DIALECTS, available_dialects

for _name in available_dialects():
    try:
        import_module(f"kvc.dialects.{_name}")
    except ModuleNotFoundError as _err:  # a dialect may ship IRDL before its helpers
        if _err.name != f"kvc.dialects.{_name}":
            raise

__all__ = list(KVC_DIALECTS)
