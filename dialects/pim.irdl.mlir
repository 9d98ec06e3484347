// pim: a program for a DRAM processing-in-memory device (GDDR6-AiM style).
// Spec: dialects/pim.md.
// A pim.program holds the device configuration and a body of commands in
// issue order. Device commands name channels, banks, rows and columns with
// integer attributes and act on device state (banks, the per-channel global
// buffer, the per-bank MAC accumulators); host tensors enter as the body's
// block arguments and through pim.write_gb / pim.place / pim.write_bias, and
// come back from pim.read_mac. Host-side ops (pim.host_*) run on the host.
// IRDL fixes kinds; index ranges against the device configuration, operand
// widths and region signatures are checked by kvc's verifier (dialects/pim.py).
irdl.dialect @pim {
  // Device program. Attributes: sym_name, function_type (the body's signature),
  // channels, banks (per channel), rows (per bank), columns (elements per row),
  // element (f16 or bf16). The body ends with vector.yield of the results.
  irdl.operation @program {
    %name = irdl.base "#builtin.string"
    %fty = irdl.base "#builtin.type"
    %channels = irdl.base "#builtin.integer"
    %banks = irdl.base "#builtin.integer"
    %rows = irdl.base "#builtin.integer"
    %columns = irdl.base "#builtin.integer"
    %element = irdl.base "#builtin.type"
    %body = irdl.region with size 1
    irdl.attributes {"sym_name" = %name, "function_type" = %fty, "channels" = %channels, "banks" = %banks,
                     "rows" = %rows, "columns" = %columns, "element" = %element}
    irdl.regions(body: %body)
  }

  // ---- device commands: channels [channel, channel + num_channels) in lock step
  // Writes a [N, K] matrix into the banks: row n goes to unit n mod U (U = num_channels
  // x banks, unit = channel-major), slot n div U, from DRAM row `row` on (WR_ABK stream).
  irdl.operation @place {
    %channel = irdl.base "#builtin.integer"
    %num_channels = irdl.base "#builtin.integer"
    %row = irdl.base "#builtin.integer"
    %matrix = irdl.base "!builtin.tensor"
    irdl.operands(matrix: %matrix)
    irdl.attributes {"channel" = %channel, "num_channels" = %num_channels, "row" = %row}
  }
  // ACT: opens `row` in `bank` (-1: all banks) of every channel in the range.
  irdl.operation @activate {
    %channel = irdl.base "#builtin.integer"
    %num_channels = irdl.base "#builtin.integer"
    %bank = irdl.base "#builtin.integer"
    %row = irdl.base "#builtin.integer"
    irdl.attributes {"channel" = %channel, "num_channels" = %num_channels, "bank" = %bank, "row" = %row}
  }
  // PRE: closes the open row of `bank` (-1: all banks).
  irdl.operation @precharge {
    %channel = irdl.base "#builtin.integer"
    %num_channels = irdl.base "#builtin.integer"
    %bank = irdl.base "#builtin.integer"
    irdl.attributes {"channel" = %channel, "num_channels" = %num_channels, "bank" = %bank}
  }
  // WR_GB: host -> global buffer: GB[col, col + length) = src[offset, offset + length).
  irdl.operation @write_gb {
    %channel = irdl.base "#builtin.integer"
    %num_channels = irdl.base "#builtin.integer"
    %col = irdl.base "#builtin.integer"
    %offset = irdl.base "#builtin.integer"
    %length = irdl.base "#builtin.integer"
    %src = irdl.base "!builtin.tensor"
    irdl.operands(src: %src)
    irdl.attributes {"channel" = %channel, "num_channels" = %num_channels, "col" = %col, "offset" = %offset, "length" = %length}
  }
  // COPY_BKGB: one register (256 bits) from the open row of `bank` at `col` to GB at `gb_col`.
  irdl.operation @copy_bank_to_gb {
    %channel = irdl.base "#builtin.integer"
    %num_channels = irdl.base "#builtin.integer"
    %bank = irdl.base "#builtin.integer"
    %row = irdl.base "#builtin.integer"
    %col = irdl.base "#builtin.integer"
    %gb_col = irdl.base "#builtin.integer"
    irdl.attributes {"channel" = %channel, "num_channels" = %num_channels, "bank" = %bank, "row" = %row, "col" = %col, "gb_col" = %gb_col}
  }
  // COPY_GBBK: one register from GB at `gb_col` to the open row of `bank` (-1: all) at `col`.
  irdl.operation @copy_gb_to_bank {
    %channel = irdl.base "#builtin.integer"
    %num_channels = irdl.base "#builtin.integer"
    %bank = irdl.base "#builtin.integer"
    %row = irdl.base "#builtin.integer"
    %col = irdl.base "#builtin.integer"
    %gb_col = irdl.base "#builtin.integer"
    irdl.attributes {"channel" = %channel, "num_channels" = %num_channels, "bank" = %bank, "row" = %row, "col" = %col, "gb_col" = %gb_col}
  }
  // WR_BIAS: sets the MAC accumulator of every bank: acc[c][b] = bias[c][b].
  irdl.operation @write_bias {
    %channel = irdl.base "#builtin.integer"
    %num_channels = irdl.base "#builtin.integer"
    %bias = irdl.base "!builtin.tensor"
    irdl.operands(bias: %bias)
    irdl.attributes {"channel" = %channel, "num_channels" = %num_channels}
  }
  // MAC_ABK: every bank b: acc[b] += dot(bank_b[row][col, col + L), GB[col, col + L)), L = lanes.
  irdl.operation @mac_all_banks {
    %channel = irdl.base "#builtin.integer"
    %num_channels = irdl.base "#builtin.integer"
    %row = irdl.base "#builtin.integer"
    %col = irdl.base "#builtin.integer"
    irdl.attributes {"channel" = %channel, "num_channels" = %num_channels, "row" = %row, "col" = %col}
  }
  // RD_MAC: reads the accumulators [num_channels, banks] and clears them.
  irdl.operation @read_mac {
    %channel = irdl.base "#builtin.integer"
    %num_channels = irdl.base "#builtin.integer"
    %output = irdl.base "!builtin.tensor"
    irdl.results(output: %output)
    irdl.attributes {"channel" = %channel, "num_channels" = %num_channels}
  }
  // AF: applies an activation function to every accumulator in place.
  irdl.operation @af {
    %channel = irdl.base "#builtin.integer"
    %num_channels = irdl.base "#builtin.integer"
    %function = irdl.base "#builtin.string"
    irdl.attributes {"channel" = %channel, "num_channels" = %num_channels, "function" = %function}
  }
  // EWADD: every bank b: bank_b[row][col, col + L) += GB[col, col + L).
  irdl.operation @ewadd {
    %channel = irdl.base "#builtin.integer"
    %num_channels = irdl.base "#builtin.integer"
    %row = irdl.base "#builtin.integer"
    %col = irdl.base "#builtin.integer"
    irdl.attributes {"channel" = %channel, "num_channels" = %num_channels, "row" = %row, "col" = %col}
  }
  // EWMUL: every bank b: bank_b[row][col, col + L) *= GB[col, col + L).
  irdl.operation @ewmul {
    %channel = irdl.base "#builtin.integer"
    %num_channels = irdl.base "#builtin.integer"
    %row = irdl.base "#builtin.integer"
    %col = irdl.base "#builtin.integer"
    irdl.attributes {"channel" = %channel, "num_channels" = %num_channels, "row" = %row, "col" = %col}
  }
  // SYNC: waits until every command issued to the channels has completed.
  irdl.operation @sync {
    %channel = irdl.base "#builtin.integer"
    %num_channels = irdl.base "#builtin.integer"
    irdl.attributes {"channel" = %channel, "num_channels" = %num_channels}
  }

  // ---- host-side ops (run on the host, in program order)
  // Flattens the parts (one type), concatenates them, keeps the first N elements of a 1-D result.
  irdl.operation @host_concat {
    %parts = irdl.base "!builtin.tensor"
    %output = irdl.base "!builtin.tensor"
    irdl.operands(parts: variadic %parts)
    irdl.results(output: %output)
  }
  // Sums over the leading axis: result = sum_i input[i].
  irdl.operation @host_reduce {
    %input = irdl.base "!builtin.tensor"
    %output = irdl.base "!builtin.tensor"
    irdl.operands(input: %input)
    irdl.results(output: %output)
  }
  // softmax(scale * input) along the last axis.
  irdl.operation @host_softmax {
    %input = irdl.base "!builtin.tensor"
    %output = irdl.base "!builtin.tensor"
    %scale = irdl.base "#builtin.float"
    irdl.operands(input: %input)
    irdl.results(output: %output)
    irdl.attributes {"scale" = %scale}
  }
  // Any other host work: upstream ops in the body (which may use values of the
  // program), ending with vector.yield of the result.
  irdl.operation @host_compute {
    %output = irdl.base "!builtin.tensor"
    %body = irdl.region with size 1
    irdl.results(output: %output)
    irdl.regions(body: %body)
  }
}
