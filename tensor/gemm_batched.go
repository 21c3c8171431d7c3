package tensor

import (
	"fmt"
	"runtime"
	"sync"
)

// SgemmStridedBatched computes batch products C_i = alpha·op(A_i)·op(B_i) +
// beta·C_i, where X_i starts at element i·strideX of x (a stride may be 0 to
// share one matrix, e.g. the same B for every batch entry). Attention heads
// stored side by side in a (T, NH·HD) row-major tensor are A_i with lda
// NH·HD and strideA HD. The C_i must not overlap.
//
// With at least as many entries as workers, each worker runs whole products
// one after another (small per-head GEMMs gain nothing from splitting);
// otherwise the products run in turn, each split across the workers.
func SgemmStridedBatched(transA, transB bool, m, n, k int, alpha float32, a []float32, lda, strideA int, b []float32, ldb, strideB int, beta float32, c []float32, ldc, strideC int, batch int) {
	if batch < 0 || strideA < 0 || strideB < 0 || strideC < 0 {
		panic(fmt.Sprintf("tensor: batched gemm: negative batch %d or stride (%d, %d, %d)", batch, strideA, strideB, strideC))
	}
	if batch == 0 || m == 0 || n == 0 {
		return
	}
	sub := func(s []float32, i, stride int, what string) []float32 {
		if i*stride > len(s) {
			panic(fmt.Sprintf("tensor: batched gemm: %s has %d elements, entry %d starts at %d", what, len(s), i, i*stride))
		}
		return s[i*stride:]
	}
	for _, i := range []int{0, batch - 1} {
		checkGemm(transA, transB, m, n, k, sub(a, i, strideA, "A"), lda, sub(b, i, strideB, "B"), ldb, sub(c, i, strideC, "C"), ldc)
	}
	kern := activeKernel()
	threads := runtime.GOMAXPROCS(0)
	if batch < threads || threads == 1 {
		for i := 0; i < batch; i++ {
			sgemm(kern, threads, transA, transB, m, n, k, alpha, a[i*strideA:], lda, b[i*strideB:], ldb, beta, c[i*strideC:], ldc)
		}
		return
	}
	j := batchJobs.get()
	*j = batchJob{kern: kern, threads: threads, transA: transA, transB: transB, m: m, n: n, k: k,
		alpha: alpha, beta: beta, a: a, b: b, c: c, lda: lda, ldb: ldb, ldc: ldc,
		strideA: strideA, strideB: strideB, strideC: strideC, batch: batch}
	parallel(threads, j, &j.wg)
	j.a, j.b, j.c = nil, nil, nil
	batchJobs.put(j)
}

type batchJob struct {
	kern                      *gemmKernel
	threads                   int
	transA, transB            bool
	m, n, k                   int
	alpha, beta               float32
	a, b, c                   []float32
	lda, ldb, ldc             int
	strideA, strideB, strideC int
	batch                     int
	wg                        sync.WaitGroup
}

var batchJobs freeList[batchJob]

func (j *batchJob) run(w int) {
	lo, hi := split(j.batch, j.threads, w)
	for i := lo; i < hi; i++ {
		sgemm(j.kern, 1, j.transA, j.transB, j.m, j.n, j.k, j.alpha, j.a[i*j.strideA:], j.lda, j.b[i*j.strideB:], j.ldb, j.beta, j.c[i*j.strideC:], j.ldc)
	}
}
