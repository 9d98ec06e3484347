// In-place state on the cpu target: state arguments are written in the caller's
// buffer and their results dropped; every other argument is read-only; a state
// update that bufferization cannot do in place is an error, never a copy.
// RUN: %PYTHON -m kvc.targets.cpu %s --entry step --opt-level 0 --print-stage bufferized | FileCheck %s
// RUN: %PYTHON -m kvc.targets.cpu %s --entry plain --opt-level 0 --state-arg 0 --print-stage bufferized | FileCheck %s --check-prefix=FLAG
// RUN: %PYTHON -m kvc.targets.cpu %s --entry plain --opt-level 0 --print-stage bufferized | FileCheck %s --check-prefix=INPUT
// RUN: not %PYTHON -m kvc.targets.cpu %s --entry stale_read 2>&1 | FileCheck %s --check-prefix=ERR
// RUN: not %PYTHON -m kvc.targets.cpu %s --entry not_returned 2>&1 | FileCheck %s --check-prefix=NORET

// CHECK-LABEL: stage: bufferized
// CHECK: func.func @step(%[[S:.*]]: memref<8x4xf32> {kvc.state = "kv"}, %[[ROW:.*]]: memref<1x4xf32>, %[[POS:.*]]: index)
// CHECK-SAME: -> memref<4xf32>
// CHECK-NOT: memref.alloc() {{.*}} : memref<8x4xf32>
// CHECK: %[[SLOT:.*]] = memref.subview %[[S]][%[[POS]], 0] [1, 4] [1, 1]
// CHECK: memref.copy %[[ROW]], %[[SLOT]]
// CHECK: linalg.reduce ins(%[[S]] : memref<8x4xf32>)
// CHECK-NOT: memref.alloc() {{.*}} : memref<8x4xf32>
// CHECK: return %{{.*}} : memref<4xf32>
func.func @step(%state: tensor<8x4xf32> {kvc.state = "kv"}, %row: tensor<1x4xf32>, %pos: index)
    -> (tensor<4xf32>, tensor<8x4xf32>) {
  %new = tensor.insert_slice %row into %state[%pos, 0] [1, 4] [1, 1] : tensor<1x4xf32> into tensor<8x4xf32>
  %e = tensor.empty() : tensor<4xf32>
  %z = arith.constant 0.0 : f32
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<4xf32>) -> tensor<4xf32>
  %sum = linalg.reduce ins(%new : tensor<8x4xf32>) outs(%f : tensor<4xf32>) dimensions = [0]
    (%a: f32, %b: f32) {
      %r = arith.addf %a, %b : f32
      linalg.yield %r : f32
    }
  return %sum, %new : tensor<4xf32>, tensor<8x4xf32>
}

// --state-arg 0 makes the same update in place (and tags the argument);
// without it the argument is an input: written into a copy, returned fresh.
// FLAG: func.func @plain(%[[X:.*]]: memref<4x6xf32> {kvc.state}, %{{.*}}: memref<4x3xf32>) attributes
// FLAG-NOT: memref.alloc
// FLAG: memref.subview %[[X]][0, 1] [4, 3] [1, 2]
// FLAG-NOT: memref.alloc
// FLAG: return
// FLAG-NOT: %
// INPUT: func.func @plain(%[[X:.*]]: memref<4x6xf32>, %{{.*}}: memref<4x3xf32>) -> memref<4x6xf32>
// INPUT: %[[C:.*]] = memref.alloc() {{.*}} : memref<4x6xf32>
// INPUT: memref.copy %[[X]], %[[C]]
// INPUT: memref.subview %[[C]][0, 1] [4, 3] [1, 2]
// INPUT: return %[[C]] : memref<4x6xf32>
func.func @plain(%x: tensor<4x6xf32>, %y: tensor<4x3xf32>) -> tensor<4x6xf32> {
  %r = tensor.insert_slice %y into %x[0, 1] [4, 3] [1, 2] : tensor<4x3xf32> into tensor<4x6xf32>
  return %r : tensor<4x6xf32>
}

// The old state is read after the update: in place is impossible.
// ERR: error: @stale_read: state argument #0 (kvc.state = "kv") cannot be updated in place: one-shot bufferization would copy it before 'tensor.insert_slice' at {{.*}}state.mlir:[[# @LINE + 4]]:{{[0-9]+}} writes it, because the value it overwrites is still read afterwards by 'linalg.reduce' at {{.*}}state.mlir:[[# @LINE + 8]]:{{[0-9]+}}.
// ERR-SAME: State is never copied silently
func.func @stale_read(%state: tensor<8x4xf32> {kvc.state = "kv"}, %row: tensor<1x4xf32>, %pos: index)
    -> (tensor<4xf32>, tensor<8x4xf32>) {
  %new = tensor.insert_slice %row into %state[%pos, 0] [1, 4] [1, 1] : tensor<1x4xf32> into tensor<8x4xf32>
  %e = tensor.empty() : tensor<4xf32>
  %z = arith.constant 0.0 : f32
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<4xf32>) -> tensor<4xf32>
  %sum = linalg.reduce ins(%state : tensor<8x4xf32>) outs(%f : tensor<4xf32>) dimensions = [0]
    (%a: f32, %b: f32) {
      %r = arith.addf %a, %b : f32
      linalg.yield %r : f32
    }
  return %sum, %new : tensor<4xf32>, tensor<8x4xf32>
}

// NORET: error: @not_returned: state argument #0 (kvc.cache = "layer0") cannot be updated in place: no result of @not_returned is its new value written into its buffer
func.func @not_returned(%state: tensor<8x4xf32> {kvc.cache = "layer0"}, %row: tensor<1x4xf32>) -> tensor<8x4xf32> {
  %new = tensor.insert_slice %row into %state[0, 0] [1, 4] [1, 1] : tensor<1x4xf32> into tensor<8x4xf32>
  %e = tensor.empty() : tensor<8x4xf32>
  %d = linalg.add ins(%new, %new : tensor<8x4xf32>, tensor<8x4xf32>) outs(%e : tensor<8x4xf32>) -> tensor<8x4xf32>
  return %d : tensor<8x4xf32>
}
