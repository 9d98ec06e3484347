// REQUIRES: upstream-mlir-opt
// pim.irdl.mlir loads on its own into upstream mlir-opt; programs round-trip
// between mlir-opt and kvc-opt, and upstream's symbol table sees their names.
// RUN: %mlir-opt --irdl-file=%kvc-dialects/pim.irdl.mlir %s | kvc-opt | FileCheck %s
// RUN: kvc-opt %s --mlir-print-op-generic | %mlir-opt --irdl-file=%kvc-dialects/pim.irdl.mlir | FileCheck %s
// RUN: sed -e 's/"second"/"first"/' %s | not %mlir-opt --irdl-file=%kvc-dialects/pim.irdl.mlir 2>&1 | FileCheck %s --check-prefix=DUP

// DUP: redefinition of symbol named 'first'

// CHECK-LABEL: "pim.program"() ({
// CHECK: "pim.activate"() {bank = 2 : i64, channel = 0 : i64, num_channels = 1 : i64, row = 5 : i64}
// CHECK: "pim.copy_bank_to_gb"
// CHECK: "pim.precharge"
// CHECK: sym_name = "first"
"pim.program"() ({
  "pim.activate"() {channel = 0 : i64, num_channels = 1 : i64, bank = 2 : i64, row = 5 : i64} : () -> ()
  "pim.copy_bank_to_gb"() {channel = 0 : i64, num_channels = 1 : i64, bank = 2 : i64, row = 5 : i64, col = 0 : i64, gb_col = 0 : i64} : () -> ()
  "pim.precharge"() {channel = 0 : i64, num_channels = 1 : i64, bank = 2 : i64} : () -> ()
  vector.yield
}) {sym_name = "first", function_type = () -> (), channels = 2 : i64, banks = 16 : i64, rows = 1024 : i64, columns = 1024 : i64, element = bf16} : () -> ()

// CHECK-LABEL: "pim.program"() ({
// CHECK: "pim.host_softmax"
// CHECK: sym_name = "second"
"pim.program"() ({
^bb0(%s: tensor<2x8xbf16>):
  %p = "pim.host_softmax"(%s) {scale = 0.5 : f32} : (tensor<2x8xbf16>) -> tensor<2x8xbf16>
  vector.yield %p : tensor<2x8xbf16>
}) {sym_name = "second", function_type = (tensor<2x8xbf16>) -> tensor<2x8xbf16>, channels = 2 : i64, banks = 16 : i64, rows = 1024 : i64, columns = 1024 : i64, element = bf16} : () -> ()
