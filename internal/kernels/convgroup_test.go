package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// Grouped 3x3 convolutions the direct kernels take (with AVX-512): groups
// of 4, 8 and 16 channels, strides 1 and 2, blocks of 14 and of 7 output
// pixels, rows whose last block is cut short, no padding, and rows whose
// every tap falls in the padding (no kernel row inside the image).
var smallGroupCases = []Conv2DParams{
	{N: 1, H: 9, W: 9, C: 64, KH: 3, KW: 3, F: 64, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 16},
	{N: 2, H: 10, W: 17, C: 32, KH: 3, KW: 3, F: 32, SH: 2, SW: 2, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 4},
	{N: 1, H: 16, W: 30, C: 64, KH: 3, KW: 3, F: 64, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 4},
	{N: 2, H: 7, W: 7, C: 48, KH: 3, KW: 3, F: 48, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 12},
	{N: 1, H: 8, W: 8, C: 16, KH: 3, KW: 3, F: 16, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 0, PadL: 0, Groups: 2},
	{N: 1, H: 29, W: 28, C: 32, KH: 3, KW: 3, F: 32, SH: 2, SW: 2, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 8},
	{N: 1, H: 2, W: 5, C: 16, KH: 3, KW: 3, F: 16, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 3, PadL: 2, Groups: 4},
}

// The direct kernels' packing is chosen for exactly the shapes they take,
// and only with AVX-512 or AVX2: dilation, other strides, unequal channels in and
// out, groups of 32 and groups of channels no vector divides go to the
// products.
func TestSmallGroupSize(t *testing.T) {
	if !useAVX512 && !useAVX2 {
		t.Skip("no vector kernels: the direct grouped kernels are not used")
	}
	base := Conv2DParams{C: 128, F: 128, KH: 3, KW: 3, SH: 1, SW: 1, DH: 1, DW: 1, Groups: 32}
	for _, c := range []struct {
		name string
		edit func(*Conv2DParams)
		want int
	}{
		{"ResNeXt 32x4d", func(*Conv2DParams) {}, 4},
		{"stride 2", func(p *Conv2DParams) { p.SH, p.SW = 2, 2 }, 4},
		{"8 a group", func(p *Conv2DParams) { p.Groups = 16 }, 8},
		{"16 a group", func(p *Conv2DParams) { p.Groups = 8 }, 16},
		{"32 a group", func(p *Conv2DParams) { p.Groups = 4 }, 0},
		{"2 a group", func(p *Conv2DParams) { p.Groups = 64 }, 0},
		{"one group", func(p *Conv2DParams) { p.Groups = 1 }, 0},
		{"stride 3", func(p *Conv2DParams) { p.SH, p.SW = 3, 3 }, 0},
		{"strides unequal", func(p *Conv2DParams) { p.SW = 2 }, 0},
		{"stride unknown", func(p *Conv2DParams) { p.SH, p.SW = 0, 0 }, 0},
		{"dilated", func(p *Conv2DParams) { p.DH, p.DW = 2, 2 }, 0},
		{"more filters", func(p *Conv2DParams) { p.F = 256 }, 0},
		{"1x1", func(p *Conv2DParams) { p.KH, p.KW = 1, 1 }, 0},
		{"channels not of 16", func(p *Conv2DParams) { p.C, p.F, p.Groups = 36, 36, 9 }, 0},
	} {
		p := base
		c.edit(&p)
		if got := smallGroupSize(p); got != c.want {
			t.Errorf("%s: smallGroupSize = %d, want %d", c.name, got, c.want)
		}
		if c.want > 0 && WinogradApplies(p) {
			t.Errorf("%s: Winograd applies where the direct kernels do", c.name)
		}
	}
}

// Each block kernel, AVX-512's and AVX2's, matches the portable block (the
// same sums in the same order, fused or not) on random blocks: every group
// size, block length (AVX2's: 7) and stride, kernel rows from 1 to 3, 1 to
// 3 slices of filters, pixels masked in and out on either side, and each
// epilogue flag.
func TestGroupBlockMatchesGo(t *testing.T) {
	for _, isa := range vectorISAs(t) {
		isa.use()
		t.Run(isa.name, testGroupBlock)
	}
}

