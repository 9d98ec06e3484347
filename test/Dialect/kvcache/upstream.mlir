// REQUIRES: upstream-mlir-opt
// kvcache.irdl.mlir loads on its own into upstream mlir-opt; its IR round-trips
// between mlir-opt and kvc-opt (only float caches here: a lowbit element type
// needs lowbit.irdl.mlir too, see test/Dialect/interop-upstream.mlir).
// RUN: %mlir-opt --irdl-file=%kvc-dialects/kvcache.irdl.mlir %s | kvc-opt | FileCheck %s
// RUN: kvc-opt %s --mlir-print-op-generic | %mlir-opt --irdl-file=%kvc-dialects/kvcache.irdl.mlir | FileCheck %s

// CHECK-LABEL: func.func @cache
// CHECK: "kvcache.create"() : () -> !kvcache.cache<"kv", 128 : i64, array<i64: 2, 16>, bf16, {}>
// CHECK: "kvcache.append"(%{{.*}}, %arg0, %arg1, %arg2)
// CHECK: "kvcache.read"(%{{.*}}, %arg3) : (!kvcache.cache<"kv", 128 : i64, array<i64: 2, 16>, bf16, {}>, index) -> (tensor<?x2x16xbf16>, tensor<?x2x16xbf16>)
// CHECK: "kvcache.create"() : () -> !kvcache.cache<"latent", 128 : i64, array<i64: 8>, f32, {}>
// CHECK: "kvcache.remat"(%{{.*}}, %arg3) ({
// CHECK-NEXT: ^bb0(%{{.*}}: tensor<?x8xf32>, %{{.*}}: tensor<?xi64>):
// CHECK-NEXT: vector.yield
// CHECK-NEXT: }) {resultSegmentSizes = array<i32: 0, 1, 1>}
func.func @cache(%pos: index, %k: tensor<1x2x16xbf16>, %v: tensor<1x2x16xbf16>, %len: index) {
  %c = "kvcache.create"() : () -> !kvcache.cache<"kv", 128, array<i64: 2, 16>, bf16, {}>
  %c1 = "kvcache.append"(%c, %pos, %k, %v)
      : (!kvcache.cache<"kv", 128, array<i64: 2, 16>, bf16, {}>, index, tensor<1x2x16xbf16>, tensor<1x2x16xbf16>)
      -> !kvcache.cache<"kv", 128, array<i64: 2, 16>, bf16, {}>
  %kk, %vv = "kvcache.read"(%c1, %len) : (!kvcache.cache<"kv", 128, array<i64: 2, 16>, bf16, {}>, index)
      -> (tensor<?x2x16xbf16>, tensor<?x2x16xbf16>)
  %l = "kvcache.create"() : () -> !kvcache.cache<"latent", 128, array<i64: 8>, f32, {}>
  %val, %win = "kvcache.remat"(%l, %len) ({
  ^bb0(%x: tensor<?x8xf32>, %p: tensor<?xi64>):
    vector.yield %x : tensor<?x8xf32>
  }) {resultSegmentSizes = array<i32: 0, 1, 1>} : (!kvcache.cache<"latent", 128, array<i64: 8>, f32, {}>, index)
      -> (tensor<?x8xf32>, tensor<?x8xf32>)
  return
}
