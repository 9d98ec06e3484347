// RUN: kvc-opt %s | kvc-opt | FileCheck %s
// RUN: kvc-opt %s --mlir-print-op-generic | kvc-opt | FileCheck %s

// Every kvcache type form and op round-trips through kvc-opt.

// CHECK-LABEL: func.func @types
// CHECK-SAME: !kvcache.cache<"kv", 4096 : i64, array<i64: 8, 64>, f16, {}>
// CHECK-SAME: !kvcache.cache<"x", 2048 : i64, array<i64: 512>, !lowbit.int<4 : i32>, {group_size = 128 : i64, residual = 128 : i64}>
// CHECK-SAME: !kvcache.cache<"latent", 2048 : i64, array<i64: 256>, !lowbit.uint<2 : i32>, {group_size = 64 : i64, quant_axis = "channel", residual = 128 : i64, scale_type = bf16}>
// CHECK-SAME: !kvcache.cache<"x", 2048 : i64, array<i64: 512>, !lowbit.uint<3 : i32>, {delta, group_size = 128 : i64}>
// CHECK-SAME: !kvcache.cache<"kv", 1024 : i64, array<i64: 2, 128>, !lowbit.razer<array<f32: 5.000000e+00, 8.000000e+00, -5.000000e+00, -8.000000e+00>>, {group_size = 128 : i64}>
func.func @types(%a: !kvcache.cache<"kv", 4096, array<i64: 8, 64>, f16, {}>,
                 %b: !kvcache.cache<"x", 2048, array<i64: 512>, !lowbit.int<4 : i32>, {group_size = 128, residual = 128}>,
                 %c: !kvcache.cache<"latent", 2048, array<i64: 256>, !lowbit.uint<2 : i32>, {group_size = 64, quant_axis = "channel", residual = 128, scale_type = bf16}>,
                 %d: !kvcache.cache<"x", 2048, array<i64: 512>, !lowbit.uint<3 : i32>, {delta, group_size = 128}>,
                 %e: !kvcache.cache<"kv", 1024, array<i64: 2, 128>, !lowbit.razer<array<f32: 5.0, 8.0, -5.0, -8.0>>, {group_size = 128}>) {
  return
}

// A plain K/V cache: create, write a prompt of 4 tokens, one decode token, read.
// CHECK-LABEL: func.func @kv_cache
// CHECK: %[[C:.*]] = "kvcache.create"() : () -> !kvcache.cache<"kv", 4096 : i64, array<i64: 8, 64>, f16, {}>
// CHECK: %[[C1:.*]] = "kvcache.append"(%[[C]], %{{.*}}, %arg0, %arg1) : (!kvcache.cache<"kv", 4096 : i64, array<i64: 8, 64>, f16, {}>, index, tensor<4x8x64xf16>, tensor<4x8x64xf16>) -> !kvcache.cache<"kv", 4096 : i64, array<i64: 8, 64>, f16, {}>
// CHECK: %[[C2:.*]] = "kvcache.append"(%[[C1]], %{{.*}}, %arg2, %arg3)
// CHECK: "kvcache.read"(%[[C2]], %{{.*}}) : (!kvcache.cache<"kv", 4096 : i64, array<i64: 8, 64>, f16, {}>, index) -> (tensor<5x8x64xf16>, tensor<5x8x64xf16>)
func.func @kv_cache(%k: tensor<4x8x64xf16>, %v: tensor<4x8x64xf16>, %k1: tensor<1x8x64xf16>, %v1: tensor<1x8x64xf16>)
    -> (tensor<5x8x64xf16>, tensor<5x8x64xf16>) {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %c5 = arith.constant 5 : index
  %cache = "kvcache.create"() : () -> !kvcache.cache<"kv", 4096, array<i64: 8, 64>, f16, {}>
  %c1 = "kvcache.append"(%cache, %c0, %k, %v)
      : (!kvcache.cache<"kv", 4096, array<i64: 8, 64>, f16, {}>, index, tensor<4x8x64xf16>, tensor<4x8x64xf16>)
      -> !kvcache.cache<"kv", 4096, array<i64: 8, 64>, f16, {}>
  %c2 = "kvcache.append"(%c1, %c4, %k1, %v1)
      : (!kvcache.cache<"kv", 4096, array<i64: 8, 64>, f16, {}>, index, tensor<1x8x64xf16>, tensor<1x8x64xf16>)
      -> !kvcache.cache<"kv", 4096, array<i64: 8, 64>, f16, {}>
  %kk, %vv = "kvcache.read"(%c2, %c5) : (!kvcache.cache<"kv", 4096, array<i64: 8, 64>, f16, {}>, index)
      -> (tensor<5x8x64xf16>, tensor<5x8x64xf16>)
  return %kk, %vv : tensor<5x8x64xf16>, tensor<5x8x64xf16>
}

