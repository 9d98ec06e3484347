"""Value tables: the number each b-bit code stands for, per format family.

Everything here is derived from the definitions in docs/formats.md; the
tables are float64 arrays of length 2**bits indexed by the raw code.
"""

from __future__ import annotations

import numpy as np

#: RaZeR special values, indexed by the 2-bit selector stored in ``meta``.
RAZER_SPECIAL_VALUES = (5.0, 8.0, -5.0, -8.0)
#: The E2M1 code that RaZeR gives to the special value (E2M1's -0).
RAZER_SV_CODE = 0b1000


def int_table(bits: int) -> np.ndarray:
    """b-bit two's complement: codes >= 2**(b-1) are negative."""
    c = np.arange(1 << bits, dtype=np.int64)
    return np.where(c >= (1 << (bits - 1)), c - (1 << bits), c).astype(np.float64)


def uint_table(bits: int) -> np.ndarray:
    return np.arange(1 << bits, dtype=np.float64)


def bipolar_table(bits: int) -> np.ndarray:
    """Bit i of the code means +2**i when set, -2**i when clear."""
    c = np.arange(1 << bits, dtype=np.float64)
    return 2.0 * c - ((1 << bits) - 1)


def float_table(exp_bits: int, man_bits: int, ocp_e4m3fn: bool = False) -> np.ndarray:
    """[sign | exponent | mantissa] minifloat, bias 2**(e-1)-1.

    Exponent field 0 is subnormal (no implicit one). The all-ones exponent is
    an ordinary binade, except with a 5-bit exponent, where it is IEEE
    inf (mantissa 0) / NaN (mantissa != 0). ``ocp_e4m3fn`` makes the single
    code S.1111.111 NaN (OCP FP8 E4M3FN) and nothing inf.
    """
    e, m = exp_bits, man_bits
    n = 1 << (1 + e + m)
    c = np.arange(n, dtype=np.int64)
    sign = (c >> (e + m)) & 1
    ef = (c >> m) & ((1 << e) - 1)
    mf = c & ((1 << m) - 1)
    bias = (1 << (e - 1)) - 1
    frac = mf.astype(np.float64) / float(1 << m)
    sub = np.ldexp(frac, 1 - bias)
    nrm = np.ldexp(1.0 + frac, (ef - bias).astype(np.int64))
    mag = np.where(ef == 0, sub, nrm)
    all_ones = ef == (1 << e) - 1
    if e == 5:
        mag = np.where(all_ones & (mf == 0), np.inf, mag)
        mag = np.where(all_ones & (mf != 0), np.nan, mag)
    if ocp_e4m3fn:
        mag = np.where(all_ones & (mf == (1 << m) - 1), np.nan, mag)
    return np.where(sign == 1, -mag, mag)


def e2m1_table() -> np.ndarray:
    return float_table(2, 1)


def razer_table(special_value=None) -> np.ndarray:
    """E2M1 with code 0b1000 (its -0) replaced by ``special_value``."""
    t = e2m1_table()
    t[RAZER_SV_CODE] = -0.0 if special_value is None else float(special_value)
    return t


def razer_luts() -> np.ndarray:
    """(4, 16) decode tables, row = selector (SV = RAZER_SPECIAL_VALUES[row])."""
    return np.stack([razer_table(sv) for sv in RAZER_SPECIAL_VALUES])
