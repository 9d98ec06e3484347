// RUN: kvc-opt %s --split-input-file --verify-diagnostics

// One chunk per kvc verifier rule of the kvcache dialect (dialects/kvcache.py).

// === type rules ===

// expected-error @+1 {{kind must be one of 'kv', 'x', 'latent', got 'kx'}}
func.func @kind(%c: !kvcache.cache<"kx", 64, array<i64: 8, 64>, f16, {}>) { return }

// -----
// expected-error @+1 {{parameter token_shape (array<i64: ...>) is malformed: array<i32: 8, 64>}}
func.func @token_shape_i64(%c: !kvcache.cache<"kv", 64, array<i32: 8, 64>, f16, {}>) { return }

// -----
// expected-error @+1 {{parameter element (a type) is malformed: "f16"}}
func.func @element_is_type(%c: !kvcache.cache<"kv", 64, array<i64: 8, 64>, "f16", {}>) { return }

// -----
// expected-error @+1 {{unknown storage option(s) groupsize (known: group_size, quant_axis, residual, delta, scale_type)}}
func.func @unknown_option(%c: !kvcache.cache<"x", 64, array<i64: 64>, !lowbit.int<4 : i32>, {groupsize = 32}>) { return }

// -----
// expected-error @+1 {{storage option 'group_size' must be a IntegerAttr, got "32"}}
func.func @option_kind(%c: !kvcache.cache<"x", 64, array<i64: 64>, !lowbit.int<4 : i32>, {group_size = "32"}>) { return }

// -----
// expected-error @+1 {{max_seq must be positive, got 0}}
func.func @max_seq(%c: !kvcache.cache<"kv", 0, array<i64: 8, 64>, f16, {}>) { return }

// -----
// expected-error @+1 {{a 'kv' cache has a rank-2 token shape [heads, head_dim], got 1 dims}}
func.func @kv_rank(%c: !kvcache.cache<"kv", 64, array<i64: 512>, f16, {}>) { return }

// -----
// expected-error @+1 {{a 'x' cache has a rank-1 token shape [hidden], got 2 dims}}
func.func @x_rank(%c: !kvcache.cache<"x", 64, array<i64: 8, 64>, f16, {}>) { return }

// -----
// expected-error @+1 {{token shape dims must be positive, got [8, 0]}}
func.func @token_dims(%c: !kvcache.cache<"kv", 64, array<i64: 8, 0>, f16, {}>) { return }

// -----
// expected-error @+1 {{element: invalid type !lowbit.int<9 : i32>: bit width must be in [1, 8], got 9}}
func.func @element_nested(%c: !kvcache.cache<"x", 64, array<i64: 64>, !lowbit.int<9 : i32>, {group_size = 32}>) { return }

// -----
// expected-error @+1 {{element must be f32, f16, bf16 or a lowbit format, got i8}}
func.func @element_kind(%c: !kvcache.cache<"kv", 64, array<i64: 8, 64>, i8, {}>) { return }

// -----
// expected-error @+1 {{storage option(s) group_size, residual need quantized storage (a lowbit element type)}}
func.func @float_storage_options(%c: !kvcache.cache<"kv", 64, array<i64: 8, 64>, f16, {group_size = 64, residual = 8}>) { return }

// -----
// expected-error @+1 {{quantized storage (int4) needs a group_size}}
func.func @needs_group(%c: !kvcache.cache<"x", 64, array<i64: 64>, !lowbit.int<4 : i32>, {}>) { return }

// -----
// expected-error @+1 {{group_size must be positive, got -32}}
func.func @group_positive(%c: !kvcache.cache<"x", 64, array<i64: 64>, !lowbit.int<4 : i32>, {group_size = -32}>) { return }

// -----
// expected-error @+1 {{quant_axis must be 'token' or 'channel', got 'head'}}
func.func @quant_axis(%c: !kvcache.cache<"x", 64, array<i64: 64>, !lowbit.int<4 : i32>, {group_size = 32, quant_axis = "head"}>) { return }

// -----
// expected-error @+1 {{residual must be in [0, max_seq = 64], got 65}}
func.func @residual_range(%c: !kvcache.cache<"x", 64, array<i64: 64>, !lowbit.int<4 : i32>, {group_size = 32, residual = 65}>) { return }

// -----
// expected-error @+1 {{group_size 48 must divide the last token dim 64 (quant_axis = token groups channels within a token)}}
func.func @token_groups(%c: !kvcache.cache<"kv", 64, array<i64: 8, 64>, !lowbit.int<4 : i32>, {group_size = 48}>) { return }

