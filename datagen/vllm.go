package datagen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// vllm drives vLLM servers launched with the extract_hidden_states method
// (training-spec §2.3): one Completions request per row with the row's
// token ids as the prompt and max_tokens 1; the response names the file
// the server's hidden-states connector wrote, which is checked and moved
// into the output folder.
type vllm struct {
	endpoint string
	model    string
	client   *http.Client
	aux, cap []int

	mu sync.Mutex
	h  int // hidden size, learned from the first file
}

// maxResponse bounds a response body; a completion of one token is small.
const maxResponse = 64 << 20

func newVLLM(ctx context.Context, o *Options) (*vllm, error) {
	v := &vllm{endpoint: strings.TrimRight(o.Endpoint, "/"), client: &http.Client{}}
	v.aux = o.Layers
	if o.LastLayer > 0 {
		v.cap = captureIDs(o.Layers, o.LastLayer)
	}
	served, err := v.models(ctx, o.RequestTimeout)
	if err != nil {
		return nil, err
	}
	switch {
	case len(served) == 0:
		return nil, fmt.Errorf("datagen: %s/models lists no model", v.endpoint)
	case o.ModelName == "":
		v.model = served[0]
	default:
		for _, s := range served {
			if s == o.ModelName {
				v.model = s
			}
		}
		if v.model == "" {
			return nil, fmt.Errorf("datagen: %s serves %v, not %q", v.endpoint, served, o.ModelName)
		}
	}
	return v, nil
}

func (v *vllm) name() string     { return "vllm" }
func (v *vllm) verifier() string { return v.model }
func (v *vllm) layers() (aux, captured []int) {
	return v.aux, v.cap
}
func (v *vllm) hiddenSize() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.h
}

// models lists the served model ids (GET /models).
func (v *vllm) models(ctx context.Context, timeout time.Duration) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.endpoint+"/models", nil)
	if err != nil {
		return nil, fmt.Errorf("datagen: %w", err)
	}
	body, err := v.do(req)
	if err != nil {
		return nil, fmt.Errorf("datagen: GET %s/models: %w", v.endpoint, err)
	}
	var resp struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("datagen: GET %s/models: malformed response: %w", v.endpoint, err)
	}
	var ids []string
	for _, d := range resp.Data {
		ids = append(ids, d.ID)
	}
	return ids, nil
}

// permanent marks errors that retrying cannot fix (training-spec §2.3:
// InvalidResponseError is never retried).
type permanent struct{ error }

func (e permanent) Unwrap() error { return e.error }

// do sends req and returns the body of a 2xx response.
func (v *vllm) do(req *http.Request) ([]byte, error) {
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxResponse {
		return nil, fmt.Errorf("response larger than %d bytes", maxResponse)
	}
	if resp.StatusCode/100 != 2 {
		msg := strings.TrimSpace(string(body))
		if len(msg) > 200 {
			msg = msg[:200] + "..."
		}
		err := fmt.Errorf("HTTP %d: %s", resp.StatusCode, msg)
		if resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests {
			return nil, permanent{err}
		}
		return nil, err
	}
	return body, nil
}

