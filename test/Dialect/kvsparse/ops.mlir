// RUN: kvc-opt %s | kvc-opt | FileCheck %s
// RUN: kvc-opt %s --mlir-print-op-generic | kvc-opt | FileCheck %s

// Every kvsparse encoding and op round-trips through kvc-opt.

// CHECK: #[[NM:.*]] = #sparse_tensor.encoding<{ map = (d0, d1) -> (d0 : dense, d1 floordiv 4 : dense, d1 mod 4 : structured[2, 4]) }>
// CHECK-LABEL: func.func @encodings
// CHECK-SAME: tensor<?x8x128xf16, #kvsparse.bitmap<"token">>
// CHECK-SAME: tensor<?x8x128xf16, #kvsparse.bitmap<"channel">>
// CHECK-SAME: tensor<256x512xbf16, #kvsparse.bitmask>
// CHECK-SAME: tensor<256x512xf16, #[[NM]]>
func.func @encodings(%k: tensor<?x8x128xf16, #kvsparse.bitmap<"token">>, %v: tensor<?x8x128xf16, #kvsparse.bitmap<"channel">>,
                     %w: tensor<256x512xbf16, #kvsparse.bitmask>,
                     %nm: tensor<256x512xf16, #sparse_tensor.encoding<{map = (i, j) -> (i : dense, j floordiv 4 : dense, j mod 4 : structured[2, 4])}>>) {
  return
}