// XQuant: cache X (int4, groups of 128 channels), rematerialize K = RoPE(X Wk) and V = X Wv.
// CHECK-LABEL: func.func @xquant
// CHECK: "kvcache.append"(%{{.*}}, %arg0, %arg1) : (!kvcache.cache<"x", 2048 : i64, array<i64: 512>, !lowbit.int<4 : i32>, {group_size = 128 : i64}>, index, tensor<?x512xf32>)
// CHECK: "kvcache.remat"(%{{.*}}, %arg2) ({
// CHECK-NEXT: ^bb0(%[[X:.*]]: tensor<?x512xf32>, %[[P:.*]]: tensor<?xi64>):
// CHECK: linalg.matmul
// CHECK: tensor.expand_shape
// CHECK: vector.yield %{{.*}}, %{{.*}} : tensor<?x8x64xf32>, tensor<?x512xf32>
// CHECK-NEXT: }) {resultSegmentSizes = array<i32: 1, 1, 0>} : (!kvcache.cache<"x", 2048 : i64, array<i64: 512>, !lowbit.int<4 : i32>, {group_size = 128 : i64}>, index) -> (tensor<?x8x64xf32>, tensor<?x512xf32>)
func.func @xquant(%pos: index, %x: tensor<?x512xf32>, %len: index, %wk: tensor<512x512xf32>, %wv: tensor<512x512xf32>)
    -> (tensor<?x8x64xf32>, tensor<?x512xf32>) {
  %cache = "kvcache.create"() : () -> !kvcache.cache<"x", 2048, array<i64: 512>, !lowbit.int<4 : i32>, {group_size = 128}>
  %c1 = "kvcache.append"(%cache, %pos, %x)
      : (!kvcache.cache<"x", 2048, array<i64: 512>, !lowbit.int<4 : i32>, {group_size = 128}>, index, tensor<?x512xf32>)
      -> !kvcache.cache<"x", 2048, array<i64: 512>, !lowbit.int<4 : i32>, {group_size = 128}>
  %k, %v = "kvcache.remat"(%c1, %len) ({
  ^bb0(%xw: tensor<?x512xf32>, %positions: tensor<?xi64>):
    %zero = arith.constant 0.0 : f32
    %e = tensor.empty(%len) : tensor<?x512xf32>
    %z = linalg.fill ins(%zero : f32) outs(%e : tensor<?x512xf32>) -> tensor<?x512xf32>
    %kk = linalg.matmul ins(%xw, %wk : tensor<?x512xf32>, tensor<512x512xf32>) outs(%z : tensor<?x512xf32>) -> tensor<?x512xf32>
    %vv = linalg.matmul ins(%xw, %wv : tensor<?x512xf32>, tensor<512x512xf32>) outs(%z : tensor<?x512xf32>) -> tensor<?x512xf32>
    %kh = tensor.expand_shape %kk [[0], [1, 2]] output_shape [%len, 8, 64] : tensor<?x512xf32> into tensor<?x8x64xf32>
    vector.yield %kh, %vv : tensor<?x8x64xf32>, tensor<?x512xf32>
  }) {resultSegmentSizes = array<i32: 1, 1, 0>}
      : (!kvcache.cache<"x", 2048, array<i64: 512>, !lowbit.int<4 : i32>, {group_size = 128}>, index)
      -> (tensor<?x8x64xf32>, tensor<?x512xf32>)
  return %k, %v : tensor<?x8x64xf32>, tensor<?x512xf32>
}

// XQuant-CL: a delta cache threads the cross-layer accumulator through append_delta, read and remat.
// CHECK-LABEL: func.func @xquant_cl
// CHECK: %{{.*}}:2 = "kvcache.append_delta"(%{{.*}}, %arg1, %arg2, %arg3) : (!kvcache.cache<"x", 2048 : i64, array<i64: 512>, !lowbit.uint<3 : i32>, {delta, group_size = 128 : i64}>, index, tensor<1x512xf32>, tensor<1x512xf32>) -> (!kvcache.cache<"x", 2048 : i64, array<i64: 512>, !lowbit.uint<3 : i32>, {delta, group_size = 128 : i64}>, tensor<1x512xf32>)
// CHECK: "kvcache.read"(%{{.*}}, %arg4, %arg5) : (!kvcache.cache<"x", 2048 : i64, array<i64: 512>, !lowbit.uint<3 : i32>, {delta, group_size = 128 : i64}>, index, tensor<?x512xf32>) -> tensor<?x512xf32>
// CHECK: "kvcache.remat"(%{{.*}}, %arg4, %arg5) ({
// CHECK-NEXT: ^bb0(%[[XW:.*]]: tensor<?x512xf32>, %{{.*}}: tensor<?xi64>):
// CHECK-NEXT: vector.yield %[[XW]] : tensor<?x512xf32>
// CHECK-NEXT: }) {resultSegmentSizes = array<i32: 0, 1, 1>}
func.func @xquant_cl(%cache: !kvcache.cache<"x", 2048, array<i64: 512>, !lowbit.uint<3 : i32>, {delta, group_size = 128}>,
                     %pos: index, %acc: tensor<1x512xf32>, %x: tensor<1x512xf32>, %len: index, %acc_window: tensor<?x512xf32>) {
  %c1, %acc1 = "kvcache.append_delta"(%cache, %pos, %acc, %x)
      : (!kvcache.cache<"x", 2048, array<i64: 512>, !lowbit.uint<3 : i32>, {delta, group_size = 128}>, index, tensor<1x512xf32>, tensor<1x512xf32>)
      -> (!kvcache.cache<"x", 2048, array<i64: 512>, !lowbit.uint<3 : i32>, {delta, group_size = 128}>, tensor<1x512xf32>)
  %xhat = "kvcache.read"(%c1, %len, %acc_window)
      : (!kvcache.cache<"x", 2048, array<i64: 512>, !lowbit.uint<3 : i32>, {delta, group_size = 128}>, index, tensor<?x512xf32>)
      -> tensor<?x512xf32>
  %v, %window = "kvcache.remat"(%c1, %len, %acc_window) ({
  ^bb0(%xw: tensor<?x512xf32>, %positions: tensor<?xi64>):
    vector.yield %xw : tensor<?x512xf32>
  }) {resultSegmentSizes = array<i32: 0, 1, 1>}
      : (!kvcache.cache<"x", 2048, array<i64: 512>, !lowbit.uint<3 : i32>, {delta, group_size = 128}>, index, tensor<?x512xf32>)
      -> (tensor<?x512xf32>, tensor<?x512xf32>)
  return
}
