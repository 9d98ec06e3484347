// kvc-opt reports located errors and exits non-zero; no Python traceback.
// RUN: not kvc-opt %s 2>&1 | FileCheck %s --check-prefix=PARSE
// RUN: not kvc-opt %s --bogus-pass 2>&1 | FileCheck %s --check-prefix=PASS
// RUN: not kvc-opt %s --lowbit-fold-pack="nope=1" 2>&1 | FileCheck %s --check-prefix=OPT
// RUN: not kvc-opt %t.missing.mlir 2>&1 | FileCheck %s --check-prefix=FILE

// PARSE: kvc-opt-errors.mlir:[[# @LINE + 3]]:{{[0-9]+}}: error: {{.*}}
// PARSE-NOT: Traceback
func.func @f() {
  %0 = arith.constant 1 : i32 i32
  return
}
// PASS: kvc-opt: error: unknown pass or bad pipeline element 'bogus-pass'
// OPT: kvc-opt: error: pass 'lowbit-fold-pack' has no option 'nope'
// FILE: kvc-opt: error: cannot read '{{.*}}missing.mlir'
