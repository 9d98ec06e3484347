// RUN: kvc-opt --help | FileCheck %s
// RUN: kvc-opt --list-dialects | FileCheck %s --check-prefix=DIALECTS
// CHECK: kvc passes
// CHECK: --lowbit-fold-pack
// DIALECTS: lowbit
