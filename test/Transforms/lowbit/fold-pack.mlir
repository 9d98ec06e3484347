// RUN: kvc-opt %s --lowbit-fold-pack | FileCheck %s
// A kvc pass and upstream passes in one pipeline string:
// RUN: kvc-opt %s --pass-pipeline='builtin.module(lowbit-fold-pack,canonicalize,func.func(cse))' | FileCheck %s --check-prefix=PIPE

// CHECK-LABEL: func.func @unpack_of_pack
// CHECK-SAME: (%[[C:.*]]: tensor<3x10x!lowbit.int<3 : i32>>)
// CHECK-NOT: lowbit.pack
// CHECK-NOT: lowbit.unpack
// CHECK: return %[[C]]
// PIPE-LABEL: func.func @unpack_of_pack
// PIPE-NEXT: return %arg0
func.func @unpack_of_pack(%c: tensor<3x10x!lowbit.int<3 : i32>>) -> tensor<3x10x!lowbit.int<3 : i32>> {
  %p = "lowbit.pack"(%c) : (tensor<3x10x!lowbit.int<3 : i32>>) -> tensor<3x4xi8>
  %u = "lowbit.unpack"(%p) : (tensor<3x4xi8>) -> tensor<3x10x!lowbit.int<3 : i32>>
  return %u : tensor<3x10x!lowbit.int<3 : i32>>
}

// CHECK-LABEL: func.func @pack_of_unpack
// CHECK-SAME: (%[[P:.*]]: tensor<2x5xi8>)
// CHECK: return %[[P]]
func.func @pack_of_unpack(%p: tensor<2x5xi8>) -> tensor<2x5xi8> {
  %u = "lowbit.unpack"(%p) : (tensor<2x5xi8>) -> tensor<2x8x!lowbit.uint<5 : i32>>
  %q = "lowbit.pack"(%u) : (tensor<2x8x!lowbit.uint<5 : i32>>) -> tensor<2x5xi8>
  return %q : tensor<2x5xi8>
}

// Unpacking as a different format is a reinterpretation, not a round trip: kept.
// CHECK-LABEL: func.func @reinterpret_kept
// CHECK: lowbit.pack
// CHECK: lowbit.unpack
func.func @reinterpret_kept(%c: tensor<2x8x!lowbit.int<4 : i32>>) -> tensor<2x8x!lowbit.uint<4 : i32>> {
  %p = "lowbit.pack"(%c) : (tensor<2x8x!lowbit.int<4 : i32>>) -> tensor<2x4xi8>
  %u = "lowbit.unpack"(%p) : (tensor<2x4xi8>) -> tensor<2x8x!lowbit.uint<4 : i32>>
  return %u : tensor<2x8x!lowbit.uint<4 : i32>>
}
