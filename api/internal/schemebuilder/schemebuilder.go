// Package schemebuilder collects the Go types of one API group version and adds them to
// a runtime.Scheme, as controller-runtime's scheme.Builder does, with apimachinery
// alone: the API types are linked by the sidecar too, which links no controller-runtime.
package schemebuilder

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Builder collects the kinds of GroupVersion.
type Builder struct {
	GroupVersion schema.GroupVersion
	objects      []runtime.Object
}

// Register adds kinds (a kind and its list) to the group.
func (b *Builder) Register(objects ...runtime.Object) { b.objects = append(b.objects, objects...) }

// AddToScheme adds the group's kinds, and the meta types every group has, to s.
func (b *Builder) AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(b.GroupVersion, b.objects...)
	metav1.AddToGroupVersion(s, b.GroupVersion)
	return nil
}
