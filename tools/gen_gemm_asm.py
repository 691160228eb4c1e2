#!/usr/bin/env python3
"""Writes internal/kernels/gemm_amd64.s: the GEMM micro-kernels and the FMA
peak probes, for AVX2 (6x16 tiles in ymm registers) and AVX-512 (12x32 tiles
in zmm registers).

    python3 tools/gen_gemm_asm.py > internal/kernels/gemm_amd64.s

Both kernels have one Go signature:

    func kernelRxC(k int, a, b, c *float32, ars, aks, ldb, ldc, flags int,
        bias, res *float32, ldres int, taps *int, ntaps int)

The product runs over ntaps stretches of k steps each. In stretch t,
A(r, p) is at a + 4*taps[t] + r*ars + p*aks bytes, so one kernel reads
packed panels (ars = 4, aks = 4*rows), transposed matrices in place
(ars = 4, aks = their stride), row-major ones in place (ars = stride,
aks = 4), and the rows of a convolution's kernel window straight from its
NHWC input (one stretch per kernel row). B is a packed panel, row p at
b + p*ldb, read on across the stretches. The flags finish the tile before it is stored:
1 adds C's values (accumulation over k blocks), 2 adds bias[j], 4 adds
res[r*ldres/4 + j], 8 applies ReLU, in that order, the order of the
portable Go epilogue, so both give the same bits.
"""

import sys

FLAG_ACC, FLAG_BIAS, FLAG_RES, FLAG_RELU = 1, 2, 4, 8


