package kernels

import "sync"

// The kernel gradient by Winograd. A 3x3 kernel's gradient over one 4x4
// tile of dy, dW[ky][kx] = sum over i, j of x[i+ky][j+kx] dy[i][j] with x
// the 6x6 input window under the tile, is a correlation of a 6-value
// signal with a 4-tap filter giving 3 outputs: Winograd's F(3x3, 4x4). On
// the six points of our F(4x4, 3x3) it shares that form's input transform
// B'xB. dy's tile goes through A (the transpose of the output transform
// A', 6x4: powers of two, so the assembly gives the Go code's bits), and
// the sums come back to 3x3 through A3' D = G' (A3' being F(3x3, 4x4)'s
// output transform and D the diagonal of G's scales, which F(3x3, 4x4)'s
// filter transform D A has too): dW = G' S G, the forward kernel
// transform U = G g G' in reverse, over S[e] = sum over tiles of
// V[e]' M[e]. Each of the 36 is a product (C x tiles)(tiles x F), its
// inner dimension the tiles: 4 times fewer multiplications than the
// direct 9 x 16 per tile (ResNet-20's 8x8x64 layers at batch 128, both
// gradients: 2.82-2.91 -> 2.43-2.50 ms; ResNet-50's 28x28x128 at batch
// 16: 16.5-17.0 -> 11.0-11.3 ms; BenchmarkConvTrain).

// winogradKernelGrads reports whether convBackwardKernelWinograd takes p's
// kernel gradient: a training step's F(4x4) layer (winogradTrains), with
// the assembly transforms and whole panels of filters.
func winogradKernelGrads(p Conv2DParams) bool {
	return vecGroups(p.C) && winogradTrains(p) && WinogradTile(p) == 4 && p.F%nr == 0
}

// convBackwardKernelWinograd adds the gradient of p's 3x3 kernel (HWIO)
// from its input and dy, by blocks of 4x4 tiles of dy: each block's input
// windows and dy tiles are transformed while in cache and their products
// summed into the core's own 36 C x F sums.
func convBackwardKernelWinograd(p Conv2DParams, in, dy, dkernel []float32) {
	const m, ne = 4, 36
	form := winoFormFor(m, 1)
	th, tw := (p.OH+m-1)/m, (p.OW+m-1)/m
	c, f := p.C, p.F
	tiles := p.N * th * tw
	blocks, bt := tileBlocks(tiles, form.blockTiles(c))
	dyImage := Conv2DParams{N: p.N, H: p.OH, W: p.OW, C: f} // dy's tiles read as tileWindow reads an input
	total := getBuf(ne * c * f)
	defer putBuf(total)
	clear(*total)
	winoKernelGradTasks.Run(blocks, blocks/Workers(), winoKernelGradTask{p, in, dy, total, form, dyImage, th, tw, c, f, tiles, bt})
	gradFromSums(*total, c, f, dkernel)
}

// winoKernelGradTask is convBackwardKernelWinograd's loop over blocks of
// tiles: each core sums its blocks' products, then adds them into total
// under winoKernelGradMu.
type winoKernelGradTask struct {
	p                       Conv2DParams
	in, dy                  []float32
	total                   *[]float32
	form                    *winoForm
	dyImage                 Conv2DParams
	th, tw, c, f, tiles, bt int
}

var (
	winoKernelGradTasks Tasks[winoKernelGradTask, *winoKernelGradTask]
	winoKernelGradMu    sync.Mutex
)

func (t *winoKernelGradTask) Run(lo, hi int) {
	const m, ne = 4, 36 // as convBackwardKernelWinograd
	p, in, dy, total, form, dyImage := t.p, t.in, t.dy, t.total, t.form, t.dyImage
	th, tw, c, f, tiles, bt := t.th, t.tw, t.c, t.f, t.tiles, t.bt
	v, g, sums := getBuf(ne*bt*c), getBuf(ne*bt*f), getBuf(ne*c*f)
	gwin := getBuf(m * m * f)
	defer putBuf(v)
	defer putBuf(g)
	defer putBuf(sums)
	defer putBuf(gwin)
	src := newTileSource(p, m+2, m, th, tw, bt)
	defer src.free()
	clear(*sums)
	for b := lo; b < hi; b++ {
		t0, t1 := b*bt, min(tiles, (b+1)*bt)
		if t0 >= t1 {
			break // rounded up to whole rounds of workers: the last blocks can be empty
		}
		kk := t1 - t0
		for t := t0; t < t1; t++ {
			n, rem := t/(th*tw), t%(th*tw)
			y, x := m*(rem/tw), m*(rem%tw)
			d, rowStride := src.window(in, n, rem/tw, rem%tw)
			form.input(c, d, rowStride, c, (*v)[(t-t0)*c:], kk*c)
			// dy's transform as B's panels of nr filters: panel j of
			// element e, k-major (a tile's nr values after another's).
			gs, gStride := tileWindow(dyImage, dy, n, y, x, m, *gwin)
			for j := 0; j < f; j += nr {
				winoGrad4(nr, gs[j:], gStride, f, (*g)[j*kk+(t-t0)*nr:], f*kk)
			}
		}
		for e := 0; e < ne; e++ {
			a := panelA{data: (*v)[e*kk*c:], rs: 1, ks: c, taps: oneTap}
			macroKernel(c, f, kk, a, mr, (*g)[e*f*kk:], (*sums)[e*c*f:], f, true, epAt{}, nil)
		}
	}
	winoKernelGradMu.Lock()
	defer winoKernelGradMu.Unlock()
	for i, s := range *sums {
		(*total)[i] += s
	}
}

// gradFromSums adds to the HWIO 3x3 kernel gradient dk (9 x C*F) the
// gradient the 36 C x F sums s give, dW = G' S G, as one matrix product:
// dk += W s with W[3ky+kx][6a+b] = G[a][ky] G[b][kx].
func gradFromSums(s []float32, c, f int, dk []float32) {
	Gemm(9, c*f, 36, Mat{Data: gradWeights[:], Stride: 36}, Mat{Data: s, Stride: c * f}, dk, c*f, true)
}

// gradWeights is gradFromSums' W.
var gradWeights = func() (w [9 * 36]float32) {
	g := winoForms[4].g
	for ky := 0; ky < 3; ky++ {
		for kx := 0; kx < 3; kx++ {
			for a := 0; a < 6; a++ {
				for b := 0; b < 6; b++ {
					w[(3*ky+kx)*36+6*a+b] = float32(g[a][ky] * g[b][kx])
				}
			}
		}
	}
	return w
}()
