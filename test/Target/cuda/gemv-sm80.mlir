// The same generator targets Ampere: PTX for sm_80 (no Hopper-only instructions used).
// RUN: %PYTHON -m kvc.targets.cuda.emit --format e2m1 --n 512 --k 1024 --arch sm_80 --emit ptx | FileCheck %s --implicit-check-not=griddepcontrol
// CHECK: .version 7.8
// CHECK: .target sm_80
// CHECK: .entry kvc_gemv_e2m1_g128_n512_k1024_f16_f16_w{{[0-9]+}}_d1p0_sm_80(
// Minifloat decode: bits placed into fp16, one multiply re-biases the exponent.
// CHECK: mul.rn.f16x2
// CHECK: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
