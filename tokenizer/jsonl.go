package tokenizer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
)

// JSONLOptions configures EncodeJSONL.
type JSONLOptions struct {
	AddSpecial bool      // apply the post-processor (BOS/EOS)
	Workers    int       // goroutines; GOMAXPROCS when <= 0
	Batch      int       // lines encoded together; 1024 when <= 0
	MaxLine    int       // longest accepted line in bytes; 256 MiB when <= 0
	Name       string    // input name for errors and progress
	Progress   io.Writer // periodic progress lines; nil for none
}

// JSONLStats summarises an EncodeJSONL run.
type JSONLStats struct {
	Lines  int
	Bytes  int64 // text bytes encoded
	Tokens int64
	Time   time.Duration
}

// EncodeJSONL reads lines of {"text": "..."} from r and writes one
// {"ids": [...]} line per input line to w, in order, encoding batches of lines
// in parallel.
func (t *Tokenizer) EncodeJSONL(r io.Reader, w io.Writer, o JSONLOptions) (JSONLStats, error) {
	if o.Batch <= 0 {
		o.Batch = 1024
	}
	if o.MaxLine <= 0 {
		o.MaxLine = 256 << 20
	}
	if o.Name == "" {
		o.Name = "input"
	}
	start := time.Now()
	lastReport := start
	var st JSONLStats
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<16), o.MaxLine)
	bw := bufio.NewWriterSize(w, 1<<20)
	texts := make([]string, 0, o.Batch)
	var line []byte
	flush := func() error {
		for _, ids := range t.EncodeBatch(texts, o.AddSpecial, o.Workers) {
			line = append(line[:0], `{"ids": [`...)
			for i, id := range ids {
				if i > 0 {
					line = append(line, ", "...)
				}
				line = strconv.AppendInt(line, int64(id), 10)
			}
			line = append(line, "]}\n"...)
			if _, err := bw.Write(line); err != nil {
				return err
			}
			st.Tokens += int64(len(ids))
		}
		texts = texts[:0]
		if o.Progress != nil && time.Since(lastReport) > 5*time.Second {
			lastReport = time.Now()
			el := time.Since(start).Seconds()
			fmt.Fprintf(o.Progress, "tokenize: %s: %d lines, %d tokens, %.1f MB/s\n", o.Name, st.Lines, st.Tokens, float64(st.Bytes)/1e6/el)
		}
		return nil
	}
	for sc.Scan() {
		st.Lines++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			return st, fmt.Errorf("%s:%d: empty line", o.Name, st.Lines)
		}
		var rec struct {
			Text *string `json:"text"`
		}
		if err := json.Unmarshal(b, &rec); err != nil {
			return st, fmt.Errorf("%s:%d: %w", o.Name, st.Lines, err)
		}
		if rec.Text == nil {
			return st, fmt.Errorf("%s:%d: no \"text\" string", o.Name, st.Lines)
		}
		st.Bytes += int64(len(*rec.Text))
		texts = append(texts, *rec.Text)
		if len(texts) == o.Batch {
			if err := flush(); err != nil {
				return st, err
			}
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return st, fmt.Errorf("%s:%d: line longer than %d bytes", o.Name, st.Lines+1, o.MaxLine)
		}
		return st, fmt.Errorf("%s: %w", o.Name, err)
	}
	if err := flush(); err != nil {
		return st, err
	}
	st.Time = time.Since(start)
	return st, bw.Flush()
}
