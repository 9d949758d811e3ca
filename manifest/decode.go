package manifest

import (
	"errors"
	"regexp"

	"k8s.io/apimachinery/pkg/runtime"
)

var unknownField = regexp.MustCompile(`unknown field "([^"]+)"`)

// Decode converts an object to its Go type. A field the type does not have is an error
// naming that field: in Git, an unknown field is almost always a typo that would
// otherwise be dropped silently.
func Decode(o *Object, into any) error {
	err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, into, true)
	if err == nil {
		return nil
	}
	matches := unknownField.FindAllStringSubmatch(err.Error(), -1)
	if len(matches) == 0 {
		return Errorf(o, "", "%v", err)
	}
	var errs []error
	for _, m := range matches {
		errs = append(errs, Errorf(o, m[1], "unknown field (not in the %s %s API)", o.GetAPIVersion(), o.GetKind()))
	}
	return errors.Join(errs...)
}
