package tensor

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Sgemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices, where
// op(X) is X or Xᵀ as transA/transB say. op(A) is m×k, op(B) is k×n, C is m×n;
// lda, ldb and ldc are the row strides of A, B and C as stored.
// When beta is 0, C is not read (NaNs in C do not propagate).
// It panics if a slice is too short for the given shape: that is a bug in the caller.
//
// The work is GotoBLAS-style: op(B) is packed in KC×NR panels shared by all
// workers, each worker packs MC×KC blocks of op(A) (alpha folded in) and runs
// an MR×NR register-tile micro-kernel (AVX-512 or AVX2 assembly on amd64, Go
// elsewhere) over them. Large products are split across GOMAXPROCS goroutines.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	sgemm(activeKernel(), runtime.GOMAXPROCS(0), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemmKernel describes one micro-kernel and the cache blocking tuned for it.
type gemmKernel struct {
	name       string
	mr, nr     int // register tile: mr rows of C × nr columns
	mc, kc, nc int // cache blocks; mc is a multiple of mr, nc of nr
	qc         int // B panels swept per A panel (their kc×qc·nr block stays in L2), at kc
	// fn computes the mr×nr tile C = Ap·Bp + beta·C from kc steps of packed
	// panels ap (kc×mr) and bp (kc×nr); C is not read when beta is 0.
	fn func(kc int, ap, bp, c *float32, ldc int, beta float32)
}

// kernelOverride forces a kernel (tests and benchmarks compare them all).
var kernelOverride *gemmKernel

func activeKernel() *gemmKernel {
	if kernelOverride != nil {
		return kernelOverride
	}
	return bestKernel
}

// GemmKernelName names the micro-kernel Sgemm uses on this machine.
func GemmKernelName() string { return activeKernel().name }

// gemmSerialCutoff is the size (2·m·n·k) under which one goroutine does the
// whole product: below it, starting workers costs more than it saves.
var gemmSerialCutoff = 1 << 22

func checkGemm(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("tensor: gemm: negative shape m=%d n=%d k=%d", m, n, k))
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	need := func(what string, s []float32, rows, cols, ld int) {
		if rows == 0 || cols == 0 {
			return
		}
		if ld < cols {
			panic(fmt.Sprintf("tensor: gemm: %s leading dimension %d < %d columns", what, ld, cols))
		}
		if len(s) < (rows-1)*ld+cols {
			panic(fmt.Sprintf("tensor: gemm: %s has %d elements, %d×%d with stride %d needs %d", what, len(s), rows, cols, ld, (rows-1)*ld+cols))
		}
	}
	if m > 0 && n > 0 {
		need("A", a, ar, ac, lda)
		need("B", b, br, bc, ldb)
	}
	need("C", c, m, n, ldc)
}

// scaleC sets C = beta·C (C = 0 without reading it when beta is 0).
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// gemmJob is one Sgemm call: its arguments, its packing buffers and the
// state of the phase the workers run. Reused (gemmJobs) so that a steady
// stream of Sgemm calls does not allocate.
type gemmJob struct {
	kern           *gemmKernel
	threads        int
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int

	bp []float32   // packed op(B) block, kc × roundup(nc, nr)
	ap [][]float32 // per worker packed op(A) block, mc × kc

	packing          bool // phase: pack B, or multiply
	splitRows        bool
	mPanels          int
	chunks           int // work items of the multiply phase
	chunkPanels      int // row panels (splitRows) or column panels per item
	next             atomic.Int64
	jc, nc, ncPanels int
	pc, kc           int
	qc               int // B panels swept per A panel, for this call's kc
	betaEff          float32
	wg               sync.WaitGroup
}

// gemmJobs keeps finished jobs with their packing buffers. Unlike a
// sync.Pool it survives garbage collections, so that a training loop that
// allocates elsewhere does not make every GEMM reallocate (and fault in)
// megabytes of buffers.
var gemmJobs freeList[gemmJob]

