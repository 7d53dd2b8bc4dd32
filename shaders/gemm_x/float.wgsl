// Block j of the 4 rows (w0..w3) for a group of 8 tokens in float: its 4
// units dequantized from registers (blk_unit) and x loaded a unit at a
// time (x_unit).
fn mac_block(s: Acc4, w0: WBlk, w1: WBlk, w2: WBlk, w3: WBlk, j: u32,
             base: u32, last: u32, k4: u32, lane: u32, sq: ptr<function, Acc>) -> Acc4 {
    var r = mac4(s, w0, w1, w2, w3, j, 0u, base, last, k4, lane, sq);
    r = mac4(r, w0, w1, w2, w3, j, 1u, base, last, k4, lane, sq);
    r = mac4(r, w0, w1, w2, w3, j, 2u, base, last, k4, lane, sq);
    return mac4(r, w0, w1, w2, w3, j, 3u, base, last, k4, lane, sq);
}
