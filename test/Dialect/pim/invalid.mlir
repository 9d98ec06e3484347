// RUN: kvc-opt %s --split-input-file --verify-diagnostics

// One chunk per kvc verifier rule of the pim dialect (dialects/pim.py).
// Programs use a small device: 4 channels x 16 banks x 64 rows x 1024 columns of f16 (16 lanes).

// pim.program
// expected-error @+1 {{device banks must be a positive integer, got 0 : i64}}
"pim.program"() ({
  vector.yield
}) {sym_name = "banks", function_type = () -> (), channels = 4 : i64, banks = 0 : i64, rows = 64 : i64, columns = 1024 : i64, element = f16} : () -> ()

// -----
// expected-error @+1 {{element must be f16 or bf16 (16-bit lanes of a 256-bit register), got f32}}
"pim.program"() ({
  vector.yield
}) {sym_name = "element", function_type = () -> (), channels = 4 : i64, banks = 16 : i64, rows = 64 : i64, columns = 1024 : i64, element = f32} : () -> ()

// -----
// expected-error @+1 {{columns 1000 must be a multiple of 16 (16 x f16 per 256-bit register)}}
"pim.program"() ({
  vector.yield
}) {sym_name = "columns", function_type = () -> (), channels = 4 : i64, banks = 16 : i64, rows = 64 : i64, columns = 1000 : i64, element = f16} : () -> ()

// -----
// expected-error @+1 {{function_type must be a function type, got i32}}
"pim.program"() ({
  vector.yield
}) {sym_name = "fty", function_type = i32, channels = 4 : i64, banks = 16 : i64, rows = 64 : i64, columns = 1024 : i64, element = f16} : () -> ()

// -----
// expected-error @+1 {{body arguments (tensor<16xf16>) must match the function_type inputs (tensor<32xf16>)}}
"pim.program"() ({
^bb0(%x: tensor<16xf16>):
  vector.yield
}) {sym_name = "args", function_type = (tensor<32xf16>) -> (), channels = 4 : i64, banks = 16 : i64, rows = 64 : i64, columns = 1024 : i64, element = f16} : () -> ()

// -----
// expected-error @+1 {{body must end with vector.yield of the results}}
"pim.program"() ({
  gpu.yield
}) {sym_name = "terminator", function_type = () -> (), channels = 4 : i64, banks = 16 : i64, rows = 64 : i64, columns = 1024 : i64, element = f16} : () -> ()

// -----
// expected-error @+1 {{body yields (tensor<16xf16>) but function_type results are (tensor<32xf16>)}}
"pim.program"() ({
^bb0(%x: tensor<16xf16>):
  vector.yield %x : tensor<16xf16>
}) {sym_name = "yields", function_type = (tensor<16xf16>) -> tensor<32xf16>, channels = 4 : i64, banks = 16 : i64, rows = 64 : i64, columns = 1024 : i64, element = f16} : () -> ()

// -----
// expected-error @+1 {{'arith.constant' cannot appear in a pim.program body: only pim commands and pim.host_* ops (wrap other host work in pim.host_compute)}}
"pim.program"() ({
  %c = arith.constant 0 : index
  vector.yield
}) {sym_name = "foreign", function_type = () -> (), channels = 4 : i64, banks = 16 : i64, rows = 64 : i64, columns = 1024 : i64, element = f16} : () -> ()

// -----
// device commands
func.func @outside() {
  // expected-error @+1 {{must be directly inside a pim.program body, not in func.func}}
  "pim.sync"() {channel = 0 : i64, num_channels = 1 : i64} : () -> ()
  return
}

// -----
"pim.program"() ({
  // expected-error @+1 {{channels [2, 6) are not a non-empty range within the device's 4 channels}}
  "pim.sync"() {channel = 2 : i64, num_channels = 4 : i64} : () -> ()
  vector.yield
}) {sym_name = "channels", function_type = () -> (), channels = 4 : i64, banks = 16 : i64, rows = 64 : i64, columns = 1024 : i64, element = f16} : () -> ()

// -----
"pim.program"() ({
  // expected-error @+1 {{channels [0, 0) are not a non-empty range within the device's 4 channels}}
  "pim.sync"() {channel = 0 : i64, num_channels = 0 : i64} : () -> ()
  vector.yield
}) {sym_name = "no_channels", function_type = () -> (), channels = 4 : i64, banks = 16 : i64, rows = 64 : i64, columns = 1024 : i64, element = f16} : () -> ()

