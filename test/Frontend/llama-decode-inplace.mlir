// The cpu target's bufferized stage of the frontend's decode step: the cache
// argument (kvc.cache = "layer0") is state, so after kvcache-lower-to-tensors
// and one-shot bufferization the step writes the new K and V rows into the
// caller's cache buffer (subviews of the cache argument, no cache-sized
// allocation or copy) and the updated cache is no longer a result.
// RUN: %PYTHON -m kvc.frontend.dump llama --entry decode \
// RUN:   | %PYTHON -m kvc.targets.cpu - --entry decode --random-weights 0 --opt-level 0 --print-stage bufferized \
// RUN:   | FileCheck %s

// CHECK-LABEL: stage: bufferized
// CHECK: func.func @decode(
// CHECK-SAME: %[[CACHE:arg[0-9]+]]: memref<2x32x2x16xf32> {kvc.cache = "layer0"})
// CHECK-SAME: -> memref<1x1x128xf32> attributes {llvm.emit_c_interface}
// CHECK-NOT: memref.alloc() {{.*}} : memref<2x32x2x16xf32>
// CHECK-NOT: memref.copy %[[CACHE]],
// CHECK: %[[K:.*]] = memref.subview %[[CACHE]][0, %{{.*}}, 0, 0] [1, 1, 2, 16]
// CHECK: memref.copy %{{.*}}, %[[K]]
// CHECK: %[[V:.*]] = memref.subview %[[CACHE]][1, %{{.*}}, 0, 0] [1, 1, 2, 16]
// CHECK: memref.copy %{{.*}}, %[[V]]
// CHECK: memref.subview %[[CACHE]][0, 0, 0, 0] [1, 32, 2, 16]
// CHECK: memref.subview %[[CACHE]][1, 0, 0, 0] [1, 32, 2, 16]
// CHECK-NOT: memref.alloc() {{.*}} : memref<2x32x2x16xf32>
// CHECK-NOT: memref.copy %[[CACHE]],
// CHECK: return %{{.*}} : memref<1x1x128xf32>
// CHECK-NEXT: }
