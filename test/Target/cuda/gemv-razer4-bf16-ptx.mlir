// RaZeR FP4 with bf16 activations: split-sign table decode by byte permutes, the
// per-group special value picked by prmt from the 2-bit selector, fp16 -> bf16
// conversion of the decoded pairs, bf16 tensor-core MMA.
// RUN: %PYTHON -m kvc.targets.cuda.emit --format razer4 --n 1024 --k 2048 --group-size 128 --act bfloat16 --out float32 --bias --emit ptx | FileCheck %s

// CHECK: .entry kvc_gemv_razer4_g128_n1024_k2048_bf16_f32_bias_w{{[0-9]+}}_d1p0_sm_90(
// Parameters: weight, scales, selectors, x, y, bias (pointers), then m.
// CHECK-COUNT-6: .param .u64
// CHECK-NEXT: .param .u32
// CHECK: ld.global.nc.L1::no_allocate.u32
// CHECK: prmt.b32
// CHECK: cvt.rn.bf16x2.f32
// CHECK: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// CHECK: st.global.b32