// -----
// expected-error @+1 {{group_size 48 must divide max_seq 64 (quant_axis = channel groups consecutive tokens)}}
func.func @channel_groups(%c: !kvcache.cache<"latent", 64, array<i64: 64>, !lowbit.int<4 : i32>, {group_size = 48, quant_axis = "channel", residual = 48}>) { return }

// -----
// expected-error @+1 {{quant_axis = channel needs residual to be a positive multiple of group_size 32 (tokens wait unquantized until a group is full), got 16}}
func.func @channel_residual(%c: !kvcache.cache<"latent", 64, array<i64: 64>, !lowbit.int<4 : i32>, {group_size = 32, quant_axis = "channel", residual = 16}>) { return }

// -----
// expected-error @+1 {{delta (XQuant-CL) storage applies to 'x' caches only, not 'latent'}}
func.func @delta_x_only(%c: !kvcache.cache<"latent", 64, array<i64: 64>, !lowbit.int<4 : i32>, {group_size = 32, delta}>) { return }

// -----
// expected-error @+1 {{delta (XQuant-CL) storage quantizes each token when it is written: it needs quant_axis = token and residual = 0}}
func.func @delta_residual(%c: !kvcache.cache<"x", 64, array<i64: 64>, !lowbit.int<4 : i32>, {group_size = 32, delta, residual = 16}>) { return }

// -----
// expected-error @+1 {{scale_type must be f32, f16 or bf16, got i8}}
func.func @scale_type(%c: !kvcache.cache<"x", 64, array<i64: 64>, !lowbit.int<4 : i32>, {group_size = 32, scale_type = i8}>) { return }

// === kvcache.append ===

// -----
func.func @append_result(%c: !kvcache.cache<"x", 64, array<i64: 32>, f16, {}>, %p: index, %x: tensor<1x32xf16>) {
  // expected-error @+1 {{result type !kvcache.cache<"x", 32 : i64, array<i64: 32>, f16, {}> must equal the cache type}}
  %r = "kvcache.append"(%c, %p, %x) : (!kvcache.cache<"x", 64, array<i64: 32>, f16, {}>, index, tensor<1x32xf16>) -> !kvcache.cache<"x", 32, array<i64: 32>, f16, {}>
  return
}

// -----
func.func @append_delta_cache(%c: !kvcache.cache<"x", 64, array<i64: 32>, !lowbit.int<4 : i32>, {delta, group_size = 32}>, %p: index, %x: tensor<1x32xf32>) {
  // expected-error @+1 {{the cache stores cross-layer deltas: write it with kvcache.append_delta}}
  %r = "kvcache.append"(%c, %p, %x) : (!kvcache.cache<"x", 64, array<i64: 32>, !lowbit.int<4 : i32>, {delta, group_size = 32}>, index, tensor<1x32xf32>) -> !kvcache.cache<"x", 64, array<i64: 32>, !lowbit.int<4 : i32>, {delta, group_size = 32}>
  return
}

// -----
func.func @append_count(%c: !kvcache.cache<"kv", 64, array<i64: 2, 16>, f16, {}>, %p: index, %k: tensor<1x2x16xf16>) {
  // expected-error @+1 {{a 'kv' cache takes K and V (2 value(s)), got 1}}
  %r = "kvcache.append"(%c, %p, %k) : (!kvcache.cache<"kv", 64, array<i64: 2, 16>, f16, {}>, index, tensor<1x2x16xf16>) -> !kvcache.cache<"kv", 64, array<i64: 2, 16>, f16, {}>
  return
}

// -----
func.func @append_shape(%c: !kvcache.cache<"kv", 64, array<i64: 2, 16>, f16, {}>, %p: index, %k: tensor<1x4x16xf16>) {
  // expected-error @+1 {{value #0 shape 1x4x16 must be [tokens, 2, 16] for this cache}}
  %r = "kvcache.append"(%c, %p, %k, %k) : (!kvcache.cache<"kv", 64, array<i64: 2, 16>, f16, {}>, index, tensor<1x4x16xf16>, tensor<1x4x16xf16>) -> !kvcache.cache<"kv", 64, array<i64: 2, 16>, f16, {}>
  return
}

