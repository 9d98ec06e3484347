// Caches this pass does not implement are reported, never lowered wrongly.
// RUN: kvc-opt %s --split-input-file --verify-diagnostics --pass-pipeline="builtin.module(kvcache-lower-to-tensors)"

// expected-error @+1 {{cache kind 'x' is not lowered by kvcache-lower-to-tensors}}
func.func @x_cache(%c: !kvcache.cache<"x", 16 : i64, array<i64: 8>, f32, {}>) {
  return
}

// -----

// expected-error @+1 {{(quantized / delta storage) are not lowered by kvcache-lower-to-tensors}}
func.func @int4_cache(%c: !kvcache.cache<"kv", 16 : i64, array<i64: 2, 64>, !lowbit.int<4 : i32>, {group_size = 32 : i64}>) {
  return
}
