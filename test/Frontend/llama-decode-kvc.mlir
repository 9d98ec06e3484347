// The frontend's kvc IR for the decode step of a 1-layer Llama-style decoder
// with 4-bit weights: the KV cache is !kvcache.cache state updated with
// kvcache.append and read with kvcache.read; every linear is lowbit.unpack +
// lowbit.matmul over packed weight arguments; no weight is an IR constant.
// RUN: %PYTHON -m kvc.frontend.dump llama --entry decode --weights int4:g32 | FileCheck %s

// CHECK-LABEL: func.func @decode(
// CHECK-SAME: %[[EMB:arg[0-9]+]]: tensor<128x64xf32> {kvc.weight = "model.embed.weight"}
// CHECK-SAME: {kvc.input = "input_ids"}
// CHECK-SAME: %[[POS:arg[0-9]+]]: tensor<i64> {kvc.input = "pos"}
// CHECK-SAME: %[[CACHE:arg[0-9]+]]: !kvcache.cache<"kv", 32 : i64, array<i64: 2, 16>, f32, {}> {kvc.cache = "layer0"}
// CHECK-SAME: %[[QCODES:arg[0-9]+]]: tensor<64x32xi8> {kvc.weight = "model.layers.0.attn.q_proj.weight.codes"}
// CHECK-SAME: tensor<64x2xf16> {kvc.weight = "model.layers.0.attn.q_proj.weight.scales"}
// CHECK-SAME: -> (tensor<1x1x128xf32>, !kvcache.cache<"kv", 32 : i64, array<i64: 2, 16>, f32, {}>)
// CHECK-NOT: dense_resource
// CHECK-NOT: dense<{{\[}}
// CHECK: %[[Q:.*]] = "lowbit.unpack"(%[[QCODES]]) : (tensor<64x32xi8>) -> tensor<64x64x!lowbit.int<4 : i32>>
// CHECK: "lowbit.matmul"({{.*}}, %[[Q]], {{.*}}) {group_size = 32 : i64
// CHECK: %[[P:.*]] = arith.index_cast
// CHECK: %[[NEW:.*]] = "kvcache.append"(%[[CACHE]], %[[P]], {{.*}}) : (!kvcache.cache<{{.*}}>, index, tensor<1x2x16xf32>, tensor<1x2x16xf32>) -> !kvcache.cache
// CHECK: "kvcache.read"(%[[NEW]], %{{.*}}) {{.*}} -> (tensor<32x2x16xf32>, tensor<32x2x16xf32>)
// CHECK: return %{{.*}}, %[[NEW]] : tensor<1x1x128xf32>, !kvcache.cache
