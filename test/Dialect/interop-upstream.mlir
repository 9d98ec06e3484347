// REQUIRES: upstream-mlir-opt
// kvc IR of all four dialects round-trips through upstream mlir-opt (which
// loads the same IRDL files) and back through kvc-opt, in both directions and
// in generic form. mlir-opt keeps only one --irdl-file (the last one given),
// so the four dialect files are concatenated into one; a kvcache type can then
// name a lowbit element type. test/Dialect/{kvcache,kvsparse,pim}/upstream.mlir
// load each dialect file on its own.
// RUN: cat %kvc-dialects/lowbit.irdl.mlir %kvc-dialects/kvcache.irdl.mlir %kvc-dialects/kvsparse.irdl.mlir %kvc-dialects/pim.irdl.mlir > %t.irdl.mlir
// RUN: %mlir-opt --irdl-file=%t.irdl.mlir %s | kvc-opt | FileCheck %s
// RUN: kvc-opt %s | %mlir-opt --irdl-file=%t.irdl.mlir | FileCheck %s
// RUN: %mlir-opt --irdl-file=%t.irdl.mlir --mlir-print-op-generic %s | kvc-opt --mlir-print-op-generic | %mlir-opt --irdl-file=%t.irdl.mlir | FileCheck %s

// CHECK-LABEL: func.func @lowbit_weights
// CHECK: "lowbit.quantize"(%arg0) {axis = 1 : i64, group_size = 32 : i64, resultSegmentSizes = array<i32: 1, 1, 0, 0>} : (tensor<16x64xf32>) -> (tensor<16x64x!lowbit.int<4 : i32>>, tensor<16x2xf16>)
// CHECK: "lowbit.pack"(%{{.*}}) : (tensor<16x64x!lowbit.int<4 : i32>>) -> tensor<16x32xi8>
// CHECK: "lowbit.matmul"(%arg1, %{{.*}}, %{{.*}}) {group_size = 32 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<1x64xf32>, tensor<16x64x!lowbit.int<4 : i32>>, tensor<16x2xf16>) -> tensor<1x16xf32>
func.func @lowbit_weights(%w: tensor<16x64xf32>, %x: tensor<1x64xf32>) -> (tensor<16x32xi8>, tensor<1x16xf32>) {
  %c, %s = "lowbit.quantize"(%w) {group_size = 32 : i64, axis = 1 : i64, resultSegmentSizes = array<i32: 1, 1, 0, 0>}
      : (tensor<16x64xf32>) -> (tensor<16x64x!lowbit.int<4 : i32>>, tensor<16x2xf16>)
  %p = "lowbit.pack"(%c) : (tensor<16x64x!lowbit.int<4 : i32>>) -> tensor<16x32xi8>
  %y = "lowbit.matmul"(%x, %c, %s) {group_size = 32 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>}
      : (tensor<1x64xf32>, tensor<16x64x!lowbit.int<4 : i32>>, tensor<16x2xf16>) -> tensor<1x16xf32>
  return %p, %y : tensor<16x32xi8>, tensor<1x16xf32>
}

// CHECK-LABEL: func.func @xquant_cache
// CHECK: "kvcache.create"() : () -> !kvcache.cache<"x", 256 : i64, array<i64: 64>, !lowbit.int<4 : i32>, {group_size = 32 : i64}>
// CHECK: "kvcache.append"(%{{.*}}, %arg0, %arg1)
// CHECK: "kvcache.remat"(%{{.*}}, %arg2) ({
// CHECK: vector.yield %{{.*}} : tensor<?x64xf32>
// CHECK: }) {resultSegmentSizes = array<i32: 1, 0, 0>}
func.func @xquant_cache(%pos: index, %x: tensor<1x64xf32>, %len: index) -> tensor<?x64xf32> {
  %cache = "kvcache.create"() : () -> !kvcache.cache<"x", 256, array<i64: 64>, !lowbit.int<4 : i32>, {group_size = 32}>
  %c1 = "kvcache.append"(%cache, %pos, %x)
      : (!kvcache.cache<"x", 256, array<i64: 64>, !lowbit.int<4 : i32>, {group_size = 32}>, index, tensor<1x64xf32>)
      -> !kvcache.cache<"x", 256, array<i64: 64>, !lowbit.int<4 : i32>, {group_size = 32}>
  %k = "kvcache.remat"(%c1, %len) ({
  ^bb0(%xw: tensor<?x64xf32>, %positions: tensor<?xi64>):
    %two = arith.addf %xw, %xw : tensor<?x64xf32>
    vector.yield %two : tensor<?x64xf32>
  }) {resultSegmentSizes = array<i32: 1, 0, 0>}
      : (!kvcache.cache<"x", 256, array<i64: 64>, !lowbit.int<4 : i32>, {group_size = 32}>, index) -> tensor<?x64xf32>
  return %k : tensor<?x64xf32>
}

