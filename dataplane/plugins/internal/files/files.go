package files

import (
	"fmt"
	"io"
	"os"
)

// MaxBytes bounds a file: the largest, routes.yaml, comes from a ConfigMap (1 MiB).
const MaxBytes = 1 << 20

// Read reads the file at path, refusing one over MaxBytes without reading it whole.
func Read(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > MaxBytes {
		return nil, fmt.Errorf("%s: over %d bytes", path, MaxBytes)
	}
	return data, nil
}