// -----
func.func @append_float(%c: !kvcache.cache<"x", 64, array<i64: 32>, f16, {}>, %p: index, %x: tensor<1x32xi16>) {
  // expected-error @+1 {{value #0 must have a float element type, got i16}}
  %r = "kvcache.append"(%c, %p, %x) : (!kvcache.cache<"x", 64, array<i64: 32>, f16, {}>, index, tensor<1x32xi16>) -> !kvcache.cache<"x", 64, array<i64: 32>, f16, {}>
  return
}

// -----
func.func @append_too_many(%c: !kvcache.cache<"x", 64, array<i64: 32>, f16, {}>, %p: index, %x: tensor<65x32xf16>) {
  // expected-error @+1 {{value #0 holds 65 tokens, more than max_seq = 64}}
  %r = "kvcache.append"(%c, %p, %x) : (!kvcache.cache<"x", 64, array<i64: 32>, f16, {}>, index, tensor<65x32xf16>) -> !kvcache.cache<"x", 64, array<i64: 32>, f16, {}>
  return
}

// -----
func.func @append_empty(%c: !kvcache.cache<"x", 64, array<i64: 32>, f16, {}>, %p: index, %x: tensor<0x32xf16>) {
  // expected-error @+1 {{value #0 must hold at least one token}}
  %r = "kvcache.append"(%c, %p, %x) : (!kvcache.cache<"x", 64, array<i64: 32>, f16, {}>, index, tensor<0x32xf16>) -> !kvcache.cache<"x", 64, array<i64: 32>, f16, {}>
  return
}

// -----
func.func @append_negative_pos(%c: !kvcache.cache<"x", 64, array<i64: 32>, f16, {}>, %x: tensor<1x32xf16>) {
  %p = arith.constant -1 : index
  // expected-error @+1 {{pos must be non-negative, got -1}}
  %r = "kvcache.append"(%c, %p, %x) : (!kvcache.cache<"x", 64, array<i64: 32>, f16, {}>, index, tensor<1x32xf16>) -> !kvcache.cache<"x", 64, array<i64: 32>, f16, {}>
  return
}

// -----
func.func @append_overflow(%c: !kvcache.cache<"x", 64, array<i64: 32>, f16, {}>, %x: tensor<2x32xf16>) {
  %p = arith.constant 63 : index
  // expected-error @+1 {{writing 2 token(s) at pos 63 overflows max_seq = 64}}
  %r = "kvcache.append"(%c, %p, %x) : (!kvcache.cache<"x", 64, array<i64: 32>, f16, {}>, index, tensor<2x32xf16>) -> !kvcache.cache<"x", 64, array<i64: 32>, f16, {}>
  return
}

// === kvcache.append_delta ===

// -----
func.func @append_delta_needs_delta(%c: !kvcache.cache<"x", 64, array<i64: 32>, !lowbit.int<4 : i32>, {group_size = 32}>, %p: index, %a: tensor<1x32xf32>, %x: tensor<1x32xf32>) {
  // expected-error @+1 {{kvcache.append_delta needs a delta (XQuant-CL) cache: storage option 'delta'}}
  %r, %acc = "kvcache.append_delta"(%c, %p, %a, %x) : (!kvcache.cache<"x", 64, array<i64: 32>, !lowbit.int<4 : i32>, {group_size = 32}>, index, tensor<1x32xf32>, tensor<1x32xf32>) -> (!kvcache.cache<"x", 64, array<i64: 32>, !lowbit.int<4 : i32>, {group_size = 32}>, tensor<1x32xf32>)
  return
}

// -----
func.func @append_delta_result(%c: !kvcache.cache<"x", 64, array<i64: 32>, !lowbit.int<4 : i32>, {delta, group_size = 32}>, %p: index, %a: tensor<1x32xf32>, %x: tensor<1x32xf32>) {
  // expected-error @+1 {{result type !kvcache.cache<"x", 64 : i64, array<i64: 32>, !lowbit.int<4 : i32>, {delta, group_size = 16 : i64}> must equal the cache type}}
  %r, %acc = "kvcache.append_delta"(%c, %p, %a, %x) : (!kvcache.cache<"x", 64, array<i64: 32>, !lowbit.int<4 : i32>, {delta, group_size = 32}>, index, tensor<1x32xf32>, tensor<1x32xf32>) -> (!kvcache.cache<"x", 64, array<i64: 32>, !lowbit.int<4 : i32>, {delta, group_size = 16}>, tensor<1x32xf32>)
  return
}

