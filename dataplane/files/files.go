package files

import (
	"fmt"
	"io"
	"os"
)

// MaxBytes bounds a file: config.yaml and routes.yaml come from ConfigMaps (1 MiB),
// as sidecarconfig.MaxBytes.
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
