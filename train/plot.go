package train

import (
	"bufio"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/speculators-go/speculators/internal/atomicfile"
)

// curve is one plotted series.
type curve struct {
	name   string
	col    color.RGBA
	x, y   []float64
	points bool // draw markers instead of a line (per-epoch validation)
}

var palette = []color.RGBA{
	{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255},
	{148, 103, 189, 255}, {140, 86, 75, 255}, {227, 119, 194, 255}, {127, 127, 127, 255},
}

// PlotMetrics draws the training curves of a metrics.jsonl file into a PNG:
// the loss on top (per step; validation per epoch as dots) and full_acc_k
// for each TTT step below.
func PlotMetrics(jsonlPath, pngPath string) error {
	f, err := os.Open(jsonlPath)
	if err != nil {
		return err
	}
	defer f.Close()
	loss := &curve{name: "train loss", col: palette[0]}
	vloss := &curve{name: "val loss", col: palette[3], points: true}
	acc := map[int]*curve{}
	vacc := map[int]*curve{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e struct {
			Step  float64            `json:"global_step"`
			Train map[string]float64 `json:"train"`
			Val   map[string]float64 `json:"val"`
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		if e.Train != nil {
			loss.x, loss.y = append(loss.x, e.Step), append(loss.y, e.Train["loss"])
			for k := 0; k < 64; k++ {
				v, ok := e.Train[fmt.Sprintf("full_acc_%d", k)]
				if !ok {
					break
				}
				c := acc[k]
				if c == nil {
					c = &curve{name: fmt.Sprintf("full_acc_%d", k), col: palette[k%len(palette)]}
					acc[k] = c
				}
				c.x, c.y = append(c.x, e.Step), append(c.y, v)
			}
		}
		if e.Val != nil {
			vloss.x, vloss.y = append(vloss.x, e.Step), append(vloss.y, e.Val["loss_epoch"])
			for k := 0; k < 64; k++ {
				v, ok := e.Val[fmt.Sprintf("full_acc_%d_epoch", k)]
				if !ok {
					break
				}
				c := vacc[k]
				if c == nil {
					c = &curve{name: "", col: palette[k%len(palette)], points: true}
					vacc[k] = c
				}
				c.x, c.y = append(c.x, e.Step), append(c.y, v)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if len(loss.x) == 0 {
		return fmt.Errorf("%s: no training steps to plot", jsonlPath)
	}
	const W, H = 960, 720
	img := image.NewRGBA(image.Rect(0, 0, W, H))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	xmax := loss.x[len(loss.x)-1]
	for _, c := range [][]float64{vloss.x} {
		for _, v := range c {
			xmax = math.Max(xmax, v)
		}
	}
	drawPanel(img, image.Rect(70, 30, W-20, H/2-30), "loss", []*curve{loss, vloss}, xmax, false)
	var accs []*curve
	keys := make([]int, 0, len(acc))
	for k := range acc {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	for _, k := range keys {
		accs = append(accs, acc[k])
		if v := vacc[k]; v != nil {
			accs = append(accs, v)
		}
	}
	drawPanel(img, image.Rect(70, H/2+30, W-20, H-50), "full_acc_k per ttt step", accs, xmax, true)
	drawText(img, W/2-40, H-16, "global step", color.RGBA{0, 0, 0, 255}, 2)
	return atomicfile.Write(pngPath, 0o644, func(w io.Writer) error { return png.Encode(w, img) })
}

func drawPanel(img *image.RGBA, r image.Rectangle, title string, cs []*curve, xmax float64, unit bool) {
	black := color.RGBA{0, 0, 0, 255}
	grey := color.RGBA{220, 220, 220, 255}
	ymin, ymax := math.Inf(1), math.Inf(-1)
	for _, c := range cs {
		for _, v := range c.y {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				ymin, ymax = math.Min(ymin, v), math.Max(ymax, v)
			}
		}
	}
	if unit {
		ymin, ymax = 0, math.Max(1, ymax)
	}
	if math.IsInf(ymin, 0) {
		ymin, ymax = 0, 1
	}
	if ymax-ymin < 1e-9 {
		ymax = ymin + 1
	}
	pad := (ymax - ymin) * 0.05
	if !unit {
		ymin, ymax = ymin-pad, ymax+pad
	}
	if xmax <= 0 {
		xmax = 1
	}
	px := func(x float64) int { return r.Min.X + int(math.Round(x/xmax*float64(r.Dx()))) }
	py := func(y float64) int { return r.Max.Y - int(math.Round((y-ymin)/(ymax-ymin)*float64(r.Dy()))) }
	for i := 1; i < 4; i++ { // grid
		y := r.Min.Y + i*r.Dy()/4
		line(img, r.Min.X, y, r.Max.X, y, grey)
		x := r.Min.X + i*r.Dx()/4
		line(img, x, r.Min.Y, x, r.Max.Y, grey)
	}
	line(img, r.Min.X, r.Max.Y, r.Max.X, r.Max.Y, black)
	line(img, r.Min.X, r.Min.Y, r.Min.X, r.Max.Y, black)
	for i := 0; i <= 4; i++ {
		y := r.Max.Y - i*r.Dy()/4
		line(img, r.Min.X-5, y, r.Min.X, y, black)
		drawText(img, 4, y-5, fmt.Sprintf("%.3g", ymin+float64(i)*(ymax-ymin)/4), black, 2)
		x := r.Min.X + i*r.Dx()/4
		line(img, x, r.Max.Y, x, r.Max.Y+5, black)
		drawText(img, x-8, r.Max.Y+9, fmt.Sprintf("%.0f", float64(i)*xmax/4), black, 2)
	}
	drawText(img, r.Min.X+8, r.Min.Y-22, title, black, 3)
	lx := r.Max.X - 190
	ly := r.Min.Y + 8
	for _, c := range cs {
		if c.points {
			for i := range c.x {
				if !math.IsNaN(c.y[i]) {
					dot(img, px(c.x[i]), py(c.y[i]), 4, c.col)
				}
			}
		} else {
			for i := 1; i < len(c.x); i++ {
				if !math.IsNaN(c.y[i]) && !math.IsNaN(c.y[i-1]) {
					thick(img, px(c.x[i-1]), py(c.y[i-1]), px(c.x[i]), py(c.y[i]), c.col)
				}
			}
			if len(c.x) == 1 {
				dot(img, px(c.x[0]), py(c.y[0]), 3, c.col)
			}
		}
		if c.name != "" {
			for d := 0; d < 14; d++ {
				for e := 0; e < 4; e++ {
					img.Set(lx+d, ly+4+e, c.col)
				}
			}
			drawText(img, lx+20, ly, c.name, c.col, 2)
			ly += 16
		}
	}
}

func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := 1, 1
	if x0 > x1 {
		sx = -1
	}
	if y0 > y1 {
		sy = -1
	}
	e := dx + dy
	for {
		img.SetRGBA(x0, y0, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func thick(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	line(img, x0, y0, x1, y1, c)
	line(img, x0, y0+1, x1, y1+1, c)
	line(img, x0+1, y0, x1+1, y1, c)
}

func dot(img *image.RGBA, x, y, r int, c color.RGBA) {
	for i := -r; i <= r; i++ {
		for j := -r; j <= r; j++ {
			if i*i+j*j <= r*r {
				img.SetRGBA(x+i, y+j, c)
			}
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// glyphs is a 3×5 pixel font: five rows of three bits, top row first.
var glyphs = map[rune][5]uint8{
	'0': {7, 5, 5, 5, 7}, '1': {2, 6, 2, 2, 7}, '2': {7, 1, 7, 4, 7}, '3': {7, 1, 7, 1, 7},
	'4': {5, 5, 7, 1, 1}, '5': {7, 4, 7, 1, 7}, '6': {7, 4, 7, 5, 7}, '7': {7, 1, 1, 1, 1},
	'8': {7, 5, 7, 5, 7}, '9': {7, 5, 7, 1, 7}, '.': {0, 0, 0, 0, 2}, '-': {0, 0, 7, 0, 0},
	'+': {0, 2, 7, 2, 0}, '_': {0, 0, 0, 0, 7}, '=': {0, 7, 0, 7, 0}, '/': {1, 1, 2, 4, 4},
	'a': {0, 3, 5, 5, 3}, 'b': {4, 6, 5, 5, 6}, 'c': {0, 3, 4, 4, 3}, 'd': {1, 3, 5, 5, 3},
	'e': {0, 7, 7, 4, 3}, 'f': {3, 4, 6, 4, 4}, 'g': {3, 5, 3, 1, 6}, 'h': {4, 6, 5, 5, 5},
	'i': {2, 0, 2, 2, 2}, 'k': {4, 5, 6, 5, 5}, 'l': {4, 4, 4, 4, 3}, 'm': {0, 7, 7, 5, 5},
	'n': {0, 6, 5, 5, 5}, 'o': {0, 2, 5, 5, 2}, 'p': {0, 6, 5, 6, 4}, 'r': {0, 5, 6, 4, 4},
	's': {0, 3, 6, 3, 6}, 't': {2, 7, 2, 2, 1}, 'u': {0, 5, 5, 5, 3}, 'v': {0, 5, 5, 5, 2},
	'w': {0, 5, 5, 7, 7}, 'x': {0, 5, 2, 2, 5}, 'y': {0, 5, 3, 1, 6},
}

func drawText(img *image.RGBA, x, y int, s string, c color.RGBA, scale int) {
	for _, ch := range strings.ToLower(s) {
		g := glyphs[ch]
		for row := 0; row < 5; row++ {
			for col := 0; col < 3; col++ {
				if g[row]&(4>>col) == 0 {
					continue
				}
				for a := 0; a < scale; a++ {
					for b := 0; b < scale; b++ {
						img.SetRGBA(x+col*scale+a, y+row*scale+b, c)
					}
				}
			}
		}
		x += 4 * scale
	}
}
