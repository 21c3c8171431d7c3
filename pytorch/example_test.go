package pytorch_test

import (
	"errors"
	"fmt"

	"github.com/speculators-go/speculators/pytorch"
)

func ExampleOpen() {
	f, err := pytorch.Open("testdata/nested.pt") // {"state_dict": {...}, "epoch": 3}
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	for _, name := range f.Names() {
		t, _ := f.Tensor(name)
		fmt.Println(name, t.DType(), t.Shape())
	}
	_, err = pytorch.Open("testdata/evil_os_system.pt")
	fmt.Println(errors.Is(err, pytorch.ErrUnsafe))
	// Output:
	// b F16 [3]
	// w F32 [2 3]
	// true
}