// freeList is a small stack of reusable objects, bounded by the number of
// concurrent users GOMAXPROCS allows.
type freeList[T any] struct {
	mu    sync.Mutex
	items []*T
}

func (f *freeList[T]) get() *T {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := len(f.items); n > 0 {
		x := f.items[n-1]
		f.items[n-1] = nil
		f.items = f.items[:n-1]
		return x
	}
	return new(T)
}

func (f *freeList[T]) put(x *T) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.items) < 2*runtime.GOMAXPROCS(0)+2 {
		f.items = append(f.items, x)
	}
}

func (j *gemmJob) reserve(workers, kc, ncPanels int) {
	nb := kc * ncPanels * j.kern.nr
	if cap(j.bp) < nb {
		j.bp = make([]float32, nb)
	}
	j.bp = j.bp[:nb]
	na := j.kern.mc*kc + maxTile // A block, then the edge-tile scratch
	for len(j.ap) < workers {
		j.ap = append(j.ap, nil)
	}
	for w := 0; w < workers; w++ {
		if cap(j.ap[w]) < na {
			j.ap[w] = make([]float32, na)
		}
		j.ap[w] = j.ap[w][:na]
	}
}

// run is one worker's share of the current phase. Work is handed out in
// chunks from an atomic counter rather than split up front: on a machine
// shared with other processes a descheduled worker then delays the phase by
// one chunk, not by its whole share.
func (j *gemmJob) run(w int) {
	nr, mr := j.kern.nr, j.kern.mr
	if j.packing {
		const group = 4 // B panels per chunk
		for {
			q0 := int(j.next.Add(group)) - group
			if q0 >= j.ncPanels {
				return
			}
			packB(j.transB, j.b, j.ldb, j.pc, j.kc, j.jc, j.nc, nr, q0, min(q0+group, j.ncPanels), j.bp[:j.kc*j.ncPanels*nr])
		}
	}
	for {
		c := int(j.next.Add(1)) - 1
		if c >= j.chunks {
			return
		}
		i0, i1 := 0, j.m
		q0, q1 := 0, j.ncPanels
		if j.splitRows {
			i0 = c * j.chunkPanels * mr
			i1 = min(j.m, i0+j.chunkPanels*mr)
		} else {
			q0 = c * j.chunkPanels
			q1 = min(j.ncPanels, q0+j.chunkPanels)
		}
		gemmBlock(j.kern, j.qc, j.transA, j.a, j.lda, j.alpha, j.pc, j.kc, i0, i1, j.jc, j.nc, q0, q1, j.bp, j.ap[w], j.betaEff, j.c, j.ldc)
	}
}

// task is work that the worker pool runs as t.run(0..workers-1).
type task interface{ run(w int) }

type taskMsg struct {
	t  task
	w  int
	wg *sync.WaitGroup
}

var (
	poolMu      sync.Mutex
	poolWorkers int
	poolCh      = make(chan taskMsg)
)

// parallel runs t.run(0..workers-1), the last on the calling goroutine and
// the others on long-lived pool goroutines, so that a call allocates nothing.
func parallel(workers int, t task, wg *sync.WaitGroup) {
	if workers <= 1 {
		t.run(0)
		return
	}
	poolMu.Lock()
	for poolWorkers < workers-1 {
		poolWorkers++
		go func() {
			for m := range poolCh {
				m.t.run(m.w)
				m.wg.Done()
			}
		}()
	}
	poolMu.Unlock()
	wg.Add(workers - 1)
	for w := 0; w < workers-1; w++ {
		poolCh <- taskMsg{t, w, wg}
	}
	t.run(workers - 1)
	wg.Wait()
}

// split returns the w-th of parts near-equal ranges of [0, total).
func split(total, parts, w int) (lo, hi int) {
	q, r := total/parts, total%parts
	lo = w*q + min(w, r)
	hi = lo + q
	if w < r {
		hi++
	}
	return lo, hi
}

