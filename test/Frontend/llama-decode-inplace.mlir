// After kvcache-lower-to-tensors and one-shot bufferization, the decode step
// writes the new K and V rows into the caller's cache buffer: subviews of the
// cache argument, no cache-sized allocation or copy, and the updated cache is
// no longer a result (it was equivalent to the argument).
// RUN: %PYTHON -m kvc.frontend.dump llama --entry decode --stage bufferized | FileCheck %s

// CHECK-LABEL: func.func @decode(
// CHECK-SAME: %[[CACHE:arg[0-9]+]]: memref<2x32x2x16xf32> {kvc.cache = "layer0"}
// CHECK-SAME: -> memref<1x1x128xf32>
// CHECK-NOT: memref.alloc() {{.*}} : memref<2x32x2x16xf32>
// CHECK: %[[K:.*]] = memref.subview %[[CACHE]][0, %{{.*}}, 0, 0] [1, 1, 2, 16]
// CHECK: memref.copy %{{.*}}, %[[K]]
// CHECK: %[[V:.*]] = memref.subview %[[CACHE]][1, %{{.*}}, 0, 0] [1, 1, 2, 16]
// CHECK: memref.copy %{{.*}}, %[[V]]
// CHECK: memref.subview %[[CACHE]][0, 0, 0, 0] [1, 32, 2, 16]
// CHECK: memref.subview %[[CACHE]][1, 0, 0, 0] [1, 32, 2, 16]
// CHECK-NOT: memref.alloc() {{.*}} : memref<2x32x2x16xf32>
// CHECK: return %{{.*}} : memref<1x1x128xf32>
