package tensor

import "fmt"

// Embedding lookup (gather) and its backward (scatter-add).

// EmbeddingForward copies row ids[t] of w into row t of out.
// ids (N); w (V, C); out (N, C). It returns an error naming the first id
// outside [0, V), so bad token ids from data files never index out of range.
func EmbeddingForward(out, w []float32, ids []int32, v, c int) error {
	for t, id := range ids {
		if id < 0 || int(id) >= v {
			return fmt.Errorf("embedding: token id %d at position %d outside vocabulary of %d", id, t, v)
		}
	}
	if Chunks(len(ids), rowGrain(c)) <= 1 {
		embedRows(out, w, ids, c, 0, len(ids))
		return nil
	}
	ParallelFor(len(ids), rowGrain(c), func(lo, hi int) { embedRows(out, w, ids, c, lo, hi) })
	return nil
}

func embedRows(out, w []float32, ids []int32, c, lo, hi int) {
	for t := lo; t < hi; t++ {
		id := int(ids[t])
		copy(out[t*c:(t+1)*c], w[id*c:(id+1)*c])
	}
}

// EmbeddingBackward accumulates dw[ids[t]] += dout[t]. Goroutines split the
// columns, so repeated ids never race. ids must have passed EmbeddingForward.
// ids (N); dout (N, C); dw (V, C).
func EmbeddingBackward(dw, dout []float32, ids []int32, c int) {
	ParallelFor(c, 64, func(lo, hi int) {
		for t, id := range ids {
			d := dw[int(id)*c+lo : int(id)*c+hi]
			s := dout[t*c+lo : t*c+hi]
			for j := range d {
				d[j] += s[j]
			}
		}
	})
}

// EmbeddingBackwardRef is the plain reference for EmbeddingBackward.
func EmbeddingBackwardRef(dw, dout []float32, ids []int32, c int) {
	for t, id := range ids {
		for j := 0; j < c; j++ {
			dw[int(id)*c+j] += dout[t*c+j]
		}
	}
}
