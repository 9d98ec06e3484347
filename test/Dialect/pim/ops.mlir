// RUN: kvc-opt %s | kvc-opt | FileCheck %s
// RUN: kvc-opt %s --mlir-print-op-generic | kvc-opt | FileCheck %s

// Every pim op round-trips through kvc-opt.

// y = W x for W: 64x2048 f16 on 2 channels x 16 banks of a GDDR6-AiM-like
// device: each of the 32 units holds 2 matrix rows of 2 DRAM rows each. The
// command stream is abridged (a syntax test: one or two MACs per DRAM row).
// CHECK-LABEL: "pim.program"() ({
// CHECK-NEXT: ^bb0(%[[W:.*]]: tensor<64x2048xf16>, %[[X:.*]]: tensor<2048xf16>, %[[B:.*]]: tensor<2x16xf16>):
// CHECK-NEXT: "pim.place"(%[[W]]) {channel = 0 : i64, num_channels = 2 : i64, row = 0 : i64} : (tensor<64x2048xf16>) -> ()
// CHECK-NEXT: "pim.write_bias"(%[[B]]) {channel = 0 : i64, num_channels = 2 : i64} : (tensor<2x16xf16>) -> ()
// CHECK-NEXT: "pim.write_gb"(%[[X]]) {channel = 0 : i64, col = 0 : i64, length = 1024 : i64, num_channels = 2 : i64, offset = 0 : i64} : (tensor<2048xf16>) -> ()
// CHECK-NEXT: "pim.activate"() {bank = -1 : i64, channel = 0 : i64, num_channels = 2 : i64, row = 0 : i64} : () -> ()
// CHECK-NEXT: "pim.mac_all_banks"() {channel = 0 : i64, col = 0 : i64, num_channels = 2 : i64, row = 0 : i64} : () -> ()
// CHECK-NEXT: "pim.mac_all_banks"() {channel = 0 : i64, col = 1008 : i64, num_channels = 2 : i64, row = 0 : i64} : () -> ()
// CHECK-NEXT: "pim.precharge"() {bank = -1 : i64, channel = 0 : i64, num_channels = 2 : i64} : () -> ()
// CHECK-NEXT: "pim.write_gb"(%[[X]]) {channel = 0 : i64, col = 0 : i64, length = 1024 : i64, num_channels = 2 : i64, offset = 1024 : i64}
// CHECK-NEXT: "pim.activate"() {bank = -1 : i64, channel = 0 : i64, num_channels = 2 : i64, row = 1 : i64} : () -> ()
// CHECK-NEXT: "pim.mac_all_banks"() {channel = 0 : i64, col = 0 : i64, num_channels = 2 : i64, row = 1 : i64} : () -> ()
// CHECK-NEXT: "pim.af"() {channel = 0 : i64, function = "gelu", num_channels = 2 : i64} : () -> ()
// CHECK-NEXT: %[[R0:.*]] = "pim.read_mac"() {channel = 0 : i64, num_channels = 2 : i64} : () -> tensor<2x16xf16>
// CHECK-NEXT: %[[R1:.*]] = "pim.read_mac"() {channel = 0 : i64, num_channels = 2 : i64} : () -> tensor<2x16xf16>
// CHECK-NEXT: %[[Y:.*]] = "pim.host_concat"(%[[R0]], %[[R1]]) : (tensor<2x16xf16>, tensor<2x16xf16>) -> tensor<64xf16>
// CHECK-NEXT: "pim.sync"() {channel = 0 : i64, num_channels = 2 : i64} : () -> ()
// CHECK-NEXT: vector.yield %[[Y]] : tensor<64xf16>
// CHECK-NEXT: }) {banks = 16 : i64, channels = 32 : i64, columns = 1024 : i64, element = f16, function_type = (tensor<64x2048xf16>, tensor<2048xf16>, tensor<2x16xf16>) -> tensor<64xf16>, rows = 16384 : i64, sym_name = "gemv"} : () -> ()
"pim.program"() ({
^bb0(%w: tensor<64x2048xf16>, %x: tensor<2048xf16>, %bias: tensor<2x16xf16>):
  "pim.place"(%w) {channel = 0 : i64, num_channels = 2 : i64, row = 0 : i64} : (tensor<64x2048xf16>) -> ()
  "pim.write_bias"(%bias) {channel = 0 : i64, num_channels = 2 : i64} : (tensor<2x16xf16>) -> ()
  "pim.write_gb"(%x) {channel = 0 : i64, num_channels = 2 : i64, col = 0 : i64, offset = 0 : i64, length = 1024 : i64} : (tensor<2048xf16>) -> ()
  "pim.activate"() {channel = 0 : i64, num_channels = 2 : i64, bank = -1 : i64, row = 0 : i64} : () -> ()
  "pim.mac_all_banks"() {channel = 0 : i64, num_channels = 2 : i64, row = 0 : i64, col = 0 : i64} : () -> ()
  "pim.mac_all_banks"() {channel = 0 : i64, num_channels = 2 : i64, row = 0 : i64, col = 1008 : i64} : () -> ()
  "pim.precharge"() {channel = 0 : i64, num_channels = 2 : i64, bank = -1 : i64} : () -> ()
  "pim.write_gb"(%x) {channel = 0 : i64, num_channels = 2 : i64, col = 0 : i64, offset = 1024 : i64, length = 1024 : i64} : (tensor<2048xf16>) -> ()
  "pim.activate"() {channel = 0 : i64, num_channels = 2 : i64, bank = -1 : i64, row = 1 : i64} : () -> ()
  "pim.mac_all_banks"() {channel = 0 : i64, num_channels = 2 : i64, row = 1 : i64, col = 0 : i64} : () -> ()
  "pim.af"() {channel = 0 : i64, num_channels = 2 : i64, function = "gelu"} : () -> ()
  %r0 = "pim.read_mac"() {channel = 0 : i64, num_channels = 2 : i64} : () -> tensor<2x16xf16>
  %r1 = "pim.read_mac"() {channel = 0 : i64, num_channels = 2 : i64} : () -> tensor<2x16xf16>
  %y = "pim.host_concat"(%r0, %r1) : (tensor<2x16xf16>, tensor<2x16xf16>) -> tensor<64xf16>
  "pim.sync"() {channel = 0 : i64, num_channels = 2 : i64} : () -> ()
  vector.yield %y : tensor<64xf16>
}) {sym_name = "gemv", function_type = (tensor<64x2048xf16>, tensor<2048xf16>, tensor<2x16xf16>) -> tensor<64xf16>,
    channels = 32 : i64, banks = 16 : i64, rows = 16384 : i64, columns = 1024 : i64, element = f16} : () -> ()

