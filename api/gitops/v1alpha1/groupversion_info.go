package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/trustsync/trustsync/api/internal/schemebuilder"
)

var (
	// GroupVersion is the API group and version of trustsync's own kinds.
	GroupVersion = schema.GroupVersion{Group: "gitops.trustsync.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this group with a runtime.Scheme.
	SchemeBuilder = &schemebuilder.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the kinds of this group to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// Kind names of this group.
const (
	GitSourceKind = "GitSource"
	SyncKind      = "Sync"
	PlatformKind  = "Platform"
)
