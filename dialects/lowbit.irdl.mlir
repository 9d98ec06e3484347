// lowbit: low-bit number formats and quantized tensors. Spec: dialects/lowbit.md.
// IRDL fixes the kinds of operands, results and attributes; the relational
// rules (shapes of codes vs. scales vs. group size, parameter ranges) are
// checked by kvc's verifier (dialects/lowbit.py).
irdl.dialect @lowbit {
  // Signed integer codes of `bits` bits (two's complement).
  irdl.type @int {
    %bits = irdl.base "#builtin.integer"
    irdl.parameters(bits: %bits)
  }
  // Unsigned integer codes of `bits` bits (used with a zero point).
  irdl.type @uint {
    %bits = irdl.base "#builtin.integer"
    irdl.parameters(bits: %bits)
  }
  // Minifloat eXmY: one sign bit, `exp` exponent bits, `man` mantissa bits.
  irdl.type @float {
    %exp = irdl.base "#builtin.integer"
    %man = irdl.base "#builtin.integer"
    irdl.parameters(exp: %exp, man: %man)
  }
  // RaZeR FP4: E2M1 whose -0 code means a per-group special value chosen from `specials`.
  irdl.type @razer {
    %specials = irdl.base "#builtin.dense_array"
    irdl.parameters(specials: %specials)
  }
  // bipolar-INT: bit i of the code means +-2^i; values are the odd integers.
  irdl.type @bipolar {
    %bits = irdl.base "#builtin.integer"
    irdl.parameters(bits: %bits)
  }

  // codes, scales[, zeros][, meta] = quantize(x) along `axis` in groups of `group_size`.
  irdl.operation @quantize {
    %x = irdl.base "!builtin.tensor"
    %codes = irdl.base "!builtin.tensor"
    %scales = irdl.base "!builtin.tensor"
    %zeros = irdl.base "!builtin.tensor"
    %meta = irdl.base "!builtin.tensor"
    %int0 = irdl.base "#builtin.integer"
    %int1 = irdl.base "#builtin.integer"
    irdl.operands(input: %x)
    irdl.results(codes: %codes, scales: %scales, zeros: optional %zeros, meta: optional %meta)
    irdl.attributes {"group_size" = %int0, "axis" = %int1}
  }
  // value = scale * (decode(code) - zero), per group along `axis`.
  irdl.operation @dequantize {
    %codes = irdl.base "!builtin.tensor"
    %scales = irdl.base "!builtin.tensor"
    %zeros = irdl.base "!builtin.tensor"
    %meta = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %int0 = irdl.base "#builtin.integer"
    %int1 = irdl.base "#builtin.integer"
    irdl.operands(codes: %codes, scales: %scales, zeros: optional %zeros, meta: optional %meta)
    irdl.results(output: %out)
    irdl.attributes {"group_size" = %int0, "axis" = %int1}
  }
  // Packs codes along the last axis into an LSB-first bit stream of i8 words.
  irdl.operation @pack {
    %codes = irdl.base "!builtin.tensor"
    %packed = irdl.base "!builtin.tensor"
    irdl.operands(codes: %codes)
    irdl.results(packed: %packed)
  }
  // Inverse of pack; the result type names the format and the unpacked length.
  irdl.operation @unpack {
    %packed = irdl.base "!builtin.tensor"
    %codes = irdl.base "!builtin.tensor"
    irdl.operands(packed: %packed)
    irdl.results(codes: %codes)
  }
  // out[M, N] = x[M, K] . dequantize(codes[N, K], scales[N, K/g], ...)^T
  irdl.operation @matmul {
    %x = irdl.base "!builtin.tensor"
    %codes = irdl.base "!builtin.tensor"
    %scales = irdl.base "!builtin.tensor"
    %zeros = irdl.base "!builtin.tensor"
    %meta = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %int0 = irdl.base "#builtin.integer"
    irdl.operands(input: %x, codes: %codes, scales: %scales, zeros: optional %zeros, meta: optional %meta)
    irdl.results(output: %out)
    irdl.attributes {"group_size" = %int0}
  }
}
