// Scales in lanes (int2, 8192x8192, 8 warps capped at 64 registers, rolling
// reloads): each warp owns 4 chunks, so its 64 scale words fit in two
// registers per lane, loaded once before the loop; the loop has no scale
// load, only one select of the register (trips 0-1 / 2-3) and one shuffle
// per group of the chunk.
// RUN: %PYTHON -m kvc.targets.cuda.emit --format int2 --n 8192 --k 8192 --group-size 128 --warps 8 --maxnreg 64 --rolling --lane-scales --emit ptx | FileCheck %s

// CHECK: .visible .entry kvc_gemv_int2_g128_n8192_k8192_f16_f16_w8_d1p0_r64_roll_lanes_sm_90(
// The first chunk's two code vectors, then the two lane registers of scales.
// CHECK-COUNT-2: ld.global.nc.L1::no_allocate.v4.u32
// CHECK-NOT: $L__BB0_1:
// CHECK-COUNT-2: ld.global.nc.L1::no_allocate.u32
// CHECK: griddepcontrol.wait;
// CHECK: $L__BB0_1:
// CHECK-NOT: ld.global.nc.L1::no_allocate.u32
// CHECK: selp.b32 [[REG:%r[0-9]+]]
// CHECK-NEXT: shfl.sync.idx.b32 {{%r[0-9]+}}, [[REG]], {{%r[0-9]+}}, 31, -1;
// CHECK: shfl.sync.idx.b32 {{%r[0-9]+}}, [[REG]], {{%r[0-9]+}}, 31, -1;
// CHECK-NOT: ld.global.nc.L1::no_allocate.u32
// CHECK-NOT: shfl.sync
// CHECK: @%p{{[0-9]+}} bra $L__BB0_1;
// CHECK: griddepcontrol.launch_dependents;
// CHECK-NOT: .local
