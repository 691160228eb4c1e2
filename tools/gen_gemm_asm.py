#!/usr/bin/env python3
"""Writes internal/kernels/gemm_amd64.s: the GEMM micro-kernels and the FMA
peak probes, for AVX2 (tiles of 1 to 6 rows by 16 columns in ymm registers) and AVX-512 (tiles of
4 to 12 rows by 32 columns, and of 12, 8 or 4 rows by 16, in zmm
registers), the AVX-512 Winograd transforms, element-wise passes and
pooling windows; with --go, the Go side of the tile kernels
(tiles_amd64.go: their declarations and tileKernel, which calls the one
for a tile's shape).

    python3 tools/gen_gemm_asm.py > internal/kernels/gemm_amd64.s
    python3 tools/gen_gemm_asm.py --go > internal/kernels/tiles_amd64.go

All tile kernels have one Go signature:

    func kernelRxC(k int, a, b, c *float32, ars, aks, ldb, ldc, flags int,
        bias, res *float32, ldres int, taps *int, ntaps int, pfaddr uintptr,
        ntiles, astep, crows int)

The product runs over ntaps stretches of k steps each. In stretch t,
A(r, p) is at a + 4*taps[t] + r*ars + p*aks bytes, so one kernel reads
packed panels (ars = 4, aks = 4*rows), transposed matrices in place
(ars = 4, aks = their stride), row-major ones in place (ars = stride,
aks = 4), and the rows of a convolution's kernel window straight from its
NHWC input (one stretch per kernel row). B is a packed panel, row p at
b + p*ldb, read on across the stretches. The flags finish the tile before it is stored:
1 adds C's values (accumulation over k blocks), 2 adds bias[j], 4 adds
res[r*ldres/4 + j], 8 applies ReLU, in that order, the order of the
portable Go epilogue, so both give the same bits. pfaddr (0: none) is
memory for the 12x32 kernel to prefetch, 128 bytes a k step: a product
streaming A from memory names the next block of its rows. ntiles tiles
are made under the same panel of B, each next one's A astep bytes on and
its C crows rows down (rows: one below the other; a convolution's output
row width: the same pixels of the next output row).
"""

import re
import sys

FLAG_ACC, FLAG_BIAS, FLAG_RES, FLAG_RELU = 1, 2, 4, 8