func sgemm(kern *gemmKernel, threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	mr, nr := kern.mr, kern.nr
	if threads < 1 || 2*m*n*k < gemmSerialCutoff {
		threads = 1
	}
	// Split k evenly into slices of at most kern.kc (k=512 is one slice of
	// 512, not 384+128), which also saves passes over C.
	nk := (k + kern.kc - 1) / kern.kc
	kcMax := min(kern.kc, ((k+nk-1)/nk+15)/16*16)
	ncPanelsMax := (min(kern.nc, n) + nr - 1) / nr
	mPanels := (m + mr - 1) / mr
	// Split rows when there are enough row panels for every worker, else
	// split the column panels (each worker then packs all of the few rows).
	splitRows := mPanels >= 2*threads || mPanels >= ncPanelsMax
	if splitRows {
		threads = min(threads, mPanels)
	} else {
		threads = min(threads, ncPanelsMax)
	}

	j := gemmJobs.get()
	j.kern, j.threads = kern, threads
	j.transA, j.transB = transA, transB
	j.m, j.n, j.k = m, n, k
	j.alpha, j.beta = alpha, beta
	j.a, j.b, j.c = a, b, c
	j.lda, j.ldb, j.ldc = lda, ldb, ldc
	j.splitRows, j.mPanels = splitRows, mPanels
	// Keep the swept B block (qc panels of kcMax×nr) the size kern.qc
	// panels of kern.kc×nr are.
	j.qc = max(2, kern.qc*kern.kc/kcMax)
	j.reserve(threads, kcMax, ncPanelsMax)

	for jc := 0; jc < n; jc += kern.nc {
		j.jc = jc
		j.nc = min(kern.nc, n-jc)
		j.ncPanels = (j.nc + nr - 1) / nr
		for pc := 0; pc < k; pc += kcMax {
			j.pc = pc
			j.kc = min(kcMax, k-pc)
			j.packing = true
			j.next.Store(0)
			parallel(min(threads, j.ncPanels), j, &j.wg)
			j.packing = false
			j.betaEff = 1
			if pc == 0 {
				j.betaEff = beta
			}
			// About chunksPerWorker items each, as long as they stay whole
			// mc row blocks (or L2-sized groups of B panels) at most.
			if splitRows {
				j.chunkPanels = max(1, min(kern.mc/mr, (mPanels+threads*chunksPerWorker-1)/(threads*chunksPerWorker)))
				j.chunks = (mPanels + j.chunkPanels - 1) / j.chunkPanels
			} else {
				j.chunkPanels = max(1, min(j.qc, (j.ncPanels+threads*chunksPerWorker-1)/(threads*chunksPerWorker)))
				j.chunks = (j.ncPanels + j.chunkPanels - 1) / j.chunkPanels
			}
			j.next.Store(0)
			parallel(min(threads, j.chunks), j, &j.wg)
		}
	}
	j.a, j.b, j.c = nil, nil, nil
	gemmJobs.put(j)
}

