package eval

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"strings"

	"github.com/speculators-go/speculators/safetensors"
)

// Series is one group of bars: a value per draft position.
type Series struct {
	Label  string
	Values []float64 // in [0, 1]
}

var palette = []color.RGBA{{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255}, {148, 103, 189, 255}, {140, 86, 75, 255}}

// Plot draws grouped bars of per-position acceptance (y from 0 to 1, grid
// every 0.2, x = draft position 1..n) with a legend, as a PNG. It uses a
// built-in 3×5 pixel font, so it needs no font files.
func Plot(title string, series []Series) ([]byte, error) {
	n := 0
	for _, s := range series {
		n = max(n, len(s.Values))
	}
	if n == 0 {
		return nil, fmt.Errorf("eval: plot: no values")
	}
	const W, Hh, left, right, top, bottom = 640, 400, 60, 20, 50, 50
	img := image.NewRGBA(image.Rect(0, 0, W, Hh))
	fill(img, img.Bounds(), color.RGBA{255, 255, 255, 255})
	pw, ph := W-left-right, Hh-top-bottom
	black := color.RGBA{0, 0, 0, 255}
	grey := color.RGBA{220, 220, 220, 255}
	y := func(v float64) int { return top + ph - int(v*float64(ph)+0.5) }
	for g := 0; g <= 5; g++ {
		v := float64(g) / 5
		fill(img, image.Rect(left, y(v), left+pw, y(v)+1), grey)
		text(img, left-24, y(v)-2, fmt.Sprintf("%.1f", v), black, 1)
	}
	fill(img, image.Rect(left, top, left+1, top+ph+1), black)
	fill(img, image.Rect(left, top+ph, left+pw, top+ph+1), black)
	group := pw / n
	bw := max((group-8)/max(len(series), 1), 1)
	for i := range n {
		x0 := left + i*group + 4
		for si, s := range series {
			if i >= len(s.Values) {
				continue
			}
			v := min(max(s.Values[i], 0), 1)
			c := palette[si%len(palette)]
			fill(img, image.Rect(x0+si*bw, y(v), x0+(si+1)*bw-1, top+ph), c)
		}
		text(img, left+i*group+group/2-3, top+ph+8, fmt.Sprint(i+1), black, 2)
	}
	text(img, left, 15, title, black, 2)
	text(img, left+pw/2-60, Hh-18, "draft position", black, 2)
	for si, s := range series {
		c := palette[si%len(palette)]
		lx, ly := left+pw-170, top+8+si*14
		fill(img, image.Rect(lx, ly, lx+10, ly+10), c)
		text(img, lx+16, ly, s.Label, black, 2)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("eval: plot: %w", err)
	}
	return buf.Bytes(), nil
}

// WritePlot writes Plot's PNG to path atomically.
func WritePlot(path, title string, series []Series) error {
	b, err := Plot(title, series)
	if err != nil {
		return err
	}
	if err := safetensors.WriteAtomic(path, b); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	return nil
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

// glyphs is a 3×5 pixel font: five rows of three bits, top row first.
var glyphs = map[rune][5]uint8{
	'0': {7, 5, 5, 5, 7}, '1': {2, 6, 2, 2, 7}, '2': {7, 1, 7, 4, 7}, '3': {7, 1, 7, 1, 7}, '4': {5, 5, 7, 1, 1},
	'5': {7, 4, 7, 1, 7}, '6': {7, 4, 7, 5, 7}, '7': {7, 1, 1, 1, 1}, '8': {7, 5, 7, 5, 7}, '9': {7, 5, 7, 1, 7},
	'.': {0, 0, 0, 0, 2}, '-': {0, 0, 7, 0, 0}, '=': {0, 7, 0, 7, 0}, ',': {0, 0, 0, 2, 4}, ':': {0, 2, 0, 2, 0},
	'(': {1, 2, 2, 2, 1}, ')': {4, 2, 2, 2, 4}, '/': {1, 1, 2, 4, 4}, '+': {0, 2, 7, 2, 0}, '%': {5, 1, 2, 4, 5},
	'a': {2, 5, 7, 5, 5}, 'b': {6, 5, 6, 5, 6}, 'c': {7, 4, 4, 4, 7}, 'd': {6, 5, 5, 5, 6}, 'e': {7, 4, 6, 4, 7},
	'f': {7, 4, 6, 4, 4}, 'g': {7, 4, 5, 5, 7}, 'h': {5, 5, 7, 5, 5}, 'i': {7, 2, 2, 2, 7}, 'j': {1, 1, 1, 5, 7},
	'k': {5, 5, 6, 5, 5}, 'l': {4, 4, 4, 4, 7}, 'm': {5, 7, 7, 5, 5}, 'n': {6, 5, 5, 5, 5}, 'o': {7, 5, 5, 5, 7},
	'p': {7, 5, 7, 4, 4}, 'q': {7, 5, 5, 7, 1}, 'r': {6, 5, 6, 5, 5}, 's': {7, 4, 7, 1, 7}, 't': {7, 2, 2, 2, 2},
	'u': {5, 5, 5, 5, 7}, 'v': {5, 5, 5, 5, 2}, 'w': {5, 5, 7, 7, 5}, 'x': {5, 5, 2, 5, 5}, 'y': {5, 5, 2, 2, 2},
	'z': {7, 1, 2, 4, 7},
}

// text draws s at (x, y) with pixels of size scale; unknown runes are blank.
func text(img *image.RGBA, x, y int, s string, c color.RGBA, scale int) {
	for _, r := range strings.ToLower(s) {
		if g, ok := glyphs[r]; ok {
			for row, bits := range g {
				for col := range 3 {
					if bits&(4>>col) != 0 {
						fill(img, image.Rect(x+col*scale, y+row*scale, x+(col+1)*scale, y+(row+1)*scale), c)
					}
				}
			}
		}
		x += 4 * scale
	}
}
