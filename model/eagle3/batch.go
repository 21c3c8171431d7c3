package eagle3

import "fmt"

// Batch is one packed training row after shift_batch and collation
// (training-spec §4.3-4.4): T positions, padding at the end with Doc = −1
// and zeros elsewhere.
type Batch struct {
	T            int
	Aux          []float32 // (T, A·H) verifier aux hidden states g_t, layer order of the config
	IDs          []int32   // (T) input token x_{t+1} (verifier vocabulary)
	Doc          []int32   // (T) document index, −1 for padding
	Mask         []float32 // (T) loss mask l_{t+1}, 0 or 1
	Pos          []int32   // (T) position ids (start at 1 after the shift)
	VerifierLast []float32 // (T, H) verifier last-layer hidden state y_{t+1} (before its final norm)
}

// Sample is one unshifted dataset row (training-spec §4.2).
type Sample struct {
	IDs          []int32   // (S)
	LossMask     []float32 // (S)
	Aux          []float32 // (S, A·H)
	VerifierLast []float32 // (S, H)
}

// NewBatch allocates a batch for up to T positions.
func NewBatch(T, auxWidth, h int) *Batch {
	return &Batch{T: T, Aux: make([]float32, T*auxWidth), IDs: make([]int32, T), Doc: make([]int32, T),
		Mask: make([]float32, T), Pos: make([]int32, T), VerifierLast: make([]float32, T*h)}
}

// Pack shifts each sample (x[1:], g[:-1], y[1:], l[1:], positions 1..S-1)
// and writes them back to back into b, truncating the last one at b.T and
// padding the rest (Doc −1, zeros), as CollateFn does. It allocates
// nothing. auxWidth is A·H and h is H.
func Pack(b *Batch, samples []Sample, auxWidth, h int) error {
	T := b.T
	if len(b.Aux) < T*auxWidth || len(b.VerifierLast) < T*h || len(b.IDs) < T || len(b.Doc) < T || len(b.Mask) < T || len(b.Pos) < T {
		return fmt.Errorf("eagle3: batch buffers too small for T=%d", T)
	}
	at := 0
	doc := int32(0)
	for si, s := range samples {
		S := len(s.IDs)
		if len(s.LossMask) != S || len(s.Aux) != S*auxWidth || len(s.VerifierLast) != S*h {
			return fmt.Errorf("eagle3: sample %d: %d ids, %d mask, %d aux values (want %d), %d last values (want %d)",
				si, S, len(s.LossMask), len(s.Aux), S*auxWidth, len(s.VerifierLast), S*h)
		}
		n := S - 1
		if n <= 0 || at >= T {
			continue
		}
		n = min(n, T-at)
		for i := 0; i < n; i++ {
			b.IDs[at+i] = s.IDs[i+1]
			b.Mask[at+i] = s.LossMask[i+1]
			b.Pos[at+i] = int32(i + 1)
			b.Doc[at+i] = doc
		}
		copy(b.Aux[at*auxWidth:(at+n)*auxWidth], s.Aux[:n*auxWidth])
		copy(b.VerifierLast[at*h:(at+n)*h], s.VerifierLast[h:(n+1)*h])
		at += n
		doc++
	}
	for i := at; i < T; i++ {
		b.IDs[i], b.Mask[i], b.Pos[i], b.Doc[i] = 0, 0, 0, -1
	}
	clear(b.Aux[at*auxWidth : T*auxWidth])
	clear(b.VerifierLast[at*h : T*h])
	return nil
}