func testGroupBlock(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for trial := range 300 {
		a, width, cut := randomGroupBlock(r, trial)
		a.flags = r.IntN(16)
		a.bias = randSlice(r, width)
		a.res = randSlice(r, a.r*a.ldres)
		out := randSlice(r, a.r*a.opix)
		want := slices.Clone(out)
		a.out = want
		a.runGo()
		a.out = out
		if !groupBlockAsm(&a) {
			t.Fatal("no kernel for the block")
		}
		name := fmt.Sprintf("trial %d (g %d, r %d, s %d, rows %d, slices %d, flags %d)", trial, a.g, a.r, a.s, a.ndy, a.slices, a.flags)
		for i := range out {
			o, l := i/a.opix, i%a.opix
			if l >= width || o >= cut {
				if out[i] != want[i] {
					t.Fatalf("%s: out[%d] = %v written outside the block, was %v", name, i, out[i], want[i])
				}
				continue
			}
			if !nearly(out[i], want[i]) {
				t.Fatalf("%s: out[%d] = %v, want %v", name, i, out[i], want[i])
			}
		}
	}
}

// Each block gradient kernel matches the portable one on random blocks,
// as TestGroupBlockMatchesGo draws them, the sums starting from random
// values: dy's pixels past the block's cut take no part.
func TestGroupGradMatchesGo(t *testing.T) {
	if !useAVX512 {
		t.Skip("no AVX-512")
	}
	r := rand.New(rand.NewPCG(23, 24))
	for trial := range 300 {
		a, _, _ := randomGroupBlock(r, trial)
		a.out = randSlice(r, a.r*a.opix) // dy
		sums := a.w
		want := slices.Clone(sums)
		a.w = want
		a.gradGo()
		a.w = sums
		if !groupGradAsm(&a) {
			t.Fatal("no kernel for the block")
		}
		name := fmt.Sprintf("trial %d (g %d, r %d, s %d, rows %d, slices %d)", trial, a.g, a.r, a.s, a.ndy, a.slices)
		for i := range sums {
			if !nearly(sums[i], want[i]) {
				t.Fatalf("%s: sum %d = %v, want %v", name, i, sums[i], want[i])
			}
		}
	}
}

// nearly reports whether got is want up to the rounding of fused and
// unfused sums: 1e-5 of want, or of 1 where want is smaller.
func nearly(got, want float32) bool {
	return math.Abs(float64(got-want)) <= 1e-5*(1+math.Abs(float64(want)))
}

// randomGroupBlock draws a block for the block tests (its group size,
// length and stride from trial): its input, weights (or sums), masks and
// strides. width is the floats of a pixel it reads or writes, cut the
// output pixels inside the row.
func randomGroupBlock(r *rand.Rand, trial int) (a groupBlockArgs, width, cut int) {
	g := []int{4, 8, 16}[trial%3]
	a = groupBlockArgs{r: []int{14, 7}[trial/3%2], s: 1 + trial/6%2, g: g, ndy: 1 + r.IntN(3), slices: 1 + r.IntN(3)}
	if !useAVX512 {
		a.r = groupMaxBlock / 2
	}
	npix := (a.r-1)*a.s + 3
	width = 16 * a.slices
	a.pix = width + 16*r.IntN(2)
	a.row = a.pix * (npix + r.IntN(4))
	a.in = randSlice(r, a.row*3)
	a.wslice = groupWeights(g)
	a.w = randSlice(r, a.slices*a.wslice)
	lead, trail := r.IntN(3), r.IntN(4) // masked pixels before and after
	for i := lead; i < npix-trail; i++ {
		a.mask[i] = 0xffff
	}
	a.off = -lead * a.pix // the masked lead is before in[0]
	a.in = a.in[lead*a.pix:]
	cut = r.IntN(a.r) + 1
	for o := range cut {
		a.omask[o] = 0xffff
	}
	a.opix = width + 16*r.IntN(2)
	a.ldres = width + 16*r.IntN(2)
	return a, width, cut
}