// -----
"pim.program"() ({
  // expected-error @+1 {{bank 16 is out of range: the device has 16 banks per channel (-1 = all banks)}}
  "pim.activate"() {channel = 0 : i64, num_channels = 1 : i64, bank = 16 : i64, row = 0 : i64} : () -> ()
  vector.yield
}) {sym_name = "bank", function_type = () -> (), channels = 4 : i64, banks = 16 : i64, rows = 64 : i64, columns = 1024 : i64, element = f16} : () -> ()

// -----
"pim.program"() ({
  // expected-error @+1 {{pim.copy_bank_to_gb addresses a single bank; bank = -1 (all banks) is not allowed}}
  "pim.copy_bank_to_gb"() {channel = 0 : i64, num_channels = 1 : i64, bank = -1 : i64, row = 0 : i64, col = 0 : i64, gb_col = 0 : i64} : () -> ()
  vector.yield
}) {sym_name = "single_bank", function_type = () -> (), channels = 4 : i64, banks = 16 : i64, rows = 64 : i64, columns = 1024 : i64, element = f16} : () -> ()

// -----
"pim.program"() ({
  // expected-error @+1 {{row 64 is out of range: the device has 64 rows per bank}}
  "pim.mac_all_banks"() {channel = 0 : i64, num_channels = 4 : i64, row = 64 : i64, col = 0 : i64} : () -> ()
  vector.yield
}) {sym_name = "row", function_type = () -> (), channels = 4 : i64, banks = 16 : i64, rows = 64 : i64, columns = 1024 : i64, element = f16} : () -> ()

// -----
"pim.program"() ({
  // expected-error @+1 {{col 1024 is out of range: a row has 1024 columns}}
  "pim.ewadd"() {channel = 0 : i64, num_channels = 4 : i64, row = 0 : i64, col = 1024 : i64} : () -> ()
  vector.yield
}) {sym_name = "col", function_type = () -> (), channels = 4 : i64, banks = 16 : i64, rows = 64 : i64, columns = 1024 : i64, element = f16} : () -> ()

// -----
"pim.program"() ({
  // expected-error @+1 {{gb_col 8 must be a multiple of 16: one 256-bit register holds 16 x f16}}
  "pim.copy_gb_to_bank"() {channel = 0 : i64, num_channels = 1 : i64, bank = -1 : i64, row = 0 : i64, col = 0 : i64, gb_col = 8 : i64} : () -> ()
  vector.yield
}) {sym_name = "col_align", function_type = () -> (), channels = 4 : i64, banks = 16 : i64, rows = 64 : i64, columns = 1024 : i64, element = f16} : () -> ()

// -----
// pim.write_gb
"pim.program"() ({
^bb0(%x: tensor<2x16xf16>):
  // expected-error @+1 {{src must be a static 1-D vector, got tensor<2x16xf16>}}
  "pim.write_gb"(%x) {channel = 0 : i64, num_channels = 1 : i64, col = 0 : i64, offset = 0 : i64, length = 16 : i64} : (tensor<2x16xf16>) -> ()
  vector.yield
}) {sym_name = "gb_src", function_type = (tensor<2x16xf16>) -> (), channels = 4 : i64, banks = 16 : i64, rows = 64 : i64, columns = 1024 : i64, element = f16} : () -> ()

// -----
"pim.program"() ({
^bb0(%x: tensor<16xbf16>):
  // expected-error @+1 {{src element type bf16 must be the device's f16}}
  "pim.write_gb"(%x) {channel = 0 : i64, num_channels = 1 : i64, col = 0 : i64, offset = 0 : i64, length = 16 : i64} : (tensor<16xbf16>) -> ()
  vector.yield
}) {sym_name = "gb_element", function_type = (tensor<16xbf16>) -> (), channels = 4 : i64, banks = 16 : i64, rows = 64 : i64, columns = 1024 : i64, element = f16} : () -> ()

// -----
"pim.program"() ({
^bb0(%x: tensor<32xf16>):
  // expected-error @+1 {{length 24 must be a positive multiple of 16 (whole registers)}}
  "pim.write_gb"(%x) {channel = 0 : i64, num_channels = 1 : i64, col = 0 : i64, offset = 0 : i64, length = 24 : i64} : (tensor<32xf16>) -> ()
  vector.yield
}) {sym_name = "gb_length", function_type = (tensor<32xf16>) -> (), channels = 4 : i64, banks = 16 : i64, rows = 64 : i64, columns = 1024 : i64, element = f16} : () -> ()