// CHECK-LABEL: func.func @sparse_kv
// CHECK: "kvsparse.prune"(%arg0) {keep_recent = 16 : i64, sparsity = 5.000000e-01 : f32}
// CHECK: "kvsparse.compress"(%{{.*}}) : (tensor<64x2x64xf16>) -> tensor<64x2x64xf16, #kvsparse.bitmap<"token">>
// CHECK: "kvsparse.compress"(%{{.*}}) : (tensor<64x2x64xf16>) -> tensor<64x2x64xf16, #kvsparse.bitmap<"channel">>
// CHECK: "kvsparse.attention"
// CHECK-SAME: -> tensor<4x64xf16>
func.func @sparse_kv(%k: tensor<64x2x64xf16>, %v: tensor<64x2x64xf16>, %q: tensor<4x64xf16>) -> tensor<4x64xf16> {
  %pk = "kvsparse.prune"(%k) {sparsity = 0.5 : f32, keep_recent = 16 : i64} : (tensor<64x2x64xf16>) -> tensor<64x2x64xf16>
  %ck = "kvsparse.compress"(%pk) : (tensor<64x2x64xf16>) -> tensor<64x2x64xf16, #kvsparse.bitmap<"token">>
  %cv = "kvsparse.compress"(%v) : (tensor<64x2x64xf16>) -> tensor<64x2x64xf16, #kvsparse.bitmap<"channel">>
  %o = "kvsparse.attention"(%q, %ck, %cv) {scale = 0.125 : f32, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>}
      : (tensor<4x64xf16>, tensor<64x2x64xf16, #kvsparse.bitmap<"token">>, tensor<64x2x64xf16, #kvsparse.bitmap<"channel">>) -> tensor<4x64xf16>
  return %o : tensor<4x64xf16>
}

// y = W x, W: 16x64 on the 16 banks of channel 0 (one matrix row per bank).
// CHECK-LABEL: "pim.program"() ({
// CHECK: "pim.place"
// CHECK: "pim.write_gb"
// CHECK: "pim.activate"
// CHECK-COUNT-4: "pim.mac_all_banks"
// CHECK: "pim.read_mac"
// CHECK: "pim.host_concat"
// CHECK: vector.yield
// CHECK: sym_name = "gemv16"
"pim.program"() ({
^bb0(%w: tensor<16x64xf16>, %x: tensor<64xf16>):
  "pim.place"(%w) {channel = 0 : i64, num_channels = 1 : i64, row = 0 : i64} : (tensor<16x64xf16>) -> ()
  "pim.write_gb"(%x) {channel = 0 : i64, num_channels = 1 : i64, col = 0 : i64, offset = 0 : i64, length = 64 : i64} : (tensor<64xf16>) -> ()
  "pim.activate"() {channel = 0 : i64, num_channels = 1 : i64, bank = -1 : i64, row = 0 : i64} : () -> ()
  "pim.mac_all_banks"() {channel = 0 : i64, num_channels = 1 : i64, row = 0 : i64, col = 0 : i64} : () -> ()
  "pim.mac_all_banks"() {channel = 0 : i64, num_channels = 1 : i64, row = 0 : i64, col = 16 : i64} : () -> ()
  "pim.mac_all_banks"() {channel = 0 : i64, num_channels = 1 : i64, row = 0 : i64, col = 32 : i64} : () -> ()
  "pim.mac_all_banks"() {channel = 0 : i64, num_channels = 1 : i64, row = 0 : i64, col = 48 : i64} : () -> ()
  %r = "pim.read_mac"() {channel = 0 : i64, num_channels = 1 : i64} : () -> tensor<1x16xf16>
  %y = "pim.host_concat"(%r) : (tensor<1x16xf16>) -> tensor<16xf16>
  vector.yield %y : tensor<16xf16>
}) {sym_name = "gemv16", function_type = (tensor<16x64xf16>, tensor<64xf16>) -> tensor<16xf16>,
    channels = 32 : i64, banks = 16 : i64, rows = 16384 : i64, columns = 1024 : i64, element = f16} : () -> ()
