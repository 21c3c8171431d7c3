package eagle3

import (
	"fmt"

	"github.com/speculators-go/speculators/tensor"
)

// LossTerm is one weighted term of the training loss.
type LossTerm = tensor.LossTerm

// ParseLoss reads a --loss-fn value as speculators' resolve_loss_config
// does: a loss name (weight 1) or a non-empty JSON object of name → weight,
// e.g. {"ce": 0.1, "tv": 0.9}, kept in the order written (weights are not
// normalised). It is tensor.ParseLossSpec.
func ParseLoss(spec string) ([]LossTerm, error) { return tensor.ParseLossSpec(spec) }

// StepMetrics are the raw sums of one TTT step (training-spec §5.6), kept
// as sum/total pairs so batches and ranks can be added before dividing.
type StepMetrics struct {
	LossSum, LossTotal     float64   // γ^k-weighted step loss (loss_k)
	TermSum                []float64 // per term, unweighted by the term weight (only with > 1 term)
	FullCorrect, FullTotal float64
	CondCorrect, CondTotal float64
}

// Metrics gathers the step metrics of one or more batches.
type Metrics struct {
	LossSum, LossTotal float64
	Terms              []LossTerm
	Steps              []StepMetrics
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// Loss is the mean total loss.
func (m *Metrics) Loss() float64 { return ratio(m.LossSum, m.LossTotal) }

// FullAcc is full_acc_k: P(the first k+1 drafted tokens are all correct).
func (m *Metrics) FullAcc(k int) float64 { return ratio(m.Steps[k].FullCorrect, m.Steps[k].FullTotal) }

// CondAcc is cond_acc_k: P(step k correct | steps < k correct).
func (m *Metrics) CondAcc(k int) float64 { return ratio(m.Steps[k].CondCorrect, m.Steps[k].CondTotal) }

// AcceptanceLength is the estimate 1 + Σ_k full_acc_k.
func (m *Metrics) AcceptanceLength() float64 {
	a := 1.0
	for k := range m.Steps {
		a += m.FullAcc(k)
	}
	return a
}

// Reset clears the sums, keeping the shape.
func (m *Metrics) Reset() {
	m.LossSum, m.LossTotal = 0, 0
	for k := range m.Steps {
		s := &m.Steps[k]
		ts := s.TermSum
		clear(ts)
		*s = StepMetrics{TermSum: ts}
	}
}

// Add accumulates o into m (validation over batches, or ranks).
func (m *Metrics) Add(o *Metrics) {
	if len(m.Steps) == 0 {
		m.Terms = o.Terms
		m.Steps = make([]StepMetrics, len(o.Steps))
		for k := range m.Steps {
			m.Steps[k].TermSum = make([]float64, len(o.Steps[k].TermSum))
		}
	}
	m.LossSum += o.LossSum
	m.LossTotal += o.LossTotal
	for k := range o.Steps {
		a, b := &m.Steps[k], &o.Steps[k]
		a.LossSum += b.LossSum
		a.LossTotal += b.LossTotal
		for i := range b.TermSum {
			a.TermSum[i] += b.TermSum[i]
		}
		a.FullCorrect += b.FullCorrect
		a.FullTotal += b.FullTotal
		a.CondCorrect += b.CondCorrect
		a.CondTotal += b.CondTotal
	}
}

// Values returns the logged keys as speculators names them: loss, loss_k,
// full_acc_k, cond_acc_k and, with more than one loss term,
// {name}_loss_k; plus acceptance_length (1 + Σ full_acc_k), which Python
// does not log.
func (m *Metrics) Values() map[string]float64 {
	v := map[string]float64{"loss": m.Loss(), "acceptance_length": m.AcceptanceLength()}
	for k := range m.Steps {
		s := &m.Steps[k]
		v[fmt.Sprintf("loss_%d", k)] = ratio(s.LossSum, s.LossTotal)
		v[fmt.Sprintf("full_acc_%d", k)] = m.FullAcc(k)
		v[fmt.Sprintf("cond_acc_%d", k)] = m.CondAcc(k)
		for i, t := range s.TermSum {
			v[fmt.Sprintf("%s_loss_%d", m.Terms[i].Kind, k)] = ratio(t, s.LossTotal)
		}
	}
	return v
}