def kernel(name, rows, reg, vbytes):
    """One micro-kernel: rows x 2 vectors of accumulators."""
    acc = [[f"{reg}{2 * r + v}" for v in range(2)] for r in range(rows)]
    nacc = 2 * rows
    b0, b1 = f"{reg}{nacc}", f"{reg}{nacc + 1}"
    bcast = [f"{reg}{i}" for i in range(nacc + 2, 32 if reg == "Z" else 16)]
    zero = "VPXORD" if reg == "Z" else "VXORPS"  # VXORPS on zmm needs AVX512DQ
    # Each A base pointer reaches three rows: base, base+ars, base+2*ars.
    bases = ["SI", "R12", "R13", "AX"][: (rows + 2) // 3]
    out = []
    w = out.append
    cols = 2 * vbytes // 4
    w(f"""
// func {name}(k int, a, b, c *float32, ars, aks, ldb, ldc, flags int, bias, res *float32, ldres int)
//
// A {rows}x{cols} tile. The outer loop walks the taps (the taps and ntaps
// argument slots count them off); CX counts k down. {", ".join(bases)} point at A rows
// {", ".join(str(3 * i) for i in range(len(bases)))} (each also reaches the next two through R11 = ars) and
// step by R8 = aks; DI walks B by R9 = ldb; DX is C, R10 = ldc.
// {acc[0][0]}..{acc[-1][1]} hold the tile, row r in {reg}(2r) and {reg}(2r+1); {b0}, {b1}
// hold the B row; {bcast[0]}..{bcast[-1]} take turns broadcasting A values.
TEXT ·{name}(SB), NOSPLIT, $0-112
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ars+32(FP), R11
	MOVQ aks+40(FP), R8
	MOVQ ldb+48(FP), R9
	MOVQ ldc+56(FP), R10""")
    for row in acc:
        for x in row:
            w(f"\t{zero} {x}, {x}, {x}")
    w(f"""
{name}_tap:
	MOVQ taps+96(FP), BX
	MOVQ (BX), SI
	ADDQ $8, BX
	MOVQ BX, taps+96(FP)
	SHLQ $2, SI
	ADDQ a+8(FP), SI
	MOVQ k+0(FP), CX""")
    for i in range(1, len(bases)):
        w(f"\tLEAQ (R11)(R11*2), BX")
        w(f"\tLEAQ ({bases[i - 1]})(BX*1), {bases[i]}")
    w(f"\n{name}_loop:")
    w(f"\tVMOVUPS (DI), {b0}")
    w(f"\tVMOVUPS {vbytes}(DI), {b1}")
    for r in range(rows):
        base = bases[r // 3]
        addr = [f"({base})", f"({base})(R11*1)", f"({base})(R11*2)"][r % 3]
        t = bcast[r % len(bcast)]
        w(f"\tVBROADCASTSS {addr}, {t}")
        w(f"\tVFMADD231PS {b0}, {t}, {acc[r][0]}")
        w(f"\tVFMADD231PS {b1}, {t}, {acc[r][1]}")
    for base in bases:
        w(f"\tADDQ R8, {base}")
    w(f"""	ADDQ R9, DI
	DECQ CX
	JNZ  {name}_loop
	DECQ ntaps+104(FP)
	JNZ  {name}_tap

	MOVQ flags+64(FP), AX""")

    def each_row(op):
        w("\tMOVQ DX, BX")
        for r in range(rows):
            op(r)
            if r < rows - 1:
                w("\tADDQ R10, BX")

    w(f"\tTESTQ ${FLAG_ACC}, AX\n\tJZ   {name}_bias")
    each_row(lambda r: (w(f"\tVADDPS (BX), {acc[r][0]}, {acc[r][0]}"),
                        w(f"\tVADDPS {vbytes}(BX), {acc[r][1]}, {acc[r][1]}")))
    w(f"\n{name}_bias:\n\tTESTQ ${FLAG_BIAS}, AX\n\tJZ   {name}_res")
    w(f"\tMOVQ bias+72(FP), BX\n\tVMOVUPS (BX), {b0}\n\tVMOVUPS {vbytes}(BX), {b1}")
    for r in range(rows):
        w(f"\tVADDPS {b0}, {acc[r][0]}, {acc[r][0]}")
        w(f"\tVADDPS {b1}, {acc[r][1]}, {acc[r][1]}")
    w(f"\n{name}_res:\n\tTESTQ ${FLAG_RES}, AX\n\tJZ   {name}_relu")
    w("\tMOVQ res+80(FP), BX\n\tMOVQ ldres+88(FP), R11")
    for r in range(rows):
        w(f"\tVADDPS (BX), {acc[r][0]}, {acc[r][0]}")
        w(f"\tVADDPS {vbytes}(BX), {acc[r][1]}, {acc[r][1]}")
        if r < rows - 1:
            w("\tADDQ R11, BX")
    w(f"\n{name}_relu:\n\tTESTQ ${FLAG_RELU}, AX\n\tJZ   {name}_store")
    # max(0, x) with x second: a NaN in x is kept, as Go's max keeps it.
    w(f"\t{zero} {b0}, {b0}, {b0}")
    for r in range(rows):
        for x in acc[r]:
            w(f"\tVMAXPS {x}, {b0}, {x}")
    w(f"\n{name}_store:")
    each_row(lambda r: (w(f"\tVMOVUPS {acc[r][0]}, (BX)"),
                        w(f"\tVMOVUPS {acc[r][1]}, {vbytes}(BX)")))
    w("\tVZEROUPPER\n\tRET")
    return out


def fma_loop(name, reg, flops):
    out = [f"""
// func {name}(n int)
//
// n iterations of 12 independent FMAs on registers only, {flops} flops
// each: the core's FMA peak. CX counts down; {reg}0..{reg}11 accumulate;
// {reg}12 and {reg}13 are the constant operands.
TEXT ·{name}(SB), NOSPLIT, $0-8
	MOVQ n+0(FP), CX"""]
    zero = "VPXORD" if reg == "Z" else "VXORPS"
    out += [f"\t{zero} {reg}{i}, {reg}{i}, {reg}{i}" for i in range(14)]
    out.append(f"\n{name}_loop:")
    out += [f"\tVFMADD231PS {reg}12, {reg}13, {reg}{i}" for i in range(12)]
    out.append(f"\tDECQ CX\n\tJNZ  {name}_loop\n\tVZEROUPPER\n\tRET")
    return out


def main():
    lines = ["// Code generated by tools/gen_gemm_asm.py; DO NOT EDIT.", "",
             '#include "textflag.h"']
    lines += kernel("kernel6x16", 6, "Y", 32)
    lines += kernel("kernel12x32", 12, "Z", 64)
    lines += kernel("kernel4x32", 4, "Z", 64)
    lines += fma_loop("fmaLoop", "Y", 192)
    lines += fma_loop("fmaLoop512", "Z", 384)
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