// -----
func.func @append_delta_acc_shape(%c: !kvcache.cache<"x", 64, array<i64: 32>, !lowbit.int<4 : i32>, {delta, group_size = 32}>, %p: index, %a: tensor<?x32xf32>, %x: tensor<1x32xf32>) {
  // expected-error @+1 {{accumulator shape ?x32 must equal the input shape 1x32}}
  %r, %acc = "kvcache.append_delta"(%c, %p, %a, %x) : (!kvcache.cache<"x", 64, array<i64: 32>, !lowbit.int<4 : i32>, {delta, group_size = 32}>, index, tensor<?x32xf32>, tensor<1x32xf32>) -> (!kvcache.cache<"x", 64, array<i64: 32>, !lowbit.int<4 : i32>, {delta, group_size = 32}>, tensor<?x32xf32>)
  return
}

// -----
func.func @append_delta_acc_out(%c: !kvcache.cache<"x", 64, array<i64: 32>, !lowbit.int<4 : i32>, {delta, group_size = 32}>, %p: index, %a: tensor<1x32xf32>, %x: tensor<1x32xf32>) {
  // expected-error @+1 {{new_accumulator type tensor<1x32xf16> must equal the accumulator type tensor<1x32xf32>}}
  %r, %acc = "kvcache.append_delta"(%c, %p, %a, %x) : (!kvcache.cache<"x", 64, array<i64: 32>, !lowbit.int<4 : i32>, {delta, group_size = 32}>, index, tensor<1x32xf32>, tensor<1x32xf32>) -> (!kvcache.cache<"x", 64, array<i64: 32>, !lowbit.int<4 : i32>, {delta, group_size = 32}>, tensor<1x32xf16>)
  return
}

// === kvcache.read ===

// -----
func.func @read_count(%c: !kvcache.cache<"kv", 64, array<i64: 2, 16>, f16, {}>, %n: index) {
  // expected-error @+1 {{reading a 'kv' cache yields K and V (2 result(s)), got 1}}
  %k = "kvcache.read"(%c, %n) : (!kvcache.cache<"kv", 64, array<i64: 2, 16>, f16, {}>, index) -> tensor<?x2x16xf16>
  return
}

// -----
func.func @read_length_range(%c: !kvcache.cache<"x", 64, array<i64: 32>, f16, {}>) {
  %n = arith.constant 65 : index
  // expected-error @+1 {{length 65 is out of range [0, max_seq = 64]}}
  %x = "kvcache.read"(%c, %n) : (!kvcache.cache<"x", 64, array<i64: 32>, f16, {}>, index) -> tensor<?x32xf16>
  return
}

// -----
func.func @read_length_match(%c: !kvcache.cache<"x", 64, array<i64: 32>, f16, {}>) {
  %n = arith.constant 5 : index
  // expected-error @+1 {{result #0 holds 4 tokens but length is 5}}
  %x = "kvcache.read"(%c, %n) : (!kvcache.cache<"x", 64, array<i64: 32>, f16, {}>, index) -> tensor<4x32xf16>
  return
}

// -----
func.func @read_delta_needs_acc(%c: !kvcache.cache<"x", 64, array<i64: 32>, !lowbit.int<4 : i32>, {delta, group_size = 32}>, %n: index) {
  // expected-error @+1 {{a delta (XQuant-CL) cache needs the previous layer's accumulator operand}}
  %x = "kvcache.read"(%c, %n) : (!kvcache.cache<"x", 64, array<i64: 32>, !lowbit.int<4 : i32>, {delta, group_size = 32}>, index) -> tensor<?x32xf32>
  return
}

// -----
func.func @read_acc_not_delta(%c: !kvcache.cache<"x", 64, array<i64: 32>, f16, {}>, %n: index, %a: tensor<?x32xf32>) {
  // expected-error @+1 {{accumulator is only meaningful for delta (XQuant-CL) caches}}
  %x = "kvcache.read"(%c, %n, %a) : (!kvcache.cache<"x", 64, array<i64: 32>, f16, {}>, index, tensor<?x32xf32>) -> tensor<?x32xf32>
  return
}

// -----
func.func @read_acc_type(%c: !kvcache.cache<"x", 64, array<i64: 32>, !lowbit.int<4 : i32>, {delta, group_size = 32}>, %n: index, %a: tensor<?x32xf16>) {
  // expected-error @+1 {{accumulator type tensor<?x32xf16> must equal the window type tensor<?x32xf32>}}
  %x = "kvcache.read"(%c, %n, %a) : (!kvcache.cache<"x", 64, array<i64: 32>, !lowbit.int<4 : i32>, {delta, group_size = 32}>, index, tensor<?x32xf16>) -> tensor<?x32xf32>
  return
}

