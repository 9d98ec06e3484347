// RUN: kvc-opt %s --lowbit-lower-to-storage --canonicalize --cse | FileCheck %s
// RUN: kvc-opt %s --lowbit-lower-to-storage=fuse-unpack=false --canonicalize --cse | FileCheck %s --check-prefix=NOFUSE

// matmul on packed int3 codes: the generic reads the packed bytes (tensor<5x8xi8>) directly;
// blocks of 8 codes = 3 bytes are assembled into one word, each code is sign-extended with
// shl/shrsi, dequantized as scale * value and accumulated with a reassociable add.
// K = 20 is not a multiple of 8: a scalar tail loop handles the last 4 codes.
// CHECK-LABEL: func.func @matmul_int3
// CHECK-SAME: (%[[X:.*]]: tensor<?x20xf32>, %[[P:.*]]: tensor<5x8xi8>, %[[S:.*]]: tensor<5x3xf16>) -> tensor<?x5xf32>
// CHECK-NOT: lowbit.
// A dynamic row count picks the kernel at runtime: from 2 rows on, two rows share each decode.
// CHECK: %[[SEVERAL:.*]] = arith.cmpi uge, %{{.*}}, %c2 : index
// CHECK: scf.if %[[SEVERAL]] -> (tensor<?x5xf32>)
// CHECK: linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel"]
// CHECK-SAME: outs(%{{.*}}, %{{.*}} : tensor<?x5xf32>, tensor<?x5xf32>)
// CHECK: scf.for %[[G:.*]] = {{.*}} iter_args
// CHECK: tensor.extract %[[S]][%{{.*}}, %[[G]]] : tensor<5x3xf16>
// CHECK: scf.for
// CHECK: tensor.extract %[[P]][%{{.*}}, %{{.*}}] : tensor<5x8xi8>
// CHECK: arith.shli %{{.*}}, %c29_i32 : i32
// CHECK: arith.shrsi %{{.*}}, %c29_i32 : i32
// CHECK: arith.sitofp %{{.*}} : i32 to f32
// CHECK: tensor.extract %[[X]]
// CHECK: arith.mulf %{{.*}} fastmath<contract> : f32
// CHECK: arith.addf %{{.*}} fastmath<reassoc,contract> : f32
// CHECK: scf.yield
// Tail loop: code k starts at bit 3k, possibly straddling two bytes.
// CHECK: scf.for
// CHECK: arith.shrui %{{.*}}, %c3 : index
// CHECK: arith.minui
// CHECK: arith.shrui %{{.*}}, %{{.*}} : i32
// The two rows' results are interleaved back into [rows, N]; the else branch is the one-row kernel.
// CHECK: arith.remui %{{.*}}, %c2 : index
// CHECK: } else {
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<?x5xf32>)
// No unpacked weight tensor anywhere:
// CHECK-NOT: tensor<5x20xi8>
// CHECK: return %{{.*}} : tensor<?x5xf32>
// NOFUSE-LABEL: func.func @matmul_int3
// NOFUSE: %[[CODES:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<5x20xi8>)
// NOFUSE: tensor.extract %[[CODES]]
func.func @matmul_int3(%x: tensor<?x20xf32>, %p: tensor<5x8xi8>, %s: tensor<5x3xf16>) -> tensor<?x5xf32> {
  %c = "lowbit.unpack"(%p) : (tensor<5x8xi8>) -> tensor<5x20x!lowbit.int<3 : i32>>
  %y = "lowbit.matmul"(%x, %c, %s) {group_size = 8 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>}
      : (tensor<?x20xf32>, tensor<5x20x!lowbit.int<3 : i32>>, tensor<5x3xf16>) -> tensor<?x5xf32>
  return %y : tensor<?x5xf32>
}

