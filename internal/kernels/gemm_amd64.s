#include "textflag.h"

// func kernel6x16c(k int, a, b, c *float32, lda, ldb, ldc int, acc bool)
//
// c[r][j] (+)= sum over p < k of a[p*lda/4+r] * b[p*ldb/4+j], for r < 6,
// j < 16: lda and ldb are the byte steps from one k to the next (24 and 64
// for packed panels), ldc the byte step between rows of C; with acc the
// product is added to C. Registers: CX counts k down; SI walks A, DI walks
// B, R8 and R9 hold their steps, R10 holds ldc, DX and BX point into C.
// Y0..Y11 hold the tile, row r in Y(2r) (columns 0-7) and Y(2r+1)
// (columns 8-15); Y12, Y13 hold the B row; Y14, Y15 broadcast A values.
TEXT ·kernel6x16c(SB), NOSPLIT, $0-57
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ lda+32(FP), R8
	MOVQ ldb+40(FP), R9
	MOVQ ldc+48(FP), R10
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

cloop:
	VMOVUPS (DI), Y12
	VMOVUPS 32(DI), Y13
	VBROADCASTSS (SI), Y14
	VFMADD231PS Y12, Y14, Y0
	VFMADD231PS Y13, Y14, Y1
	VBROADCASTSS 4(SI), Y15
	VFMADD231PS Y12, Y15, Y2
	VFMADD231PS Y13, Y15, Y3
	VBROADCASTSS 8(SI), Y14
	VFMADD231PS Y12, Y14, Y4
	VFMADD231PS Y13, Y14, Y5
	VBROADCASTSS 12(SI), Y15
	VFMADD231PS Y12, Y15, Y6
	VFMADD231PS Y13, Y15, Y7
	VBROADCASTSS 16(SI), Y14
	VFMADD231PS Y12, Y14, Y8
	VFMADD231PS Y13, Y14, Y9
	VBROADCASTSS 20(SI), Y15
	VFMADD231PS Y12, Y15, Y10
	VFMADD231PS Y13, Y15, Y11
	ADDQ R8, SI
	ADDQ R9, DI
	DECQ CX
	JNZ  cloop

	MOVQ DX, BX
	MOVBLZX acc+56(FP), AX
	TESTQ AX, AX
	JZ   store
	// acc: add C's current values into the accumulators, row by row.
	VADDPS (BX), Y0, Y0
	VADDPS 32(BX), Y1, Y1
	ADDQ R10, BX
	VADDPS (BX), Y2, Y2
	VADDPS 32(BX), Y3, Y3
	ADDQ R10, BX
	VADDPS (BX), Y4, Y4
	VADDPS 32(BX), Y5, Y5
	ADDQ R10, BX
	VADDPS (BX), Y6, Y6
	VADDPS 32(BX), Y7, Y7
	ADDQ R10, BX
	VADDPS (BX), Y8, Y8
	VADDPS 32(BX), Y9, Y9
	ADDQ R10, BX
	VADDPS (BX), Y10, Y10
	VADDPS 32(BX), Y11, Y11
	MOVQ DX, BX

store:
	VMOVUPS Y0, (BX)
	VMOVUPS Y1, 32(BX)
	ADDQ R10, BX
	VMOVUPS Y2, (BX)
	VMOVUPS Y3, 32(BX)
	ADDQ R10, BX
	VMOVUPS Y4, (BX)
	VMOVUPS Y5, 32(BX)
	ADDQ R10, BX
	VMOVUPS Y6, (BX)
	VMOVUPS Y7, 32(BX)
	ADDQ R10, BX
	VMOVUPS Y8, (BX)
	VMOVUPS Y9, 32(BX)
	ADDQ R10, BX
	VMOVUPS Y10, (BX)
	VMOVUPS Y11, 32(BX)
	VZEROUPPER
	RET

// func fmaLoop(n int)
//
// Runs n iterations of 12 independent 8-wide FMAs on registers only: the
// machine's FMA peak, 192 flops per iteration. CX counts down; Y0..Y11
// accumulate; Y12 and Y13 are the constant operands.
TEXT ·fmaLoop(SB), NOSPLIT, $0-8
	MOVQ n+0(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13

fmaloop:
	VFMADD231PS Y12, Y13, Y0
	VFMADD231PS Y12, Y13, Y1
	VFMADD231PS Y12, Y13, Y2
	VFMADD231PS Y12, Y13, Y3
	VFMADD231PS Y12, Y13, Y4
	VFMADD231PS Y12, Y13, Y5
	VFMADD231PS Y12, Y13, Y6
	VFMADD231PS Y12, Y13, Y7
	VFMADD231PS Y12, Y13, Y8
	VFMADD231PS Y12, Y13, Y9
	VFMADD231PS Y12, Y13, Y10
	VFMADD231PS Y12, Y13, Y11
	DECQ CX
	JNZ  fmaloop
	VZEROUPPER
	RET
