// Package scheme builds the runtime.Scheme of everything trustsync reads as Go types: the
// built-in kinds, CRDs, and the API groups: both families' agent groups and trustsync's. It must not import anything of trustsync
// outside api/.
package scheme

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	rossoctlv1 "github.com/trustsync/trustsync/api/agent/rossoctl/v1alpha1"
	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

// New returns a scheme with every kind trustsync knows.
func New() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, agentv1.AddToScheme, rossoctlv1.AddToScheme, gitopsv1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err) // only on a programming error: the groups are fixed
		}
	}
	return s
}
