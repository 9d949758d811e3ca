package schema

import (
	"fmt"
	"io/fs"
	"slices"
	"sync"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/runtime/schema"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	"github.com/trustsync/trustsync/config/crd"
)

// crdKind is one kind of trustsync's CRDs with what validating it needs, per version.
type crdKind struct {
	kind       string
	namespaced bool
	// status is set when the status subresource is on: the API server then drops
	// status on create.
	status   bool
	versions map[string]*crdVersion
	// served are the served versions in the CRD's order, for messages.
	served []string
}

type crdVersion struct {
	served     bool
	structural *structuralschema.Structural
	validator  apiservervalidation.SchemaValidator
	// cel is nil when the version has no x-kubernetes-validations.
	cel *cel.Validator
	// specRequired are the fields the schema requires of spec, for an object that has
	// no spec at all (see missingSpec).
	specRequired []string
}

// registry is trustsync's CRDs by group and kind.
type registry struct {
	kinds  map[schema.GroupKind]*crdKind
	groups map[string][]string // group → kinds, in file order
}

// loadRegistry parses and compiles the embedded CRDs once per process: compiling the CEL
// rules is the costly part.
var loadRegistry = sync.OnceValues(func() (*registry, error) { return newRegistry(crd.Bases) })

func newRegistry(fsys fs.FS) (*registry, error) {
	files, err := fs.Glob(fsys, "bases/*.yaml")
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no CRDs embedded")
	}
	r := &registry{kinds: map[schema.GroupKind]*crdKind{}, groups: map[string][]string{}}
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		var v1 apiextensionsv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict(data, &v1); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		var in apiextensions.CustomResourceDefinition
		if err := apiextensionsv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(&v1, &in, nil); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		k := &crdKind{kind: in.Spec.Names.Kind, namespaced: in.Spec.Scope == apiextensions.NamespaceScoped, versions: map[string]*crdVersion{}}
		for _, v := range in.Spec.Versions {
			cv := &crdVersion{served: v.Served}
			if v.Served {
				k.served = append(k.served, v.Name)
			}
			// The internal form keeps what all versions share at the top.
			subresources, validation := v.Subresources, v.Schema
			if subresources == nil {
				subresources = in.Spec.Subresources
			}
			if validation == nil {
				validation = in.Spec.Validation
			}
			if subresources != nil && subresources.Status != nil {
				k.status = true
			}
			if validation == nil || validation.OpenAPIV3Schema == nil {
				return nil, fmt.Errorf("%s: version %s has no schema", f, v.Name)
			}
			if cv.structural, err = structuralschema.NewStructural(validation.OpenAPIV3Schema); err != nil {
				return nil, fmt.Errorf("%s: version %s: %w", f, v.Name, err)
			}
			if cv.validator, _, err = apiservervalidation.NewSchemaValidator(validation.OpenAPIV3Schema); err != nil {
				return nil, fmt.Errorf("%s: version %s: %w", f, v.Name, err)
			}
			cv.cel = cel.NewValidator(cv.structural, true, celconfig.PerCallLimit)
			if spec, ok := cv.structural.Properties["spec"]; ok && spec.ValueValidation != nil {
				cv.specRequired = spec.ValueValidation.Required
			}
			k.versions[v.Name] = cv
		}
		gk := schema.GroupKind{Group: in.Spec.Group, Kind: k.kind}
		r.kinds[gk] = k
		r.groups[in.Spec.Group] = append(r.groups[in.Spec.Group], k.kind)
	}
	// Every family's group serves the Kagenti kinds with the Kagenti schemas: the rename
	// changed names, not fields (config/crd/rossoctl is the same CRDs, group rewritten).
	for _, f := range agentv1.Families {
		if f.Group == agentv1.Kagenti.Group {
			continue
		}
		for _, kind := range r.groups[agentv1.Kagenti.Group] {
			r.kinds[f.GroupKind(kind)] = r.kinds[agentv1.Kagenti.GroupKind(kind)]
			r.groups[f.Group] = append(r.groups[f.Group], kind)
		}
	}
	for g := range r.groups {
		slices.Sort(r.groups[g])
	}
	return r, nil
}
