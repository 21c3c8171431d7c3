package tokenizer

import (
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// benchCorpus builds a deterministic mixed corpus of about size bytes: Go
// source files from GOROOT/src (sorted, so the same on every run) with
// synthetic CJK, emoji, Cyrillic and number documents every fourth document.
func benchCorpus(tb testing.TB, size int) []string {
	tb.Helper()
	root := filepath.Join(runtime.GOROOT(), "src")
	var files []string
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".go") {
			files = append(files, p)
		}
		return nil
	})
	sort.Strings(files)
	if len(files) == 0 {
		tb.Skip("no Go sources under GOROOT/src")
	}
	r := rand.New(rand.NewPCG(1, 2))
	cjk := []rune("的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指思非流每青管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武半候七必城父强步完革深区即求品士转量空甚众技轻程告江语英基派满式李息写呢识极令黄德收脸钱党倒未持取设始版双历越史商千片容研像找友孩站广改议形委早房音火际则首单据导影失拿网香似斯专石若兵弟谁校读志飞观争究包组造落视济喜离虽坏兴乐围树")
	emoji := []rune("😀😃😄😁😆😅🤣😂🙂🙃😉😊😇🥰😍🤩😘😗☺😚😙🥲😋😛😜🤪😝🤑🤗🤭🤫🤔🤐🤨😐😑😶👍👎👏🙌👐🤲🤝🙏✍💅🤳💪🦾🦵🦿🦶👣👂🦻👃🫀🫁🧠🦷🦴👀👁👅👄💋🩸")
	cyr := []rune("абвгдеёжзийклмнопрстуфхцчшщъыьэюя")
	synth := func() string {
		var sb strings.Builder
		for sb.Len() < 4096 {
			switch r.IntN(5) {
			case 0, 1:
				for range 5 + r.IntN(40) {
					sb.WriteRune(cjk[r.IntN(len(cjk))])
				}
				sb.WriteString("。")
			case 2:
				for range 1 + r.IntN(4) {
					sb.WriteRune(emoji[r.IntN(len(emoji))])
				}
				if r.IntN(3) == 0 {
					sb.WriteString("👨\u200d👩\u200d👧")
				}
				sb.WriteByte(' ')
			case 3:
				for range 2 + r.IntN(8) {
					sb.WriteRune(cyr[r.IntN(len(cyr))])
				}
				sb.WriteString(", ")
			default:
				for range 1 + r.IntN(12) {
					sb.WriteByte(byte('0' + r.IntN(10)))
				}
				sb.WriteString(" \n")
			}
		}
		return sb.String()
	}
	var docs []string
	total := 0
	for i := 0; total < size; i++ {
		var d string
		if i%4 == 3 {
			d = synth()
		} else {
			b, err := os.ReadFile(files[(i-i/4)%len(files)])
			if err != nil {
				continue
			}
			d = string(b)
		}
		docs = append(docs, d)
		total += len(d)
	}
	return docs
}

func corpusBytes(docs []string) int64 {
	n := 0
	for _, d := range docs {
		n += len(d)
	}
	return int64(n)
}

var (
	smallCorpusOnce sync.Once
	smallCorpus     []string
)

func smallBenchCorpus(b *testing.B) []string {
	smallCorpusOnce.Do(func() { smallCorpus = benchCorpus(b, 4<<20) })
	return smallCorpus
}

func BenchmarkLoad(b *testing.B) {
	for _, name := range realTokenizers {
		b.Run(name, func(b *testing.B) {
			dir := filepath.Join(npmModels, "tokenizer-"+name, "models")
			loadReal(b, name) // skip early when node_modules is missing
			b.ReportAllocs()
			c0 := cpuTime()
			for b.Loop() {
				if _, err := LoadDir(dir); err != nil {
					b.Fatal(err)
				}
			}
			if c := cpuTime() - c0; c > 0 {
				b.ReportMetric(c.Seconds()/float64(b.N), "cpu-s/op")
			}
		})
	}
}

// BenchmarkEncode encodes a 4 MB mixed corpus one document at a time on one
// goroutine (a warm word cache, as when encoding a data set).
func BenchmarkEncode(b *testing.B) {
	docs := smallBenchCorpus(b)
	for _, name := range realTokenizers {
		b.Run(name, func(b *testing.B) {
			tok := loadReal(b, name)
			b.SetBytes(corpusBytes(docs))
			b.ReportAllocs()
			for b.Loop() {
				for _, d := range docs {
					tok.Encode(d, false)
				}
			}
		})
	}
}

// BenchmarkEncodeBatch is BenchmarkEncode across all cores.
func BenchmarkEncodeBatch(b *testing.B) {
	docs := smallBenchCorpus(b)
	for _, name := range realTokenizers {
		b.Run(name, func(b *testing.B) {
			tok := loadReal(b, name)
			b.SetBytes(corpusBytes(docs))
			b.ReportAllocs()
			for b.Loop() {
				tok.EncodeBatch(docs, false, 0)
			}
		})
	}
}

// BenchmarkEncodeCorpus50MB is the closing throughput figure: a 50 MB mixed
// corpus, single core and all cores. Run it with
//
//	go test ./tokenizer -run '^$' -bench EncodeCorpus50MB -benchtime 1x -count 3
func BenchmarkEncodeCorpus50MB(b *testing.B) {
	docs := benchCorpus(b, 50<<20)
	for _, name := range realTokenizers {
		loadReal(b, name)
		for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
			b.Run(name+"/workers="+itoa(workers), func(b *testing.B) {
				n := corpusBytes(docs)
				b.SetBytes(n)
				var cpu, load time.Duration
				var tokens int
				for b.Loop() {
					// A fresh tokenizer each time: cold word caches.
					b.StopTimer()
					t0 := time.Now()
					fresh, err := LoadDir(filepath.Join(npmModels, "tokenizer-"+name, "models"))
					if err != nil {
						b.Fatal(err)
					}
					load += time.Since(t0)
					runtime.GC()
					b.StartTimer()
					c0 := cpuTime()
					out := fresh.EncodeBatch(docs, false, workers)
					cpu += cpuTime() - c0
					tokens = 0
					for _, ids := range out {
						tokens += len(ids)
					}
				}
				// MB per CPU-second is the per-core rate even when other
				// processes share the cores; wall-clock MB/s is b's own.
				if cpu > 0 {
					b.ReportMetric(float64(n)*float64(b.N)/1e6/cpu.Seconds(), "MB/cpu-s")
				}
				b.ReportMetric(load.Seconds()/float64(b.N), "load-s")
				b.ReportMetric(float64(n)/float64(tokens), "bytes/token")
			})
		}
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var s []byte
	for ; n > 0; n /= 10 {
		s = append([]byte{byte('0' + n%10)}, s...)
	}
	return string(s)
}