// uint: zero-extend (mask), then scale * (value - zero).
// CHECK-LABEL: func.func @dequantize_uint5
// CHECK: linalg.generic
// CHECK: arith.andi %{{.*}}, %c31_i32 : i32
// CHECK: arith.uitofp
// CHECK: %[[D:.*]] = arith.subf
// CHECK: arith.mulf %{{.*}}, %[[D]] : f32
func.func @dequantize_uint5(%p: tensor<4x5xi8>, %s: tensor<4x1xf16>, %z: tensor<4x1xf16>) -> tensor<4x8xf32> {
  %c = "lowbit.unpack"(%p) : (tensor<4x5xi8>) -> tensor<4x8x!lowbit.uint<5 : i32>>
  %y = "lowbit.dequantize"(%c, %s, %z) {group_size = 8 : i64, axis = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 0>}
      : (tensor<4x8x!lowbit.uint<5 : i32>>, tensor<4x1xf16>, tensor<4x1xf16>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// bipolar3: 2q - 7 in integers. Codes arrive one per byte (a function argument of codes type
// becomes tensor<...xi8>).
// CHECK-LABEL: func.func @dequantize_bipolar3
// CHECK-SAME: (%{{.*}}: tensor<2x6xi8>
// CHECK: arith.shli %{{.*}}, %c1_i32 : i32
// CHECK: arith.subi %{{.*}}, %c7_i32 : i32
// CHECK: arith.sitofp
func.func @dequantize_bipolar3(%c: tensor<2x6x!lowbit.bipolar<3 : i32>>, %s: tensor<2x1xf32>, %z: tensor<2x1xf32>) -> tensor<2x6xf32> {
  %y = "lowbit.dequantize"(%c, %s, %z) {group_size = 6 : i64, axis = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 0>}
      : (tensor<2x6x!lowbit.bipolar<3 : i32>>, tensor<2x1xf32>, tensor<2x1xf32>) -> tensor<2x6xf32>
  return %y : tensor<2x6xf32>
}

// Minifloat e5m2 (OCP FP8 E5M2): the f32 pattern is built from the fields, exponent rebiased by
// 127 - 15 = 112 (112 << 23 = 939524096); subnormals as mantissa * 2^-16; the all-ones exponent
// gives inf/NaN (0x7F800000 = 2139095040); the sign bit moves to bit 31.
// CHECK-LABEL: func.func @dequantize_e5m2
// CHECK: arith.andi %{{.*}}, %c127_i32 : i32
// CHECK: arith.shli %{{.*}}, %c21_i32 : i32
// CHECK: arith.addi %{{.*}}, %c939524096_i32 : i32
// CHECK: arith.bitcast %{{.*}} : i32 to f32
// CHECK: arith.mulf %{{.*}}, %cst{{.*}} : f32
// CHECK: arith.select
// CHECK: arith.ori %{{.*}}, %c2139095040_i32 : i32
// CHECK: arith.cmpi eq, %{{.*}}, %c31_i32 : i32
// CHECK: arith.andi %{{.*}}, %c128_i32 : i32
// CHECK: arith.shli %{{.*}}, %c24_i32 : i32
// CHECK: arith.ori
// CHECK-NOT: tensor<{{.*}}xf32> = arith.constant dense
func.func @dequantize_e5m2(%p: tensor<3x4xi8>, %s: tensor<3x1xf16>) -> tensor<3x4xf16> {
  %c = "lowbit.unpack"(%p) : (tensor<3x4xi8>) -> tensor<3x4x!lowbit.float<5 : i32, 2 : i32>>
  %y = "lowbit.dequantize"(%c, %s) {group_size = 4 : i64, axis = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 0, 0>}
      : (tensor<3x4x!lowbit.float<5 : i32, 2 : i32>>, tensor<3x1xf16>) -> tensor<3x4xf16>
  return %y : tensor<3x4xf16>
}

// OCP E4M3FN: only S.1111.111 is NaN.
// CHECK-LABEL: func.func @dequantize_e4m3
// CHECK: arith.cmpi eq, %{{.*}}, %c127_i32 : i32
// CHECK: arith.select %{{.*}}, %cst{{.*}}, %{{.*}} : f32
func.func @dequantize_e4m3(%p: tensor<3x4xi8>, %s: tensor<3x1xf16>) -> tensor<3x4xf32> {
  %c = "lowbit.unpack"(%p) : (tensor<3x4xi8>) -> tensor<3x4x!lowbit.float<4 : i32, 3 : i32>>
  %y = "lowbit.dequantize"(%c, %s) {group_size = 4 : i64, axis = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 0, 0>}
      : (tensor<3x4x!lowbit.float<4 : i32, 3 : i32>>, tensor<3x1xf16>) -> tensor<3x4xf32>
  return %y : tensor<3x4xf32>
}

// RaZeR: the group's special value is selected from the type's specials by meta, once per
// group, and replaces code 0b1000 of the E2M1 decode.
// CHECK-LABEL: func.func @matmul_razer
// CHECK-DAG: arith.constant 5.000000e+00 : f32
// CHECK-DAG: arith.constant 8.000000e+00 : f32
// CHECK-DAG: arith.constant -5.000000e+00 : f32
// CHECK-DAG: arith.constant -8.000000e+00 : f32
// CHECK: scf.for
// CHECK: tensor.extract %{{.*}} : tensor<4x2xi8>
// CHECK: arith.select
// CHECK: arith.select
// CHECK: %[[SV:.*]] = arith.select
// CHECK: scf.for
// CHECK: arith.cmpi eq, %{{.*}}, %c8_i32 : i32
// CHECK: arith.select %{{.*}}, %[[SV]], %{{.*}} : f32
func.func @matmul_razer(%x: tensor<3x64xf32>, %p: tensor<4x32xi8>, %s: tensor<4x2xf16>, %m: tensor<4x2xi8>) -> tensor<3x4xf32> {
  %c = "lowbit.unpack"(%p) : (tensor<4x32xi8>) -> tensor<4x64x!lowbit.razer<array<f32: 5.0, 8.0, -5.0, -8.0>>>
  %y = "lowbit.matmul"(%x, %c, %s, %m) {group_size = 32 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 0, 1>}
      : (tensor<3x64xf32>, tensor<4x64x!lowbit.razer<array<f32: 5.0, 8.0, -5.0, -8.0>>>, tensor<4x2xf16>, tensor<4x2xi8>) -> tensor<3x4xf32>
  return %y : tensor<3x4xf32>
}

// pack(unpack(p)) of the same width is p; a returned unpack is materialized (one code per byte).
// CHECK-LABEL: func.func @pack_unpack
// CHECK-SAME: (%[[P:.*]]: tensor<2x4xi8>) -> (tensor<2x4xi8>, tensor<2x10xi8>)
// CHECK: %[[C:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<2x10xi8>)
// CHECK: arith.andi %{{.*}}, %c7_i32 : i32
// CHECK: arith.trunci %{{.*}} : i32 to i8
// CHECK: return %[[P]], %[[C]] : tensor<2x4xi8>, tensor<2x10xi8>
func.func @pack_unpack(%p: tensor<2x4xi8>) -> (tensor<2x4xi8>, tensor<2x10x!lowbit.int<3 : i32>>) {
  %c = "lowbit.unpack"(%p) : (tensor<2x4xi8>) -> tensor<2x10x!lowbit.int<3 : i32>>
  %q = "lowbit.pack"(%c) : (tensor<2x10x!lowbit.int<3 : i32>>) -> tensor<2x4xi8>
  return %q, %c : tensor<2x4xi8>, tensor<2x10x!lowbit.int<3 : i32>>
}

// pack of codes from a runtime quantize: each output byte ORs the (up to 4) codes touching it.
// CHECK-LABEL: func.func @quantize_pack
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<4x2xf16>)
// CHECK: arith.truncf %{{.*}} : f32 to f16
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<4x32xi8>)
// CHECK: math.roundeven
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<4x12xi8>)
// CHECK: arith.divui %{{.*}}, %c3 : index
// CHECK: arith.maxsi
// CHECK: arith.ori
// CHECK: return %{{.*}}, %{{.*}} : tensor<4x12xi8>, tensor<4x2xf16>
func.func @quantize_pack(%x: tensor<4x32xf32>) -> (tensor<4x12xi8>, tensor<4x2xf16>) {
  %c, %s = "lowbit.quantize"(%x) {group_size = 16 : i64, axis = 1 : i64, resultSegmentSizes = array<i32: 1, 1, 0, 0>}
      : (tensor<4x32xf32>) -> (tensor<4x32x!lowbit.int<3 : i32>>, tensor<4x2xf16>)
  %p = "lowbit.pack"(%c) : (tensor<4x32x!lowbit.int<3 : i32>>) -> tensor<4x12xi8>
  return %p, %s : tensor<4x12xi8>, tensor<4x2xf16>
}