// Mustafar: prune K and V per token (50% and 75%, newest 32 tokens dense), compress K
// into token tiles and V into channel tiles, attend, and expose the storage.
// CHECK-LABEL: func.func @kv_pruning
// CHECK: %[[PK:.*]] = "kvsparse.prune"(%arg0) {keep_recent = 32 : i64, sparsity = 5.000000e-01 : f32} : (tensor<128x2x64xf16>) -> tensor<128x2x64xf16>
// CHECK: %[[PV:.*]] = "kvsparse.prune"(%arg1) {keep_recent = 32 : i64, sparsity = 7.500000e-01 : f32}
// CHECK: %[[CK:.*]] = "kvsparse.compress"(%[[PK]]) : (tensor<128x2x64xf16>) -> tensor<128x2x64xf16, #kvsparse.bitmap<"token">>
// CHECK: %[[CV:.*]] = "kvsparse.compress"(%[[PV]]) : (tensor<128x2x64xf16>) -> tensor<128x2x64xf16, #kvsparse.bitmap<"channel">>
// CHECK: "kvsparse.attention"(%arg2, %[[CK]], %[[CV]], %arg3, %arg4) {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1>, scale = 1.250000e-01 : f32} : (tensor<8x64xf16>, tensor<128x2x64xf16, #kvsparse.bitmap<"token">>, tensor<128x2x64xf16, #kvsparse.bitmap<"channel">>, tensor<32x2x64xf16>, tensor<32x2x64xf16>) -> tensor<8x64xf16>
// CHECK: "kvsparse.attention"(%arg2, %[[CK]], %[[CV]]) {operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>, scale = 1.250000e-01 : f32} : (tensor<8x64xf16>, tensor<128x2x64xf16, #kvsparse.bitmap<"token">>, tensor<128x2x64xf16, #kvsparse.bitmap<"channel">>) -> tensor<8x64xf16>
// CHECK: "kvsparse.disassemble"(%[[CK]]) : (tensor<128x2x64xf16, #kvsparse.bitmap<"token">>) -> (tensor<256xi64>, tensor<257xi32>, tensor<?xf16>)
// CHECK: "kvsparse.decompress"(%[[CV]]) : (tensor<128x2x64xf16, #kvsparse.bitmap<"channel">>) -> tensor<128x2x64xf16>
func.func @kv_pruning(%k: tensor<128x2x64xf16>, %v: tensor<128x2x64xf16>, %q: tensor<8x64xf16>,
                      %rk: tensor<32x2x64xf16>, %rv: tensor<32x2x64xf16>) -> tensor<8x64xf16> {
  %pk = "kvsparse.prune"(%k) {sparsity = 0.5 : f32, keep_recent = 32 : i64} : (tensor<128x2x64xf16>) -> tensor<128x2x64xf16>
  %pv = "kvsparse.prune"(%v) {sparsity = 0.75 : f32, keep_recent = 32 : i64} : (tensor<128x2x64xf16>) -> tensor<128x2x64xf16>
  %ck = "kvsparse.compress"(%pk) : (tensor<128x2x64xf16>) -> tensor<128x2x64xf16, #kvsparse.bitmap<"token">>
  %cv = "kvsparse.compress"(%pv) : (tensor<128x2x64xf16>) -> tensor<128x2x64xf16, #kvsparse.bitmap<"channel">>
  %o = "kvsparse.attention"(%q, %ck, %cv, %rk, %rv) {scale = 0.125 : f32, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1>}
      : (tensor<8x64xf16>, tensor<128x2x64xf16, #kvsparse.bitmap<"token">>, tensor<128x2x64xf16, #kvsparse.bitmap<"channel">>,
         tensor<32x2x64xf16>, tensor<32x2x64xf16>) -> tensor<8x64xf16>
  %o2 = "kvsparse.attention"(%q, %ck, %cv) {scale = 0.125 : f32, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>}
      : (tensor<8x64xf16>, tensor<128x2x64xf16, #kvsparse.bitmap<"token">>, tensor<128x2x64xf16, #kvsparse.bitmap<"channel">>) -> tensor<8x64xf16>
  %bits, %offs, %vals = "kvsparse.disassemble"(%ck) : (tensor<128x2x64xf16, #kvsparse.bitmap<"token">>) -> (tensor<256xi64>, tensor<257xi32>, tensor<?xf16>)
  %dv = "kvsparse.decompress"(%cv) : (tensor<128x2x64xf16, #kvsparse.bitmap<"channel">>) -> tensor<128x2x64xf16>
  return %o : tensor<8x64xf16>
}

// SparAMX: a bitmask weight assembled from offline-compressed buffers; an N:M weight.
// CHECK-LABEL: func.func @sparse_weights
// CHECK: %[[W:.*]] = "kvsparse.assemble"(%arg1, %arg2) : (tensor<256x16xi32>, tensor<?xbf16>) -> tensor<256x512xbf16, #kvsparse.bitmask>
// CHECK: "kvsparse.matmul"(%arg0, %[[W]]) : (tensor<?x512xbf16>, tensor<256x512xbf16, #kvsparse.bitmask>) -> tensor<?x256xbf16>
// CHECK: %[[NMW:.*]] = "kvsparse.compress"(%arg3) : (tensor<256x512xf16>) -> tensor<256x512xf16, #[[NM]]>
// CHECK: "kvsparse.matmul"(%arg4, %[[NMW]]) : (tensor<1x512xf16>, tensor<256x512xf16, #[[NM]]>) -> tensor<1x256xf16>
func.func @sparse_weights(%x: tensor<?x512xbf16>, %mask: tensor<256x16xi32>, %vals: tensor<?xbf16>,
                          %w2: tensor<256x512xf16>, %x2: tensor<1x512xf16>) -> (tensor<?x256xbf16>, tensor<1x256xf16>) {
  %w = "kvsparse.assemble"(%mask, %vals) : (tensor<256x16xi32>, tensor<?xbf16>) -> tensor<256x512xbf16, #kvsparse.bitmask>
  %y = "kvsparse.matmul"(%x, %w) : (tensor<?x512xbf16>, tensor<256x512xbf16, #kvsparse.bitmask>) -> tensor<?x256xbf16>
  %nm = "kvsparse.compress"(%w2) : (tensor<256x512xf16>)
      -> tensor<256x512xf16, #sparse_tensor.encoding<{map = (i, j) -> (i : dense, j floordiv 4 : dense, j mod 4 : structured[2, 4])}>>
  %y2 = "kvsparse.matmul"(%x2, %nm)
      : (tensor<1x512xf16>, tensor<256x512xf16, #sparse_tensor.encoding<{map = (i, j) -> (i : dense, j floordiv 4 : dense, j mod 4 : structured[2, 4])}>>)
      -> tensor<1x256xf16>
  return %y, %y2 : tensor<?x256xbf16>, tensor<1x256xf16>
}
