// RaZeR FP4, fp16 activations: the two-table decode. Four codes take two
// prmt lookups (a flag-0 and a flag-1 table; the flag-1 selector is the word
// xor 0x88888888), one xor that merges them into four fp16 high bytes, one
// and with 0xFF00FF00 for the pair read in place and one prmt (0x2404) that
// moves the other pair's bytes up. The high half-word is moved down by
// multiply-high, not by a shift. One tensor-core MMA per A tile.
// RUN: %PYTHON -m kvc.targets.cuda.emit --format razer4 --n 1024 --k 2048 --group-size 128 --warps 4 --emit ptx | FileCheck %s

// CHECK: .entry kvc_gemv_razer4_g128_n1024_k2048_f16_f16_w4_d1p0_sm_90(
// The flip mask 0x88888888 (-2004318072) and the high-byte mask 0xFF00FF00
// (-16711936) are held in registers (opaque to LLVM, so ptxas fuses LOP3s).
// CHECK-DAG: {{x?or}}.b32 [[FLIP:%r[0-9]+]], {{%r[0-9]+}}, -2004318072;
// CHECK-DAG: {{x?or}}.b32 [[HIGH:%r[0-9]+]], {{%r[0-9]+}}, -16711936;
// CHECK: ld.global.nc.L1::no_allocate.v4.u32
// CHECK: xor.b32 [[SELF:%r[0-9]+]], [[WORD:%r[0-9]+]], [[FLIP]];
// CHECK: prmt.b32 [[POS:%r[0-9]+]], {{%r[0-9]+}}, {{%r[0-9]+}}, [[WORD]];
// CHECK-NEXT: prmt.b32 [[NEG:%r[0-9]+]], {{%r[0-9]+}}, {{%r[0-9]+}}, [[SELF]];
// CHECK-NEXT: xor.b32 [[BOTH:%r[0-9]+]], [[POS]], [[NEG]];
// CHECK-NEXT: and.b32 {{%r[0-9]+}}, [[BOTH]], [[HIGH]];
// CHECK-NEXT: prmt.b32 {{%r[0-9]+}}, [[BOTH]], 0, 0x2404U;
// CHECK: mul.hi.u32 {{%r[0-9]+}}, [[WORD]], 65536;
// One chunk (K = 256 per warp step, no partial chunk at K = 2048): 16 A tiles,
// 16 MMAs.
// CHECK-COUNT-16: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
// CHECK-NOT: mma.sync
// CHECK-NOT: ld.local
// CHECK: st.global.b16
