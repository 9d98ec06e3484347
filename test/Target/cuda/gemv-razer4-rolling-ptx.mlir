// Rolling reloads (razer4, 8192x8192, 8 warps): the chunk ahead's four code
// vectors are loaded one by one, each right after the last MMA that reads the
// same vector of the current chunk, so one chunk of codes lives in registers
// (ptxas: 64 registers, no spill; 80 when all four load at the loop top).
// RUN: %PYTHON -m kvc.targets.cuda.emit --format razer4 --n 8192 --k 8192 --group-size 128 --warps 8 --rolling --emit ptx | FileCheck %s

// CHECK: .visible .entry kvc_gemv_razer4_g128_n8192_k8192_f16_f16_w8_d1p0_roll_sm_90(
// The first chunk before the loop: four code vectors, then the group words
// (scale and selector of its two groups).
// CHECK-COUNT-4: ld.global.nc.L1::no_allocate.v4.u32
// CHECK-COUNT-4: ld.global.nc.L1::no_allocate.u32
// CHECK: griddepcontrol.wait;
// In the loop: the group words of the chunk ahead first ...
// CHECK: $L__BB0_1:
// CHECK-COUNT-4: ld.global.nc.L1::no_allocate.u32
// ... then per 64-wide step: the x fragment, four MMAs, one reloaded vector.
// CHECK-NOT: ld.global.nc.L1::no_allocate.v4.u32
// CHECK-COUNT-4: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
// CHECK-NOT: mma.sync
// CHECK: ld.global.nc.L1::no_allocate.v4.u32
// CHECK-NOT: ld.global.nc.L1::no_allocate.v4.u32
// CHECK-COUNT-4: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
// CHECK-NOT: mma.sync
// CHECK: ld.global.nc.L1::no_allocate.v4.u32
// CHECK-NOT: ld.global.nc.L1::no_allocate.v4.u32
// CHECK-COUNT-4: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
// CHECK-NOT: mma.sync
// CHECK: ld.global.nc.L1::no_allocate.v4.u32
// CHECK-NOT: ld.global.nc.L1::no_allocate.v4.u32
// CHECK-COUNT-4: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
// CHECK-NOT: mma.sync
// CHECK: ld.global.nc.L1::no_allocate.v4.u32
// CHECK: griddepcontrol.launch_dependents;
// CHECK-NOT: .local
