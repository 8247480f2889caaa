package llm

import (
	"fmt"

	"zhiwen/generation/gguf"
)

// LoadNetwork builds the network stored in an opened GGUF file with the
// loader registered for its general.architecture. The network reads weights
// from f's mapping, so f must stay open while it is used. A malformed file
// yields an error naming the file; loaders never panic past this call.
func LoadNetwork(f *gguf.File, opts LoadOptions) (n Network, err error) {
	arch := f.Architecture()
	if arch == "" {
		return nil, fmt.Errorf("%s: no general.architecture", f.Name)
	}
	load, err := loaderFor(arch)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	defer func() {
		if r := recover(); r != nil {
			n, err = nil, fmt.Errorf("%s: load %s model: %v", f.Name, arch, r)
		}
	}()
	return load(NewWeights(f), opts)
}
