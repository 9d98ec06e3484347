"""Format names: ``get(name)`` and ``names()``."""

from __future__ import annotations

import functools
import re

from .core import BipolarFormat, FloatFormat, Format, IntFormat, RazerFormat, UIntFormat

FAMILY_HELP = (
    "int1..int8, uint1..uint8, eXmY minifloats (one sign bit, X>=1, Y>=0, X+Y<=7; "
    "e4m3 and e5m2 are OCP FP8), razer4, bipolar1..bipolar8; "
    "optional group-size suffix ':gN' (e.g. 'razer4:g128')"
)

_NAME_RE = re.compile(r"^(?:(int|uint|bipolar)([1-8])|e([1-7])m([0-6])|(razer4))$")


def names() -> list[str]:
    """Every base format name (without group-size suffix)."""
    out = [f"int{b}" for b in range(1, 9)]
    out += [f"uint{b}" for b in range(1, 9)]
    for total in range(1, 8):  # X + Y
        for x in range(total, 0, -1):
            out.append(f"e{x}m{total - x}")
    out.append("razer4")
    out += [f"bipolar{b}" for b in range(1, 9)]
    return out


def _unknown(name) -> ValueError:
    return ValueError(f"unknown format {name!r}; valid families: {FAMILY_HELP}")


@functools.lru_cache(maxsize=None)
def _make(base: str, group_size: int | None) -> Format:
    m = _NAME_RE.match(base)
    if not m:
        raise _unknown(base)
    fam, b, ex, mx, rz = m.groups()
    if fam == "int":
        return IntFormat(base, int(b), group_size)
    if fam == "uint":
        return UIntFormat(base, int(b), group_size)
    if fam == "bipolar":
        return BipolarFormat(base, int(b), group_size)
    if rz:
        return RazerFormat(base, 4, group_size)
    x, y = int(ex), int(mx)
    if x + y > 7:
        raise _unknown(base)
    return FloatFormat(base, x, y, group_size)


def get(name) -> Format:
    """Format object for ``name`` (e.g. ``int4``, ``e2m1``, ``razer4:g128``)."""
    if isinstance(name, Format):
        return name
    if not isinstance(name, str):
        raise _unknown(name)
    s = name.strip().lower()
    group_size = None
    if ":" in s:
        base, _, suffix = s.partition(":")
        gm = re.fullmatch(r"g([0-9]+)", suffix)
        if not gm or int(gm.group(1)) <= 0:
            raise ValueError(f"bad group-size suffix in format {name!r}; expected ':gN' with N >= 1")
        group_size = int(gm.group(1))
    else:
        base = s
    try:
        return _make(base, group_size)
    except ValueError:
        raise _unknown(name) from None
