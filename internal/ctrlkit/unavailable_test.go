package ctrlkit

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// multi is an error of several, as trustsync's stage errors are.
type multi []error

func (m multi) Error() string   { return fmt.Sprint([]error(m)) }
func (m multi) Unwrap() []error { return m }

func TestUnavailable(t *testing.T) {
	cm := schema.GroupResource{Resource: "configmaps"}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{}}
	dial := fmt.Errorf(`Patch "https://127.0.0.1:1/api/v1/namespaces/a/configmaps/b": %w`, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED})
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"connection refused, wrapped as the client does", dial, true},
		{"connection refused inside an error with an Unwrap() []error", multi{errors.New("other"), dial}, true},
		{"joined with a refusal", errors.Join(errors.New("other"), dial), true},
		{"a network error", refused, true},
		{"503", apierrors.NewServiceUnavailable("restarting"), true},
		{"429", apierrors.NewTooManyRequests("slow down", 1), true},
		{"server timeout", apierrors.NewServerTimeout(cm, "patch", 1), true},
		{"500", apierrors.NewInternalError(errors.New("etcd")), true},
		{"invalid", apierrors.NewInvalid(schema.GroupKind{Kind: "ConfigMap"}, "b", nil), false},
		{"forbidden", apierrors.NewForbidden(cm, "b", errors.New("no")), false},
		{"conflict", apierrors.NewConflict(cm, "b", errors.New("changed")), false},
		{"a plain error", errors.New("ConfigMap a/b: data: too long"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Unavailable(tc.err); got != tc.want {
				t.Errorf("Unavailable(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