// -----
"pim.program"() ({
^bb0(%x: tensor<32xf16>):
  // expected-error @+1 {{GB[1008, 1040) overflows the global buffer of 1024 elements}}
  "pim.write_gb"(%x) {channel = 0 : i64, num_channels = 1 : i64, col = 1008 : i64, offset = 0 : i64, length = 32 : i64} : (tensor<32xf16>) -> ()
  vector.yield
}) {sym_name = "gb_overflow", function_type = (tensor<32xf16>) -> (), channels = 4 : i64, banks = 16 : i64, rows = 64 : i64, columns = 1024 : i64, element = f16} : () -> ()

// -----
"pim.program"() ({
^bb0(%x: tensor<40xf16>):
  // expected-error @+1 {{src[32, 64) is outside the 40-element src (zero-padded to 48)}}
  "pim.write_gb"(%x) {channel = 0 : i64, num_channels = 1 : i64, col = 0 : i64, offset = 32 : i64, length = 32 : i64} : (tensor<40xf16>) -> ()
  vector.yield
}) {sym_name = "gb_src_range", function_type = (tensor<40xf16>) -> (), channels = 4 : i64, banks = 16 : i64, rows = 64 : i64, columns = 1024 : i64, element = f16} : () -> ()

// -----
// pim.place
"pim.program"() ({
^bb0(%w: tensor<?x64xf16>):
  // expected-error @+1 {{matrix must be a static 2-D [N, K] tensor, got tensor<?x64xf16>}}
  "pim.place"(%w) {channel = 0 : i64, num_channels = 4 : i64, row = 0 : i64} : (tensor<?x64xf16>) -> ()
  vector.yield
}) {sym_name = "place_static", function_type = (tensor<?x64xf16>) -> (), channels = 4 : i64, banks = 16 : i64, rows = 64 : i64, columns = 1024 : i64, element = f16} : () -> ()

// -----
"pim.program"() ({
^bb0(%w: tensor<256x2048xf16>):
  // expected-error @+1 {{a 256x2048 matrix needs 32 rows per bank from row 60 (16 slot(s) x 2 row(s)); the device has 64}}
  "pim.place"(%w) {channel = 0 : i64, num_channels = 1 : i64, row = 60 : i64} : (tensor<256x2048xf16>) -> ()
  vector.yield
}) {sym_name = "place_rows", function_type = (tensor<256x2048xf16>) -> (), channels = 4 : i64, banks = 16 : i64, rows = 64 : i64, columns = 1024 : i64, element = f16} : () -> ()

// -----
// accumulators
"pim.program"() ({
^bb0(%b: tensor<4x16xf16>):
  // expected-error @+1 {{bias shape 4x16 must be [num_channels, banks] = 2x16}}
  "pim.write_bias"(%b) {channel = 0 : i64, num_channels = 2 : i64} : (tensor<4x16xf16>) -> ()
  vector.yield
}) {sym_name = "bias", function_type = (tensor<4x16xf16>) -> (), channels = 4 : i64, banks = 16 : i64, rows = 64 : i64, columns = 1024 : i64, element = f16} : () -> ()

// -----
"pim.program"() ({
  // expected-error @+1 {{result shape 16 must be [num_channels, banks] = 1x16}}
  %r = "pim.read_mac"() {channel = 0 : i64, num_channels = 1 : i64} : () -> tensor<16xf16>
  vector.yield
}) {sym_name = "read_mac", function_type = () -> (), channels = 4 : i64, banks = 16 : i64, rows = 64 : i64, columns = 1024 : i64, element = f16} : () -> ()

// -----
"pim.program"() ({
  // expected-error @+1 {{function must be one of relu, gelu, silu, sigmoid, tanh, exp, got 'swish'}}
  "pim.af"() {channel = 0 : i64, num_channels = 4 : i64, function = "swish"} : () -> ()
  vector.yield
}) {sym_name = "af", function_type = () -> (), channels = 4 : i64, banks = 16 : i64, rows = 64 : i64, columns = 1024 : i64, element = f16} : () -> ()

// -----
// host ops
"pim.program"() ({
  // expected-error @+1 {{needs at least one part}}
  %y = "pim.host_concat"() : () -> tensor<16xf16>
  vector.yield
}) {sym_name = "concat_empty", function_type = () -> (), channels = 4 : i64, banks = 16 : i64, rows = 64 : i64, columns = 1024 : i64, element = f16} : () -> ()

