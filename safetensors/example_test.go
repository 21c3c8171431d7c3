package safetensors_test

import (
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"

	"github.com/speculators-go/speculators/safetensors"
)

func ExampleWriteFile() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	w, _ := safetensors.EncodeFloat32(safetensors.BF16, []float32{1, 2, 3, 4, 5, 6})
	tensors := []safetensors.Tensor{
		{Name: "fc.weight", DType: safetensors.BF16, Shape: []int64{2, 3}, Data: w},
		// Streaming: the bytes are produced while the file is written.
		{Name: "d2t", DType: safetensors.I64, Shape: []int64{2}, Write: func(w io.Writer) error {
			_, err := w.Write([]byte{0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0})
			return err
		}},
	}
	path := filepath.Join(dir, "model.safetensors")
	if err := safetensors.WriteFile(path, tensors, map[string]string{"format": "pt"}); err != nil {
		log.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	n := b[0]
	fmt.Printf("%s\n", b[8:8+n])
	// Output:
	// {"__metadata__":{"format":"pt"},"d2t":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},"fc.weight":{"dtype":"BF16","shape":[2,3],"data_offsets":[16,28]}}
}

func ExampleOpen() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "model.safetensors")
	w, _ := safetensors.EncodeFloat32(safetensors.F16, []float32{0.5, -2})
	if err := safetensors.WriteFile(path, []safetensors.Tensor{
		{Name: "norm.weight", DType: safetensors.F16, Shape: []int64{2}, Data: w},
	}, nil); err != nil {
		log.Fatal(err)
	}

	f, err := safetensors.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	for _, name := range f.Names() {
		info, _ := f.Info(name)
		v, _ := f.Float32(name)
		fmt.Println(name, info.DType, info.Shape, v)
	}
	// Output:
	// norm.weight F16 [2] [0.5 -2]
}
