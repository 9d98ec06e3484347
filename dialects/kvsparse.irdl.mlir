// kvsparse: sparse formats that are not upstream sparse_tensor encodings, and
// the ops over them. Spec: dialects/kvsparse.md.
// A compressed operand is a builtin tensor carrying the logical (dense) shape
// and element type, with a kvsparse encoding attribute naming the format:
//   tensor<?x8x128xf16, #kvsparse.bitmap<"token">>   Mustafar 64-element bitmap tiles
//   tensor<4096x4096xbf16, #kvsparse.bitmask>        SparAMX bitmap + contiguous values
// N:M structured sparsity uses the upstream encoding
//   #sparse_tensor.encoding<{map = (i, j) -> (i : dense, j floordiv M : dense, j mod M : structured[N, M])}>
// IRDL fixes kinds; shapes, encodings and storage buffers are checked by kvc's
// verifier (dialects/kvsparse.py).
irdl.dialect @kvsparse {
  // Mustafar tiles of 64 elements: a 64-bit bitmap, the tile's nonzeros packed
  // and padded to a multiple of 8, prefix-summed offsets. `tiles` = "token": a
  // tile runs along 64 tokens of one channel (K); "channel": along 64 channels
  // of one token (V).
  irdl.attribute @bitmap {
    %tiles = irdl.base "#builtin.string"
    irdl.parameters(tiles: %tiles)
  }
  // SparAMX weights [N, K]: one bit per weight in i32 words along K, nonzeros
  // stored contiguously in row-major order.
  irdl.attribute @bitmask {
    irdl.parameters()
  }

  // Per-token magnitude pruning along the last axis to `sparsity`, keeping the
  // newest `keep_recent` tokens dense.
  irdl.operation @prune {
    %in = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %sparsity = irdl.base "#builtin.float"
    %keep = irdl.base "#builtin.integer"
    irdl.operands(input: %in)
    irdl.results(output: %out)
    irdl.attributes {"sparsity" = %sparsity, "keep_recent" = %keep}
  }
  // dense -> compressed (the result's encoding names the format).
  irdl.operation @compress {
    %in = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    irdl.operands(input: %in)
    irdl.results(output: %out)
  }
  // compressed -> dense.
  irdl.operation @decompress {
    %in = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    irdl.operands(input: %in)
    irdl.results(output: %out)
  }
  // Wraps storage buffers (bitmap words, offsets for tiles, values) as a
  // compressed tensor, e.g. weights compressed offline.
  irdl.operation @assemble {
    %bitmap = irdl.base "!builtin.tensor"
    %offsets = irdl.base "!builtin.tensor"
    %values = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    irdl.operands(bitmap: %bitmap, offsets: optional %offsets, values: %values)
    irdl.results(output: %out)
  }
  // Inverse of assemble: the storage buffers of a compressed tensor.
  irdl.operation @disassemble {
    %in = irdl.base "!builtin.tensor"
    %bitmap = irdl.base "!builtin.tensor"
    %offsets = irdl.base "!builtin.tensor"
    %values = irdl.base "!builtin.tensor"
    irdl.operands(input: %in)
    irdl.results(bitmap: %bitmap, offsets: optional %offsets, values: %values)
  }
  // out[..., N] = x[..., K] . W[N, K]^T with a compressed weight (bitmask or N:M).
  irdl.operation @matmul {
    %x = irdl.base "!builtin.tensor"
    %w = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    irdl.operands(input: %x, weight: %w)
    irdl.results(output: %out)
  }
  // Decode attention of one query token over compressed K (token tiles) and V
  // (channel tiles), plus optional dense recent K/V: softmax(scale q K^T) V.
  irdl.operation @attention {
    %q = irdl.base "!builtin.tensor"
    %k = irdl.base "!builtin.tensor"
    %v = irdl.base "!builtin.tensor"
    %rk = irdl.base "!builtin.tensor"
    %rv = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %scale = irdl.base "#builtin.float"
    irdl.operands(query: %q, keys: %k, values: %v, recent_keys: optional %rk, recent_values: optional %rv)
    irdl.results(output: %out)
    irdl.attributes {"scale" = %scale}
  }
}
