// The int4 GEMV kernel for the 4096x4096 benchmark shape, lowered to PTX for
// sm_90 by upstream NVVM on a machine without a GPU.
// RUN: %PYTHON -m kvc.targets.cuda.emit --format int4 --n 4096 --k 4096 --group-size 128 --emit ptx | FileCheck %s

// CHECK: .version 8.0
// CHECK: .target sm_90
// CHECK: .visible .entry kvc_gemv_int4_g128_n4096_k4096_f16_f16_w16_d1p0_sm_90(
// CHECK-NEXT: .param .u64 .ptr .global .align 1
// CHECK: .maxntid 512, 1, 1
// CHECK: .shared .align 4 .b8 {{.*}}[8192];
// The first chunk: four 16-byte streamed loads per thread (4 bits x 128 codes).
// CHECK-COUNT-4: ld.global.nc.L1::no_allocate.v4.u32
// Programmatic dependent launch: the kernel waits for the grid before it only
// after its first weights are in flight, before any activation is read ...
// CHECK-NOT: ld.global.v4.b32
// CHECK: griddepcontrol.wait;
// Codes become f16 pairs by mask | magic and one half2 fma (T = 4 positions) ...
// CHECK: or.b32
// CHECK: fma.rn.f16x2
// ... activations arrive as 16-byte vector loads and feed the tensor cores.
// CHECK: ld.global.v4.b32
// CHECK: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
// Once its loads and MMAs are done the kernel lets the next grid start ...
// CHECK: griddepcontrol.launch_dependents;
// ... group scales are applied in fp32 and the split-K partial sums meet in
// shared memory.
// CHECK: fma.rn.f32
// CHECK: st.shared.b32
// CHECK: bar.sync 0
// CHECK: ld.shared.b32
// CHECK: cvt.rn.f16.f32
// CHECK: st.global.b16
// CHECK-NOT: .local