// gemmBlock computes rows [i0,i1) × column panels [q0,q1) of the jc block of
// C for one kc slice, packing op(A) in mc-row chunks into ap. For each
// mr-row A panel (which stays in L1) it sweeps qc B panels (which stay in
// L2) before moving on.
func gemmBlock(kern *gemmKernel, qcPanels int, transA bool, a []float32, lda int, alpha float32, pc, kc, i0, i1, jc, nc, q0, q1 int, bp, ap []float32, beta float32, c []float32, ldc int) {
	mr, nr := kern.mr, kern.nr
	tmp := ap[len(ap)-maxTile:]
	for ic := i0; ic < i1; ic += kern.mc {
		mc := min(kern.mc, i1-ic)
		packA(transA, a, lda, alpha, ic, mc, pc, kc, mr, ap)
		for qc := q0; qc < q1; qc += qcPanels {
			qe := min(q1, qc+qcPanels)
			for ir := 0; ir < mc; ir += mr {
				rows := min(mr, mc-ir)
				app := &ap[ir*kc]
				i := ic + ir
				for q := qc; q < qe; q++ {
					j := jc + q*nr
					cols := min(nr, jc+nc-j)
					bpq := &bp[q*kc*nr]
					if rows == mr && cols == nr {
						kern.fn(kc, app, bpq, &c[i*ldc+j], ldc, beta)
						continue
					}
					kern.fn(kc, app, bpq, &tmp[0], nr, 0)
					for r := 0; r < rows; r++ {
						crow := c[(i+r)*ldc+j : (i+r)*ldc+j+cols]
						trow := tmp[r*nr : r*nr+cols]
						if beta == 0 {
							copy(crow, trow)
						} else {
							for x := range crow {
								crow[x] = trow[x] + beta*crow[x]
							}
						}
					}
				}
			}
		}
	}
}

// chunksPerWorker is how many work items each worker gets on average.
const chunksPerWorker = 4

// maxTile bounds mr·nr over all kernels (the edge-tile scratch).
const maxTile = 16 * 32

// packA packs rows [ic, ic+mc) and columns [pc, pc+kc) of alpha·op(A) into
// mr-row panels: panel r holds, for each p, the mr values of column p. Rows
// past mc are zero.
func packA(transA bool, a []float32, lda int, alpha float32, ic, mc, pc, kc, mr int, ap []float32) {
	for r := 0; r < mc; r += mr {
		rows := min(mr, mc-r)
		dst := ap[r*kc : r*kc+kc*mr]
		if transA {
			// op(A)(i,p) = a[p*lda+i]: each p is a contiguous run of rows.
			packN(a[(pc)*lda+ic+r:], lda, rows, kc, mr, alpha, dst)
		} else {
			packT(a[(ic+r)*lda+pc:], lda, rows, kc, mr, alpha, dst)
		}
	}
}

// packB packs column panels [q0, q1) (of nr columns each, counted from jc) of
// rows [pc, pc+kc) of op(B): panel q holds, for each p, the nr values of row
// p. Columns past nc are zero.
func packB(transB bool, b []float32, ldb, pc, kc, jc, nc, nr, q0, q1 int, bp []float32) {
	for q := q0; q < q1; q++ {
		j := jc + q*nr
		cols := min(nr, jc+nc-j)
		dst := bp[q*kc*nr : (q+1)*kc*nr]
		if transB {
			// op(B)(p,j) = b[j*ldb+p]: column j of op(B) is a contiguous run.
			packT(b[j*ldb+pc:], ldb, cols, kc, nr, 1, dst)
		} else {
			packN(b[pc*ldb+j:], ldb, cols, kc, nr, 1, dst)
		}
	}
}

// packN copies kc rows of w values (cols of them from src rows ld apart,
// scaled by alpha, then zeros) into dst, row after row.
func packN(src []float32, ld, cols, kc, w int, alpha float32, dst []float32) {
	dst = dst[:kc*w]
	if kc == 0 {
		return
	}
	if packRowsAsm != nil && w <= 32 && cols > 0 {
		_ = src[(kc-1)*ld+cols-1] // the rows the masked loads read must be in bounds
		lo, hi := min(cols, 16), max(cols-16, 0)
		packRowsAsm(&src[0], ld, kc, &dst[0], w, alpha, lanes(lo), lanes(hi), lanes(min(w, 16)), lanes(max(w-16, 0)))
		return
	}
	for p := 0; p < kc; p++ {
		s := src[p*ld : p*ld+cols]
		d := dst[p*w : p*w+w]
		for x, v := range s {
			d[x] = alpha * v
		}
		clear(d[cols:])
	}
}

