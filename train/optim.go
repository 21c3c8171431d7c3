package train

import (
	"fmt"
	"strconv"

	"github.com/speculators-go/speculators/model/eagle3"
	"github.com/speculators-go/speculators/tensor"
)

// OptimOptions are the optimizer flags (training-spec §6.1).
type OptimOptions struct {
	Type            string  // muon (default) or adamw
	LR              float64 // AdamW learning rate (1e-4)
	MuonLR          float64 // 0 means 10·LR
	WeightDecay     float64 // AdamW (0.01)
	MuonWeightDecay float64 // 0.1
	MuonMomentum    float64 // 0.95
	MuonNSSteps     int     // 5
	MuonAdjustLR    string  // match_rms_adamw or original
}

// optimizer is one torch optimizer of speculators' build_optimizers: Muon
// over the 2-D weights, AdamW over the rest, and AdamW at muon_lr over the
// 2-D tables Muon skips (a trainable embedding).
type optimizer struct {
	name   string // Muon, AdamW, AdamW_excluded
	baseLR float64
	params []*tensor.Param
	muon   *tensor.Muon
	adamw  *tensor.AdamW
}

func buildOptimizers(m *eagle3.Model, o OptimOptions) ([]*optimizer, error) {
	muonLR := o.MuonLR
	if muonLR == 0 {
		muonLR = 10 * o.LR
	}
	switch o.Type {
	case "adamw":
		return []*optimizer{{name: "AdamW", baseLR: o.LR, params: m.Params(), adamw: tensor.NewAdamW(o.LR, o.WeightDecay)}}, nil
	case "", "muon":
	default:
		return nil, fmt.Errorf("train: --optimizer %q: want muon or adamw", o.Type)
	}
	var mu, ad, ex []*tensor.Param
	for _, p := range m.Params() {
		switch {
		case p.Rows <= 1 || len(p.W)/p.Rows <= 1:
			ad = append(ad, p)
		case !eagle3.MuonEligible(p):
			ex = append(ex, p)
		default:
			mu = append(mu, p)
		}
	}
	var out []*optimizer
	if len(mu) > 0 {
		mo := tensor.NewMuon(muonLR, o.MuonWeightDecay)
		mo.Momentum = o.MuonMomentum
		mo.NSSteps = o.MuonNSSteps
		if o.MuonAdjustLR != "" {
			if o.MuonAdjustLR != "match_rms_adamw" && o.MuonAdjustLR != "original" {
				return nil, fmt.Errorf("train: --muon-adjust-lr-fn %q: want match_rms_adamw or original", o.MuonAdjustLR)
			}
			mo.AdjustLR = o.MuonAdjustLR
		}
		out = append(out, &optimizer{name: "Muon", baseLR: muonLR, params: mu, muon: mo})
	}
	if len(ad) > 0 {
		out = append(out, &optimizer{name: "AdamW", baseLR: o.LR, params: ad, adamw: tensor.NewAdamW(o.LR, o.WeightDecay)})
	}
	if len(ex) > 0 {
		out = append(out, &optimizer{name: "AdamW_excluded", baseLR: muonLR, params: ex, adamw: tensor.NewAdamW(muonLR, o.MuonWeightDecay)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("train: no trainable parameters")
	}
	return out, nil
}

// step applies the optimizer at learning rate baseLR·factor.
func (o *optimizer) step(factor float64) float64 {
	lr := o.baseLR * factor
	if o.muon != nil {
		o.muon.LR = lr
		o.muon.Step(o.params)
	} else {
		o.adamw.LR = lr
		o.adamw.Step(o.params)
	}
	return lr
}

// stateTensors lists the optimizer state as named float32 slices:
// <opt>/<param>/exp_avg and exp_avg_sq (AdamW) or momentum_buffer (Muon),
// allocating missing buffers so that every checkpoint has the same keys.
func (o *optimizer) stateTensors(prefix string) map[string][]float32 {
	out := map[string][]float32{}
	for _, p := range o.params {
		if p.M == nil {
			p.M = make([]float32, len(p.W))
		}
		if o.muon != nil {
			out[prefix+p.Name+"/momentum_buffer"] = p.M
			continue
		}
		if p.V == nil {
			p.V = make([]float32, len(p.W))
		}
		out[prefix+p.Name+"/exp_avg"] = p.M
		out[prefix+p.Name+"/exp_avg_sq"] = p.V
	}
	return out
}

func (o *optimizer) stepCount() int {
	if o.adamw != nil {
		return o.adamw.StepCount
	}
	return 0
}

func (o *optimizer) setStepCount(n int) {
	if o.adamw != nil {
		o.adamw.StepCount = n
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
