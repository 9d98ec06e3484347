// A two-row-tile variant (int2, 28672x8192, 4 warps): each block takes two
// 16-row tiles and feeds every activation fragment to the MMAs of both.
// RUN: %PYTHON -m kvc.targets.cuda.emit --format int2 --n 28672 --k 8192 --group-size 128 --warps 4 --row-tiles 2 --emit ptx | FileCheck %s

// CHECK: .visible .entry kvc_gemv_int2_g128_n28672_k8192_f16_f16_w4_d1p0_t2_sm_90(
// CHECK: .maxntid 128, 1, 1
// The block reduction holds 4 warps x 8 columns x 32 rows of floats.
// CHECK: .shared .align 4 .b8 {{.*}}[4096];
// The first chunk of each tile: two 16-byte code loads and a scale word.
// CHECK-COUNT-2: ld.global.nc.L1::no_allocate.v4.u32
// CHECK: ld.global.nc.L1::no_allocate.u32
// CHECK-COUNT-2: ld.global.nc.L1::no_allocate.v4.u32
// CHECK: ld.global.nc.L1::no_allocate.u32
// CHECK: griddepcontrol.wait;
// In the loop, one x fragment per 64-wide step (two 16-byte loads) feeds
// eight MMAs: four per tile.
// CHECK: ld.global.v4.b32
// CHECK-NEXT: ld.global.v4.b32
// CHECK-COUNT-8: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
// CHECK-NOT: mma.sync
// CHECK: ld.global.v4.b32
// CHECK-NEXT: ld.global.v4.b32
// CHECK: griddepcontrol.launch_dependents;
// Both tiles' partial sums go to shared memory (rows g, g+8, g+16, g+24).
// CHECK-COUNT-8: st.shared.b32
// CHECK: bar.sync 0
// CHECK: st.global.b16
// CHECK-NOT: .local
