// RUN: kvc-opt %s --split-input-file --verify-diagnostics

// One chunk per kvc verifier rule of the kvsparse dialect (dialects/kvsparse.py).

// === formats (checked wherever a compressed operand is used) ===

func.func @needs_compressed(%x: tensor<64x2x64xf16>) {
  // expected-error @+1 {{input must be compressed (#kvsparse.bitmap, #kvsparse.bitmask or N:M), got dense tensor<64x2x64xf16>}}
  %d = "kvsparse.decompress"(%x) : (tensor<64x2x64xf16>) -> tensor<64x2x64xf16>
  return
}

// -----
func.func @foreign_encoding(%x: tensor<64x64xf16, "csr">) {
  // expected-error @+1 {{input encoding "csr" is not a kvsparse format (#kvsparse.bitmap, #kvsparse.bitmask or N:M)}}
  %d = "kvsparse.decompress"(%x) : (tensor<64x64xf16, "csr">) -> tensor<64x64xf16>
  return
}

// -----
func.func @not_nm(%x: tensor<64x64xf16, #sparse_tensor.encoding<{map = (i, j) -> (i : dense, j : compressed)}>>) {
  // expected-error @+1 {{is not N:M structured (levels: dense, dense, structured[N, M])}}
  %d = "kvsparse.decompress"(%x) : (tensor<64x64xf16, #sparse_tensor.encoding<{map = (i, j) -> (i : dense, j : compressed)}>>) -> tensor<64x64xf16>
  return
}

// -----
func.func @nm_map(%x: tensor<64x64xf16, #sparse_tensor.encoding<{map = (i, j) -> (j floordiv 4 : dense, i : dense, j mod 4 : structured[2, 4])}>>) {
  // expected-error @+1 {{N:M encoding must map (i, j) -> (i : dense, j floordiv 4 : dense, j mod 4 : structured[2, 4])}}
  %d = "kvsparse.decompress"(%x) : (tensor<64x64xf16, #sparse_tensor.encoding<{map = (i, j) -> (j floordiv 4 : dense, i : dense, j mod 4 : structured[2, 4])}>>) -> tensor<64x64xf16>
  return
}

// -----
func.func @format_float(%x: tensor<64x2x64xi8, #kvsparse.bitmap<"token">>) {
  // expected-error @+1 {{input must have an f16, bf16 or f32 element type, got i8}}
  %d = "kvsparse.decompress"(%x) : (tensor<64x2x64xi8, #kvsparse.bitmap<"token">>) -> tensor<64x2x64xi8>
  return
}

// -----
func.func @bitmap_tiles(%x: tensor<64x2x64xf16, #kvsparse.bitmap<"head">>) {
  // expected-error @+1 {{input: bitmap tiles must be 'token' or 'channel', got 'head'}}
  %d = "kvsparse.decompress"(%x) : (tensor<64x2x64xf16, #kvsparse.bitmap<"head">>) -> tensor<64x2x64xf16>
  return
}

// -----
func.func @bitmap_rank(%x: tensor<4096xf16, #kvsparse.bitmap<"token">>) {
  // expected-error @+1 {{input: bitmap tiles need a [tokens, (heads,) channels] tensor, got rank 1}}
  %d = "kvsparse.decompress"(%x) : (tensor<4096xf16, #kvsparse.bitmap<"token">>) -> tensor<4096xf16>
  return
}

// -----
func.func @bitmap_tile_multiple(%x: tensor<64x2x96xf16, #kvsparse.bitmap<"channel">>) {
  // expected-error @+1 {{input: 'channel' tiles need channels (dim 2 = 96) to be a multiple of 64}}
  %d = "kvsparse.decompress"(%x) : (tensor<64x2x96xf16, #kvsparse.bitmap<"channel">>) -> tensor<64x2x96xf16>
  return
}

// -----
func.func @bitmask_rank(%x: tensor<2x64x64xbf16, #kvsparse.bitmask>) {
  // expected-error @+1 {{input: a bitmask weight is 2-D [N, K], got 2x64x64}}
  %d = "kvsparse.decompress"(%x) : (tensor<2x64x64xbf16, #kvsparse.bitmask>) -> tensor<2x64x64xbf16>
  return
}

// -----
func.func @nm_groups(%x: tensor<32x66xf16, #sparse_tensor.encoding<{map = (i, j) -> (i : dense, j floordiv 4 : dense, j mod 4 : structured[2, 4])}>>) {
  // expected-error @+1 {{input: 2:4 sparsity needs K = 66 to be a multiple of 4}}
  %d = "kvsparse.decompress"(%x) : (tensor<32x66xf16, #sparse_tensor.encoding<{map = (i, j) -> (i : dense, j floordiv 4 : dense, j mod 4 : structured[2, 4])}>>) -> tensor<32x66xf16>
  return
}

// === storage buffers (assemble / disassemble) ===

// -----
func.func @nm_storage(%x: tensor<64x64xf16, #sparse_tensor.encoding<{map = (i, j) -> (i : dense, j floordiv 4 : dense, j mod 4 : structured[2, 4])}>>) {
  // expected-error @+1 {{N:M tensors use the upstream sparse_tensor.assemble/disassemble}}
  %b, %v = "kvsparse.disassemble"(%x) : (tensor<64x64xf16, #sparse_tensor.encoding<{map = (i, j) -> (i : dense, j floordiv 4 : dense, j mod 4 : structured[2, 4])}>>) -> (tensor<64x2xi32>, tensor<?xf16>)
  return
}

// -----
func.func @bitmap_buffer(%b: tensor<128xi64>, %o: tensor<129xi32>, %v: tensor<?xf16>) {
  // expected-error @+1 {{bitmap must be tensor<256xi64> for tensor<128x2x64xf16, #kvsparse.bitmap<"token">>, got tensor<128xi64>}}
  %x = "kvsparse.assemble"(%b, %o, %v) : (tensor<128xi64>, tensor<129xi32>, tensor<?xf16>) -> tensor<128x2x64xf16, #kvsparse.bitmap<"token">>
  return
}

// -----
func.func @offsets_required(%b: tensor<256xi64>, %v: tensor<?xf16>) {
  // expected-error @+1 {{bitmap tiles need the offsets buffer (prefix sums of the padded tile sizes)}}
  %x = "kvsparse.assemble"(%b, %v) : (tensor<256xi64>, tensor<?xf16>) -> tensor<128x2x64xf16, #kvsparse.bitmap<"token">>
  return
}

// -----
func.func @offsets_shape(%b: tensor<256xi64>, %o: tensor<256xi32>, %v: tensor<?xf16>) {
  // expected-error @+1 {{offsets must be tensor<257xi32> (one more than the tiles), got tensor<256xi32>}}
  %x = "kvsparse.assemble"(%b, %o, %v) : (tensor<256xi64>, tensor<256xi32>, tensor<?xf16>) -> tensor<128x2x64xf16, #kvsparse.bitmap<"token">>
  return
}

// -----
func.func @bitmask_no_offsets(%m: tensor<8x2xi32>, %o: tensor<9xi32>, %v: tensor<?xbf16>) {
  // expected-error @+1 {{a bitmask weight has no offsets buffer}}
  %x = "kvsparse.assemble"(%m, %o, %v) : (tensor<8x2xi32>, tensor<9xi32>, tensor<?xbf16>) -> tensor<8x64xbf16, #kvsparse.bitmask>
  return
}

// -----
func.func @values_type(%m: tensor<8x2xi32>, %v: tensor<?xf16>) {
  // expected-error @+1 {{values must be a 1-D tensor of bf16, got tensor<?xf16>}}
  %x = "kvsparse.assemble"(%m, %v) : (tensor<8x2xi32>, tensor<?xf16>) -> tensor<8x64xbf16, #kvsparse.bitmask>
  return
}

// -----
func.func @values_capacity(%m: tensor<8x2xi32>, %v: tensor<513xbf16>) {
  // expected-error @+1 {{values hold 513 elements, more than the 512 the tensor has}}
  %x = "kvsparse.assemble"(%m, %v) : (tensor<8x2xi32>, tensor<513xbf16>) -> tensor<8x64xbf16, #kvsparse.bitmask>
  return
}

// -----
func.func @values_padding(%b: tensor<2xi64>, %o: tensor<3xi32>, %v: tensor<12xf16>) {
  // expected-error @+1 {{values length 12 must be a multiple of 8 (each tile is padded)}}
  %x = "kvsparse.assemble"(%b, %o, %v) : (tensor<2xi64>, tensor<3xi32>, tensor<12xf16>) -> tensor<1x128xf16, #kvsparse.bitmap<"channel">>
  return
}

// === kvsparse.prune ===

// -----
func.func @prune_dense(%x: tensor<64x64xf16, #kvsparse.bitmap<"token">>) {
  // expected-error @+1 {{input must be a dense tensor (no encoding), got tensor<64x64xf16, #kvsparse.bitmap<"token">>}}
  %p = "kvsparse.prune"(%x) {sparsity = 0.5 : f32, keep_recent = 0 : i64} : (tensor<64x64xf16, #kvsparse.bitmap<"token">>) -> tensor<64x64xf16, #kvsparse.bitmap<"token">>
  return
}

// -----
func.func @prune_result(%x: tensor<64x64xf16>) {
  // expected-error @+1 {{result type tensor<64x64xf32> must equal the input type tensor<64x64xf16>}}
  %p = "kvsparse.prune"(%x) {sparsity = 0.5 : f32, keep_recent = 0 : i64} : (tensor<64x64xf16>) -> tensor<64x64xf32>
  return
}

// -----
func.func @prune_rank(%x: tensor<64xf16>) {
  // expected-error @+1 {{input must be [tokens, (heads,) head_dim], got rank 1}}
  %p = "kvsparse.prune"(%x) {sparsity = 0.5 : f32, keep_recent = 0 : i64} : (tensor<64xf16>) -> tensor<64xf16>
  return
}

// -----
func.func @prune_float(%x: tensor<64x64xi16>) {
  // expected-error @+1 {{input must have an f16, bf16 or f32 element type, got i16}}
  %p = "kvsparse.prune"(%x) {sparsity = 0.5 : f32, keep_recent = 0 : i64} : (tensor<64x64xi16>) -> tensor<64x64xi16>
  return
}

// -----
func.func @prune_sparsity(%x: tensor<64x64xf16>) {
  // expected-error @+1 {{sparsity must be in [0, 1), got 1.0}}
  %p = "kvsparse.prune"(%x) {sparsity = 1.0 : f32, keep_recent = 0 : i64} : (tensor<64x64xf16>) -> tensor<64x64xf16>
  return
}

// -----
func.func @prune_keep(%x: tensor<64x64xf16>) {
  // expected-error @+1 {{keep_recent must be non-negative, got -1}}
  %p = "kvsparse.prune"(%x) {sparsity = 0.5 : f32, keep_recent = -1 : i64} : (tensor<64x64xf16>) -> tensor<64x64xf16>
  return
}

// === kvsparse.compress / decompress ===

// -----
func.func @compress_shape(%x: tensor<64x64xf16>) {
  // expected-error @+1 {{dense tensor<64x64xf16> and compressed tensor<128x64xf16, #kvsparse.bitmap<"token">> must have the same shape and element type}}
  %c = "kvsparse.compress"(%x) : (tensor<64x64xf16>) -> tensor<128x64xf16, #kvsparse.bitmap<"token">>
  return
}

// -----
func.func @decompress_dense(%x: tensor<64x64xf16, #kvsparse.bitmap<"token">>) {
  // expected-error @+1 {{result must be a dense tensor (no encoding), got tensor<64x64xf16, #kvsparse.bitmap<"channel">>}}
  %d = "kvsparse.decompress"(%x) : (tensor<64x64xf16, #kvsparse.bitmap<"token">>) -> tensor<64x64xf16, #kvsparse.bitmap<"channel">>
  return
}

// === kvsparse.matmul ===

// -----
func.func @matmul_bitmap(%x: tensor<1x64xf16>, %w: tensor<64x64xf16, #kvsparse.bitmap<"token">>) {
  // expected-error @+1 {{weight must be a #kvsparse.bitmask or N:M weight; bitmap tiles are for the KV cache}}
  %y = "kvsparse.matmul"(%x, %w) : (tensor<1x64xf16>, tensor<64x64xf16, #kvsparse.bitmap<"token">>) -> tensor<1x64xf16>
  return
}

// -----
func.func @matmul_float(%x: tensor<1x64xi8>, %w: tensor<32x64xbf16, #kvsparse.bitmask>) {
  // expected-error @+1 {{input must have an f16, bf16 or f32 element type, got i8}}
  %y = "kvsparse.matmul"(%x, %w) : (tensor<1x64xi8>, tensor<32x64xbf16, #kvsparse.bitmask>) -> tensor<1x32xi8>
  return
}

// -----
func.func @matmul_k(%x: tensor<1x32xbf16>, %w: tensor<32x64xbf16, #kvsparse.bitmask>) {
  // expected-error @+1 {{input's last dimension 32 must equal the weight's K = 64}}
  %y = "kvsparse.matmul"(%x, %w) : (tensor<1x32xbf16>, tensor<32x64xbf16, #kvsparse.bitmask>) -> tensor<1x32xbf16>
  return
}

// -----
func.func @matmul_result(%x: tensor<1x64xbf16>, %w: tensor<32x64xbf16, #kvsparse.bitmask>) {
  // expected-error @+1 {{result tensor<1x64xbf16> must be 1x32 of the input's bf16}}
  %y = "kvsparse.matmul"(%x, %w) : (tensor<1x64xbf16>, tensor<32x64xbf16, #kvsparse.bitmask>) -> tensor<1x64xbf16>
  return
}

// === kvsparse.attention ===

// -----
func.func @attn_query(%q: tensor<1x8x64xf16>, %k: tensor<64x2x64xf16, #kvsparse.bitmap<"token">>, %v: tensor<64x2x64xf16, #kvsparse.bitmap<"channel">>) {
  // expected-error @+1 {{query must be a float [heads, head_dim] tensor (one decode token), got tensor<1x8x64xf16>}}
  %o = "kvsparse.attention"(%q, %k, %v) {scale = 0.125 : f32, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<1x8x64xf16>, tensor<64x2x64xf16, #kvsparse.bitmap<"token">>, tensor<64x2x64xf16, #kvsparse.bitmap<"channel">>) -> tensor<1x8x64xf16>
  return
}

// -----
func.func @attn_key_tiles(%q: tensor<8x64xf16>, %k: tensor<64x2x64xf16, #kvsparse.bitmap<"channel">>, %v: tensor<64x2x64xf16, #kvsparse.bitmap<"channel">>) {
  // expected-error @+1 {{keys must use #kvsparse.bitmap<"token"> tiles (64 tokens of one channel), got #kvsparse.bitmap<"channel">}}
  %o = "kvsparse.attention"(%q, %k, %v) {scale = 0.125 : f32, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<8x64xf16>, tensor<64x2x64xf16, #kvsparse.bitmap<"channel">>, tensor<64x2x64xf16, #kvsparse.bitmap<"channel">>) -> tensor<8x64xf16>
  return
}

// -----
func.func @attn_value_tiles(%q: tensor<8x64xf16>, %k: tensor<64x2x64xf16, #kvsparse.bitmap<"token">>, %v: tensor<64x2x64xf16, #kvsparse.bitmap<"token">>) {
  // expected-error @+1 {{values must use #kvsparse.bitmap<"channel"> tiles (64 channels of one token), got #kvsparse.bitmap<"token">}}
  %o = "kvsparse.attention"(%q, %k, %v) {scale = 0.125 : f32, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<8x64xf16>, tensor<64x2x64xf16, #kvsparse.bitmap<"token">>, tensor<64x2x64xf16, #kvsparse.bitmap<"token">>) -> tensor<8x64xf16>
  return
}

// -----
func.func @attn_kv_shapes(%q: tensor<8x64xf16>, %k: tensor<128x2x64xf16, #kvsparse.bitmap<"token">>, %v: tensor<64x2x64xf16, #kvsparse.bitmap<"channel">>) {
  // expected-error @+1 {{keys and values must both be [tokens, kv_heads, head_dim], got 128x2x64 and 64x2x64}}
  %o = "kvsparse.attention"(%q, %k, %v) {scale = 0.125 : f32, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<8x64xf16>, tensor<128x2x64xf16, #kvsparse.bitmap<"token">>, tensor<64x2x64xf16, #kvsparse.bitmap<"channel">>) -> tensor<8x64xf16>
  return
}

// -----
func.func @attn_head_dim(%q: tensor<8x128xf16>, %k: tensor<64x2x64xf16, #kvsparse.bitmap<"token">>, %v: tensor<64x2x64xf16, #kvsparse.bitmap<"channel">>) {
  // expected-error @+1 {{query head_dim 128 must equal the cache's 64}}
  %o = "kvsparse.attention"(%q, %k, %v) {scale = 0.125 : f32, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<8x128xf16>, tensor<64x2x64xf16, #kvsparse.bitmap<"token">>, tensor<64x2x64xf16, #kvsparse.bitmap<"channel">>) -> tensor<8x128xf16>
  return
}

// -----
func.func @attn_gqa(%q: tensor<3x64xf16>, %k: tensor<64x2x64xf16, #kvsparse.bitmap<"token">>, %v: tensor<64x2x64xf16, #kvsparse.bitmap<"channel">>) {
  // expected-error @+1 {{query heads 3 must be a multiple of the KV heads 2 (GQA)}}
  %o = "kvsparse.attention"(%q, %k, %v) {scale = 0.125 : f32, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<3x64xf16>, tensor<64x2x64xf16, #kvsparse.bitmap<"token">>, tensor<64x2x64xf16, #kvsparse.bitmap<"channel">>) -> tensor<3x64xf16>
  return
}

// -----
func.func @attn_recent_pair(%q: tensor<8x64xf16>, %k: tensor<64x2x64xf16, #kvsparse.bitmap<"token">>, %v: tensor<64x2x64xf16, #kvsparse.bitmap<"channel">>, %rk: tensor<16x2x64xf16>) {
  // expected-error @+1 {{recent_keys and recent_values come together (the newest tokens kept dense)}}
  %o = "kvsparse.attention"(%q, %k, %v, %rk) {scale = 0.125 : f32, operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>} : (tensor<8x64xf16>, tensor<64x2x64xf16, #kvsparse.bitmap<"token">>, tensor<64x2x64xf16, #kvsparse.bitmap<"channel">>, tensor<16x2x64xf16>) -> tensor<8x64xf16>
  return
}

// -----
func.func @attn_recent_types(%q: tensor<8x64xf16>, %k: tensor<64x2x64xf16, #kvsparse.bitmap<"token">>, %v: tensor<64x2x64xf16, #kvsparse.bitmap<"channel">>, %rk: tensor<16x2x64xf16>, %rv: tensor<8x2x64xf16>) {
  // expected-error @+1 {{recent_values type tensor<8x2x64xf16> must equal the recent_keys type tensor<16x2x64xf16>}}
  %o = "kvsparse.attention"(%q, %k, %v, %rk, %rv) {scale = 0.125 : f32, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1>} : (tensor<8x64xf16>, tensor<64x2x64xf16, #kvsparse.bitmap<"token">>, tensor<64x2x64xf16, #kvsparse.bitmap<"channel">>, tensor<16x2x64xf16>, tensor<8x2x64xf16>) -> tensor<8x64xf16>
  return
}

// -----
func.func @attn_recent_shape(%q: tensor<8x64xf16>, %k: tensor<64x2x64xf16, #kvsparse.bitmap<"token">>, %v: tensor<64x2x64xf16, #kvsparse.bitmap<"channel">>, %rk: tensor<16x4x64xf16>) {
  // expected-error @+1 {{recent_keys must be [recent, 2, 64] of f16, got tensor<16x4x64xf16>}}
  %o = "kvsparse.attention"(%q, %k, %v, %rk, %rk) {scale = 0.125 : f32, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1>} : (tensor<8x64xf16>, tensor<64x2x64xf16, #kvsparse.bitmap<"token">>, tensor<64x2x64xf16, #kvsparse.bitmap<"channel">>, tensor<16x4x64xf16>, tensor<16x4x64xf16>) -> tensor<8x64xf16>
  return
}

// -----
func.func @attn_result(%q: tensor<8x64xf16>, %k: tensor<64x2x64xf16, #kvsparse.bitmap<"token">>, %v: tensor<64x2x64xf16, #kvsparse.bitmap<"channel">>) {
  // expected-error @+1 {{result type tensor<8x64xf32> must equal the query type tensor<8x64xf16>}}
  %o = "kvsparse.attention"(%q, %k, %v) {scale = 0.125 : f32, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<8x64xf16>, tensor<64x2x64xf16, #kvsparse.bitmap<"token">>, tensor<64x2x64xf16, #kvsparse.bitmap<"channel">>) -> tensor<8x64xf32>
  return
}

// -----
func.func @attn_scale(%q: tensor<8x64xf16>, %k: tensor<64x2x64xf16, #kvsparse.bitmap<"token">>, %v: tensor<64x2x64xf16, #kvsparse.bitmap<"channel">>) {
  // expected-error @+1 {{scale must be positive, got 0.0}}
  %o = "kvsparse.attention"(%q, %k, %v) {scale = 0.0 : f32, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<8x64xf16>, tensor<64x2x64xf16, #kvsparse.bitmap<"token">>, tensor<64x2x64xf16, #kvsparse.bitmap<"channel">>) -> tensor<8x64xf16>
  return
}
