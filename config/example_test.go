package config_test

import (
	"encoding/json"
	"fmt"

	"github.com/speculators-go/speculators/config"
)

func ExampleMarshalPython() {
	out, err := config.MarshalPython(map[string]any{
		"rms_norm_eps": 1e-6,
		"rope_theta":   10000.0,
		"vocab_size":   json.Number("151936"),
		"tolerance":    0.0,
		"big":          1e16,
		"name":         "café",
		"ids":          []int{},
		"scaling":      nil,
	})
	if err != nil {
		panic(err)
	}
	fmt.Print(string(out))
	// Output:
	// {
	//   "big": 1e+16,
	//   "ids": [],
	//   "name": "caf\u00e9",
	//   "rms_norm_eps": 1e-06,
	//   "rope_theta": 10000.0,
	//   "scaling": null,
	//   "tolerance": 0.0,
	//   "vocab_size": 151936
	// }
}

func ExampleNew() {
	c, err := config.New("eagle3")
	if err != nil {
		panic(err)
	}
	name := "meta-llama/Llama-3.1-8B-Instruct"
	c.SpeculatorsConfig.Verifier = config.Verifier{NameOrPath: &name, Architectures: []string{"LlamaForCausalLM"}}
	c.SpeculatorsConfig.ProposalMethods[0].SpeculativeTokens = 3
	c.Eagle3.EagleAuxHiddenStateLayerIDs = []int{2, 16, 29}
	c.Eagle3.NormBeforeResidual = true
	c.TransformerLayerConfig = config.LayerConfig{ModelType: "llama", HiddenSize: 4096, RMSNormEps: config.Float(1e-5)}
	v, err := c.VLLM()
	if err != nil {
		panic(err)
	}
	fmt.Println(v.Method, v.Architecture, v.NumSpeculativeTokens, v.Model)
	// Output:
	// eagle3 Eagle3LlamaForCausalLM 3 meta-llama/Llama-3.1-8B-Instruct
}
