package sharedmetrics

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers c with r and returns it, or the collector of the same
// descriptors registered before (of c's type). A nil r registers nothing.
func Register[C prometheus.Collector](r prometheus.Registerer, c C) (C, error) {
	if r == nil {
		return c, nil
	}
	err := r.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}
