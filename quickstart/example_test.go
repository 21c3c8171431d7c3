package quickstart_test

import (
	"context"
	"fmt"
	"os"

	"github.com/speculators-go/speculators/quickstart"
)

// Run the pipeline with fewer epochs and only k = 3, then print the summary.
// Running it again with the same options resumes (completed stages are
// skipped).
func Example() {
	o := quickstart.Defaults()
	o.Output = "quickstart-output"
	o.Verifier = "models/fortune-llama"
	o.Epochs = 4
	o.EvalK = []int{3}
	o.Log = os.Stderr
	res, err := quickstart.Run(context.Background(), o)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	fmt.Printf("τ at k=3: %.2f, speedup %.2f×, checkpoint %s\n", res.Tau(3), res.Speedup(3), res.Checkpoint)
	res.WriteSummary(os.Stdout)
}
