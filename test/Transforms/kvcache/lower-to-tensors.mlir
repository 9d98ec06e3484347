// RUN: kvc-opt %s --pass-pipeline="builtin.module(kvcache-lower-to-tensors)" | FileCheck %s
// RUN: kvc-opt %s --pass-pipeline="builtin.module(kvcache-lower-to-tensors,one-shot-bufferize{bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map})" | FileCheck %s --check-prefix=BUF

// CHECK-LABEL: func.func @step(
// CHECK-SAME: %[[C:.*]]: tensor<2x16x2x4xf32>, %[[P:.*]]: index, %[[K:.*]]: tensor<3x2x4xf32>, %[[V:.*]]: tensor<3x2x4xf32>) -> (tensor<2x16x2x4xf32>, tensor<16x2x4xf32>, tensor<16x2x4xf32>)
// CHECK: %[[C1:.*]] = tensor.insert_slice %[[K]] into %[[C]][0, %[[P]], 0, 0] [1, 3, 2, 4] [1, 1, 1, 1] : tensor<3x2x4xf32> into tensor<2x16x2x4xf32>
// CHECK: %[[C2:.*]] = tensor.insert_slice %[[V]] into %[[C1]][1, %[[P]], 0, 0] [1, 3, 2, 4] [1, 1, 1, 1]
// CHECK: %[[RK:.*]] = tensor.extract_slice %[[C2]][0, 0, 0, 0] [1, 16, 2, 4] [1, 1, 1, 1] : tensor<2x16x2x4xf32> to tensor<16x2x4xf32>
// CHECK: %[[RV:.*]] = tensor.extract_slice %[[C2]][1, 0, 0, 0] [1, 16, 2, 4] [1, 1, 1, 1]
// CHECK: return %[[C2]], %[[RK]], %[[RV]]
// CHECK-NOT: kvcache.

// In place: the appended rows are copied into subviews of the cache argument,
// the read windows are subviews of it, and the returned cache is the argument.
// BUF-LABEL: func.func @step(
// BUF-SAME: %[[C:.*]]: memref<2x16x2x4xf32>
// BUF-NOT: memref.alloc
// BUF: %[[S:.*]] = memref.subview %[[C]][0, %{{.*}}, 0, 0] [1, 3, 2, 4]
// BUF: memref.copy %{{.*}}, %[[S]]
// BUF: memref.subview %[[C]][1, %{{.*}}, 0, 0] [1, 3, 2, 4]
// BUF: return %[[C]]
func.func @step(%c: !kvcache.cache<"kv", 16 : i64, array<i64: 2, 4>, f32, {}>, %p: index, %k: tensor<3x2x4xf32>, %v: tensor<3x2x4xf32>) -> (!kvcache.cache<"kv", 16 : i64, array<i64: 2, 4>, f32, {}>, tensor<16x2x4xf32>, tensor<16x2x4xf32>) {
  %c1 = "kvcache.append"(%c, %p, %k, %v) : (!kvcache.cache<"kv", 16 : i64, array<i64: 2, 4>, f32, {}>, index, tensor<3x2x4xf32>, tensor<3x2x4xf32>) -> !kvcache.cache<"kv", 16 : i64, array<i64: 2, 4>, f32, {}>
  %n = arith.constant 16 : index
  %r:2 = "kvcache.read"(%c1, %n) {operandSegmentSizes = array<i32: 1, 1, 0>} : (!kvcache.cache<"kv", 16 : i64, array<i64: 2, 4>, f32, {}>, index) -> (tensor<16x2x4xf32>, tensor<16x2x4xf32>)
  return %c1, %r#0, %r#1 : !kvcache.cache<"kv", 16 : i64, array<i64: 2, 4>, f32, {}>, tensor<16x2x4xf32>, tensor<16x2x4xf32>
}

// -----

// A dynamic-length read and a created cache.
// CHECK-LABEL: func.func @fresh(
// CHECK: %[[E:.*]] = tensor.empty() : tensor<2x8x1x2xf32>
// CHECK: %[[Z:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[E]] : tensor<2x8x1x2xf32>)
// CHECK: tensor.insert_slice %{{.*}} into %[[Z]][0, %{{.*}}, 0, 0] [1, 1, 1, 2]
// CHECK: tensor.extract_slice %{{.*}}[0, 0, 0, 0] [1, %{{.*}}, 1, 2] [1, 1, 1, 1] : tensor<2x8x1x2xf32> to tensor<?x1x2xf32>
func.func @fresh(%p: index, %k: tensor<1x1x2xf32>, %n: index) -> tensor<?x1x2xf32> {
  %c = "kvcache.create"() : () -> !kvcache.cache<"kv", 8 : i64, array<i64: 1, 2>, f32, {}>
  %c1 = "kvcache.append"(%c, %p, %k, %k) : (!kvcache.cache<"kv", 8 : i64, array<i64: 1, 2>, f32, {}>, index, tensor<1x1x2xf32>, tensor<1x1x2xf32>) -> !kvcache.cache<"kv", 8 : i64, array<i64: 1, 2>, f32, {}>
  %r:2 = "kvcache.read"(%c1, %n) {operandSegmentSizes = array<i32: 1, 1, 0>} : (!kvcache.cache<"kv", 8 : i64, array<i64: 1, 2>, f32, {}>, index) -> (tensor<?x1x2xf32>, tensor<?x1x2xf32>)
  return %r#0 : tensor<?x1x2xf32>
}