// === kvcache.remat ===

// -----
func.func @remat_kv(%c: !kvcache.cache<"kv", 64, array<i64: 2, 16>, f16, {}>, %n: index) {
  // expected-error @+1 {{rematerialization needs a stored source: cache kind must be 'x' or 'latent', got 'kv'}}
  %k = "kvcache.remat"(%c, %n) ({
  ^bb0(%x: tensor<?x2x16xf32>, %p: tensor<?xi64>):
    vector.yield %x : tensor<?x2x16xf32>
  }) {resultSegmentSizes = array<i32: 1, 0, 0>} : (!kvcache.cache<"kv", 64, array<i64: 2, 16>, f16, {}>, index) -> tensor<?x2x16xf32>
  return
}

// -----
func.func @remat_args(%c: !kvcache.cache<"x", 64, array<i64: 32>, f16, {}>, %n: index) {
  // expected-error @+1 {{body must take 2 arguments (window, positions), got 1}}
  %k = "kvcache.remat"(%c, %n) ({
  ^bb0(%x: tensor<?x32xf32>):
    vector.yield %x : tensor<?x32xf32>
  }) {resultSegmentSizes = array<i32: 1, 0, 0>} : (!kvcache.cache<"x", 64, array<i64: 32>, f16, {}>, index) -> tensor<?x32xf32>
  return
}

// -----
func.func @remat_unranked(%c: !kvcache.cache<"x", 64, array<i64: 32>, f16, {}>, %n: index, %k: tensor<?x32xf32>) {
  // expected-error @+1 {{body argument #0 (window) must be a ranked tensor, got tensor<*xf32>}}
  %r = "kvcache.remat"(%c, %n) ({
  ^bb0(%x: tensor<*xf32>, %p: tensor<?xi64>):
    vector.yield %k : tensor<?x32xf32>
  }) {resultSegmentSizes = array<i32: 1, 0, 0>} : (!kvcache.cache<"x", 64, array<i64: 32>, f16, {}>, index) -> tensor<?x32xf32>
  return
}

// -----
func.func @remat_window(%c: !kvcache.cache<"x", 64, array<i64: 32>, f16, {}>, %n: index) {
  // expected-error @+1 {{body argument #0 (window) shape ?x16 must be [tokens, 32] for this cache}}
  %k = "kvcache.remat"(%c, %n) ({
  ^bb0(%x: tensor<?x16xf32>, %p: tensor<?xi64>):
    vector.yield %x : tensor<?x16xf32>
  }) {resultSegmentSizes = array<i32: 1, 0, 0>} : (!kvcache.cache<"x", 64, array<i64: 32>, f16, {}>, index) -> tensor<?x16xf32>
  return
}

// -----
func.func @remat_window_length(%c: !kvcache.cache<"x", 64, array<i64: 32>, f16, {}>) {
  %n = arith.constant 8 : index
  // expected-error @+1 {{body argument #0 (window) holds 4 tokens but length is 8}}
  %k = "kvcache.remat"(%c, %n) ({
  ^bb0(%x: tensor<4x32xf32>, %p: tensor<4xi64>):
    vector.yield %x : tensor<4x32xf32>
  }) {resultSegmentSizes = array<i32: 1, 0, 0>} : (!kvcache.cache<"x", 64, array<i64: 32>, f16, {}>, index) -> tensor<4x32xf32>
  return
}

// -----
func.func @remat_positions(%c: !kvcache.cache<"x", 64, array<i64: 32>, f16, {}>, %n: index) {
  // expected-error @+1 {{body argument #1 (positions) must be tensor<?xi64>, got tensor<?xindex>}}
  %k = "kvcache.remat"(%c, %n) ({
  ^bb0(%x: tensor<?x32xf32>, %p: tensor<?xindex>):
    vector.yield %x : tensor<?x32xf32>
  }) {resultSegmentSizes = array<i32: 1, 0, 0>} : (!kvcache.cache<"x", 64, array<i64: 32>, f16, {}>, index) -> tensor<?x32xf32>
  return
}

// -----
func.func @remat_nothing(%c: !kvcache.cache<"x", 64, array<i64: 32>, f16, {}>, %n: index) {
  // expected-error @+1 {{must produce a key, a value or both}}
  %w = "kvcache.remat"(%c, %n) ({
  ^bb0(%x: tensor<?x32xf32>, %p: tensor<?xi64>):
    vector.yield
  }) {resultSegmentSizes = array<i32: 0, 0, 1>} : (!kvcache.cache<"x", 64, array<i64: 32>, f16, {}>, index) -> tensor<?x32xf32>
  return
}