// Global-buffer copies, element-wise commands and host-side ops (bf16 device).
// CHECK-LABEL: "pim.program"() ({
// CHECK-NEXT: ^bb0(%[[S:.*]]: tensor<4x8xbf16>, %[[V:.*]]: tensor<16xbf16>):
// CHECK-NEXT: "pim.activate"() {bank = 3 : i64, channel = 1 : i64, num_channels = 1 : i64, row = 7 : i64} : () -> ()
// CHECK-NEXT: "pim.copy_bank_to_gb"() {bank = 3 : i64, channel = 1 : i64, col = 32 : i64, gb_col = 0 : i64, num_channels = 1 : i64, row = 7 : i64} : () -> ()
// CHECK-NEXT: "pim.copy_gb_to_bank"() {bank = -1 : i64, channel = 1 : i64, col = 64 : i64, gb_col = 0 : i64, num_channels = 1 : i64, row = 7 : i64} : () -> ()
// CHECK-NEXT: "pim.write_gb"(%[[V]]) {channel = 0 : i64, col = 16 : i64, length = 16 : i64, num_channels = 4 : i64, offset = 0 : i64} : (tensor<16xbf16>) -> ()
// CHECK-NEXT: "pim.ewadd"() {channel = 0 : i64, col = 16 : i64, num_channels = 4 : i64, row = 7 : i64} : () -> ()
// CHECK-NEXT: "pim.ewmul"() {channel = 0 : i64, col = 16 : i64, num_channels = 4 : i64, row = 7 : i64} : () -> ()
// CHECK-NEXT: %[[RED:.*]] = "pim.host_reduce"(%[[S]]) : (tensor<4x8xbf16>) -> tensor<8xbf16>
// CHECK-NEXT: %[[SM:.*]] = "pim.host_softmax"(%[[RED]]) {scale = 1.250000e-01 : f32} : (tensor<8xbf16>) -> tensor<8xbf16>
// CHECK-NEXT: %[[HC:.*]] = "pim.host_compute"() ({
// CHECK-NEXT: arith.addf %[[SM]], %[[SM]] : tensor<8xbf16>
// CHECK-NEXT: vector.yield
// CHECK-NEXT: }) : () -> tensor<8xbf16>
// CHECK-NEXT: vector.yield %[[HC]] : tensor<8xbf16>
// CHECK-NEXT: }) {banks = 16 : i64, channels = 4 : i64, columns = 1024 : i64, element = bf16, function_type = (tensor<4x8xbf16>, tensor<16xbf16>) -> tensor<8xbf16>, rows = 64 : i64, sym_name = "misc"} : () -> ()
"pim.program"() ({
^bb0(%s: tensor<4x8xbf16>, %v: tensor<16xbf16>):
  "pim.activate"() {channel = 1 : i64, num_channels = 1 : i64, bank = 3 : i64, row = 7 : i64} : () -> ()
  "pim.copy_bank_to_gb"() {channel = 1 : i64, num_channels = 1 : i64, bank = 3 : i64, row = 7 : i64, col = 32 : i64, gb_col = 0 : i64} : () -> ()
  "pim.copy_gb_to_bank"() {channel = 1 : i64, num_channels = 1 : i64, bank = -1 : i64, row = 7 : i64, col = 64 : i64, gb_col = 0 : i64} : () -> ()
  "pim.write_gb"(%v) {channel = 0 : i64, num_channels = 4 : i64, col = 16 : i64, offset = 0 : i64, length = 16 : i64} : (tensor<16xbf16>) -> ()
  "pim.ewadd"() {channel = 0 : i64, num_channels = 4 : i64, row = 7 : i64, col = 16 : i64} : () -> ()
  "pim.ewmul"() {channel = 0 : i64, num_channels = 4 : i64, row = 7 : i64, col = 16 : i64} : () -> ()
  %red = "pim.host_reduce"(%s) : (tensor<4x8xbf16>) -> tensor<8xbf16>
  %sm = "pim.host_softmax"(%red) {scale = 0.125 : f32} : (tensor<8xbf16>) -> tensor<8xbf16>
  %hc = "pim.host_compute"() ({
    %twice = arith.addf %sm, %sm : tensor<8xbf16>
    vector.yield %twice : tensor<8xbf16>
  }) : () -> tensor<8xbf16>
  vector.yield %hc : tensor<8xbf16>
}) {sym_name = "misc", function_type = (tensor<4x8xbf16>, tensor<16xbf16>) -> tensor<8xbf16>,
    channels = 4 : i64, banks = 16 : i64, rows = 64 : i64, columns = 1024 : i64, element = bf16} : () -> ()
