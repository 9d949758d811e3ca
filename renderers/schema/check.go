package schema

import (
	"k8s.io/apimachinery/pkg/util/validation/field"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	"github.com/trustsync/trustsync/manifest"
)

// Check validates every object as the API server would on create, so far as a render
// can know it, and returns every problem, each naming file, object and field.
func Check(objs []*manifest.Object) error { return CheckWith(objs, nil) }

func (r *registry) check(o *manifest.Object) []error {
	k, v, err := r.resolve(o)
	if err != nil {
		return []error{err}
	}
	if k != nil {
		return fieldErrors(o, validateCustom(o, k, v))
	}
	gvk := o.GroupVersionKind()
	typed, err := clientgoscheme.Scheme.New(gvk)
	if err != nil {
		// A custom kind of another project: its schema is not ours to know, but the API
		// server checks the metadata of every custom resource the same way.
		return fieldErrors(o, validateForeignMeta(o))
	}
	// Strict: a typo such as "replica:" in a Deployment is reported, with its file,
	// rather than dropped.
	if err := manifest.Decode(o, typed); err != nil {
		return manifest.Errors(err)
	}
	return fieldErrors(o, validateBuiltin(gvk, typed))
}

// fieldErrors names the object of each field error; the message is the API server's.
func fieldErrors(o *manifest.Object, errs field.ErrorList) []error {
	out := make([]error, 0, len(errs))
	for _, fe := range errs {
		if fe.Type == field.ErrorTypeNotFound && fe.Detail == unknownFieldDetail(o) {
			out = append(out, manifest.Errorf(o, fe.Field, "%s", fe.Detail))
			continue
		}
		out = append(out, manifest.Errorf(o, fe.Field, "%s", fe.ErrorBody()))
	}
	return out
}
