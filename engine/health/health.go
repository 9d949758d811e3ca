package health

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/trustsync/trustsync/manifest"
)

// Object is one object to assess.
type Object struct {
	Ref     manifest.Ref
	Version string
}

// Status is one object's health.
type Status struct {
	Object  manifest.Ref
	Status  status.Status
	Message string
}

// Report is the health of a set of objects.
type Report struct {
	// NotReady are the objects that are not Current, in the order given.
	NotReady []Status
}

// Healthy reports whether every object is Current.
func (r *Report) Healthy() bool { return len(r.NotReady) == 0 }

// Failed reports whether some object has Failed (waiting longer will not help).
func (r *Report) Failed() bool {
	return slices.ContainsFunc(r.NotReady, func(s Status) bool { return s.Status == status.FailedStatus })
}

// Summary lists the objects that are not ready, at most max of them.
func (r *Report) Summary(max int) string {
	var parts []string
	for i, s := range r.NotReady {
		if i == max {
			parts = append(parts, fmt.Sprintf("and %d more", len(r.NotReady)-max))
			break
		}
		parts = append(parts, fmt.Sprintf("%s %s: %s", s.Object, strings.ToLower(string(s.Status)), s.Message))
	}
	return strings.Join(parts, "; ")
}

// Check assesses the objects once, from the cache.
func Check(ctx context.Context, cache client.Reader, objects []Object) (*Report, error) {
	r := &Report{}
	for _, o := range objects {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(schema.GroupVersionKind{Group: o.Ref.Group, Version: o.Version, Kind: o.Ref.Kind})
		err := cache.Get(ctx, client.ObjectKey{Namespace: o.Ref.Namespace, Name: o.Ref.Name}, u)
		if apierrors.IsNotFound(err) {
			r.NotReady = append(r.NotReady, Status{Object: o.Ref, Status: status.NotFoundStatus, Message: "not found"})
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", o.Ref, err)
		}
		res, err := status.Compute(u)
		if err != nil {
			r.NotReady = append(r.NotReady, Status{Object: o.Ref, Status: status.UnknownStatus, Message: err.Error()})
			continue
		}
		if res.Status != status.CurrentStatus {
			r.NotReady = append(r.NotReady, Status{Object: o.Ref, Status: res.Status, Message: res.Message})
		}
	}
	return r, nil
}

// Wait checks every interval until all objects are Current, one has Failed, or timeout
// passes; it returns the last report.
func Wait(ctx context.Context, cache client.Reader, objects []Object, timeout, interval time.Duration) (*Report, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		r, err := Check(ctx, cache, objects)
		if err != nil {
			return nil, err
		}
		if r.Healthy() || r.Failed() {
			return r, nil
		}
		select {
		case <-ctx.Done():
			return r, nil
		case <-time.After(interval):
		}
	}
}