// -----
"pim.program"() ({
^bb0(%r: tensor<2x16xf16>):
  // expected-error @+1 {{result must be a 1-D tensor of the parts' f16, got tensor<2x16xf16>}}
  %y = "pim.host_concat"(%r) : (tensor<2x16xf16>) -> tensor<2x16xf16>
  vector.yield
}) {sym_name = "concat_rank", function_type = (tensor<2x16xf16>) -> (), channels = 4 : i64, banks = 16 : i64, rows = 64 : i64, columns = 1024 : i64, element = f16} : () -> ()

// -----
"pim.program"() ({
^bb0(%r: tensor<2x16xf16>):
  // expected-error @+1 {{result length 65 exceeds the 64 elements of the parts}}
  %y = "pim.host_concat"(%r, %r) : (tensor<2x16xf16>, tensor<2x16xf16>) -> tensor<65xf16>
  vector.yield
}) {sym_name = "concat_length", function_type = (tensor<2x16xf16>) -> (), channels = 4 : i64, banks = 16 : i64, rows = 64 : i64, columns = 1024 : i64, element = f16} : () -> ()

// -----
"pim.program"() ({
^bb0(%r: tensor<2x16xf16>):
  // expected-error @+1 {{result must be the input without its leading axis, tensor<16xf16>, got tensor<2xf16>}}
  %y = "pim.host_reduce"(%r) : (tensor<2x16xf16>) -> tensor<2xf16>
  vector.yield
}) {sym_name = "reduce", function_type = (tensor<2x16xf16>) -> (), channels = 4 : i64, banks = 16 : i64, rows = 64 : i64, columns = 1024 : i64, element = f16} : () -> ()

// -----
"pim.program"() ({
^bb0(%r: tensor<16xf16>):
  // expected-error @+1 {{result type tensor<16xf32> must equal the input type tensor<16xf16>}}
  %y = "pim.host_softmax"(%r) {scale = 1.0 : f32} : (tensor<16xf16>) -> tensor<16xf32>
  vector.yield
}) {sym_name = "softmax_type", function_type = (tensor<16xf16>) -> (), channels = 4 : i64, banks = 16 : i64, rows = 64 : i64, columns = 1024 : i64, element = f16} : () -> ()

// -----
"pim.program"() ({
^bb0(%r: tensor<16xi16>):
  // expected-error @+1 {{input must be a float tensor of rank >= 1, got tensor<16xi16>}}
  %y = "pim.host_softmax"(%r) {scale = 1.0 : f32} : (tensor<16xi16>) -> tensor<16xi16>
  vector.yield
}) {sym_name = "softmax_float", function_type = (tensor<16xi16>) -> (), channels = 4 : i64, banks = 16 : i64, rows = 64 : i64, columns = 1024 : i64, element = f16} : () -> ()

// -----
"pim.program"() ({
  // expected-error @+1 {{body takes no arguments (it uses the program's values directly)}}
  %y = "pim.host_compute"() ({
  ^bb0(%a: tensor<16xf16>):
    vector.yield %a : tensor<16xf16>
  }) : () -> tensor<16xf16>
  vector.yield
}) {sym_name = "compute_args", function_type = () -> (), channels = 4 : i64, banks = 16 : i64, rows = 64 : i64, columns = 1024 : i64, element = f16} : () -> ()

// -----
"pim.program"() ({
^bb0(%r: tensor<16xf16>):
  // expected-error @+1 {{body must end with vector.yield of one tensor<16xf16>, got (tensor<16xf16>, tensor<16xf16>)}}
  %y = "pim.host_compute"() ({
    vector.yield %r, %r : tensor<16xf16>, tensor<16xf16>
  }) : () -> tensor<16xf16>
  vector.yield
}) {sym_name = "compute_yield", function_type = (tensor<16xf16>) -> (), channels = 4 : i64, banks = 16 : i64, rows = 64 : i64, columns = 1024 : i64, element = f16} : () -> ()

// -----
"pim.program"() ({
^bb0(%r: tensor<16xf16>):
  %y = "pim.host_compute"() ({
    // expected-error @+1 {{must be directly inside a pim.program body, not in pim.host_compute}}
    %z = "pim.host_softmax"(%r) {scale = 1.0 : f32} : (tensor<16xf16>) -> tensor<16xf16>
    vector.yield %z : tensor<16xf16>
  }) : () -> tensor<16xf16>
  vector.yield
}) {sym_name = "nested_host", function_type = (tensor<16xf16>) -> (), channels = 4 : i64, banks = 16 : i64, rows = 64 : i64, columns = 1024 : i64, element = f16} : () -> ()
