package schema

import (
	"context"
	"fmt"

	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	structurallisttype "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	schemaobjectmeta "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/api/operation"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/features"
	utilfeature "k8s.io/apiserver/pkg/util/feature"

	"github.com/trustsync/trustsync/manifest"
)

const gitopsGroup = "gitops.trustsync.dev"

// validateCustom checks an object of one of trustsync's CRDs the way the API server does
// when a server-side apply creates it (trustsync writes objects no other way): strict
// field validation (pruning), defaulting, then the metadata, the OpenAPI schema, list
// types and the CEL rules, on the defaulted copy. The steps and their order follow
// k8s.io/apiextensions-apiserver's CR handler and strategy; the code that does each is
// theirs.
func validateCustom(o *manifest.Object, k *crdKind, v *crdVersion) field.ErrorList {
	ctx := context.Background()
	u := runtime.DeepCopyJSON(o.Object)
	var errs field.ErrorList

	// Unknown fields are refused, not pruned. A create without strict field validation
	// would only drop them with a warning, but trustsync applies server-side, and server-side apply refuses a field
	// the schema does not declare ("field not declared in schema"); either way a typo
	// such as authBridgemode must not pass as the default. Fields under
	// x-kubernetes-preserve-unknown-fields are kept by pruning, so they pass, as they do
	// at the API server.
	_, _, metaUnknown, err := schemaobjectmeta.GetObjectMetaWithOptions(u, schemaobjectmeta.ObjectMetaOptions{ReturnUnknownFieldPaths: true})
	if err != nil {
		return field.ErrorList{field.Invalid(field.NewPath("metadata"), nil, err.Error())}
	}
	unknown := append(metaUnknown, pruning.PruneWithOptions(u, v.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})...)
	for _, path := range unknown {
		errs = append(errs, &field.Error{Type: field.ErrorTypeNotFound, Field: path, Detail: unknownFieldDetail(o)})
	}
	// Nulls are not dropped: the decoder of a create or update request drops a null the
	// schema does not allow (defaulting.PruneNonNullableNullsWithoutDefaults), but
	// server-side apply does not decode that way, and refuses spec.identity: null as
	// "must be of type object". Defaulting still replaces a null that has a default, as
	// it does for an apply.
	if ferr, _ := schemaobjectmeta.CoerceWithOptions(nil, u, v.structural, false, schemaobjectmeta.CoerceOptions{}); ferr != nil {
		errs = append(errs, ferr)
	}
	defaulting.Default(u, v.structural)
	if k.status {
		delete(u, "status")
	}

	var meta metav1.ObjectMeta
	if raw, ok := u["metadata"].(map[string]any); ok {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &meta); err != nil {
			return append(errs, field.Invalid(field.NewPath("metadata"), nil, err.Error()))
		}
	}
	if k.namespaced && meta.Namespace == "" {
		meta.Namespace = metav1.NamespaceDefault // the namespace it is applied to
	}
	errs = append(errs, apivalidation.ValidateObjectMetaDeclaratively(ctx, operation.Create, &meta, nil, k.namespaced, apivalidation.NameIsDNSSubdomain,
		field.NewPath("metadata"), utilfeature.DefaultFeatureGate.Enabled(features.DeclarativeValidationBeta))...)
	errs = append(errs, apiservervalidation.ValidateCustomResource(nil, u, v.validator)...)
	errs = append(errs, schemaobjectmeta.Validate(ctx, nil, u, v.structural, false)...)
	errs = append(errs, structurallisttype.ValidateListSetsAndMaps(nil, v.structural, u)...)
	errs = append(errs, missingSpec(u, v)...)
	// As the API server does, CEL rules run only on an object that is otherwise well
	// formed: they may assume the types and bounds the schema states.
	if v.cel != nil && !blocking(errs) {
		celErrs, _ := v.cel.Validate(ctx, nil, v.structural, u, nil, celconfig.RuntimeCELCostBudget)
		errs = append(errs, celErrs...)
	}
	return errs
}

// missingSpec refuses an object without a spec whose CRD requires fields of spec. This
// is the one rule render holds that the API server does not: trustsync's CRDs do not
// list spec among the required fields of the object, so the API server checks
// spec.targetRef of an AgentCard only when there is a spec, and takes an AgentCard with
// none, which its controller then cannot act on. The errors are those the API server
// gives for spec: {}, with why.
func missingSpec(u map[string]any, v *crdVersion) field.ErrorList {
	if _, ok := u["spec"]; ok || len(v.specRequired) == 0 {
		return nil
	}
	var errs field.ErrorList
	for _, f := range v.specRequired {
		errs = append(errs, field.Required(field.NewPath("spec", f), "the object has no spec, and its CRD requires this field of one"))
	}
	return errs
}

// validateForeignMeta checks the metadata of a custom resource whose CRD trustsync does
// not have, by the rules the API server applies to every custom resource. Whether the
// kind is namespaced is unknown, so a namespace is checked only when one is set.
func validateForeignMeta(o *manifest.Object) field.ErrorList {
	var meta metav1.ObjectMeta
	raw, _ := o.Object["metadata"].(map[string]any)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &meta); err != nil {
		return field.ErrorList{field.Invalid(field.NewPath("metadata"), nil, err.Error())}
	}
	return apivalidation.ValidateObjectMeta(&meta, meta.Namespace != "", apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
}

// unknownFieldDetail marks a pruned field; fieldErrors turns it into the message
// manifest.Decode gives for the same typo.
func unknownFieldDetail(o *manifest.Object) string {
	return fmt.Sprintf("unknown field (not in the %s %s API)", o.GetAPIVersion(), o.GetKind())
}

// blocking are the errors after which the API server skips the CEL rules.
func blocking(errs field.ErrorList) bool {
	for _, e := range errs {
		switch e.Type {
		case field.ErrorTypeNotSupported, field.ErrorTypeRequired, field.ErrorTypeTooLong, field.ErrorTypeTooMany, field.ErrorTypeTypeInvalid:
			return true
		}
	}
	return false
}