// lanes is the mask of the first n of 16 vector lanes.
func lanes(n int) uint16 {
	if n >= 16 {
		return 0xffff
	}
	return uint16(1)<<n - 1
}

// packT transposes: dst[p*w+x] = alpha·src[x*ld+p] for x < cols, p < kc,
// and zero for cols <= x < w. With AVX-512 it moves 16×16 blocks through
// registers; the rest (and other builds) go element by element, in p blocks
// so that the strided writes stay in L1.
func packT(src []float32, ld, cols, kc, w int, alpha float32, dst []float32) {
	dst = dst[:kc*w]
	x0 := 0
	if transpose16 != nil && kc >= 16 {
		// Full groups of 16 source rows; a group of fewer rows (mr=12 A
		// panels) still loads 16 rows, so it needs them in bounds.
		for ; x0 < cols; x0 += 16 {
			xr := min(16, cols-x0)
			if (x0+15)*ld+kc > len(src) {
				break
			}
			mask := lanes(xr)
			p := 0
			for ; p+16 <= kc; p += 16 {
				transpose16(&src[x0*ld+p], ld, &dst[p*w+x0], w, alpha, mask)
			}
			for x := x0; x < x0+xr; x++ {
				for q := p; q < kc; q++ {
					dst[q*w+x] = alpha * src[x*ld+q]
				}
			}
		}
	}
	const pb = 64
	for p0 := 0; p0 < kc; p0 += pb {
		p1 := min(kc, p0+pb)
		for x := x0; x < cols; x++ {
			s := src[x*ld+p0 : x*ld+p1]
			d := dst[p0*w+x:]
			for i, v := range s {
				d[i*w] = alpha * v
			}
		}
	}
	if cols < w {
		for p := 0; p < kc; p++ {
			clear(dst[p*w+cols : p*w+w])
		}
	}
}

// kernelGo is the portable micro-kernel: a 4×4 register tile in plain Go.
func kernelGo(kc int, ap, bp, c *float32, ldc int, beta float32) {
	a := unsafe.Slice(ap, kc*4)
	b := unsafe.Slice(bp, kc*4)
	var c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33 float32
	for p := 0; p < kc; p++ {
		av := a[p*4 : p*4+4 : p*4+4]
		bv := b[p*4 : p*4+4 : p*4+4]
		a0, a1, a2, a3 := av[0], av[1], av[2], av[3]
		b0, b1, b2, b3 := bv[0], bv[1], bv[2], bv[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	cs := unsafe.Slice(c, 3*ldc+4)
	acc := [4][4]float32{{c00, c01, c02, c03}, {c10, c11, c12, c13}, {c20, c21, c22, c23}, {c30, c31, c32, c33}}
	for i := 0; i < 4; i++ {
		row := cs[i*ldc : i*ldc+4]
		if beta == 0 {
			copy(row, acc[i][:])
		} else {
			for j := range row {
				row[j] = acc[i][j] + beta*row[j]
			}
		}
	}
}

var goKernel = &gemmKernel{name: "go", mr: 4, nr: 4, mc: 128, kc: 256, nc: 4096, qc: 64, fn: kernelGo}

// GemmKernelNames lists the micro-kernels this build can run on this CPU,
// slowest first; the last is the one Sgemm uses.
func GemmKernelNames() []string {
	var names []string
	for _, k := range gemmKernels() {
		names = append(names, k.name)
	}
	return names
}

// SgemmFunc has Sgemm's signature.
type SgemmFunc func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)

// SgemmWithKernel returns Sgemm forced onto the named micro-kernel (one of
// GemmKernelNames), for benchmarks that compare kernels.
func SgemmWithKernel(name string) (SgemmFunc, bool) {
	for _, kern := range gemmKernels() {
		if kern.name == name {
			return func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
				checkGemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
				sgemm(kern, runtime.GOMAXPROCS(0), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
			}, true
		}
	}
	return nil, false
}
