package controller

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// scriptedReader answers each Get with the next of its errors, the Secret it holds
// when that is nil.
type scriptedReader struct {
	secret *corev1.Secret
	errs   []error
}

func (r *scriptedReader) Get(_ context.Context, _ client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	err := r.errs[0]
	r.errs = r.errs[1:]
	if err == nil {
		r.secret.DeepCopyInto(obj.(*corev1.Secret))
	}
	return err
}

func (r *scriptedReader) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return nil
}

func TestLastKnownSecrets(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	gone := apierrors.NewNotFound(corev1.Resource("secrets"), "status")
	forbidden := apierrors.NewForbidden(corev1.Resource("secrets"), "status", errors.New("no"))
	secret := &corev1.Secret{Data: map[string][]byte{"token": []byte("t1")}}
	api := &scriptedReader{secret: secret, errs: []error{refused, nil, refused, forbidden, gone, refused}}
	l := newLastKnownSecrets(api)
	key := client.ObjectKey{Namespace: "ns", Name: "status"}
	get := func() (string, error) {
		got := &corev1.Secret{}
		err := l.Get(t.Context(), key, got)
		return string(got.Data["token"]), err
	}
	steps := []struct {
		name, token string
		err         bool
	}{
		{"down before any read: the error", "", true},
		{"read", "t1", false},
		{"down: the last read", "t1", false},
		{"a refusal is not served from memory", "", true},
		{"deleted", "", true},
		{"down after the deletion: nothing kept", "", true},
	}
	for _, step := range steps {
		token, err := get()
		if token != step.token || (err != nil) != step.err {
			t.Errorf("%s: token %q, err %v; want %q, error %v", step.name, token, err, step.token, step.err)
		}
	}
}