// request asks the server for a row's hidden states and returns the path
// of the file it wrote.
func (v *vllm) request(ctx context.Context, ids []int64, timeout time.Duration) (string, error) {
	payload, err := json.Marshal(map[string]any{
		"model": v.model, "prompt": ids, "max_tokens": 1, "return_token_ids": true,
	})
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.endpoint+"/completions", bytes.NewReader(payload))
	if err != nil {
		return "", permanent{err}
	}
	req.Header.Set("Content-Type", "application/json")
	body, err := v.do(req)
	if err != nil {
		return "", err
	}
	var resp struct {
		Choices []struct {
			PromptTokenIDs []int64 `json:"prompt_token_ids"`
		} `json:"choices"`
		KV map[string]any `json:"kv_transfer_params"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return "", fmt.Errorf("malformed response: %w", err)
	}
	if len(resp.Choices) == 0 || resp.Choices[0].PromptTokenIDs == nil {
		return "", permanent{errors.New("response missing prompt_token_ids")}
	}
	got := resp.Choices[0].PromptTokenIDs
	if len(got) != len(ids) {
		return "", permanent{fmt.Errorf("prompt token ids mismatch: sent %d tokens, server saw %d", len(ids), len(got))}
	}
	for i := range ids {
		if got[i] != ids[i] {
			return "", permanent{fmt.Errorf("prompt token ids mismatch at %d: sent %d, server saw %d", i, ids[i], got[i])}
		}
	}
	if resp.KV == nil {
		return "", permanent{errors.New("response missing kv_transfer_params")}
	}
	p, _ := resp.KV["hidden_states_path"].(string)
	if p == "" {
		if _, ok := resp.KV["handle"]; ok {
			return "", permanent{errors.New("kv_transfer_params has a mooncake handle; only the file backend (hidden_states_path) is supported")}
		}
		return "", permanent{errors.New("kv_transfer_params missing hidden_states_path")}
	}
	return p, nil
}

// waitLock takes and releases an exclusive flock on path+".lock", when
// the connector made one, then deletes it: the writer holds it until the
// file is complete.
func waitLock(ctx context.Context, path string, timeout time.Duration) error {
	lock := path + ".lock"
	f, err := os.OpenFile(lock, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("lock %s: %w", lock, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s", timeout, lock)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return os.Remove(lock)
}

// moveFile renames src to dst, or copies it (to a temporary name, fsynced,
// renamed) across file systems, then removes src.
func moveFile(src, dst string) error {
	if err := os.Rename(src, dst); err == nil {
		return nil
	} else if !errors.Is(err, syscall.EXDEV) {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return err
	}
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	tmp.Close()
	if err := os.Rename(tmp.Name(), dst); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Remove(src)
}

// one makes one attempt at a row: request, wait for the lock, check the
// file, move it into place.
func (v *vllm) one(ctx context.Context, r *runner, j job) (ManifestFile, error) {
	src, err := v.request(ctx, j.ids, r.o.RequestTimeout)
	if err != nil {
		return ManifestFile{}, err
	}
	if err := waitLock(ctx, src, r.o.LockTimeout); err != nil {
		return ManifestFile{}, err
	}
	h, err := ReadFile(src)
	if err != nil {
		os.Remove(src) // a broken file would only fill the connector's storage
		return ManifestFile{}, err
	}
	v.mu.Lock()
	if v.h == 0 {
		v.h = h.HiddenSize
		r.mu.Lock()
		r.man.HiddenSize = h.HiddenSize
		r.mu.Unlock()
	}
	v.mu.Unlock()
	r.mu.Lock()
	err = r.checkPayload(h, j.ids)
	r.mu.Unlock()
	if err != nil {
		os.Remove(src)
		return ManifestFile{}, fmt.Errorf("%s: %w", src, err)
	}
	name := FileName(j.row)
	dst := filepath.Join(r.o.Output, name)
	if err := moveFile(src, dst); err != nil {
		return ManifestFile{}, fmt.Errorf("move %s to %s: %w", src, dst, err)
	}
	syncDir(r.o.Output)
	sum, size, err := hashFile(dst)
	if err != nil {
		return ManifestFile{}, err
	}
	return ManifestFile{File: name, Row: j.row, Tokens: len(j.ids), Bytes: size, SHA256: sum}, nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

func (v *vllm) run(ctx context.Context, r *runner, jobs []job) error {
	ch := make(chan job)
	var wg sync.WaitGroup
	for w := 0; w < r.o.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range ch {
				v.row(ctx, r, j)
			}
		}()
	}
feed:
	for _, j := range jobs {
		select {
		case ch <- j:
		case <-ctx.Done():
			break feed
		}
	}
	close(ch)
	wg.Wait()
	return nil
}

// row runs a row with the retry policy of training-spec §2.3: up to
// MaxRetries retries with doubling backoff; permanent errors are not
// retried. A cancelled run leaves the row for the next run.
func (v *vllm) row(ctx context.Context, r *runner, j job) {
	var err error
	delay := r.o.Backoff
	for attempt := 0; attempt <= r.o.MaxRetries; attempt++ {
		if ctx.Err() != nil {
			return
		}
		var mf ManifestFile
		mf, err = v.one(ctx, r, j)
		if err == nil {
			r.succeeded(mf)
			return
		}
		if ctx.Err() != nil {
			return
		}
		var p permanent
		if errors.As(err, &p) || attempt == r.o.MaxRetries {
			break
		}
		r.o.Log(fmt.Sprintf("datagen: row %d attempt %d/%d: %v; retrying in %s", j.row, attempt+1, r.o.MaxRetries+1, err, delay))
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay *= 2
	}
	r.failedRow(j.row, err)
}
