package train

import (
	"fmt"
	"math"
)

// Schedule is the learning-rate multiplier of HF's
// get_linear_schedule_with_warmup / get_cosine_schedule_with_warmup, or a
// constant 1 ("none"). Step is the number of optimizer steps already taken.
type Schedule struct {
	Type          string // linear, cosine, none
	Warmup, Total int
	Cycles        float64 // cosine cycles (0.5)
}

// ResolveSchedule fills the defaults of training-spec §6.1: total =
// epochs·steps per epoch unless given; warmup = the explicit steps when set
// (≥ 0), else int(total·ratio) when a ratio is set, else total/100.
func ResolveSchedule(typ string, warmupSteps int, warmupRatio float64, totalSteps, epochs, stepsPerEpoch int, cycles float64) (Schedule, error) {
	switch typ {
	case "", "linear":
		typ = "linear"
	case "cosine", "none":
	default:
		return Schedule{}, fmt.Errorf("train: scheduler type %q: want linear, cosine or none", typ)
	}
	total := totalSteps
	if total <= 0 {
		total = epochs * stepsPerEpoch
	}
	warmup := total / 100
	switch {
	case warmupSteps >= 0:
		warmup = warmupSteps
	case warmupRatio > 0:
		warmup = int(float64(total) * warmupRatio)
	}
	if cycles == 0 {
		cycles = 0.5
	}
	return Schedule{Type: typ, Warmup: warmup, Total: total, Cycles: cycles}, nil
}

// Factor is the multiplier of the base learning rate at step.
func (s Schedule) Factor(step int) float64 {
	if s.Type == "none" {
		return 1
	}
	if step < s.Warmup {
		return float64(step) / float64(max(1, s.Warmup))
	}
	if s.Type == "cosine" {
		p := float64(step-s.Warmup) / float64(max(1, s.Total-s.Warmup))
		return math.Max(0, 0.5*(1+math.Cos(math.Pi*s.Cycles*2*p)))
	}
	return math.Max(0, float64(s.Total-step)/float64(max(1, s.Total-s.Warmup)))
}