// -----
func.func @remat_key_tokens(%c: !kvcache.cache<"x", 64, array<i64: 32>, f16, {}>, %n: index, %k: tensor<3x32xf32>) {
  // expected-error @+1 {{key shape 3x32 must start with the window's 4 tokens}}
  %r = "kvcache.remat"(%c, %n) ({
  ^bb0(%x: tensor<4x32xf32>, %p: tensor<4xi64>):
    vector.yield %k : tensor<3x32xf32>
  }) {resultSegmentSizes = array<i32: 1, 0, 0>} : (!kvcache.cache<"x", 64, array<i64: 32>, f16, {}>, index) -> tensor<3x32xf32>
  return
}

// -----
func.func @remat_value_float(%c: !kvcache.cache<"x", 64, array<i64: 32>, f16, {}>, %n: index, %v: tensor<?x32xi32>) {
  // expected-error @+1 {{value must have a float element type, got i32}}
  %r = "kvcache.remat"(%c, %n) ({
  ^bb0(%x: tensor<?x32xf32>, %p: tensor<?xi64>):
    vector.yield %v : tensor<?x32xi32>
  }) {resultSegmentSizes = array<i32: 0, 1, 0>} : (!kvcache.cache<"x", 64, array<i64: 32>, f16, {}>, index) -> tensor<?x32xi32>
  return
}

// -----
func.func @remat_terminator(%c: !kvcache.cache<"x", 64, array<i64: 32>, f16, {}>, %n: index) {
  // expected-error @+1 {{body must end with vector.yield yielding (key?, value?)}}
  %r = "kvcache.remat"(%c, %n) ({
  ^bb0(%x: tensor<?x32xf32>, %p: tensor<?xi64>):
    gpu.yield %x : tensor<?x32xf32>
  }) {resultSegmentSizes = array<i32: 1, 0, 0>} : (!kvcache.cache<"x", 64, array<i64: 32>, f16, {}>, index) -> tensor<?x32xf32>
  return
}

// -----
func.func @remat_yield_types(%c: !kvcache.cache<"x", 64, array<i64: 32>, f16, {}>, %n: index) {
  // expected-error @+1 {{body yields (tensor<?x32xf32>) but the op produces (tensor<?x32xf32>, tensor<?x32xf32>)}}
  %k, %v = "kvcache.remat"(%c, %n) ({
  ^bb0(%x: tensor<?x32xf32>, %p: tensor<?xi64>):
    vector.yield %x : tensor<?x32xf32>
  }) {resultSegmentSizes = array<i32: 1, 1, 0>} : (!kvcache.cache<"x", 64, array<i64: 32>, f16, {}>, index) -> (tensor<?x32xf32>, tensor<?x32xf32>)
  return
}

// -----
func.func @remat_window_result(%c: !kvcache.cache<"x", 64, array<i64: 32>, f16, {}>, %n: index) {
  // expected-error @+1 {{window result type tensor<?x32xf16> must equal the body's window argument tensor<?x32xf32>}}
  %k, %w = "kvcache.remat"(%c, %n) ({
  ^bb0(%x: tensor<?x32xf32>, %p: tensor<?xi64>):
    vector.yield %x : tensor<?x32xf32>
  }) {resultSegmentSizes = array<i32: 1, 0, 1>} : (!kvcache.cache<"x", 64, array<i64: 32>, f16, {}>, index) -> (tensor<?x32xf32>, tensor<?x32xf16>)
  return
}

// -----
func.func @remat_delta_acc(%c: !kvcache.cache<"x", 64, array<i64: 32>, !lowbit.int<4 : i32>, {delta, group_size = 32}>, %n: index) {
  // expected-error @+1 {{a delta (XQuant-CL) cache needs the previous layer's accumulator operand}}
  %k = "kvcache.remat"(%c, %n) ({
  ^bb0(%x: tensor<?x32xf32>, %p: tensor<?xi64>):
    vector.yield %x : tensor<?x32xf32>
  }) {resultSegmentSizes = array<i32: 1, 0, 0>} : (!kvcache.cache<"x", 64, array<i64: 32>, !lowbit.int<4 : i32>, {delta, group_size = 32}>, index) -> tensor<?x32xf32>
  return
}
