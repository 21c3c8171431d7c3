package convert_test

import (
	"fmt"
	"os"

	"github.com/speculators-go/speculators/convert"
)

// Renames are tables of patterns; {n} carries a layer or expert index.
func ExampleApply() {
	for _, name := range []string{"midlayer.self_attn.q_proj.weight", "midlayer.1.mlp.up_proj.weight", "fc.weight"} {
		to, _ := convert.Apply(convert.Eagle3Rules, name)
		fmt.Println(to)
	}
	back, _ := convert.Apply(convert.Invert(convert.MTPRules), "mtp_layers.0.input_proj.weight")
	fmt.Println(back)
	// Output:
	// layers.0.self_attn.q_proj.weight
	// layers.1.mlp.up_proj.weight
	// fc.weight
	// mtp.fc.weight
}

func ExampleConvert() {
	out, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(out)
	res, err := convert.Convert(convert.Options{
		Algorithm:  "eagle3",
		Source:     "testdata/eagle3_bin", // a SafeAILab pytorch_model.bin
		Verifier:   "testdata/verifier_llama",
		OutputPath: out,
		NoValidate: true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Tensors, res.DType)
	// Output: 15 F16
}
