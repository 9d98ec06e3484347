// End to end on the cpu target: lowbit ops on constant packed codes, JIT-compiled and run.
// RUN: %PYTHON -m kvc.targets.cpu %s --entry int4_matmul --run | FileCheck %s --check-prefix=INT4
// RUN: %PYTHON -m kvc.targets.cpu %s --entry int4_matmul --print-stage kvc-lowering | FileCheck %s --check-prefix=IR
// RUN: %PYTHON -m kvc.targets.cpu %s --entry e2m1_table --run | FileCheck %s --check-prefix=E2M1
// RUN: %PYTHON -m kvc.targets.cpu %s --entry fp8_specials --run | FileCheck %s --check-prefix=FP8
// RUN: %PYTHON -m kvc.targets.cpu %s --entry razer_matmul --run | FileCheck %s --check-prefix=RAZER

// W = [[1, -2, 3, 0, 7, -8, 1, 1], [0, 0, 0, 0, 0, 0, 0, 1]] as int4, packed LSB first
// (byte = c[2i] | c[2i+1] << 4): [0xE1, 0x03, 0x87, 0x11] and [0, 0, 0, 0x10]; scale 0.5.
// x = [1 .. 8]: y0 = 0.5 * (1 - 4 + 9 + 0 + 35 - 48 + 7 + 8) = 4, y1 = 0.5 * 8 = 4.
// x = [1, 0, ..., 0]: y = [0.5, 0].
// INT4: result 0: float32 [2, 2]
// INT4-NEXT: {{\[\[}}4.  4. ]
// INT4-NEXT: [0.5 0. ]]
// The matmul reads the packed bytes (tensor<2x4xi8>); no unpacked 2x8 weight exists.
// Only the entry and what it calls are compiled:
// IR-NOT: func.func @e2m1_table
// IR-LABEL: func.func @int4_matmul
// IR-NOT: lowbit.
// IR-NOT: tensor<2x8xi8>
// IR: linalg.generic
// IR: tensor.extract %{{.*}} : tensor<2x4xi8>
// IR: arith.shrsi
// IR: arith.addf %{{.*}} fastmath<reassoc,contract> : f32
// IR-NOT: tensor<2x8xi8>
// IR-NOT: lowbit.
// IR-NOT: func.func
func.func @int4_matmul() -> tensor<2x2xf32> {
  %p = arith.constant dense<[[-31, 3, -121, 17], [0, 0, 0, 16]]> : tensor<2x4xi8>
  %s = arith.constant dense<0.5> : tensor<2x1xf16>
  %x = arith.constant dense<[[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]> : tensor<2x8xf32>
  %c = "lowbit.unpack"(%p) : (tensor<2x4xi8>) -> tensor<2x8x!lowbit.int<4 : i32>>
  %y = "lowbit.matmul"(%x, %c, %s) {group_size = 8 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>}
      : (tensor<2x8xf32>, tensor<2x8x!lowbit.int<4 : i32>>, tensor<2x1xf16>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// Every E2M1 code 0..15 (byte i = (2i) | (2i+1) << 4), scale 1: the OCP FP4 table.
// E2M1: result 0: float32 [16]
// E2M1-NEXT: [ 0.   0.5  1.   1.5  2.   3.   4.   6.  -0.  -0.5 -1.  -1.5 -2.  -3.  -4.  -6. ]
func.func @e2m1_table() -> tensor<16xf32> {
  %p = arith.constant dense<[16, 50, 84, 118, -104, -70, -36, -2]> : tensor<8xi8>
  %s = arith.constant dense<1.0> : tensor<1xf16>
  %c = "lowbit.unpack"(%p) : (tensor<8xi8>) -> tensor<16x!lowbit.float<2 : i32, 1 : i32>>
  %y = "lowbit.dequantize"(%c, %s) {group_size = 16 : i64, axis = 0 : i64, operandSegmentSizes = array<i32: 1, 1, 0, 0>}
      : (tensor<16x!lowbit.float<2 : i32, 1 : i32>>, tensor<1xf16>) -> tensor<16xf32>
  return %y : tensor<16xf32>
}

// OCP FP8 special codes, one byte per code.
// e4m3 (E4M3FN): 0x01 = 2^-9 (subnormal), 0x08 = 2^-6, 0x7E = 448, 0x7F = NaN, 0xFF = NaN, 0x80 = -0.
// e5m2: 0x7C = inf, 0x7D = NaN, 0xFC = -inf, 0x04 = 2^-14, 0x01 = 2^-16 (subnormal), 0x7B = 57344.
// FP8: result 0: float32 [6]
// FP8-NEXT: [  0.001953   0.015625 448.            nan        nan  -0.      ]
// FP8: result 1: float32 [6]
// FP8-NEXT: [    inf     nan    -inf  0.000061  0.000015 57344.      ]
func.func @fp8_specials() -> (tensor<6xf32>, tensor<6xf32>) {
  %p = arith.constant dense<[1, 8, 126, 127, -1, -128]> : tensor<6xi8>
  %q = arith.constant dense<[124, 125, -4, 4, 1, 123]> : tensor<6xi8>
  %s = arith.constant dense<1.0> : tensor<1xf16>
  %c = "lowbit.unpack"(%p) : (tensor<6xi8>) -> tensor<6x!lowbit.float<4 : i32, 3 : i32>>
  %d = "lowbit.unpack"(%q) : (tensor<6xi8>) -> tensor<6x!lowbit.float<5 : i32, 2 : i32>>
  %y = "lowbit.dequantize"(%c, %s) {group_size = 6 : i64, axis = 0 : i64, operandSegmentSizes = array<i32: 1, 1, 0, 0>}
      : (tensor<6x!lowbit.float<4 : i32, 3 : i32>>, tensor<1xf16>) -> tensor<6xf32>
  %z = "lowbit.dequantize"(%d, %s) {group_size = 6 : i64, axis = 0 : i64, operandSegmentSizes = array<i32: 1, 1, 0, 0>}
      : (tensor<6x!lowbit.float<5 : i32, 2 : i32>>, tensor<1xf16>) -> tensor<6xf32>
  return %y, %z : tensor<6xf32>, tensor<6xf32>
}

// RaZeR: code 0b1000 is the group's special value. Row 0 holds codes [8, 1, 8, 7] in two groups
// of 2 with selectors [1, 2] (SV = +8, -5); row 1 codes [9, 8, 8, 15] with selectors [3, 0] (-8, +5).
// Packed: row 0 = [0x18, 0x78] = [24, 120], row 1 = [0x89, 0xF8] = [-119, -8]. Scales 1, x = [1, 10, 100, 1000].
// y00 = 8 + 10*0.5 + 100*-5 + 1000*6 = 5513; y01 = -0.5 + 10*-8 + 100*5 + 1000*-6 = -5580.5
// RAZER: result 0: float32 [1, 2]
// RAZER-NEXT: {{\[\[}} 5513.  -5580.5]]
func.func @razer_matmul() -> tensor<1x2xf32> {
  %p = arith.constant dense<[[24, 120], [-119, -8]]> : tensor<2x2xi8>
  %s = arith.constant dense<1.0> : tensor<2x2xf16>
  %m = arith.constant dense<[[1, 2], [3, 0]]> : tensor<2x2xi8>
  %x = arith.constant dense<[[1.0, 10.0, 100.0, 1000.0]]> : tensor<1x4xf32>
  %c = "lowbit.unpack"(%p) : (tensor<2x2xi8>) -> tensor<2x4x!lowbit.razer<array<f32: 5.0, 8.0, -5.0, -8.0>>>
  %y = "lowbit.matmul"(%x, %c, %s, %m) {group_size = 2 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 0, 1>}
      : (tensor<1x4xf32>, tensor<2x4x!lowbit.razer<array<f32: 5.0, 8.0, -5.0, -8.0>>>, tensor<2x2xf16>, tensor<2x2xi8>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}
