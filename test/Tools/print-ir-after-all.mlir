// RUN: kvc-opt %s --pass-pipeline='builtin.module(lowbit-fold-pack,canonicalize)' --mlir-print-ir-after-all -o /dev/null 2>&1 | FileCheck %s
// RUN: kvc-opt %s -o %t && FileCheck %s --input-file=%t --check-prefix=OUT
// CHECK: IR Dump After lowbit-fold-pack
// CHECK: IR Dump After canonicalize
// OUT: func.func @id
func.func @id(%a: tensor<4xf32>) -> tensor<4xf32> { return %a : tensor<4xf32> }
