// Unsupported requests fail with a message naming the value, exit status 1.
// RUN: not %PYTHON -m kvc.targets.cuda.emit --format int4 --n 64 --k 512 --group-size 48 2>&1 | FileCheck %s --check-prefix=GROUP
// RUN: not %PYTHON -m kvc.targets.cuda.emit --format e6m1 --n 64 --k 512 2>&1 | FileCheck %s --check-prefix=EXP
// RUN: not %PYTHON -m kvc.targets.cuda.emit --format int11 --n 64 --k 512 2>&1 | FileCheck %s --check-prefix=NAME
// GROUP: error: cuda gemv: group size 48 must divide 256 or be a multiple of it (or cover all of K=512)
// EXP: error: cuda target: format 'e6m1' has a 6-bit exponent
// NAME: error: unknown format 'int11'