def kernel(name, rows, reg, vbytes, vecs=2, pairs=False):
    """One micro-kernel: rows x vecs vectors of accumulators. With pairs,
    a 16-column tile from B packed in pairs of rows (row p of the panel
    holds B's rows 2p and 2p+1 interleaved, column j of each at 2j and
    2j+1): each step broadcasts two A values at once into both vectors of
    a row, so that a broadcast serves two FMAs as in the 32-column tiles
    (with one vector of B a step, the broadcasts' shuffles leave the FMA
    units idle a quarter of the time); the tile folds the two halves of
    each sum together at the end."""
    acc = [[f"{reg}{vecs * r + v}" for v in range(vecs)] for r in range(rows)]
    nacc = vecs * rows
    bs = [f"{reg}{nacc + v}" for v in range(vecs)]
    b0 = bs[0]
    bcast = [f"{reg}{i}" for i in range(nacc + vecs, 32 if reg == "Z" else 16)]
    zero = "VPXORD" if reg == "Z" else "VXORPS"  # VXORPS on zmm needs AVX512DQ
    # Each A base pointer reaches three rows: base, base+ars, base+2*ars.
    bases = ["SI", "R12", "R13", "AX"][: min(4, (rows + 2) // 3)]
    # The A rows each base points at: three apart, each base reaching the
    # next two rows by R11 = ars (scales 1 and 2); 13 rows, beyond four
    # bases' twelve, put the last base at row 8 and reach rows 11 and 12
    # by scales 8 and 4.
    base_rows = [0, 3, 6, 8] if rows == 13 else [3 * i for i in range(len(bases))]

    def a_addr(r):
        for scale in (0, 1, 2, 4, 8):
            if r - scale in base_rows:
                base = bases[base_rows.index(r - scale)]
                return f"({base})" if scale == 0 else f"({base})(R11*{scale})"
        raise ValueError(f"row {r} of {rows} out of the bases' reach")
    out = []
    w = out.append
    cols = vecs * vbytes // 4
    w(f"""
// func {name}(k int, a, b, c *float32, ars, aks, ldb, ldc, flags int, bias, res *float32, ldres int, taps *int, ntaps int, pfaddr uintptr, ntiles, astep, crows int)
//
// A {rows}x{cols} tile. The outer loop walks the taps (the taps and ntaps
// argument slots count them off); CX counts k down. {", ".join(bases)} point at A rows
// {", ".join(str(r) for r in base_rows)} (each also reaches the next two through R11 = ars{"; rows 11 and 12 by 8*ars and 4*ars" if rows == 13 else ""}) and
// step by R8 = aks; DI walks B by R9 = ldb; DX is C, R10 = ldc.
// {acc[0][0]}..{acc[-1][-1]} hold the tile, {vecs} register(s) a row; {", ".join(bs)}
// hold the B row; {bcast[0]}..{bcast[-1]} take turns broadcasting A values.
// A 12-row loop also prefetches two lines a step from pfaddr on (pf bytes
// from B, BX in the loop), or when pfaddr is 0 the B panel after this
// one: the next tile's, cold the first time weights pass.
// ntiles tiles are computed with the same B panel: each next tile's A
// starts astep bytes on, its C (and residual) crows rows down, its
// prefetch a panel's bytes on; taps and ntaps are restored from
// taps0 and ntaps0 for each.
TEXT ·{name}(SB), NOSPLIT, $48-144
	MOVQ taps+96(FP), AX
	MOVQ AX, taps0-40(SP)
	MOVQ ntaps+104(FP), AX
	MOVQ AX, ntaps0-48(SP)

{name}_tile:
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ars+32(FP), R11
	MOVQ aks+40(FP), R8
	MOVQ ldb+48(FP), R9
	MOVQ ldc+56(FP), R10
	MOVQ k+0(FP), AX
	IMULQ ntaps+104(FP), AX
	IMULQ R9, AX
	MOVQ pfaddr+112(FP), BX
	TESTQ BX, BX
	JZ   {name}_pfdef
	SUBQ DI, BX
	MOVQ BX, AX
{name}_pfdef:
	MOVQ AX, pf-8(SP)""")
    # C's tile (and the residual's) are usually cold: fetch them while the
    # loop computes, rather than stall on them at the stores. A burst of
    # prefetches at the start would hold up the loop's own loads of A, so
    # the first tap's first iterations fetch a row each: R14 walks C, R15
    # the residual (or C again) by pfstep, pfl counts the rows left.
    lines_per_row = max(1, vecs * vbytes // 64)
    w(f"\tMOVQ DX, R14\n\tMOVQ DX, R15\n\tMOVQ R10, pfstep-24(SP)\n\tMOVQ ${rows}, pfl-16(SP)")
    w(f"\tMOVQ flags+64(FP), AX\n\tTESTQ ${FLAG_RES}, AX\n\tJZ   {name}_zero")
    w("\tMOVQ res+80(FP), R15\n\tMOVQ ldres+88(FP), AX\n\tMOVQ AX, pfstep-24(SP)")
    w(f"\n{name}_zero:")
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
        if base_rows[i] - base_rows[i - 1] == 2:
            w(f"\tLEAQ ({bases[i - 1]})(R11*2), {bases[i]}")
            continue
        w(f"\tLEAQ (R11)(R11*2), BX")
        w(f"\tLEAQ ({bases[i - 1]})(BX*1), {bases[i]}")
    # CX = this tap's k; the first min(pfl, k) iterations prefetch.
    w("\tMOVQ pfl-16(SP), BX\n\tCMPQ BX, CX\n\tCMOVQGT CX, BX\n\tSUBQ BX, pfl-16(SP)")
    w("\tSUBQ BX, CX\n\tMOVQ CX, rest-32(SP)\n\tMOVQ BX, CX\n\tMOVQ pf-8(SP), BX")
    w(f"\tTESTQ CX, CX\n\tJZ   {name}_main")

    def body(label, prefetch):
        w(f"\n{label}:")
        for v, b in enumerate(bs):
            w(f"\tVMOVUPS {v * vbytes or ''}(DI), {b}")
        if rows >= 12 and vecs == 2:  # other tiles have no load slots to spare
            w("\tPREFETCHT0 (DI)(BX*1)")
            w("\tPREFETCHT0 64(DI)(BX*1)")
        elif reg == "Y" and rows >= 4:  # AVX2: a step takes 6 cycles or more, time to spare
            w("\tPREFETCHT0 (DI)(BX*1)")
        if prefetch:
            for l in range(lines_per_row):
                w(f"\tPREFETCHT0 {64 * l or ''}(R14)")
                w(f"\tPREFETCHT0 {64 * l or ''}(R15)")
            w("\tADDQ R10, R14\n\tADDQ pfstep-24(SP), R15")
        for r in range(rows):
            addr = a_addr(r)
            t = bcast[r % len(bcast)]
            w(f"\t{'VBROADCASTSD' if pairs else 'VBROADCASTSS'} {addr}, {t}")
            for v, b in enumerate(bs):
                w(f"\tVFMADD231PS {b}, {t}, {acc[r][v]}")
        for base in bases:
            w(f"\tADDQ R8, {base}")
        w(f"\tADDQ R9, DI\n\tDECQ CX\n\tJNZ  {label}")

    body(f"{name}_pfloop", True)
    w(f"\n{name}_main:\n\tMOVQ rest-32(SP), CX\n\tTESTQ CX, CX\n\tJZ   {name}_tapdone")
    body(f"{name}_loop", False)
    w(f"\n{name}_tapdone:")
    w(f"""	DECQ ntaps+104(FP)
	JNZ  {name}_tap

	MOVQ flags+64(FP), AX""")
    if pairs:
        # Row r's sums for columns j (even k) and j (odd k) sit in lanes
        # 2j and 2j+1 of its two vectors: gather the evens and the odds
        # of both (pairidx<>) and add them, into the row's first vector.
        t0, t1, ie, io = bcast[-4:]
        w(f"	VMOVDQU32 pairidx<>+0(SB), {ie}\n\tVMOVDQU32 pairidx<>+64(SB), {io}")
        for r in range(rows):
            lo, hi = acc[r]
            w(f"	VMOVAPS {ie}, {t0}\n\tVPERMI2PS {hi}, {lo}, {t0}")
            w(f"	VMOVAPS {io}, {t1}\n\tVPERMI2PS {hi}, {lo}, {t1}")
            w(f"	VADDPS {t1}, {t0}, {lo}")
        acc = [[a[0]] for a in acc]
        bs = bs[:1]
        vecs = 1

    def each_row(op):
        w("\tMOVQ DX, BX")
        for r in range(rows):
            op(r)
            if r < rows - 1:
                w("\tADDQ R10, BX")

    w(f"\tTESTQ ${FLAG_ACC}, AX\n\tJZ   {name}_bias")
    each_row(lambda r: [w(f"\tVADDPS {v * vbytes or ''}(BX), {x}, {x}") for v, x in enumerate(acc[r])])
    w(f"\n{name}_bias:\n\tTESTQ ${FLAG_BIAS}, AX\n\tJZ   {name}_res")
    w("\tMOVQ bias+72(FP), BX")
    for v, b in enumerate(bs):
        w(f"\tVMOVUPS {v * vbytes or ''}(BX), {b}")
    for r in range(rows):
        for v, b in enumerate(bs):
            w(f"\tVADDPS {b}, {acc[r][v]}, {acc[r][v]}")
    w(f"\n{name}_res:\n\tTESTQ ${FLAG_RES}, AX\n\tJZ   {name}_relu")
    w("\tMOVQ res+80(FP), BX\n\tMOVQ ldres+88(FP), R11")
    for r in range(rows):
        for v, x in enumerate(acc[r]):
            w(f"\tVADDPS {v * vbytes or ''}(BX), {x}, {x}")
        if r < rows - 1:
            w("\tADDQ R11, BX")
    w(f"\n{name}_relu:\n\tTESTQ ${FLAG_RELU}, AX\n\tJZ   {name}_store")
    # max(0, x) with x second: a NaN in x is kept, as Go's max keeps it.
    w(f"\t{zero} {b0}, {b0}, {b0}")
    for r in range(rows):
        for x in acc[r]:
            w(f"\tVMAXPS {x}, {b0}, {x}")
    w(f"\n{name}_store:")
    each_row(lambda r: [w(f"\tVMOVUPS {x}, {v * vbytes or ''}(BX)") for v, x in enumerate(acc[r])])
    w(f"""
	DECQ ntiles+120(FP)
	JLE  {name}_ret
	MOVQ astep+128(FP), AX
	ADDQ AX, a+8(FP)
	MOVQ R10, AX
	IMULQ crows+136(FP), AX
	ADDQ AX, c+24(FP)
	MOVQ flags+64(FP), AX
	TESTQ ${FLAG_RES}, AX
	JZ   {name}_pfnext
	MOVQ ldres+88(FP), AX
	IMULQ crows+136(FP), AX
	ADDQ AX, res+80(FP)

{name}_pfnext:
	MOVQ pfaddr+112(FP), AX
	TESTQ AX, AX
	JZ   {name}_taps
	MOVQ k+0(FP), AX
	IMULQ ntaps0-48(SP), AX
	IMULQ ldb+48(FP), AX
	ADDQ AX, pfaddr+112(FP)

{name}_taps:
	MOVQ taps0-40(SP), AX
	MOVQ AX, taps+96(FP)
	MOVQ ntaps0-48(SP), AX
	MOVQ AX, ntaps+104(FP)
	JMP  {name}_tile

{name}_ret:
	VZEROUPPER
	RET""")
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


def load_4x4(w, step):
    """Loads a Winograd tile's 16 vectors into Z(4i+j): row i from R11,
    R12, R13, AX; column j step*j bytes on (BX holds 3*step). Returns the
    row registers."""
    rows = ["R11", "R12", "R13", "AX"]
    cols = ["", f"({step}*1)", f"({step}*2)", "(BX*1)"]
    for i in range(4):
        for j in range(4):
            w(f"\tVMOVUPS ({rows[i]}){cols[j]}, Z{4 * i + j}")
    return rows


def wino2_in_setup(vb):
    """The F(2x2) input transforms' registers: CX the groups (doubled for
    8-float vectors), R11..R13 and AX input rows 0-3, R8..R10 the strides,
    BX = 3*pixStride, DX = 3*eStride, DI dst."""
    return f"""	MOVQ groups+0(FP), CX{halves(vb)}
	MOVQ src+8(FP), R11
	MOVQ rowStride+16(FP), R8
	MOVQ pixStride+24(FP), R9
	MOVQ dst+32(FP), DI
	MOVQ eStride+40(FP), R10
	LEAQ (R11)(R8*1), R12
	LEAQ (R12)(R8*1), R13
	LEAQ (R13)(R8*1), AX
	LEAQ (R9)(R9*2), BX
	LEAQ (R10)(R10*2), DX"""


def wino_input():
    """Winograd F(2x2,3x3) input transform of one tile, 16 channels a step."""
    out = [f"""
// func winoInput16(groups int, src *float32, rowStride, pixStride int, dst *float32, eStride int)
//
// V = B'dB for one 4x4 input tile d, 16 channels at a time for groups
// steps: d[i][j] at src + i*rowStride + j*pixStride, V[e] stored at
// dst + e*eStride (bytes). R11, R12, R13, AX point at input rows 0-3 and
// BX = 3*pixStride reaches column 3; SI walks the stores a row of four
// elements at a time, DX = 3*eStride; CX counts the groups. Z0..Z15 take
// d (Z(4i+j)), Z16..Z31 B'd, then Z0..Z15 V. The adds and subtractions
// are those of the portable winoInputGo, in its order.
TEXT ·winoInput16(SB), NOSPLIT, $0-48
{wino2_in_setup(64)}

winoin_loop:"""]
    w = out.append
    rows = load_4x4(w, "R9")
    # rows: s0 = d0 - d2, s1 = d1 + d2, s2 = d2 - d1, s3 = d1 - d3 (per column j)
    for j in range(4):
        d = [f"Z{4 * i + j}" for i in range(4)]
        s_ = [f"Z{16 + 4 * i + j}" for i in range(4)]
        w(f"\tVSUBPS {d[2]}, {d[0]}, {s_[0]}")
        w(f"\tVADDPS {d[2]}, {d[1]}, {s_[1]}")
        w(f"\tVSUBPS {d[1]}, {d[2]}, {s_[2]}")
        w(f"\tVSUBPS {d[3]}, {d[1]}, {s_[3]}")
    # columns: v0 = a0 - a2, v1 = a1 + a2, v2 = a2 - a1, v3 = a1 - a3 (per row i)
    for i in range(4):
        a = [f"Z{16 + 4 * i + j}" for j in range(4)]
        v = [f"Z{4 * i + j}" for j in range(4)]
        w(f"\tVSUBPS {a[2]}, {a[0]}, {v[0]}")
        w(f"\tVADDPS {a[2]}, {a[1]}, {v[1]}")
        w(f"\tVSUBPS {a[1]}, {a[2]}, {v[2]}")
        w(f"\tVSUBPS {a[3]}, {a[1]}, {v[3]}")
    w("\tMOVQ DI, SI")
    ecols = ["", "(R10*1)", "(R10*2)", "(DX*1)"]
    for i in range(4):
        for j in range(4):
            w(f"\tVMOVUPS Z{4 * i + j}, (SI){ecols[j]}")
        if i < 3:
            w("\tLEAQ (SI)(R10*4), SI")
    for r in rows + ["DI"]:
        w(f"\tADDQ $64, {r}")
    w("\tDECQ CX\n\tJNZ  winoin_loop\n\tVZEROUPPER\n\tRET")
    return out


def wino_output():
    """Winograd F(2x2,3x3) output transform of one tile with the epilogue."""
    out = [f"""
// func winoOutput16(groups int, m *float32, eStride int, dst *float32, rowStride, pixStride, flags int, bias, res *float32)
//
// Y = A'MA for one tile, 16 channels at a time for groups steps: M[e] at
// m + e*eStride, the 2x2 outputs stored at dst + i*rowStride + j*pixStride
// (bytes), after adding bias (flag {FLAG_BIAS}), the residual at the same
// offsets from res (flag {FLAG_RES}), and ReLU (flag {FLAG_RELU}). R11, R12, R13, AX
// point at M[0], M[4], M[8], M[12], BX = 3*eStride; DX = dst + rowStride;
// SI carries the bias and residual pointers, kept in their argument
// slots; CX counts the groups. Z0..Z15 take M, Z16..Z23 A'M, Z24..Z27 Y.
TEXT ·winoOutput16(SB), NOSPLIT, $0-72
	MOVQ groups+0(FP), CX
	MOVQ m+8(FP), R11
	MOVQ eStride+16(FP), R8
	MOVQ dst+24(FP), DI
	MOVQ rowStride+32(FP), R9
	MOVQ pixStride+40(FP), R10
	LEAQ (R11)(R8*4), R12
	LEAQ (R12)(R8*4), R13
	LEAQ (R13)(R8*4), AX
	LEAQ (R8)(R8*2), BX
	VPXORD Z31, Z31, Z31

winoout_loop:"""]
    w = out.append
    rows = load_4x4(w, "R8")
    # A'M: r0j = (m0j + m1j) + m2j, r1j = (m1j - m2j) - m3j
    for j in range(4):
        m = [f"Z{4 * i + j}" for i in range(4)]
        r0, r1 = f"Z{16 + j}", f"Z{20 + j}"
        w(f"\tVADDPS {m[1]}, {m[0]}, {r0}")
        w(f"\tVADDPS {m[2]}, {r0}, {r0}")
        w(f"\tVSUBPS {m[2]}, {m[1]}, {r1}")
        w(f"\tVSUBPS {m[3]}, {r1}, {r1}")
    # (A'M)A: y0 = (r0 + r1) + r2, y1 = (r1 - r2) - r3, per row of A'M
    ys = ["Z24", "Z25", "Z26", "Z27"]  # y00, y01, y10, y11
    for i in range(2):
        r = [f"Z{16 + 4 * i + j}" for j in range(4)]
        y0, y1 = ys[2 * i], ys[2 * i + 1]
        w(f"\tVADDPS {r[1]}, {r[0]}, {y0}")
        w(f"\tVADDPS {r[2]}, {y0}, {y0}")
        w(f"\tVSUBPS {r[2]}, {r[1]}, {y1}")
        w(f"\tVSUBPS {r[3]}, {y1}, {y1}")
    wino2_finish(w, ys, "winoout")
    for r in rows + ["DI"]:
        w(f"\tADDQ $64, {r}")
    w("\tDECQ CX\n\tJNZ  winoout_loop\n\tVZEROUPPER\n\tRET")
    return out


def wino2_finish(w, ys, label, bias="Z28", zero="Z31", vb=64):
    """The epilogue and stores of a 2x2 output tile ys (y00, y01, y10,
    y11), a vector of vb bytes: bias (flag 2, its pointer walked in its
    argument slot, loaded into the register bias), the residual (flag 4,
    likewise), ReLU (flag 8, zero: Z31 set by the caller, or a ymm register
    cleared here), stored at DI + i*R9 + j*R10 through DX; SI is scratch."""
    clear = "" if zero == "Z31" else f"\n\tVXORPS {zero}, {zero}, {zero}"
    w(f"""	MOVQ flags+48(FP), SI
	TESTQ ${FLAG_BIAS}, SI
	JZ   {label}_res
	MOVQ bias+56(FP), SI
	VMOVUPS (SI), {bias}""")
    for y in ys:
        w(f"\tVADDPS {bias}, {y}, {y}")
    w(f"""	ADDQ ${vb}, SI
	MOVQ SI, bias+56(FP)

{label}_res:
	MOVQ flags+48(FP), SI
	TESTQ ${FLAG_RES}, SI
	JZ   {label}_relu
	MOVQ res+64(FP), SI
	VADDPS (SI), {ys[0]}, {ys[0]}
	VADDPS (SI)(R10*1), {ys[1]}, {ys[1]}
	ADDQ R9, SI
	VADDPS (SI), {ys[2]}, {ys[2]}
	VADDPS (SI)(R10*1), {ys[3]}, {ys[3]}
	SUBQ R9, SI
	ADDQ ${vb}, SI
	MOVQ SI, res+64(FP)

{label}_relu:
	MOVQ flags+48(FP), SI
	TESTQ ${FLAG_RELU}, SI
	JZ   {label}_store{clear}""")
    for y in ys:
        w(f"\tVMAXPS {y}, {zero}, {y}")
    w(f"""
{label}_store:
	LEAQ (DI)(R9*1), DX
	VMOVUPS {ys[0]}, (DI)
	VMOVUPS {ys[1]}, (DI)(R10*1)
	VMOVUPS {ys[2]}, (DX)
	VMOVUPS {ys[3]}, (DX)(R10*1)""")


def wino_input_y():
    """winoInput16 for AVX2: a row of V at a time, so that 16 registers do."""
    out = [f"""
// func winoInput16Y(groups int, src *float32, rowStride, pixStride int, dst *float32, eStride int)
//
// winoInput16 by AVX2, eight channels at a time, twice per group. Row a of
// B'd needs two or three of d's rows, so V is made a row at a time: d's
// rows 0 and 2 (Y0..Y3, Y4..Y7) give row 0 (Y0..Y3 = d0 - d2), then row 1
// (Y0..Y3) and row 2 give rows 1 and 2 (Y12..Y15), row 3 (Y4..Y7, over row
// 2) row 3; Y8..Y11 take each row of V before it is stored. R11, R12, R13,
// AX point at input rows 0-3 and BX = 3*pixStride reaches column 3; SI
// walks the stores, DX = 3*eStride; CX counts the 8-channel steps. The
// adds and subtractions are winoInputGo's, in its order.
TEXT ·winoInput16Y(SB), NOSPLIT, $0-48
{wino2_in_setup(32)}
	MOVQ DI, SI

winoinY_loop:"""]
    w = out.append
    cols = ["", "(R9*1)", "(R9*2)", "(BX*1)"]
    ecols = ["", "(R10*1)", "(R10*2)", "(DX*1)"]
    Y = lambda i: f"Y{i}"

    def load_row(ptr, regs):
        for j in range(4):
            w(f"\tVMOVUPS ({ptr}){cols[j]}, {regs[j]}")

    def columns(a, i):
        # v0 = a0 - a2, v1 = a1 + a2, v2 = a2 - a1, v3 = a1 - a3 into Y8..Y11, stored as row i of V.
        v = [Y(8 + j) for j in range(4)]
        w(f"\tVSUBPS {a[2]}, {a[0]}, {v[0]}")
        w(f"\tVADDPS {a[2]}, {a[1]}, {v[1]}")
        w(f"\tVSUBPS {a[1]}, {a[2]}, {v[2]}")
        w(f"\tVSUBPS {a[3]}, {a[1]}, {v[3]}")
        for j in range(4):
            w(f"\tVMOVUPS {v[j]}, (SI){ecols[j]}")
        w("\tLEAQ (SI)(R10*4), SI")

    r0, r2 = [Y(j) for j in range(4)], [Y(4 + j) for j in range(4)]
    s_ = [Y(12 + j) for j in range(4)]
    load_row("R11", r0)
    load_row("R13", r2)
    for j in range(4):
        w(f"\tVSUBPS {r2[j]}, {r0[j]}, {r0[j]}")  # s0 = d0 - d2
    columns(r0, 0)
    r1 = r0
    load_row("R12", r1)
    for j in range(4):
        w(f"\tVADDPS {r2[j]}, {r1[j]}, {s_[j]}")  # s1 = d1 + d2
    columns(s_, 1)
    for j in range(4):
        w(f"\tVSUBPS {r1[j]}, {r2[j]}, {s_[j]}")  # s2 = d2 - d1
    columns(s_, 2)
    r3 = r2
    load_row("AX", r3)
    for j in range(4):
        w(f"\tVSUBPS {r3[j]}, {r1[j]}, {s_[j]}")  # s3 = d1 - d3
    columns(s_, 3)
    w("\tADDQ $32, DI\n\tMOVQ DI, SI")
    for r in ["R11", "R12", "R13", "AX"]:
        w(f"\tADDQ $32, {r}")
    w("\tDECQ CX\n\tJNZ  winoinY_loop\n\tVZEROUPPER\n\tRET")
    return out


def wino_out_y_setup(side):
    """The AVX2 output transforms' registers: CX the 8-channel steps, R11
    M, BX = eStride, R8 = side*eStride (a column of M's step), DI dst, R9 =
    rowStride, R10 = pixStride."""
    column_step = {4: "MOVQ BX, R8\n\tSHLQ $2, R8", 5: "LEAQ (BX)(BX*4), R8"}[side]
    return f"""	MOVQ groups+0(FP), CX
	SHLQ $1, CX
	MOVQ m+8(FP), R11
	MOVQ eStride+16(FP), BX
	{column_step}
	MOVQ dst+24(FP), DI
	MOVQ rowStride+32(FP), R9
	MOVQ pixStride+40(FP), R10"""


def wino_output_y():
    """winoOutput16 for AVX2, in 16 registers."""
    out = [f"""
// func winoOutput16Y(groups int, m *float32, eStride int, dst *float32, rowStride, pixStride, flags int, bias, res *float32)
//
// winoOutput16 by AVX2, eight channels at a time, twice per group: each
// column j of M (Y0..Y3) gives A'M's r0j and r1j (Y(4+j), Y(8+j)); then
// Y12..Y15 take Y, Y0 the bias and Y1 zero. R11 walks the channel groups
// of M and AX a column of it by R8 = 4*eStride; BX = eStride; DI walks
// dst, R9 = rowStride, R10 = pixStride; SI carries the bias and residual
// pointers, kept in their argument slots; CX counts the 8-channel steps.
TEXT ·winoOutput16Y(SB), NOSPLIT, $0-72
{wino_out_y_setup(4)}

winooutY_loop:
	MOVQ R11, AX"""]
    w = out.append
    Y = lambda i: f"Y{i}"
    m = [Y(i) for i in range(4)]
    for j in range(4):
        for i, addr in enumerate(["(AX)", "(AX)(R8*1)", "(AX)(R8*2)"]):
            w(f"\tVMOVUPS {addr}, {m[i]}")
        w("\tLEAQ (AX)(R8*2), SI\n\tVMOVUPS (SI)(R8*1), " + m[3])
        r0, r1 = Y(4 + j), Y(8 + j)
        w(f"\tVADDPS {m[1]}, {m[0]}, {r0}")
        w(f"\tVADDPS {m[2]}, {r0}, {r0}")
        w(f"\tVSUBPS {m[2]}, {m[1]}, {r1}")
        w(f"\tVSUBPS {m[3]}, {r1}, {r1}")
        if j < 3:
            w("\tADDQ BX, AX")
    ys = [Y(12 + i) for i in range(4)]
    for i in range(2):
        r = [Y(4 + 4 * i + j) for j in range(4)]
        y0, y1 = ys[2 * i], ys[2 * i + 1]
        w(f"\tVADDPS {r[1]}, {r[0]}, {y0}")
        w(f"\tVADDPS {r[2]}, {y0}, {y0}")
        w(f"\tVSUBPS {r[2]}, {r[1]}, {y1}")
        w(f"\tVSUBPS {r[3]}, {y1}, {y1}")
    wino2_finish(w, ys, "winooutY", "Y0", "Y1", 32)
    w("\tADDQ $32, R11\n\tADDQ $32, DI\n\tDECQ CX\n\tJNZ  winooutY_loop\n\tVZEROUPPER\n\tRET")
    return out


def wino_s2_input_y():
    """winoInputS216 for AVX2, a row of the tile at a time."""
    out = ["""
// func winoInputS216Y(groups int, src *float32, rowStride, pixStride int, dst *float32, eStride int)
//
// winoInputS216 by AVX2, eight channels at a time, twice per group. Row 2
// of the tile (Y0..Y4) stays while rows 0, 1, 3, 4 pass through Y5..Y9 in
// turn (rows 0 and 4 less row 2), each then less its column 2 in columns 0
// and 4 and stored in B's order; row 2 last. SI walks the channel groups
// of src, DI of dst; AX walks the row loaded by R9 = pixStride, then
// places each store (eStride times its element); CX counts the 8-channel
// steps.
TEXT ·winoInputS216Y(SB), NOSPLIT, $0-48
	MOVQ groups+0(FP), CX
	SHLQ $1, CX
	MOVQ src+8(FP), SI
	MOVQ rowStride+16(FP), R8
	MOVQ pixStride+24(FP), R9
	MOVQ dst+32(FP), DI
	MOVQ eStride+40(FP), R10

winos2inY_loop:"""]
    w = out.append
    Y = lambda i: f"Y{i}"
    order = [0, 2, 4, 1, 3]
    pos = {v: k for k, v in enumerate(order)}  # tile row/column -> place in V

    def load_row(i, regs):
        w(f"\tMOVQ SI, AX")
        for _ in range(i):
            w("\tADDQ R8, AX")
        for j in range(5):
            w(f"\tVMOVUPS (AX), {regs[j]}")
            if j < 4:
                w("\tADDQ R9, AX")

    def finish_row(i, z):
        w(f"\tVSUBPS {z[2]}, {z[0]}, {z[0]}\n\tVSUBPS {z[2]}, {z[4]}, {z[4]}")
        a = pos[i]
        for j in range(5):
            e = 5 * a + pos[j]
            w(f"\tMOVQ R10, AX\n\tIMULQ ${e}, AX\n\tVMOVUPS {z[j]}, (DI)(AX*1)")

    row2 = [Y(j) for j in range(5)]
    z = [Y(5 + j) for j in range(5)]
    load_row(2, row2)
    for i in [0, 1, 3, 4]:
        load_row(i, z)
        if i in (0, 4):
            for j in range(5):
                w(f"\tVSUBPS {row2[j]}, {z[j]}, {z[j]}")
        finish_row(i, z)
    finish_row(2, row2)
    w("\tADDQ $32, SI\n\tADDQ $32, DI\n\tDECQ CX\n\tJNZ  winos2inY_loop\n\tVZEROUPPER\n\tRET")
    return out


def wino_s2_output_y():
    """winoOutputS216 for AVX2, in 16 registers."""
    out = [f"""
// func winoOutputS216Y(groups int, m *float32, eStride int, dst *float32, rowStride, pixStride, flags int, bias, res *float32)
//
// winoOutputS216 by AVX2, eight channels at a time, twice per group: each
// column j of M (Y0..Y4) gives A'M's two rows' (M0 + M1) + M3 and (M1 +
// M2) + M4 in Y(5+j) and Y(10+j); A on those rows leaves Y in Y5, Y6,
// Y10, Y11, and Y0, Y1 take the bias and zero. R11 walks the channel groups
// of M, AX a column of it by R8 = 5*eStride, BX = eStride; DI walks dst,
// R9 = rowStride, R10 = pixStride; SI carries the bias and residual
// pointers, kept in their argument slots; CX counts the 8-channel steps.
TEXT ·winoOutputS216Y(SB), NOSPLIT, $0-72
{wino_out_y_setup(5)}

winos2outY_loop:"""]
    w = out.append
    Y = lambda i: f"Y{i}"
    m = [Y(i) for i in range(5)]
    for j in range(5):
        w(f"\tMOVQ BX, AX\n\tIMULQ ${j}, AX\n\tADDQ R11, AX")
        for i in range(5):
            w(f"\tVMOVUPS (AX), {m[i]}")
            if i < 4:
                w("\tADDQ R8, AX")
        a0, a1 = Y(5 + j), Y(10 + j)
        w(f"\tVADDPS {m[1]}, {m[0]}, {a0}\n\tVADDPS {m[3]}, {a0}, {a0}")
        w(f"\tVADDPS {m[2]}, {m[1]}, {a1}\n\tVADDPS {m[4]}, {a1}, {a1}")
    for i in range(2):
        z = lambda j: Y(5 * (i + 1) + j)
        w(f"\tVADDPS {z(1)}, {z(0)}, {z(0)}\n\tVADDPS {z(3)}, {z(0)}, {z(0)}")
        w(f"\tVADDPS {z(2)}, {z(1)}, {z(1)}\n\tVADDPS {z(4)}, {z(1)}, {z(1)}")
    wino2_finish(w, [Y(5), Y(6), Y(10), Y(11)], "winos2outY", "Y0", "Y1", 32)
    w("\tADDQ $32, R11\n\tADDQ $32, DI\n\tDECQ CX\n\tJNZ  winos2outY_loop\n\tVZEROUPPER\n\tRET")
    return out


def wino_s2_input():
    """The stride-2 Winograd input transform (winograds2.go) of one 5x5
    tile, 16 channels a step."""
    out = ["""
// func winoInputS216(groups int, src *float32, rowStride, pixStride int, dst *float32, eStride int)
//
// V = B'dB for one 5x5 input tile d of a stride-2 convolution, 16
// channels at a time for groups steps: d[i][j] at src + i*rowStride +
// j*pixStride, V[5a+b] stored at dst + (5a+b)*eStride (bytes). Z(5i+j)
// takes d[i][j]; B' subtracts row 2 from rows 0 and 4 and reorders the
// rows (0, 2, 4, 1, 3), B the same on columns, so the subtractions are
// made in place and the reordering is in where each vector is stored.
// SI walks the channel groups of src, DI of dst; AX walks a tile's
// columns, BX is its row 3, R11 = 3*rowStride; DX walks the stores; CX
// counts the groups.
TEXT ·winoInputS216(SB), NOSPLIT, $0-48
	MOVQ groups+0(FP), CX
	MOVQ src+8(FP), SI
	MOVQ rowStride+16(FP), R8
	MOVQ pixStride+24(FP), R9
	MOVQ dst+32(FP), DI
	MOVQ eStride+40(FP), R10
	LEAQ (R8)(R8*2), R11

winos2in_loop:
	MOVQ SI, AX"""]
    w = out.append
    z = lambda i, j: f"Z{5 * i + j}"
    for j in range(5):
        w("\tLEAQ (AX)(R11*1), BX")
        for i, addr in enumerate(["(AX)", "(AX)(R8*1)", "(AX)(R8*2)", "(BX)", "(BX)(R8*1)"]):
            w(f"\tVMOVUPS {addr}, {z(i, j)}")
        if j < 4:
            w("\tADDQ R9, AX")
    for j in range(5):  # B'd: rows 0 and 4 less row 2
        w(f"\tVSUBPS {z(2, j)}, {z(0, j)}, {z(0, j)}\n\tVSUBPS {z(2, j)}, {z(4, j)}, {z(4, j)}")
    for i in range(5):  # (B'd)B: columns 0 and 4 less column 2
        w(f"\tVSUBPS {z(i, 2)}, {z(i, 0)}, {z(i, 0)}\n\tVSUBPS {z(i, 2)}, {z(i, 4)}, {z(i, 4)}")
    order = [0, 2, 4, 1, 3]
    w("\tMOVQ DI, DX")
    for a in range(5):
        for b in range(5):
            w(f"\tVMOVUPS {z(order[a], order[b])}, (DX)")
            if a < 4 or b < 4:
                w("\tADDQ R10, DX")
    w("\tADDQ $64, SI\n\tADDQ $64, DI\n\tDECQ CX\n\tJNZ  winos2in_loop\n\tVZEROUPPER\n\tRET")
    return out


def wino_s2_output():
    """The stride-2 Winograd output transform (winograds2.go) of one tile
    with the epilogue."""
    out = [f"""
// func winoOutputS216(groups int, m *float32, eStride int, dst *float32, rowStride, pixStride, flags int, bias, res *float32)
//
// Y = A'MA for one tile of a stride-2 convolution, 16 channels at a time
// for groups steps: M[e] at m + e*eStride, the 2x2 outputs stored at dst
// + i*rowStride + j*pixStride (bytes), after adding bias (flag {FLAG_BIAS}), the
// residual at the same offsets from res (flag {FLAG_RES}), and ReLU (flag {FLAG_RELU}).
// Z(5i+j) takes M[5i+j]; A' makes row 0 (M0 + M1) + M3 and row 1 (M1 +
// M2) + M4, in place of rows 0 and 1, and A the same on their columns:
// Y is Z0, Z1, Z5, Z6. R11 walks the channel groups of m, AX the 25
// loads; DI walks dst; SI carries the bias and residual pointers, kept in
// their argument slots; DX is dst + rowStride; CX counts the groups.
TEXT ·winoOutputS216(SB), NOSPLIT, $0-72
	MOVQ groups+0(FP), CX
	MOVQ m+8(FP), R11
	MOVQ eStride+16(FP), R8
	MOVQ dst+24(FP), DI
	MOVQ rowStride+32(FP), R9
	MOVQ pixStride+40(FP), R10
	VPXORD Z31, Z31, Z31

winos2out_loop:
	MOVQ R11, AX"""]
    w = out.append
    z = lambda i, j: f"Z{5 * i + j}"
    for e in range(25):
        w(f"\tVMOVUPS (AX), Z{e}")
        if e < 24:
            w("\tADDQ R8, AX")
    for j in range(5):  # A'M
        w(f"\tVADDPS {z(1, j)}, {z(0, j)}, {z(0, j)}\n\tVADDPS {z(3, j)}, {z(0, j)}, {z(0, j)}")
        w(f"\tVADDPS {z(2, j)}, {z(1, j)}, {z(1, j)}\n\tVADDPS {z(4, j)}, {z(1, j)}, {z(1, j)}")
    for i in range(2):  # (A'M)A
        w(f"\tVADDPS {z(i, 1)}, {z(i, 0)}, {z(i, 0)}\n\tVADDPS {z(i, 3)}, {z(i, 0)}, {z(i, 0)}")
        w(f"\tVADDPS {z(i, 2)}, {z(i, 1)}, {z(i, 1)}\n\tVADDPS {z(i, 4)}, {z(i, 1)}, {z(i, 1)}")
    wino2_finish(w, [z(0, 0), z(0, 1), z(1, 0), z(1, 1)], "winos2out")
    w("\tADDQ $64, R11\n\tADDQ $64, DI\n\tDECQ CX\n\tJNZ  winos2out_loop\n\tVZEROUPPER\n\tRET")
    return out


def wino4_in(w, d, t, tmp):
    """B' on six vectors d into t, as winograd4.go's wino4In: every
    multiplication by 4 or 2 is a doubling, so each result has one rounding."""
    c, u, a, b = tmp[:4]
    w(f"\tVSUBPS {d[2]}, {d[4]}, {c}")  # c = d4 - d2
    w(f"\tVSUBPS {d[2]}, {d[0]}, {u}")  # u = d0 - d2
    w(f"\tVADDPS {u}, {u}, {u}\n\tVADDPS {u}, {u}, {u}")
    w(f"\tVADDPS {c}, {u}, {t[0]}")  # t0 = 4u + c
    w(f"\tVADDPS {d[2]}, {d[2]}, {a}\n\tVADDPS {a}, {a}, {a}")
    w(f"\tVSUBPS {a}, {d[4]}, {a}")  # a = d4 - 4d2
    w(f"\tVADDPS {d[1]}, {d[1]}, {b}\n\tVADDPS {b}, {b}, {b}")
    w(f"\tVSUBPS {b}, {d[3]}, {b}")  # b = d3 - 4d1
    w(f"\tVADDPS {b}, {a}, {t[1]}\n\tVSUBPS {b}, {a}, {t[2]}")  # a + b, a - b
    w(f"\tVSUBPS {d[1]}, {d[3]}, {a}\n\tVADDPS {a}, {a}, {a}")  # e = 2(d3 - d1)
    w(f"\tVADDPS {a}, {c}, {t[3]}\n\tVSUBPS {a}, {c}, {t[4]}")  # c + e, c - e
    w(f"\tVSUBPS {d[3]}, {d[1]}, {u}")  # d1 - d3
    w(f"\tVADDPS {u}, {u}, {u}\n\tVADDPS {u}, {u}, {u}")
    w(f"\tVSUBPS {d[3]}, {d[5]}, {b}")  # d5 - d3
    w(f"\tVADDPS {b}, {u}, {t[5]}")  # t5 = 4(d1 - d3) + (d5 - d3)


def wino4_out(w, m, y, tmp):
    """A' on six vectors m into four y, as winograd4.go's wino4Out."""
    p, q, r, s = tmp[:4]
    w(f"\tVADDPS {m[2]}, {m[1]}, {p}\n\tVSUBPS {m[2]}, {m[1]}, {q}")
    w(f"\tVADDPS {m[4]}, {m[3]}, {r}\n\tVSUBPS {m[4]}, {m[3]}, {s}")
    w(f"\tVADDPS {p}, {m[0]}, {y[0]}\n\tVADDPS {r}, {y[0]}, {y[0]}")  # (m0 + p) + r
    w(f"\tVADDPS {s}, {s}, {s}")  # 2s
    w(f"\tVADDPS {s}, {q}, {y[1]}")  # q + 2s
    w(f"\tVADDPS {r}, {r}, {r}\n\tVADDPS {r}, {r}, {r}")  # 4r
    w(f"\tVADDPS {r}, {p}, {y[2]}")  # p + 4r
    w(f"\tVADDPS {s}, {s}, {s}\n\tVADDPS {s}, {s}, {s}")  # 8s
    w(f"\tVADDPS {s}, {q}, {y[3]}\n\tVADDPS {m[5]}, {y[3]}, {y[3]}")  # (q + 8s) + m5


def wino4_input(R="Z", vb=64, sfx=""):
    """Winograd F(4x4,3x3) input transform of one tile, 16 channels a step
    (R "Y": eight at a time, twice)."""
    out = [f"""
// func winoInput4x16{sfx}(groups int, src *float32, rowStride, pixStride int, dst *float32, eStride int, scratch *float32)
//
// V = B'dB for one 6x6 input tile d, 16 channels at a time for groups
// steps: d[i][j] at src + i*rowStride + j*pixStride, V[6i+j] stored at
// dst + (6i+j)*eStride (bytes). First B'd, a column at a time into the 36
// vectors at scratch (t[i][j] at {vb}*(6i+j)), then each row of it times B.
// SI walks the channel groups of src, DI of dst; AX and BX point at rows 0
// and 3 of a column, R11 = 3*rowStride; DX is scratch; BX walks the stores
// of the second pass; CX counts the {vb // 4}-channel steps. {R}0..{R}5 take six values,
// {R}6..{R}11 their transform, {R}12..{R}15 are temporaries.
TEXT ·winoInput4x16{sfx}(SB), NOSPLIT, $0-56
	MOVQ groups+0(FP), CX
	MOVQ src+8(FP), SI
	MOVQ rowStride+16(FP), R8
	MOVQ pixStride+24(FP), R9
	MOVQ dst+32(FP), DI
	MOVQ eStride+40(FP), R10
	MOVQ scratch+48(FP), DX
	LEAQ (R8)(R8*2), R11{halves(vb)}

wino4in{sfx}_loop:
	MOVQ SI, AX"""]
    w = out.append
    d = [f"{R}{i}" for i in range(6)]
    t = [f"{R}{6 + i}" for i in range(6)]
    tmp = [f"{R}{12 + i}" for i in range(4)]

    def load_column(j):
        w("\tLEAQ (AX)(R11*1), BX")
        for i, addr in enumerate(["(AX)", "(AX)(R8*1)", "(AX)(R8*2)", "(BX)", "(BX)(R8*1)", "(BX)(R8*2)"]):
            w(f"\tVMOVUPS {addr}, {d[i]}")

    two_passes(w, load_column, "ADDQ R9, AX", wino4_in, d, t, tmp, f"wino4in{sfx}_loop", vb)
    return out


def two_passes(w, load_column, next_column, transform, x, y, tmp, loop, vb=64):
    """A separable 2-D transform of len(x) x len(x) values into 6 x 6, a
    vector of vb bytes a step: each column (load_column(j) puts it in x;
    next_column moves to the next) into the scratch at DX (t[a][j] at
    vb*(len(x)*a+j)), then each row of that into dst, stored eStride (R10)
    apart from DI on; SI and DI step to the next vector, CX counts them."""
    n = len(x)
    for j in range(n):
        load_column(j)
        transform(w, x, y, tmp)
        for a in range(6):
            w(f"\tVMOVUPS {y[a]}, {vb * (n * a + j)}(DX)")
        if j < n - 1:
            w(f"\t{next_column}")
    w("\tMOVQ DI, BX")
    for a in range(6):
        for j in range(n):
            w(f"\tVMOVUPS {vb * (n * a + j)}(DX), {x[j]}")
        transform(w, x, y, tmp)
        for b in range(6):
            w(f"\tVMOVUPS {y[b]}, (BX)")
            w("\tADDQ R10, BX")
    w(f"\tADDQ ${vb}, SI\n\tADDQ ${vb}, DI\n\tDECQ CX\n\tJNZ  {loop}\n\tVZEROUPPER\n\tRET")


def halves(vb):
    """The loop count's doubling where a 16-channel group takes two
    8-float vectors."""
    return "\n\tSHLQ $1, CX" if vb == 32 else ""


def wino4_grad_col(w, x, y, tmp):
    """A on four vectors x into six y, as winograd4.go's wino4Grad: the
    4s and 2s are doublings, so each result has one rounding a sum."""
    p, q, r, t = tmp[:4]
    w(f"\tVADDPS {x[2]}, {x[0]}, {p}\n\tVADDPS {x[3]}, {x[1]}, {q}")  # p = x0 + x2, q = x1 + x3
    w(f"\tVADDPS {q}, {p}, {y[1]}\n\tVSUBPS {q}, {p}, {y[2]}")  # p + q, p - q
    w(f"\tVADDPS {x[2]}, {x[2]}, {r}\n\tVADDPS {r}, {r}, {r}")
    w(f"\tVADDPS {r}, {x[0]}, {r}")  # r = x0 + 4x2
    w(f"\tVADDPS {x[3]}, {x[3]}, {t}\n\tVADDPS {t}, {t}, {t}")
    w(f"\tVADDPS {t}, {x[1]}, {t}\n\tVADDPS {t}, {t}, {t}")  # t = 2(x1 + 4x3)
    w(f"\tVADDPS {t}, {r}, {y[3]}\n\tVSUBPS {t}, {r}, {y[4]}")  # r + t, r - t
    w(f"\tVMOVAPS {x[0]}, {y[0]}\n\tVMOVAPS {x[3]}, {y[5]}")


def wino4_grad(R="Z", vb=64, sfx=""):
    """The transform of a 4x4 tile of dy for F(4x4,3x3)'s kernel gradient
    (R "Y": eight channels at a time, twice)."""
    out = [f"""
// func winoGrad4x16{sfx}(groups int, src *float32, rowStride, pixStride int, dst *float32, eStride int, scratch *float32)
//
// M = A g A' for one 4x4 tile g of an output's gradient (A the 6x4 matrix
// whose transpose A' is F(4x4, 3x3)'s output transform), 16 channels at a
// time for groups steps: g[i][j] at src + i*rowStride + j*pixStride, M[6a+b]
// stored at dst + (6a+b)*eStride (bytes). First A g, a column at a time into
// the 24 vectors at scratch (t[a][j] at {vb}*(4a+j)), then each row of it
// times A'. SI walks the channel groups of src, DI of dst; AX walks a
// column's rows, BX the stores; DX is scratch; CX counts the {vb // 4}-channel steps.
// {R}0..{R}3 take four values, {R}4..{R}9 their transform, {R}12..{R}15 are
// temporaries.
TEXT ·winoGrad4x16{sfx}(SB), NOSPLIT, $0-56
	MOVQ groups+0(FP), CX
	MOVQ src+8(FP), SI
	MOVQ rowStride+16(FP), R8
	MOVQ pixStride+24(FP), R9
	MOVQ dst+32(FP), DI
	MOVQ eStride+40(FP), R10
	MOVQ scratch+48(FP), DX{halves(vb)}

wino4grad{sfx}_loop:
	MOVQ SI, BX"""]
    w = out.append
    x = [f"{R}{i}" for i in range(4)]
    y = [f"{R}{4 + i}" for i in range(6)]
    tmp = [f"{R}{12 + i}" for i in range(4)]

    def load_column(j):
        w("\tMOVQ BX, AX")
        for i in range(4):
            w(f"\tVMOVUPS (AX), {x[i]}")
            if i < 3:
                w("\tADDQ R8, AX")

    two_passes(w, load_column, "ADDQ R9, BX", wino4_grad_col, x, y, tmp, f"wino4grad{sfx}_loop", vb)
    return out


def wino4_output(R="Z", vb=64, sfx=""):
    """Winograd F(4x4,3x3) output transform of one tile with the epilogue
    (R "Y": eight channels at a time, twice)."""
    bias, zero = (f"{R}28", f"{R}31") if R == "Z" else (f"{R}10", f"{R}11")
    xor = "VPXORD" if R == "Z" else "VXORPS"
    L = f"wino4out{sfx}"
    out = [f"""
// func winoOutput4x16{sfx}(groups int, m *float32, eStride int, dst *float32, rowStride, pixStride, flags int, bias, res *float32, scratch *float32)
//
// Y = A'MA for one tile, 16 channels at a time for groups steps: M[e] at
// m + e*eStride, the 4x4 outputs stored at dst + i*rowStride + j*pixStride
// (bytes), after adding bias (flag {FLAG_BIAS}), the residual at the same
// offsets from res (flag {FLAG_RES}), and ReLU (flag {FLAG_RELU}). First A'M, a column
// at a time into scratch (24 vectors, s[i][j] at {vb}*(6i+j)), then each row
// of it times A. SI walks the channel groups of m, DI of dst, R14 of bias,
// R15 of res; AX walks a column of M by R11 = 6*eStride; BX and R12 point
// at an output row and its residual, R13 = 3*pixStride; DX is scratch;
// CX counts the {vb // 4}-channel steps. {R}0..{R}5 take six values, {R}6..{R}9 their
// transform, {R}12..{R}15 are temporaries, {bias} the bias, {zero} zero.
TEXT ·winoOutput4x16{sfx}(SB), NOSPLIT, $0-80
	MOVQ groups+0(FP), CX
	MOVQ m+8(FP), SI
	MOVQ eStride+16(FP), R8
	MOVQ dst+24(FP), DI
	MOVQ rowStride+32(FP), R9
	MOVQ pixStride+40(FP), R10
	MOVQ bias+56(FP), R14
	MOVQ res+64(FP), R15
	MOVQ scratch+72(FP), DX
	LEAQ (R8)(R8*2), R11
	SHLQ $1, R11
	LEAQ (R10)(R10*2), R13
	{xor} {zero}, {zero}, {zero}{halves(vb)}

{L}_loop:"""]
    w = out.append
    mv = [f"{R}{i}" for i in range(6)]
    y = [f"{R}{6 + i}" for i in range(4)]
    tmp = [f"{R}{12 + i}" for i in range(4)]
    for j in range(6):
        w(f"\tLEAQ {64 * 0}(SI), AX" if j == 0 else "\tADDQ R8, SI\n\tMOVQ SI, AX")
        for i in range(6):
            w(f"\tVMOVUPS (AX), {mv[i]}")
            if i < 5:
                w("\tADDQ R11, AX")
        wino4_out(w, mv, y, tmp)
        for i in range(4):
            w(f"\tVMOVUPS {y[i]}, {vb * (6 * i + j)}(DX)")
    # SI back to this group's M[0].
    w("\tLEAQ (R8)(R8*4), AX\n\tSUBQ AX, SI")
    w(f"\tMOVQ flags+48(FP), AX\n\tTESTQ ${FLAG_BIAS}, AX\n\tJZ   {L}_rows\n\tVMOVUPS (R14), {bias}")
    w(f"\n{L}_rows:\n\tMOVQ DI, BX\n\tMOVQ R15, R12")
    cols = ["", "(R10*1)", "(R10*2)", "(R13*1)"]
    for i in range(4):
        for j in range(6):
            w(f"\tVMOVUPS {vb * (6 * i + j)}(DX), {mv[j]}")
        wino4_out(w, mv, y, tmp)
        w(f"\tTESTQ ${FLAG_BIAS}, AX\n\tJZ   {L}_res{i}")
        for v in y:
            w(f"\tVADDPS {bias}, {v}, {v}")
        w(f"\n{L}_res{i}:\n\tTESTQ ${FLAG_RES}, AX\n\tJZ   {L}_relu{i}")
        for v, col in zip(y, cols):
            w(f"\tVADDPS (R12){col}, {v}, {v}")
        w(f"\n{L}_relu{i}:\n\tTESTQ ${FLAG_RELU}, AX\n\tJZ   {L}_store{i}")
        for v in y:
            w(f"\tVMAXPS {v}, {zero}, {v}")
        w(f"\n{L}_store{i}:")
        for v, col in zip(y, cols):
            w(f"\tVMOVUPS {v}, (BX){col}")
        if i < 3:
            w("\tADDQ R9, BX\n\tADDQ R9, R12")
    w(f"\tADDQ ${vb}, SI\n\tADDQ ${vb}, DI\n\tADDQ ${vb}, R14\n\tADDQ ${vb}, R15")
    w(f"\tDECQ CX\n\tJNZ  {L}_loop\n\tVZEROUPPER\n\tRET")
    return out


# Z2 = max(Z0, Z1), a NaN in either kept as Go's max keeps it: VMAXPS
# returns its second operand (Z0) when either is NaN, then K1 marks Z1's
# NaNs, which are copied over.
NAN_MAX = """\tVMAXPS Z0, Z1, Z2
\tVCMPPS $3, Z1, Z1, K1
\tVMOVAPS Z1, K1, Z2"""

# NAN_MAX with AVX2: Y3 marks Y1's NaNs, blended over.
NAN_MAX_Y = """\tVMAXPS Y0, Y1, Y2
\tVCMPPS $3, Y1, Y1, Y3
\tVBLENDVPS Y3, Y1, Y2, Y2"""


def max_into(R="Z", vb=64, sfx=""):
    """maxInto16, or with R "Y" its AVX2 form (each group of 16 as two
    vectors of 8, Y3 marking src's NaNs instead of K1)."""
    nan_max = NAN_MAX if R == "Z" else NAN_MAX_Y
    L = f"maxinto{sfx}"
    return [f"""
// func maxInto16{sfx}(dst, src *float32, groups int)
//
// dst[i] = max(dst[i], src[i]) for 16*groups floats, NaN from either side
// kept, as Go's max keeps it: VMAXPS returns its second operand (dst's
// value) when either is NaN, then {"K1" if R == "Z" else "Y3"} marks src's NaNs, which are copied
// over. DI walks dst, SI src; CX counts the {vb // 4}-float steps.
TEXT ·maxInto16{sfx}(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ groups+16(FP), CX{halves(vb)}

{L}_loop:
	VMOVUPS (DI), {R}0
	VMOVUPS (SI), {R}1
{nan_max}
	VMOVUPS {R}2, (DI)
	ADDQ ${vb}, DI
	ADDQ ${vb}, SI
	DECQ CX
	JNZ  {L}_loop
	VZEROUPPER
	RET"""]


def max_windows(R="Z", vb=64, sfx=""):
    """maxWindows16, or with R "Y" its AVX2 form."""
    nan_max = NAN_MAX if R == "Z" else NAN_MAX_Y
    L = f"maxwin{sfx}"
    return [f"""
// func maxWindows16{sfx}(dst, src *float32, groups, n, kw, pix, step int)
//
// n pixels of 16*groups floats each into dst, one after another: pixel i
// is the maximum over kw source pixels from src + i*step bytes, pix bytes
// apart, taken in order with maxInto16's NaN rule (a NaN from either side
// is kept). DI walks dst; SI is pixel i's first source pixel, R11 the
// group in it, BX the window's pixels; R9 = pix, R10 = step; DX counts
// the pixels, CX the {vb // 4}-float steps, R8 the window. {R}0 holds the
// maximum so far, {R}1 the next pixel's group, {R}2 their maximum before
// {"K1" if R == "Z" else "Y3"}'s NaNs.
TEXT ·maxWindows16{sfx}(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+24(FP), DX
	MOVQ pix+40(FP), R9
	MOVQ step+48(FP), R10

{L}_pixel:
	MOVQ groups+16(FP), CX{halves(vb)}
	MOVQ SI, R11

{L}_group:
	VMOVUPS (R11), {R}0
	MOVQ R11, BX
	MOVQ kw+32(FP), R8
	DECQ R8
	JZ   {L}_store

{L}_window:
	ADDQ R9, BX
	VMOVUPS (BX), {R}1
{nan_max}
	VMOVAPS {R}2, {R}0
	DECQ R8
	JNZ  {L}_window

{L}_store:
	VMOVUPS {R}0, (DI)
	ADDQ ${vb}, DI
	ADDQ ${vb}, R11
	DECQ CX
	JNZ  {L}_group
	ADDQ R10, SI
	DECQ DX
	JNZ  {L}_pixel
	VZEROUPPER
	RET"""]


def add(R="Z"):
    """add16, or with R "Y" its AVX2 form add16Y (groups of 16 floats as
    two vectors of 8)."""
    vb, sfx = (64, "") if R == "Z" else (32, "Y")
    return [f"""
// func add16{sfx}(a, b, out *float32, groups int)
//
// out[i] = a[i] + b[i] for 16*groups floats. SI walks a, BX b, DI out; CX
// counts the {vb // 4}-float steps.
TEXT ·add16{sfx}(SB), NOSPLIT, $0-32
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), BX
	MOVQ out+16(FP), DI
	MOVQ groups+24(FP), CX{halves(vb)}

add{sfx}_loop:
	VMOVUPS (SI), {R}0
	VADDPS (BX), {R}0, {R}0
	VMOVUPS {R}0, (DI)
	ADDQ ${vb}, SI
	ADDQ ${vb}, BX
	ADDQ ${vb}, DI
	DECQ CX
	JNZ  add{sfx}_loop
	VZEROUPPER
	RET"""]


def relu(R="Z"):
    """relu16 and reluGrad16, or with R "Y" their AVX2 forms (groups of 16
    floats as two vectors of 8; reluGrad16Y ands grad with a compare's mask
    where K1 zeroes a load: grad's bits or +0 either way)."""
    vb, sfx = (64, "") if R == "Z" else (32, "Y")
    zero = "Z31" if R == "Z" else "Y15"
    xor = "VPXORD" if R == "Z" else "VXORPS"
    if R == "Z":
        mask_doc = "K1 marks y > 0 (ordered: NaN gives 0); the masked load zeroes the rest."
        mask = "VCMPPS $0x1e, Z31, Z0, K1\n\tVMOVUPS.Z (BX), K1, Z1"
    else:
        mask_doc = "Y2 marks y > 0 (ordered: NaN gives 0) and grad is anded with it."
        mask = "VCMPPS $0x1e, Y15, Y0, Y2\n\tVANDPS (BX), Y2, Y1"
    return [f"""
// func relu16{sfx}(x, out *float32, groups int)
//
// out[i] = max(x[i], 0) for 16*groups floats: VMAXPS with x second keeps a
// NaN in x. SI walks x, DI out; CX counts the {vb // 4}-float steps; {zero} is zero.
TEXT ·relu16{sfx}(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ out+8(FP), DI
	MOVQ groups+16(FP), CX{halves(vb)}
	{xor} {zero}, {zero}, {zero}

relu{sfx}_loop:
	VMOVUPS (SI), {R}0
	VMAXPS {R}0, {zero}, {R}0
	VMOVUPS {R}0, (DI)
	ADDQ ${vb}, SI
	ADDQ ${vb}, DI
	DECQ CX
	JNZ  relu{sfx}_loop
	VZEROUPPER
	RET

// func reluGrad16{sfx}(y, grad, d *float32, groups int)
//
// d[i] = grad[i] where y[i] > 0, else 0, for 16*groups floats, without a
// branch per value (a ReLU's signs are a coin toss for the predictor).
// {mask_doc}
// SI walks y, BX grad, DI d; CX counts the {vb // 4}-float steps; {zero} is zero.
TEXT ·reluGrad16{sfx}(SB), NOSPLIT, $0-32
	MOVQ y+0(FP), SI
	MOVQ grad+8(FP), BX
	MOVQ d+16(FP), DI
	MOVQ groups+24(FP), CX{halves(vb)}
	{xor} {zero}, {zero}, {zero}

relugrad{sfx}_loop:
	VMOVUPS (SI), {R}0
	{mask}
	VMOVUPS {R}1, (DI)
	ADDQ ${vb}, SI
	ADDQ ${vb}, BX
	ADDQ ${vb}, DI
	DECQ CX
	JNZ  relugrad{sfx}_loop
	VZEROUPPER
	RET"""]


def ymm_doc(doc, R):
    """An AVX-512 kernel's comment for its AVX2 form: ymm registers (Y15
    for Z31's zero), groups of 16 channels as two vectors of 8, the mask a
    compare anded with grad instead of K1's zeroing load."""
    if R == "Z":
        return doc
    doc = doc.replace("Z31", "Y15")
    doc = re.sub(r"Z(\d+)", r"Y\1", doc)
    head, _, rest = doc.partition("\n//\n")
    return (head + "\n//\n// The AVX2 form: each group of 16 channels taken as two vectors of 8,\n"
            "// the mask a compare's, anded with grad where K1 zeroes a load.\n" + rest)


def widen(R, src, lo, hi):
    """Converts vector src's floats to float64 into lo (the lower half) and
    hi (the upper): eight at a time with R "Z", four with "Y"."""
    if R == "Z":
        return f"""	VCVTPS2PD Y{src}, Z{lo}
	VEXTRACTF64X4 $1, Z{src}, Y{hi}
	VCVTPS2PD Y{hi}, Z{hi}"""
    return f"""	VCVTPS2PD X{src}, Y{lo}
	VEXTRACTF128 $1, Y{src}, X{hi}
	VCVTPS2PD X{hi}, Y{hi}"""


def add_sums(R="Z"):
    """Adds a dot kernel's group of float32 sums (Z0) and of products (Z1)
    into the float64 sum (BX) and sq (R10), 8 channels at a time through Z4
    and Z9 (R "Y": Y0 and Y1's 8 sums, 4 at a time through Y4 and Y9)."""
    half = 64 if R == "Z" else 32  # bytes of float64 from half a vector
    out = []
    for src, dst in ((0, "BX"), (1, "R10")):
        out.append(f"""{widen(R, src, 4, 9)}
	VADDPD ({dst}), {R}4, {R}4
	VADDPD {half}({dst}), {R}9, {R}9
	VMOVUPD {R}4, ({dst})
	VMOVUPD {R}9, {half}({dst})""")
    return "\n".join(out)


def dot_masked(name, label, relu_of, R="Z"):
    """BatchNorm's sums for its input gradient with its ReLU fused, the mask
    read from y (dotMasked16) or recomputed from h (dotReluOf16, relu_of);
    with R "Y" the AVX2 form (each group of 16 channels as two vectors of
    8, the mask a compare's anded with grad instead of K1's zeroing load)."""
    vb = 64 if R == "Z" else 32
    if relu_of:
        doc = f"""// func {name}(grad, h *float32, rows, groups int, sum, sq *float64, scale, shift, gamma, beta *float32)
//
// dotMasked16 with combineReluOf16's mask. One group at a time: SI, R8
// walk its column of grad, h by R9 = the row stride; Z0 and Z1 sum; Z5..Z8
// hold the group's scale, shift, gamma, beta; CX counts rows, DX groups;
// BX, R10 walk sum and sq; R11, R13 hold the group's first grad, h; R12,
// R14, R15, DI walk scale, shift, gamma, beta.
TEXT ·{name}(SB), NOSPLIT, $0-80"""
        args = {"grad": 0, "h": 8, "rows": 16, "groups": 24, "sum": 32, "sq": 40}
        params = [("scale", 48, "R12", f"{R}5"), ("shift", 56, "R14", f"{R}6"), ("gamma", 64, "R15", f"{R}7"), ("beta", 72, "DI", f"{R}8")]
        mask = [f"VMULPS {R}5, {R}2, {R}4", f"VADDPS {R}6, {R}4, {R}4", f"VMULPS {R}7, {R}4, {R}4", f"VADDPS {R}8, {R}4, {R}4"]
    else:
        doc = f"""// func {name}(grad, y, h *float32, rows, groups, ystride int, sum, sq *float64)
//
// Adds, per channel of 16*groups, the sums over rows rows (a few: they
// are summed in float32) of gm and gm*h, gm = grad where y > 0 (ordered),
// into the float64 sum and sq. y advances ystride bytes a row (0: ones).
// One group at a time: SI, DI, R8 walk its column of grad, y, h by R9 = the
// row stride; Z0 and Z1 sum; CX counts rows, DX groups; BX, R10 walk sum
// and sq; R11, R12, R13 hold the group's first grad, y, h.
TEXT ·{name}(SB), NOSPLIT, $0-64"""
        args = {"grad": 0, "h": 16, "rows": 24, "groups": 32, "sum": 48, "sq": 56}
        params = []
        mask = [f"VMOVUPS (DI), {R}4"]
    doc = ymm_doc(doc, R)
    zero = "Z31" if R == "Z" else "Y15"
    xor = "VPXORD" if R == "Z" else "VXORPS"
    out = [doc, f"""	MOVQ grad+{args['grad']}(FP), R11
	MOVQ h+{args['h']}(FP), R13
	MOVQ groups+{args['groups']}(FP), DX
	MOVQ DX, R9
	SHLQ $6, R9{halves(vb).replace("CX", "DX")}
	MOVQ sum+{args['sum']}(FP), BX
	MOVQ sq+{args['sq']}(FP), R10"""]
    w = out.append
    if not relu_of:
        w("\tMOVQ y+8(FP), R12")
    for arg, off, reg, _ in params:
        w(f"\tMOVQ {arg}+{off}(FP), {reg}")
    w(f"""	{xor} {zero}, {zero}, {zero}

{label}_group:
	MOVQ R11, SI
	MOVQ R13, R8
	MOVQ rows+{args['rows']}(FP), CX
	{xor} {R}0, {R}0, {R}0
	{xor} {R}1, {R}1, {R}1""")
    if not relu_of:
        w("\tMOVQ R12, DI")
    for _, _, reg, z in params:
        w(f"\tVMOVUPS ({reg}), {z}")
    w(f"\n{label}_row:\n\tVMOVUPS (R8), {R}2")
    w("\n".join("\t" + m for m in mask))
    if R == "Z":
        w("\tVCMPPS $0x1e, Z31, Z4, K1\n\tVMOVUPS.Z (SI), K1, Z3")
    else:
        w("\tVCMPPS $0x1e, Y15, Y4, Y4\n\tVANDPS (SI), Y4, Y3")
    w(f"""	VADDPS {R}3, {R}0, {R}0
	VFMADD231PS {R}2, {R}3, {R}1
	ADDQ R9, SI
	ADDQ R9, R8""")
    if not relu_of:
        w("\tADDQ ystride+40(FP), DI")
    w(f"\tDECQ CX\n\tJNZ  {label}_row")
    w(add_sums(R))
    w(f"\tADDQ ${2 * vb}, BX\n\tADDQ ${2 * vb}, R10\n\tADDQ ${vb}, R11\n\tADDQ ${vb}, R13")
    if relu_of:
        for _, _, reg, _ in params:
            w(f"\tADDQ ${vb}, {reg}")
    else:  # y moves by its own stride: 0 for the row of ones
        w(f"""	MOVQ ystride+40(FP), AX
	TESTQ AX, AX
	JZ   {label}_next
	ADDQ ${vb}, R12

{label}_next:""")
    w(f"\tDECQ DX\n\tJNZ  {label}_group\n\tVZEROUPPER\n\tRET")
    return out


def combine_masked(name, label, relu_of, R="Z"):
    """BatchNorm's input gradient with its ReLU fused: the mask read from
    the ReLU's output y (combineMasked16) or recomputed from h
    (combineReluOf16, relu_of); with R "Y" the AVX2 form."""
    vb = 64 if R == "Z" else 32
    zero = "Z31" if R == "Z" else "Y15"
    xor = "VPXORD" if R == "Z" else "VXORPS"
    if relu_of:
        doc = f"""// func {name}(grad, h, out *float32, rows, groups int, a, b, k, scale, shift, gamma, beta *float32)
//
// combineMasked16 with gm = grad where v > 0 (ordered), v = ((h*scale +
// shift)*gamma + beta): normalize16's output from h, its operations in its
// order, so the mask is the one the ReLU applied. SI, R8, R9 walk grad, h,
// out; R10..R12 walk a, b, k and R13, R14, R15, DI scale, shift, gamma,
// beta from their argument slots each row; CX counts rows, DX groups.
TEXT ·{name}(SB), NOSPLIT, $0-96"""
        args = {"grad": 0, "h": 8, "out": 16, "rows": 24, "groups": 32, "a": 40, "b": 48, "k": 56}
        ptrs = [("scale", 64, "R13"), ("shift", 72, "R14"), ("gamma", 80, "R15"), ("beta", 88, "DI")]
        mask = [f"VMULPS (R13), {R}2, {R}1", f"VADDPS (R14), {R}1, {R}1", f"VMULPS (R15), {R}1, {R}1", f"VADDPS (DI), {R}1, {R}1"]
    else:
        doc = f"""// func {name}(grad, y, h, out *float32, rows, groups, ystride int, a, b, k *float32)
//
// BatchNorm's input gradient with its ReLU fused: for each of rows rows of
// 16*groups channels, out = (gm*a + h*b) + k per channel, gm = grad where
// y > 0 (ordered: NaN masks), else 0 - the portable CombineMasked's
// operations, in its order. y advances ystride bytes a row (0: one row of
// ones for no mask). SI, DI, R8, R9 walk grad, y, h, out; R10, R11, R12 walk
// a, b, k from their argument slots each row; CX counts rows, DX groups.
TEXT ·{name}(SB), NOSPLIT, $0-80"""
        args = {"grad": 0, "h": 16, "out": 24, "rows": 32, "groups": 40, "a": 56, "b": 64, "k": 72}
        ptrs = [("y", 8, "DI")]
        mask = [f"VMOVUPS (DI), {R}1"]
    doc = ymm_doc(doc, R)
    out = [doc, f"""	MOVQ grad+{args['grad']}(FP), SI
	MOVQ h+{args['h']}(FP), R8
	MOVQ out+{args['out']}(FP), R9
	MOVQ rows+{args['rows']}(FP), CX
	{xor} {zero}, {zero}, {zero}

{label}_row:
	MOVQ groups+{args['groups']}(FP), DX{halves(vb).replace("CX", "DX")}"""]
    w = out.append
    if not relu_of:
        w(f"\tMOVQ y+8(FP), DI")
    for arg in "abk":
        w(f"\tMOVQ {arg}+{args[arg]}(FP), {dict(a='R10', b='R11', k='R12')[arg]}")
    if relu_of:
        for arg, off, reg in ptrs:
            w(f"\tMOVQ {arg}+{off}(FP), {reg}")
    w(f"\n{label}_group:\n\tVMOVUPS (R8), {R}2")
    w("\n".join("\t" + m for m in mask))
    if R == "Z":
        w("\tVCMPPS $0x1e, Z31, Z1, K1\n\tVMOVUPS.Z (SI), K1, Z0")
    else:
        w("\tVCMPPS $0x1e, Y15, Y1, Y1\n\tVANDPS (SI), Y1, Y0")
    w(f"""	VMULPS (R10), {R}0, {R}0
	VMULPS (R11), {R}2, {R}2
	VADDPS {R}2, {R}0, {R}0
	VADDPS (R12), {R}0, {R}0
	VMOVUPS {R}0, (R9)""")
    for reg in ["SI", "R8", "R9", "R10", "R11", "R12"] + [r for _, _, r in ptrs]:
        w(f"\tADDQ ${vb}, {reg}")
    w(f"\tDECQ DX\n\tJNZ  {label}_group")
    if not relu_of:  # y moves by its own stride: 0 for the row of ones
        w("""	MOVQ y+8(FP), AX
	ADDQ ystride+48(FP), AX
	MOVQ AX, y+8(FP)""")
    w(f"\tDECQ CX\n\tJNZ  {label}_row\n\tVZEROUPPER\n\tRET")
    return out


def bn_backward():
    return (combine_masked("combineMasked16", "cmb", False) + dot_masked("dotMasked16", "dot", False) +
            combine_masked("combineMasked16Y", "cmbY", False, "Y") + dot_masked("dotMasked16Y", "dotY", False, "Y"))


def bn_backward_relu_of():
    """The fused BatchNorm + ReLU backward kernels with the ReLU's mask
    recomputed from the BatchNorm's input h, as normalize16 computed the
    output the ReLU saw, instead of read from the ReLU's output."""
    return (combine_masked("combineReluOf16", "cro", True) + dot_masked("dotReluOf16", "dro", True) +
            combine_masked("combineReluOf16Y", "croY", True, "Y") + dot_masked("dotReluOf16Y", "droY", True, "Y"))


def dup_kernel():
    """kernelD24x16: a kernel gradient's 24 x 16 tile for 16 filters, from
    A's rows in pairs (rows 2i and 2i+1 lie together: a window row's values
    along C) and dy's rows read in place. Each step broadcasts a pair of A's
    values and multiplies it by dy's row with each value doubled (two
    VPERMPS), so that a broadcast serves two FMAs: the 12x16 kernel's one
    broadcast per FMA kept the FMA units idle a quarter of the time."""
    acc = [[f"Z{2 * i}", f"Z{2 * i + 1}"] for i in range(12)]
    out = ["""
// func kernelD24x16(k int, a, b, c *float32, aks, ldb, ldc int, taps *int, ntaps, ntiles, astep int)
//
// C(r, j) += sum over the taps and k of A(r, k) B(k, j) for 24 rows and 16
// columns: A(r, k) at a + 4*taps[t] + 4*r + k*aks, B's row k at b + k*ldb
// (on across the taps), C's row r at c + r*ldc (bytes). Z0..Z23 hold rows
// 2i and 2i+1 interleaved, column j of each at lanes 2j and 2j+1 of
// Z(2i) (j < 8) or Z(2i+1) (j >= 8); Z26 takes B's row, Z24 and Z25 its
// values doubled (dupidx<> in Z27, Z28); Z29..Z31 take turns broadcasting
// a pair of A's values. SI walks A by R8 = aks, DI walks B by R9 = ldb,
// CX counts k; ntiles tiles are made, each next one's A astep bytes on
// and its C 24 rows down; taps and ntaps are restored from taps0, ntaps0.
TEXT ·kernelD24x16(SB), NOSPLIT, $16-88
	MOVQ taps+56(FP), AX
	MOVQ AX, taps0-8(SP)
	MOVQ ntaps+64(FP), AX
	MOVQ AX, ntaps0-16(SP)

dup_tile:
	VMOVDQU32 dupidx<>+0(SB), Z27
	VMOVDQU32 dupidx<>+64(SB), Z28
	MOVQ b+16(FP), DI
	MOVQ aks+32(FP), R8
	MOVQ ldb+40(FP), R9"""]
    w = out.append
    for row in acc:
        for x in row:
            w(f"	VPXORD {x}, {x}, {x}")
    w("""
dup_tap:
	MOVQ taps+56(FP), BX
	MOVQ (BX), SI
	ADDQ $8, BX
	MOVQ BX, taps+56(FP)
	SHLQ $2, SI
	ADDQ a+8(FP), SI
	MOVQ k+0(FP), CX

dup_loop:
	VMOVUPS (DI), Z26
	VPERMPS Z26, Z27, Z24
	VPERMPS Z26, Z28, Z25""")
    for i, (lo, hi) in enumerate(acc):
        t = f"Z{29 + i % 3}"
        w(f"	VBROADCASTSD {8 * i or ''}(SI), {t}")
        w(f"	VFMADD231PS Z24, {t}, {lo}")
        w(f"	VFMADD231PS Z25, {t}, {hi}")
    w("""	ADDQ R8, SI
	ADDQ R9, DI
	DECQ CX
	JNZ  dup_loop
	DECQ ntaps+64(FP)
	JNZ  dup_tap

	// Rows 2i and 2i+1 are the even and the odd lanes of Z(2i), Z(2i+1)
	// (pairidx<>), each added into C.
	VMOVDQU32 pairidx<>+0(SB), Z24
	VMOVDQU32 pairidx<>+64(SB), Z25
	MOVQ c+24(FP), DX
	MOVQ ldc+48(FP), R10""")
    for lo, hi in acc:
        w(f"	VMOVAPS Z24, Z26\n\tVPERMI2PS {hi}, {lo}, Z26")
        w(f"	VMOVAPS Z25, Z29\n\tVPERMI2PS {hi}, {lo}, Z29")
        w("	VADDPS (DX), Z26, Z26\n\tVMOVUPS Z26, (DX)\n\tADDQ R10, DX")
        w("	VADDPS (DX), Z29, Z29\n\tVMOVUPS Z29, (DX)\n\tADDQ R10, DX")
    w("""	DECQ ntiles+72(FP)
	JLE  dup_ret
	MOVQ DX, c+24(FP)
	MOVQ astep+80(FP), AX
	ADDQ AX, a+8(FP)
	MOVQ taps0-8(SP), AX
	MOVQ AX, taps+56(FP)
	MOVQ ntaps0-16(SP), AX
	MOVQ AX, ntaps+64(FP)
	JMP  dup_tile

dup_ret:
	VZEROUPPER
	RET

// dupidx<> doubles each of a vector's first 8 values (first 64 bytes) or
// its last 8 (next 64): the lanes of B's row for kernelD24x16.""")
    for i in range(32):
        w(f"DATA dupidx<>+{4 * i}(SB)/4, ${i // 2}")
    w("GLOBL dupidx<>(SB), RODATA|NOPTR, $128")
    return out


def bn_forward(R="Z"):
    """normalize16, or with R "Y" its AVX2 form normalize16Y."""
    vb, sfx = (64, "") if R == "Z" else (32, "Y")
    return [f"""
// func normalize16{sfx}(x, out *float32, rows, groups int, scale, shift, gamma, beta *float32)
//
// BatchNorm's training output: out = (x*scale + shift)*gamma + beta per
// channel, rounded after each operation as the portable Normalize rounds.
// SI, DI walk x, out; R10..R13 walk scale, shift, gamma, beta from their
// argument slots each row; CX counts rows, DX the {vb // 4}-channel steps.
TEXT ·normalize16{sfx}(SB), NOSPLIT, $0-64
	MOVQ x+0(FP), SI
	MOVQ out+8(FP), DI
	MOVQ rows+16(FP), CX

nrm{sfx}_row:
	MOVQ groups+24(FP), DX{halves(vb).replace("CX", "DX")}
	MOVQ scale+32(FP), R10
	MOVQ shift+40(FP), R11
	MOVQ gamma+48(FP), R12
	MOVQ beta+56(FP), R13

nrm{sfx}_group:
	VMOVUPS (SI), {R}0
	VMULPS (R10), {R}0, {R}0
	VADDPS (R11), {R}0, {R}0
	VMULPS (R12), {R}0, {R}0
	VADDPS (R13), {R}0, {R}0
	VMOVUPS {R}0, (DI)
	ADDQ ${vb}, SI
	ADDQ ${vb}, DI
	ADDQ ${vb}, R10
	ADDQ ${vb}, R11
	ADDQ ${vb}, R12
	ADDQ ${vb}, R13
	DECQ DX
	JNZ  nrm{sfx}_group
	DECQ CX
	JNZ  nrm{sfx}_row
	VZEROUPPER
	RET"""]


def channel_sums(R="Z"):
    """channelSums16, or with R "Y" its AVX2 form channelSums16Y (each group
    of 16 channels as two of 8, converted four at a time; the same bits)."""
    vb, sfx, L = (64, "", "sums") if R == "Z" else (32, "Y", "sumsY")

    doc = f"""// ChannelSums' loop in float64, 16 channels at a time: per channel, sum
// += float64(x) and, when sq is not nil, sq += d*d with d = float64(x - m),
// added row after row, a multiply and an add apiece: the portable loop's
// operations in its order, so the bits are the same. Rows of x are stride
// bytes apart; m is read only with sq. One group at a time: SI walks its
// column of x by R9 = stride; Z0, Z1 sum and Z2, Z3 sq (8 channels each);
// Z4 holds the group's m; CX counts rows, DX groups; BX, R10 walk sum and
// sq; R11, R12 hold the group's first x and m."""
    if R == "Y":
        doc = """// channelSums16 by AVX2, with the same bits: each group of 16 channels as
// two of 8, taken one after the other. SI walks a group's column of x by
// R9 = stride; Y0, Y1 sum and Y2, Y3 sq (4 channels each); Y4 holds the
// group's m; CX counts rows, DX the 8-channel steps; BX, R10 walk sum and
// sq; R11, R12 hold the group's first x and m."""
    return [f"""
// func channelSums16{sfx}(x, m *float32, rows, groups, stride int, sum, sq *float64)
//
{doc}
TEXT ·channelSums16{sfx}(SB), NOSPLIT, $0-56
	MOVQ x+0(FP), R11
	MOVQ m+8(FP), R12
	MOVQ groups+24(FP), DX{halves(vb).replace("CX", "DX")}
	MOVQ stride+32(FP), R9
	MOVQ sum+40(FP), BX
	MOVQ sq+48(FP), R10

{L}_group:
	MOVQ R11, SI
	MOVQ rows+16(FP), CX
	VMOVUPD (BX), {R}0
	VMOVUPD {vb}(BX), {R}1
	TESTQ R10, R10
	JZ   {L}_plain
	VMOVUPS (R12), {R}4
	VMOVUPD (R10), {R}2
	VMOVUPD {vb}(R10), {R}3

{L}_row:
	VMOVUPS (SI), {R}5
{widen(R, 5, 6, 7)}
	VADDPD {R}6, {R}0, {R}0
	VADDPD {R}7, {R}1, {R}1
	VSUBPS {R}4, {R}5, {R}5
{widen(R, 5, 6, 7)}
	VMULPD {R}6, {R}6, {R}6
	VMULPD {R}7, {R}7, {R}7
	VADDPD {R}6, {R}2, {R}2
	VADDPD {R}7, {R}3, {R}3
	ADDQ R9, SI
	DECQ CX
	JNZ  {L}_row
	VMOVUPD {R}2, (R10)
	VMOVUPD {R}3, {vb}(R10)
	ADDQ ${2 * vb}, R10
	JMP  {L}_store

{L}_plain:
	VMOVUPS (SI), {R}5
{widen(R, 5, 6, 7)}
	VADDPD {R}6, {R}0, {R}0
	VADDPD {R}7, {R}1, {R}1
	ADDQ R9, SI
	DECQ CX
	JNZ  {L}_plain

{L}_store:
	VMOVUPD {R}0, (BX)
	VMOVUPD {R}1, {vb}(BX)
	ADDQ ${2 * vb}, BX
	ADDQ ${vb}, R11
	ADDQ ${vb}, R12
	DECQ DX
	JNZ  {L}_group
	VZEROUPPER
	RET"""]


# The AVX-512 tile kernels: (rows, vectors of 16 columns). Every height
# from 4 up at 32 columns, so that no tile is mostly padding, and 13 (26
# accumulators, two of B, four broadcasts) for 13 last rows in one tile.
TILES = [(rows, 2) for rows in range(13, 3, -1)] + [(12, 1), (8, 1), (4, 1)]
# AVX2 tiles: every height from 6 (12 ymm accumulators, as many as 16
# registers leave beside two of B and two broadcasts) down to 1, by 16
# columns; a tile of up to 12 rows by 32 columns is made of them.
Y_ROWS = list(range(6, 0, -1))
# The heights of the pair kernels (16 columns, B in pairs of rows).
PAIR_TILES = [12, 8, 4]


def pair_index():
    """pairidx<>: the lanes of two vectors holding the even and the odd
    halves of a pair kernel's sums (VPERMI2PS indices)."""
    out = ["", "// pairidx<> picks the even lanes (first 64 bytes) or the odd ones (next",
           "// 64) of two vectors: a pair kernel's sums over even and odd k."]
    for i in range(32):
        out.append(f"DATA pairidx<>+{4 * i}(SB)/4, ${(2 * i) % 32 + (i >= 16)}")
    out.append("GLOBL pairidx<>(SB), RODATA|NOPTR, $128")
    return out


GROUP_BLOCKS = [(14, 1), (7, 1), (14, 2), (7, 2)]
GROUP_SIGNATURE = ("in *float32, off, pix, row, ndy int, w *float32, perm *int32, quads int, mask *uint16, "
                   "out *float32, opix, flags int, bias, res *float32, ldres int, omask *uint16, slices, wslice int")


def prefetch_next_rows(o, S, npix):
    """DI is on the row below a block's last kernel row: the next output
    row's new input row(s) (S of them), fetched while the rest of this
    one is made (at batch 16 the rows come from memory). R8 = pix, R9 =
    row; SI is free."""
    for r in range(S):
        o("\tMOVQ DI, SI" if r == 0 else "\tLEAQ (DI)(R9*1), SI")
        for i in range(npix):
            o("\tPREFETCHT0 (SI)")
            if i < npix - 1:
                o("\tADDQ R8, SI")


def group_epilogue(o, name, acc, y):
    """Finishes a grouped block's sums in acc as the flags say (1 out's
    values, 2 bias, 4 res, 8 ReLU) and stores them, each pixel's loads and
    store under its omask word: by K1 (AVX-512), or with y by Y7 spread
    from the word for VMASKMOVPS. Leaves the flags in CX."""
    tmp = "Y11" if y else "Z30"

    def each(op):  # op(k) for each pixel, SI on pixel k of out or res
        for k in range(len(acc)):
            if y:
                o(f"\tVPBROADCASTW {2 * k or ''}(AX), Y7")
            else:
                o(f"\tKMOVW {2 * k or ''}(AX), K1")
            op(k)
            if k < len(acc) - 1:
                o("\tADDQ DX, SI")

    def load(k):
        o(f"\tVMASKMOVPS (SI), Y7, {tmp}" if y else f"\tVMOVUPS.Z (SI), K1, {tmp}")
        o(f"\tVADDPS {tmp}, {acc[k]}, {acc[k]}")

    o(f"""
	MOVQ flags+88(FP), CX
	MOVQ omask+120(FP), AX
	MOVQ opix+80(FP), DX
	TESTQ ${FLAG_ACC}, CX
	JZ   {name}_bias
	MOVQ out+72(FP), SI""")
    each(load)
    o(f"\n{name}_bias:\n\tTESTQ ${FLAG_BIAS}, CX\n\tJZ   {name}_res\n\tMOVQ bias+96(FP), SI\n\tVMOVUPS (SI), {tmp}")
    for a in acc:
        o(f"\tVADDPS {tmp}, {a}, {a}")
    o(f"\n{name}_res:\n\tTESTQ ${FLAG_RES}, CX\n\tJZ   {name}_relu\n\tMOVQ res+104(FP), SI\n\tMOVQ ldres+112(FP), DX")
    each(load)
    o(f"\tMOVQ opix+80(FP), DX\n\n{name}_relu:\n\tTESTQ ${FLAG_RELU}, CX\n\tJZ   {name}_store\n\tVXORPS {tmp}, {tmp}, {tmp}")
    # max(0, x) with x second: a NaN in x is kept, as Go's max keeps it.
    for a in acc:
        o(f"\tVMAXPS {a}, {tmp}, {a}")
    o(f"\n{name}_store:\n\tMOVQ out+72(FP), SI")
    each(lambda k: o(f"\tVMASKMOVPS {acc[k]}, Y7, (SI)" if y else f"\tVMOVUPS {acc[k]}, K1, (SI)"))


def next_outputs(o, name, vb):
    """Ends a grouped kernel's slice (or half): returns after the last,
    else moves out, bias and res vb bytes on (bias and res only where the
    flags in CX give them: a nil pointer stays nil) and goes on at
    {name}_next, to move the input and weights on."""
    o(f"""	DECQ slices+128(FP)
	JZ   {name}_ret
	ADDQ ${vb}, out+72(FP)
	TESTQ ${FLAG_BIAS}, CX
	JZ   {name}_nobias
	ADDQ ${vb}, bias+96(FP)

{name}_nobias:
	TESTQ ${FLAG_RES}, CX
	JZ   {name}_next
	ADDQ ${vb}, res+104(FP)

{name}_next:""")


def spread_pixels(o, R, S, fma):
    """The input pixels of a block's kernel row, for one quad: each loaded
    under its mask (AX; SI walks the pixels, R8 = pix), spread over its
    group's lanes (Z28, by the quad's indices in Z27), then channel jj of
    the quad broadcast (Z29) and passed by fma(dx, jj, k) to output pixel
    k of the R, whose tap dx it is under."""
    for i in range((R - 1) * S + 3):
        o(f"\tKMOVW {2 * i or ''}(AX), K1\n\tVMOVUPS.Z (SI), K1, Z26")
        if i < (R - 1) * S + 2:
            o("\tADDQ R8, SI")
        o("\tVPERMPS Z26, Z27, Z28")
        for jj in range(4):
            o(f"\tVPERMILPS ${jj * 0x55}, Z28, Z29")
            for dx in range(3):
                if (i - dx) % S == 0 and 0 <= (i - dx) // S < R:
                    o(fma(dx, jj, (i - dx) // S))


def group_conv(R, S):
    """groupConvRxS: a block of R output pixels of a 3x3 grouped
    convolution of stride S whose groups have 4, 8 or 16 channels, for
    one slice of 16 output channels (and the same 16 input channels)."""
    name = f"groupConv{R}x{S}"
    npix = (R - 1) * S + 3
    acc = [f"Z{i}" for i in range(R)]
    w = [f"Z{14 + i}" for i in range(12)]  # dx*4 + jj
    out = [f"""
// func {name}({GROUP_SIGNATURE})
//
// {R} output pixels of a 3x3 convolution of stride {S} whose groups have g =
// 4, 8 or 16 channels (as many filters), for each of slices slices of 16
// filters (each next one's input, output, bias and residual 64 bytes on,
// its weights wslice bytes on); for one:
// out[o] (+)= sum over the ndy kernel rows dy, the g/4 quads q of input
// channels, the taps dx and the channels jj of a quad, of x[o*{S}+dx] * w,
// the input pixels read from in + off + dy*row + i*pix bytes (i = 0..{npix - 1})
// where mask[i] is 0xffff (zero where it is 0: the padding, never read).
// w is [dy][q][dx][jj][16] floats from the first row taken; perm holds a
// quad's VPERMPS indices, which bring each group's channels q*4..q*4+3 into
// every 128-bit lane of its group, so that VPERMILPS then broadcasts
// channel jj over the lane: the weight vector holds each filter's weight
// for its own group's channel. The flags finish the block as the tile
// kernels do (1 C's values, 2 bias, 4 res, 8 ReLU), out and res pixels
// opix and ldres bytes apart, only the pixels whose omask is 0xffff read
// or written.
//
// Z0-Z{R - 1} sum the block's pixels, Z14-Z25 hold a quad's weights of one
// kernel row, Z26 the input pixel, Z27 the quad's indices, Z28 its channels
// in every lane, Z29 one channel broadcast. DI walks the kernel rows, SI the
// pixels of one, BX the weights, DX the indices, AX the masks; R8 = pix,
// R9 = row; R10 counts the quads, R11 the rows.
TEXT ·{name}(SB), NOSPLIT, $0-144

{name}_slice:
{GROUP_ARGS}"""]
    o = out.append
    for a in acc:
        o(f"\tVXORPS {a}, {a}, {a}")
    o(f"\n{name}_row:\n\tMOVQ perm+48(FP), DX\n\tMOVQ quads+56(FP), R10")
    o(f"\n{name}_quad:\n\tVMOVUPS (DX), Z27\n\tADDQ $64, DX")
    for k, z in enumerate(w):
        o(f"\tVMOVUPS {64 * k or ''}(BX), {z}")
    o("\tADDQ $768, BX\n\tMOVQ DI, SI")
    spread_pixels(o, R, S, lambda dx, jj, k: f"\tVFMADD231PS {w[dx * 4 + jj]}, Z29, {acc[k]}")
    o(f"\tDECQ R10\n\tJNZ  {name}_quad\n\tADDQ R9, DI\n\tDECQ R11\n\tJNZ  {name}_row")
    prefetch_next_rows(o, S, npix)

    group_epilogue(o, name, acc, False)
    # The next slice: its input and weights.
    next_outputs(o, name, 64)
    o(f"""	ADDQ $64, off+8(FP)
	MOVQ wslice+136(FP), SI
	ADDQ SI, w+40(FP)
	JMP  {name}_slice

{name}_ret:
	VZEROUPPER
	RET""")
    return out


GRAD_SIGNATURE = ("in *float32, off, pix, row, ndy int, acc *float32, perm *int32, quads int, mask *uint16, "
                  "dy *float32, dpix int, omask *uint16, slices, aslice int")


def group_grad(R, S):
    """groupGradRxS: the kernel gradient of groupConvRxS's block, added
    into sums laid out as its weights."""
    name = f"groupGrad{R}x{S}"
    npix = (R - 1) * S + 3
    dys = [f"Z{i}" for i in range(R)]
    acc = [f"Z{14 + i}" for i in range(12)]  # dx*4 + jj
    out = [f"""
// func {name}({GRAD_SIGNATURE})
//
// The kernel gradient of groupConv{R}x{S}'s block, for each of slices slices
// of 16 filters (each next one's input and dy 64 bytes on, its sums aslice
// bytes on): the sums at acc, laid out as groupConv{R}x{S}'s weights from the
// first kernel row taken, gain x[o*{S}+dx] * dy[o] over the block's output
// pixels o whose omask is 0xffff (dy's pixels dpix bytes apart), x read
// and spread over the lanes as groupConv{R}x{S} reads it.
//
// Z0-Z{R - 1} hold dy's pixels, Z14-Z25 a quad's sums for one kernel row,
// Z26 the input pixel, Z27 the quad's indices, Z28 its channels in every
// lane, Z29 one channel broadcast. DI walks the kernel rows, SI the pixels
// of one, BX the sums, DX the indices, AX the masks; R8 = pix, R9 = row;
// R10 counts the quads, R11 the rows.
TEXT ·{name}(SB), NOSPLIT, $0-112

{name}_slice:
	MOVQ omask+88(FP), AX
	MOVQ dy+72(FP), SI
	MOVQ dpix+80(FP), DX"""]
    o = out.append
    for k, z in enumerate(dys):
        o(f"\tKMOVW {2 * k or ''}(AX), K1\n\tVMOVUPS.Z (SI), K1, {z}")
        if k < R - 1:
            o("\tADDQ DX, SI")
    o("""	MOVQ in+0(FP), DI
	ADDQ off+8(FP), DI
	MOVQ pix+16(FP), R8
	MOVQ row+24(FP), R9
	MOVQ ndy+32(FP), R11
	MOVQ acc+40(FP), BX
	MOVQ mask+64(FP), AX""")
    o(f"\n{name}_row:\n\tMOVQ perm+48(FP), DX\n\tMOVQ quads+56(FP), R10")
    o(f"\n{name}_quad:\n\tVMOVUPS (DX), Z27\n\tADDQ $64, DX")
    for k, z in enumerate(acc):
        o(f"\tVMOVUPS {64 * k or ''}(BX), {z}")
    o("\tMOVQ DI, SI")
    spread_pixels(o, R, S, lambda dx, jj, k: f"\tVFMADD231PS {dys[k]}, Z29, {acc[dx * 4 + jj]}")
    for k, z in enumerate(acc):
        o(f"\tVMOVUPS {z}, {64 * k or ''}(BX)")
    o(f"""	ADDQ $768, BX
	DECQ R10
	JNZ  {name}_quad
	ADDQ R9, DI
	DECQ R11
	JNZ  {name}_row""")
    prefetch_next_rows(o, S, npix)
    o(f"""	DECQ slices+96(FP)
	JZ   {name}_ret
	ADDQ $64, off+8(FP)
	MOVQ aslice+104(FP), SI
	ADDQ SI, acc+40(FP)
	ADDQ $64, dy+72(FP)
	JMP  {name}_slice

{name}_ret:
	VZEROUPPER
	RET""")
    return out


# The grouped forward kernels' block arguments: DI on the first kernel
# row's first pixel, R8 = pix, R9 = row, R11 the rows, BX the weights, AX
# the input masks.
GROUP_ARGS = """	MOVQ in+0(FP), DI
	ADDQ off+8(FP), DI
	MOVQ pix+16(FP), R8
	MOVQ row+24(FP), R9
	MOVQ ndy+32(FP), R11
	MOVQ w+40(FP), BX
	MOVQ mask+64(FP), AX"""

GROUPY_SIGNATURE = ("in *float32, off, pix, row, ndy int, w *float32, hin, quads int, mask *uint16, "
                    "out *float32, opix, flags int, bias, res *float32, ldres int, omask *uint16, slices, wslice int")


def group_conv_y(S, four):
    """groupConvY7xS (groups of 8 or 16) or, with four, groupConvYF7xS
    (groups of 4): groupConv7xS in AVX2's 16 ymm registers, a slice of 16
    filters as two halves of 8."""
    R = 7
    name = f"groupConvY{'F' if four else ''}{R}x{S}"
    npix = (R - 1) * S + 3
    acc = [f"Y{i}" for i in range(R)]
    out = [f"""
// func {name}({GROUPY_SIGNATURE})
//
// groupConv{R}x{S} with AVX2, for groups of {"4" if four else "8 or 16"} channels: each slice of 16
// filters as two halves of 8 (the second half's input hin bytes on: 32, or
// 0 where a group of 16 spans both), the weights as memory operands, the
// masks' 16-bit words spread over a vector (VPBROADCASTW) for VMASKMOVPS.
// {"Each 128-bit lane of an input vector holds a group: VPERMILPS spreads channel jj of it." if four else "A pair of quads' channels lies in one input vector, a quad to a 128-bit lane: VPERM2F128 copies the lane over both, VPERMILPS spreads channel jj of it."}
//
// Y0-Y{R - 1} sum the block's pixels, Y7 holds a pixel's mask, Y8 the input
// vector, Y9 a lane over both, Y10 one channel spread, Y11-Y12 the epilogue's
// operands. DI walks the kernel rows, SI the pixels of one, R12 the
// quads' input vectors, BX the weights, AX the masks; R8 = pix, R9 = row;
// R10 counts the quad pairs, R11 the rows, R13 is 1 on a slice's second half.
TEXT ·{name}(SB), NOSPLIT, $0-144
	SHLQ $1, slices+128(FP)
	XORQ R13, R13

{name}_half:
{GROUP_ARGS}"""]
    o = out.append
    for a in acc:
        o(f"\tVXORPS {a}, {a}, {a}")
    if four:
        o(f"\n{name}_row:\n\tMOVQ DI, SI")
    else:
        o(f"\n{name}_row:\n\tMOVQ quads+56(FP), R10\n\tSHRQ $1, R10\n\tMOVQ DI, R12")
        o(f"\n{name}_pair:\n\tMOVQ R12, SI")
    for i in range(npix):
        o(f"\tVPBROADCASTW {2 * i or ''}(AX), Y7\n\tVMASKMOVPS (SI), Y7, Y8")
        if i < npix - 1:
            o("\tADDQ R8, SI")
        for lane in ([0] if four else [0, 1]):
            src = "Y8"
            if not four:
                o(f"\tVPERM2F128 ${0x11 * lane}, Y8, Y8, Y9")
                src = "Y9"
            for jj in range(4):
                o(f"\tVPERMILPS ${jj * 0x55}, {src}, Y10")
                for dx in range(3):
                    if (i - dx) % S == 0 and 0 <= (i - dx) // S < R:
                        o(f"\tVFMADD231PS {lane * 768 + (dx * 4 + jj) * 64 or ''}(BX), Y10, {acc[(i - dx) // S]}")
    if four:
        o(f"\tADDQ $768, BX")
    else:
        o(f"\tADDQ $1536, BX\n\tADDQ $32, R12\n\tDECQ R10\n\tJNZ  {name}_pair")
    o(f"\tADDQ R9, DI\n\tDECQ R11\n\tJNZ  {name}_row")

    group_epilogue(o, name, acc, True)
    # The next half: the input hin bytes on after a first half, to the
    # next slice's after a second; the weights 32 bytes on, or to the next
    # slice's.
    next_outputs(o, name, 32)
    o(f"""	XORQ $1, R13
	JZ   {name}_second
	MOVQ hin+48(FP), SI
	ADDQ SI, off+8(FP)
	ADDQ $32, w+40(FP)
	JMP  {name}_half

{name}_second:
	MOVQ $64, SI
	SUBQ hin+48(FP), SI
	ADDQ SI, off+8(FP)
	MOVQ wslice+136(FP), SI
	SUBQ $32, SI
	ADDQ SI, w+40(FP)
	JMP  {name}_half

{name}_ret:
	VZEROUPPER
	RET""")
    return out


SIGNATURE = ("k int, a, b, c *float32, ars, aks, ldb, ldc, flags int, bias, res *float32, "
             "ldres int, taps *int, ntaps int, pfaddr uintptr, ntiles, astep, crows int")
ARGS = "k, a, b, c, ars, aks, ldb, ldc, flags, bias, res, ldres, taps, ntaps, pfaddr, ntiles, astep, crows"


def go_side():
    """The Go declarations of the tile kernels and tileKernel's dispatch."""
    out = ["// Code generated by tools/gen_gemm_asm.py --go; DO NOT EDIT.", "",
           "package kernels", "",
           "// The kernelRxC are generated into gemm_amd64.s, which documents them: a",
           "// full R x C tile of C (+)= A*B, finished by the epilogue flags; steps in",
           "// bytes, taps in floats.", ""]
    for name in [f"kernelY{r}x16" for r in Y_ROWS] + [f"kernel{r}x{16 * v}" for r, v in TILES] + [f"kernelP{r}x16" for r in PAIR_TILES]:
        out += ["//go:noescape", f"func {name}({SIGNATURE})", ""]
    out += ["// tileKernel calls the AVX-512 kernel of a rows x cols tile (cols 32 or",
            "// 16; the caller checks that one exists). Direct calls: through a func",
            "// value, c would escape to the heap.",
            f"func tileKernel(rows, cols int, {SIGNATURE}) {{",
            "	switch {"]
    for r, v in TILES:
        out += [f"	case rows == {r} && cols == {16 * v}:", f"		kernel{r}x{16 * v}({ARGS})"]
    out += ["	}", "}", "",
            "// tileKernelY calls the AVX2 kernel of a rows x 16 tile (rows 1 to 6).",
            f"func tileKernelY(rows int, {SIGNATURE}) {{",
            "	switch rows {"]
    for r in Y_ROWS:
        out += [f"	case {r}:", f"		kernelY{r}x16({ARGS})"]
    out += ["	}", "}", "",
            "// pairKernel calls the pair kernel of a rows x 16 tile (rows 12, 8 or 4).",
            f"func pairKernel(rows int, {SIGNATURE}) {{",
            "	switch rows {"]
    for r in PAIR_TILES:
        out += [f"	case {r}:", f"		kernelP{r}x16({ARGS})"]
    out += ["	}", "}", ""]
    for r, st in GROUP_BLOCKS:
        out += ["//go:noescape", f"func groupConv{r}x{st}({GROUP_SIGNATURE})", ""]
    for r, st in GROUP_BLOCKS:
        out += ["//go:noescape", f"func groupGrad{r}x{st}({GRAD_SIGNATURE})", ""]
    out += ["// groupGrad calls the grouped convolution's kernel gradient for blocks",
            "// of r output pixels at stride s (one of groupBlocks).",
            f"func groupGrad(r, s int, {GRAD_SIGNATURE}) {{",
            "	switch {"]
    for r, st in GROUP_BLOCKS:
        out += [f"	case r == {r} && s == {st}:",
                f"		groupGrad{r}x{st}(in, off, pix, row, ndy, acc, perm, quads, mask, dy, dpix, omask, slices, aslice)"]
    out += ["	}", "}", ""]
    for st in (1, 2):
        for f in ("F", ""):
            out += ["//go:noescape", f"func groupConvY{f}7x{st}({GROUPY_SIGNATURE})", ""]
    out += ["// groupBlockY calls the grouped convolution's AVX2 kernel for blocks of 7",
            "// output pixels at stride s, for groups of 4 channels with four.",
            f"func groupBlockY(s int, four bool, {GROUPY_SIGNATURE}) {{",
            "	switch {"]
    for st in (1, 2):
        for f, cond in (("F", "four"), ("", "!four")):
            out += [f"	case s == {st} && {cond}:",
                    f"		groupConvY{f}7x{st}(in, off, pix, row, ndy, w, hin, quads, mask, out, opix, flags, bias, res, ldres, omask, slices, wslice)"]
    out += ["	}", "}", ""]
    out += ["// groupBlock calls the grouped convolution's kernel for blocks of r",
            "// output pixels at stride s (one of groupBlocks).",
            f"func groupBlock(r, s int, {GROUP_SIGNATURE}) {{",
            "	switch {"]
    for r, st in GROUP_BLOCKS:
        out += [f"	case r == {r} && s == {st}:",
                f"		groupConv{r}x{st}(in, off, pix, row, ndy, w, perm, quads, mask, out, opix, flags, bias, res, ldres, omask, slices, wslice)"]
    out += ["	}", "}"]
    return out


def main():
    if sys.argv[1:] == ["--go"]:
        sys.stdout.write("\n".join(go_side()) + "\n")
        return
    lines = ["// Code generated by tools/gen_gemm_asm.py; DO NOT EDIT.", "",
             '#include "textflag.h"']
    for rows in Y_ROWS:
        lines += kernel(f"kernelY{rows}x16", rows, "Y", 32)
    for rows, vecs in TILES:
        lines += kernel(f"kernel{rows}x{16 * vecs}", rows, "Z", 64, vecs=vecs)
    for rows in PAIR_TILES:
        lines += kernel(f"kernelP{rows}x16", rows, "Z", 64, pairs=True)
    lines += pair_index()
    lines += dup_kernel()
    lines += wino_input()
    lines += wino_output()
    lines += wino_s2_input()
    lines += wino_s2_output()
    lines += wino4_input()
    lines += wino4_output()
    lines += wino4_grad()
    lines += wino_input_y()
    lines += wino_output_y()
    lines += wino_s2_input_y()
    lines += wino_s2_output_y()
    lines += wino4_input("Y", 32, "Y")
    lines += wino4_output("Y", 32, "Y")
    lines += wino4_grad("Y", 32, "Y")
    lines += max_into()
    lines += max_windows()
    lines += max_into("Y", 32, "Y")
    lines += max_windows("Y", 32, "Y")
    lines += relu()
    lines += add()
    lines += relu("Y")
    lines += add("Y")
    lines += bn_backward()
    lines += bn_backward_relu_of()
    lines += bn_forward()
    lines += bn_forward("Y")
    lines += channel_sums()
    lines += channel_sums("Y")
    for r, st in GROUP_BLOCKS:
        lines += group_conv(r, st)
        lines += group_grad(r, st)
    for st in (1, 2):
        lines += group_conv_y(st, True)
        lines += group_conv_y(st, False)
    lines += fma_loop("fmaLoop", "Y", 192)
    lines += fma_loop("fmaLoop512", "Z", 384)
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
