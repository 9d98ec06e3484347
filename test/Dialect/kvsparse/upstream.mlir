// REQUIRES: upstream-mlir-opt
// kvsparse.irdl.mlir loads on its own into upstream mlir-opt; its IR (with
// kvsparse and upstream N:M encodings) round-trips between mlir-opt and kvc-opt.
// RUN: %mlir-opt --irdl-file=%kvc-dialects/kvsparse.irdl.mlir %s | kvc-opt | FileCheck %s
// RUN: kvc-opt %s --mlir-print-op-generic | %mlir-opt --irdl-file=%kvc-dialects/kvsparse.irdl.mlir | FileCheck %s

// CHECK: #[[NM:.*]] = #sparse_tensor.encoding<{ map = (d0, d1) -> (d0 : dense, d1 floordiv 8 : dense, d1 mod 8 : structured[4, 8]) }>
// CHECK-LABEL: func.func @weights
// CHECK: "kvsparse.disassemble"(%arg0) : (tensor<32x64xf32, #kvsparse.bitmask>) -> (tensor<32x2xi32>, tensor<?xf32>)
// CHECK: "kvsparse.assemble"(%{{.*}}, %{{.*}}) : (tensor<32x2xi32>, tensor<?xf32>) -> tensor<32x64xf32, #kvsparse.bitmask>
// CHECK: "kvsparse.matmul"(%arg1, %{{.*}}) : (tensor<2x64xf32>, tensor<32x64xf32, #kvsparse.bitmask>) -> tensor<2x32xf32>
// CHECK: "kvsparse.decompress"(%arg2) : (tensor<32x64xf32, #[[NM]]>) -> tensor<32x64xf32>
func.func @weights(%w: tensor<32x64xf32, #kvsparse.bitmask>, %x: tensor<2x64xf32>,
                   %nm: tensor<32x64xf32, #sparse_tensor.encoding<{map = (i, j) -> (i : dense, j floordiv 8 : dense, j mod 8 : structured[4, 8])}>>) {
  %m, %v = "kvsparse.disassemble"(%w) : (tensor<32x64xf32, #kvsparse.bitmask>) -> (tensor<32x2xi32>, tensor<?xf32>)
  %w2 = "kvsparse.assemble"(%m, %v) : (tensor<32x2xi32>, tensor<?xf32>) -> tensor<32x64xf32, #kvsparse.bitmask>
  %y = "kvsparse.matmul"(%x, %w2) : (tensor<2x64xf32>, tensor<32x64xf32, #kvsparse.bitmask>) -> tensor<2x32xf32>
  %d = "kvsparse.decompress"(%nm) : (tensor<32x64xf32, #sparse_tensor.encoding<{map = (i, j) -> (i : dense, j floordiv 8 : dense, j mod 8 : structured[4, 8])}>>) -> tensor<32x64xf32>
  return
}
