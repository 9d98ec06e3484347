// nn.Linear layers become linalg.matmul with a transposed weight (fp32) or
// lowbit.unpack + lowbit.matmul over packed codes (quantized); weights are
// function arguments tagged kvc.weight, biases stay elementwise adds.
// RUN: %PYTHON -m kvc.frontend.dump linear | FileCheck %s --check-prefix=FP32
// RUN: %PYTHON -m kvc.frontend.dump linear --weights razer4:g16 | FileCheck %s --check-prefix=RAZER

// FP32-LABEL: func.func @forward(
// FP32-SAME: %[[W0:arg0]]: tensor<32x64xf32> {kvc.weight = "0.weight"}, %arg1: tensor<32xf32> {kvc.weight = "0.bias"}
// FP32-SAME: %[[W2:arg2]]: tensor<16x32xf32> {kvc.weight = "2.weight"}, %[[X:arg3]]: tensor<2x64xf32> {kvc.input = "input"}
// FP32: linalg.matmul indexing_maps = [#{{.*}}, #{{.*}}, #{{.*}}] ins(%[[X]], %[[W0]] : tensor<2x64xf32>, tensor<32x64xf32>)
// FP32: linalg.generic
// FP32: arith.addf
// FP32: linalg.matmul {{.*}} ins(%{{.*}}, %[[W2]] : tensor<2x32xf32>, tensor<16x32xf32>)
// FP32-NOT: lowbit

// RAZER-LABEL: func.func @forward(
// RAZER-SAME: {kvc.weight = "0.bias"}
// RAZER-SAME: {kvc.input = "input"}
// RAZER-SAME: %[[C0:arg[0-9]+]]: tensor<32x32xi8> {kvc.weight = "0.weight.codes"}, %[[S0:arg[0-9]+]]: tensor<32x4xf16> {kvc.weight = "0.weight.scales"}, %[[M0:arg[0-9]+]]: tensor<32x4xi8> {kvc.weight = "0.weight.meta"}
// RAZER-NOT: tensor<32x64xf32> {kvc.weight
// RAZER: %[[U:.*]] = "lowbit.unpack"(%[[C0]]) : (tensor<32x32xi8>) -> tensor<32x64x!lowbit.razer<array<f32: 5.000000e+00, 8.000000e+00, -5.000000e+00, -8.000000e+00>>>
// RAZER: "lowbit.matmul"(%{{.*}}, %[[U]], %[[S0]], %[[M0]]) {group_size = 16 : i64
