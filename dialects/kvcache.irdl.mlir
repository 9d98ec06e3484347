// kvcache: KV-cache state as SSA values. Spec: dialects/kvcache.md.
// Caches are functional values: every op that writes returns the updated cache.
// IRDL fixes the kinds of operands, results and parameters; the relations (value
// shapes vs. the cache's per-token shape, region signatures, group size vs. the
// quantized axis, ...) are checked by kvc's verifier (dialects/kvcache.py).
irdl.dialect @kvcache {
  // !kvcache.cache<kind, max_seq, token_shape, element, storage>
  //   kind:        "kv" (keys and values), "x" (XQuant layer input X) or
  //                "latent" (XQuant GQA latent X*U)
  //   max_seq:     capacity in tokens
  //   token_shape: per-token shape of each stored tensor (kv: [heads, head_dim];
  //                x: [hidden]; latent: [rank])
  //   element:     f32/f16/bf16, or a lowbit format type for quantized storage
  //   storage:     dictionary of storage options: group_size, quant_axis,
  //                residual, delta, scale_type (see the spec)
  irdl.type @cache {
    %kind = irdl.base "#builtin.string"
    %max_seq = irdl.base "#builtin.integer"
    %token_shape = irdl.base "#builtin.dense_array"
    %element = irdl.any
    %storage = irdl.base "#builtin.dictionary"
    irdl.parameters(kind: %kind, max_seq: %max_seq, token_shape: %token_shape, element: %element, storage: %storage)
  }

  // An empty cache (length 0, storage zero-filled).
  irdl.operation @create {
    %cache = irdl.base @kvcache::@cache
    irdl.results(cache: %cache)
  }

  // Writes tokens [pos, pos + T) from one value tensor per stored tensor
  // (kv: K and V; x/latent: the source), each [T, token_shape...].
  irdl.operation @append {
    %cache = irdl.base @kvcache::@cache
    %pos = irdl.is index
    %values = irdl.base "!builtin.tensor"
    %result = irdl.base @kvcache::@cache
    irdl.operands(cache: %cache, pos: %pos, values: variadic %values)
    irdl.results(new_cache: %result)
  }

  // XQuant-CL write: stores Q(input - accumulator) at [pos, pos + T) and returns
  // the updated cache and accumulator + deq(Q(input - accumulator)).
  irdl.operation @append_delta {
    %cache = irdl.base @kvcache::@cache
    %pos = irdl.is index
    %acc = irdl.base "!builtin.tensor"
    %input = irdl.base "!builtin.tensor"
    %result = irdl.base @kvcache::@cache
    %acc_out = irdl.base "!builtin.tensor"
    irdl.operands(cache: %cache, pos: %pos, accumulator: %acc, input: %input)
    irdl.results(new_cache: %result, new_accumulator: %acc_out)
  }

  // The stored window [0, length) as float tensors (kv: K, V; x/latent: the
  // source), dequantized; for delta caches accumulator + deq(window).
  irdl.operation @read {
    %cache = irdl.base @kvcache::@cache
    %length = irdl.is index
    %acc = irdl.base "!builtin.tensor"
    %outputs = irdl.base "!builtin.tensor"
    irdl.operands(cache: %cache, length: %length, accumulator: optional %acc)
    irdl.results(outputs: variadic %outputs)
  }

  // Rematerializes K and/or V for [0, length) from the stored source. The body
  // gets (window, positions) and yields (key?, value?) with the upstream
  // terminator vector.yield (IRDL ops cannot be terminators). `window`, if
  // present, returns the body's window argument (XQuant-CL accumulator chain).
  irdl.operation @remat {
    %cache = irdl.base @kvcache::@cache
    %length = irdl.is index
    %acc = irdl.base "!builtin.tensor"
    %key = irdl.base "!builtin.tensor"
    %value = irdl.base "!builtin.tensor"
    %window = irdl.base "!builtin.tensor"
    %body = irdl.region with size 1
    irdl.operands(cache: %cache, length: %length, accumulator: optional %acc)
    irdl.results(key: optional %key, value: optional %value, window: optional %window)
    irdl.regions(body: %body)
  }
}
