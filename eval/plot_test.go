package eval

import (
	"bytes"
	"image/png"
	"os"
	"testing"
)

func TestPlotDecodes(t *testing.T) {
	b, err := Plot("acceptance k=3", []Series{{"online t=0", []float64{0.8, 0.5, 0.25}}, {"offline", []float64{0.7, 0.4, 0.2}}})
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	// The first bar (0.8 of the plot height) is blue at its middle.
	r, g, bl, _ := img.At(60+4+2, 50+300/2+60).RGBA()
	if r>>8 != 31 || g>>8 != 119 || bl>>8 != 180 {
		t.Errorf("bar colour %d %d %d", r>>8, g>>8, bl>>8)
	}
	if p := os.Getenv("PLOT_OUT"); p != "" {
		os.WriteFile(p, b, 0o644)
	}
	if _, err := Plot("x", nil); err == nil {
		t.Error("empty plot accepted")
	}
}
