// RaZeR FP4, fp16 activations: the split-sign decode. Each pair of codes
// becomes a positive and a negative register (one prmt each; the negative
// selector is the positive one + 0x8888, a multiply-add kept on the FMA pipe),
// the high-half nibbles are moved down by multiply-high, not by a shift, and
// every A tile goes through two tensor-core MMAs (positive and negative sums).
// RUN: %PYTHON -m kvc.targets.cuda.emit --format razer4 --n 1024 --k 2048 --group-size 128 --warps 4 --emit ptx | FileCheck %s

// CHECK: .entry kvc_gemv_razer4_g128_n1024_k2048_f16_f16_w4_d1p0_sm_90(
// CHECK: ld.global.nc.L1::no_allocate.v4.u32
// CHECK: mul.hi.u32 {{%r[0-9]+}}, {{%r[0-9]+}}, 65536;
// CHECK: mad.lo.s32 {{%r[0-9]+}}, {{%r[0-9]+}}, {{%r[0-9]+}}, 34952;
// CHECK: prmt.b32
// One chunk (K = 256 per warp step, no partial chunk at K = 2048): 16 A tiles,
// 32 MMAs - twice the count of the one-register decoders.
// CHECK-COUNT-32: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
// CHECK-NOT: mma.sync
// CHECK-NOT: ld.local
// CHECK: st.global.b16
