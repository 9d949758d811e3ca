package schema

import (
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/kustomize/kyaml/openapi"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
)

// The checks below mirror the API server's validation (k8s.io/kubernetes
// pkg/apis/core/validation and pkg/apis/apps/validation, v1.37) for the built-in kinds
// trustsync renders and targets, where a render can know the answer: what depends on
// defaulting the checks leave to defaults, what depends on the cluster they leave out.
// k8s.io/kubernetes cannot be imported, so these are a chosen subset; each says which
// rule of the API server it is.

// nameRules are how the API server validates the names of the kinds trustsync renders and
// targets; every other built-in kind has at least a valid path segment as its name.
var nameRules = map[schema.GroupKind]apivalidation.ValidateNameFunc{
	{Kind: "Namespace"}:                                 apivalidation.ValidateNamespaceName,
	{Kind: "Service"}:                                   apivalidation.NameIsDNSLabel, // DNS-1035 before KEP-5311 (GA in 1.37)
	{Kind: "ServiceAccount"}:                            apivalidation.ValidateServiceAccountName,
	{Kind: "ConfigMap"}:                                 apivalidation.NameIsDNSSubdomain,
	{Kind: "Secret"}:                                    apivalidation.NameIsDNSSubdomain,
	{Kind: "Pod"}:                                       apivalidation.NameIsDNSSubdomain,
	{Kind: "PersistentVolumeClaim"}:                     apivalidation.NameIsDNSSubdomain,
	{Group: "apps", Kind: "Deployment"}:                 apivalidation.NameIsDNSSubdomain,
	{Group: "apps", Kind: "ReplicaSet"}:                 apivalidation.NameIsDNSSubdomain,
	{Group: "apps", Kind: "DaemonSet"}:                  apivalidation.NameIsDNSSubdomain,
	{Group: "apps", Kind: "StatefulSet"}:                apivalidation.NameIsDNSLabel, // its pods are named <name>-<ordinal>
	{Group: "batch", Kind: "Job"}:                       apivalidation.NameIsDNSSubdomain,
	{Group: "networking.k8s.io", Kind: "NetworkPolicy"}: apivalidation.NameIsDNSSubdomain,
	{Group: "networking.k8s.io", Kind: "Ingress"}:       apivalidation.NameIsDNSSubdomain,
}

// validateBuiltin checks a strictly decoded built-in object.
func validateBuiltin(gvk schema.GroupVersionKind, typed runtime.Object) field.ErrorList {
	accessor, ok := typed.(metav1.Object)
	if !ok {
		return nil // a List or an options kind: nothing the render can check
	}
	meta := &metav1.ObjectMeta{
		Name: accessor.GetName(), GenerateName: accessor.GetGenerateName(), Namespace: accessor.GetNamespace(),
		Labels: accessor.GetLabels(), Annotations: accessor.GetAnnotations(), Finalizers: accessor.GetFinalizers(),
		OwnerReferences: accessor.GetOwnerReferences(),
	}
	// The API server drops the namespace of a cluster-scoped object and gives a
	// namespaced one without a namespace the one it is applied to.
	namespaced, known := openapi.IsNamespaceScoped(kyaml.TypeMeta{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind})
	namespaced = namespaced || !known && meta.Namespace != ""
	if !namespaced {
		meta.Namespace = ""
	} else if meta.Namespace == "" {
		meta.Namespace = metav1.NamespaceDefault
	}
	nameFn := nameRules[gvk.GroupKind()]
	if nameFn == nil {
		nameFn = path.ValidatePathSegmentName
	}
	errs := apivalidation.ValidateObjectMeta(meta, namespaced, nameFn, field.NewPath("metadata"))

	spec := field.NewPath("spec")
	switch o := typed.(type) {
	case *appsv1.Deployment:
		errs = append(errs, nonNegative(o.Spec.Replicas, spec.Child("replicas"))...)
		errs = append(errs, nonNegative(&o.Spec.MinReadySeconds, spec.Child("minReadySeconds"))...)
		errs = append(errs, nonNegative(o.Spec.RevisionHistoryLimit, spec.Child("revisionHistoryLimit"))...)
		errs = append(errs, nonNegative(o.Spec.ProgressDeadlineSeconds, spec.Child("progressDeadlineSeconds"))...)
		if d := o.Spec.ProgressDeadlineSeconds; d != nil && *d <= o.Spec.MinReadySeconds {
			errs = append(errs, field.Invalid(spec.Child("progressDeadlineSeconds"), *d, "must be greater than minReadySeconds"))
		}
		errs = append(errs, validateReplicated(o.Spec.Selector, &o.Spec.Template, "deployment", spec)...)
	case *appsv1.StatefulSet:
		errs = append(errs, nonNegative(o.Spec.Replicas, spec.Child("replicas"))...)
		errs = append(errs, nonNegative(&o.Spec.MinReadySeconds, spec.Child("minReadySeconds"))...)
		if o.Spec.ServiceName != "" {
			errs = append(errs, dns1123Label(o.Spec.ServiceName, spec.Child("serviceName"))...)
		}
		errs = append(errs, validateReplicated(o.Spec.Selector, &o.Spec.Template, "statefulset", spec)...)
	case *appsv1.ReplicaSet:
		errs = append(errs, nonNegative(o.Spec.Replicas, spec.Child("replicas"))...)
		errs = append(errs, validateReplicated(o.Spec.Selector, &o.Spec.Template, "replicaset", spec)...)
	case *appsv1.DaemonSet:
		errs = append(errs, validateReplicated(o.Spec.Selector, &o.Spec.Template, "daemonset", spec)...)
	case *batchv1.Job:
		errs = append(errs, validatePodTemplate(&o.Spec.Template, spec.Child("template"))...)
	case *batchv1.CronJob:
		errs = append(errs, validatePodTemplate(&o.Spec.JobTemplate.Spec.Template, spec.Child("jobTemplate", "spec", "template"))...)
	case *corev1.Pod:
		errs = append(errs, validatePodSpec(&o.Spec, spec)...)
	case *corev1.Service:
		errs = append(errs, validateService(o, spec)...)
	case *corev1.ConfigMap:
		errs = append(errs, validateData(o.Data, o.BinaryData, field.NewPath("data"), field.NewPath("binaryData"))...)
	case *corev1.Secret:
		data := map[string]string{}
		for k, v := range o.StringData {
			data[k] = v
		}
		errs = append(errs, validateData(data, o.Data, field.NewPath("stringData"), field.NewPath("data"))...)
	}
	return errs
}

// validateReplicated is the API server's check of a controller's selector and template
// (ValidateDeploymentSpec and its siblings): a selector is required and not empty, it
// must select the template's pods, and those restart Always.
func validateReplicated(sel *metav1.LabelSelector, template *corev1.PodTemplateSpec, kind string, spec *field.Path) field.ErrorList {
	var errs field.ErrorList
	if sel == nil {
		errs = append(errs, field.Required(spec.Child("selector"), ""))
	} else {
		errs = append(errs, metav1validation.ValidateLabelSelector(sel, metav1validation.LabelSelectorValidationOptions{}, spec.Child("selector"))...)
		if len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
			errs = append(errs, field.Invalid(spec.Child("selector"), sel, "empty selector is invalid for "+kind))
		}
	}
	tpl := spec.Child("template")
	if selector, err := metav1.LabelSelectorAsSelector(sel); err == nil && !selector.Empty() && !selector.Matches(labels.Set(template.Labels)) {
		errs = append(errs, field.Invalid(tpl.Child("metadata", "labels"), template.Labels, "`selector` does not match template `labels`"))
	}
	if rp := template.Spec.RestartPolicy; rp != "" && rp != corev1.RestartPolicyAlways {
		errs = append(errs, field.NotSupported(tpl.Child("spec", "restartPolicy"), rp, []string{string(corev1.RestartPolicyAlways)}))
	}
	return append(errs, validatePodTemplate(template, tpl)...)
}

func validatePodTemplate(t *corev1.PodTemplateSpec, p *field.Path) field.ErrorList {
	meta := p.Child("metadata")
	errs := metav1validation.ValidateLabels(t.Labels, meta.Child("labels"))
	errs = append(errs, apivalidation.ValidateAnnotations(t.Annotations, meta.Child("annotations"))...)
	return append(errs, validatePodSpec(&t.Spec, p.Child("spec"))...)
}

// validatePodSpec is the part of ValidatePodSpec a render can decide: containers exist,
// have names, images, valid ports, env names and resources; volumes and their mounts
// match; the ServiceAccount name is valid.
func validatePodSpec(s *corev1.PodSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	volumes := sets.New[string]()
	for i, v := range s.Volumes {
		vp := p.Child("volumes").Index(i).Child("name")
		switch {
		case v.Name == "":
			errs = append(errs, field.Required(vp, ""))
		case volumes.Has(v.Name):
			errs = append(errs, field.Duplicate(vp, v.Name))
		default:
			errs = append(errs, dns1123Label(v.Name, vp)...)
		}
		volumes.Insert(v.Name)
	}
	if len(s.Containers) == 0 {
		errs = append(errs, field.Required(p.Child("containers"), ""))
	}
	names := sets.New[string]()
	for _, list := range []struct {
		field      string
		containers []corev1.Container
	}{{"containers", s.Containers}, {"initContainers", s.InitContainers}} {
		for i := range list.containers {
			c := &list.containers[i]
			cp := p.Child(list.field).Index(i)
			switch {
			case c.Name == "":
				errs = append(errs, field.Required(cp.Child("name"), ""))
			case names.Has(c.Name):
				errs = append(errs, field.Duplicate(cp.Child("name"), c.Name))
			default:
				errs = append(errs, dns1123Label(c.Name, cp.Child("name"))...)
			}
			names.Insert(c.Name)
			errs = append(errs, validateContainer(c, volumes, cp)...)
		}
	}
	if s.ServiceAccountName != "" {
		for _, msg := range apivalidation.ValidateServiceAccountName(s.ServiceAccountName, false) {
			errs = append(errs, field.Invalid(p.Child("serviceAccountName"), s.ServiceAccountName, msg))
		}
	}
	return errs
}

var portProtocols = []string{string(corev1.ProtocolSCTP), string(corev1.ProtocolTCP), string(corev1.ProtocolUDP)}

func validateContainer(c *corev1.Container, volumes sets.Set[string], p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if c.Image == "" {
		errs = append(errs, field.Required(p.Child("image"), ""))
	}
	portNames := sets.New[string]()
	for i, port := range c.Ports {
		pp := p.Child("ports").Index(i)
		if port.Name != "" {
			if msgs := validation.IsValidPortName(port.Name); len(msgs) > 0 {
				for _, msg := range msgs {
					errs = append(errs, field.Invalid(pp.Child("name"), port.Name, msg))
				}
			} else if portNames.Has(port.Name) {
				errs = append(errs, field.Duplicate(pp.Child("name"), port.Name))
			}
			portNames.Insert(port.Name)
		}
		if port.ContainerPort == 0 {
			errs = append(errs, field.Required(pp.Child("containerPort"), ""))
		} else {
			errs = append(errs, portNumber(int(port.ContainerPort), pp.Child("containerPort"))...)
		}
		if port.HostPort != 0 {
			errs = append(errs, portNumber(int(port.HostPort), pp.Child("hostPort"))...)
		}
		if port.Protocol != "" && !slices.Contains(portProtocols, string(port.Protocol)) {
			errs = append(errs, field.NotSupported(pp.Child("protocol"), port.Protocol, portProtocols))
		}
	}
	for i, ev := range c.Env {
		np := p.Child("env").Index(i).Child("name")
		if ev.Name == "" {
			errs = append(errs, field.Required(np, ""))
			continue
		}
		for _, msg := range validation.IsRelaxedEnvVarName(ev.Name) {
			errs = append(errs, field.Invalid(np, ev.Name, msg))
		}
	}
	for i, m := range c.VolumeMounts {
		mp := p.Child("volumeMounts").Index(i)
		if m.Name == "" {
			errs = append(errs, field.Required(mp.Child("name"), ""))
		} else if !volumes.Has(m.Name) {
			errs = append(errs, field.NotFound(mp.Child("name"), m.Name))
		}
		if m.MountPath == "" {
			errs = append(errs, field.Required(mp.Child("mountPath"), ""))
		}
	}
	rp := p.Child("resources")
	for name, q := range c.Resources.Requests {
		errs = append(errs, nonNegativeQuantity(q, rp.Child("requests").Key(string(name)))...)
		if limit, ok := c.Resources.Limits[name]; ok && q.Cmp(limit) > 0 {
			errs = append(errs, field.Invalid(rp.Child("requests"), q.String(), fmt.Sprintf("must be less than or equal to %s limit of %s", name, limit.String())))
		}
	}
	for name, q := range c.Resources.Limits {
		errs = append(errs, nonNegativeQuantity(q, rp.Child("limits").Key(string(name)))...)
	}
	return errs
}

// validateService is the part of ValidateService a render can decide.
func validateService(s *corev1.Service, spec *field.Path) field.ErrorList {
	var errs field.ErrorList
	headless := s.Spec.ClusterIP == corev1.ClusterIPNone
	if len(s.Spec.Ports) == 0 && !headless && s.Spec.Type != corev1.ServiceTypeExternalName {
		errs = append(errs, field.Required(spec.Child("ports"), ""))
	}
	names := sets.New[string]()
	for i, sp := range s.Spec.Ports {
		pp := spec.Child("ports").Index(i)
		if len(s.Spec.Ports) > 1 && sp.Name == "" {
			errs = append(errs, field.Required(pp.Child("name"), ""))
		} else if sp.Name != "" {
			errs = append(errs, dns1123Label(sp.Name, pp.Child("name"))...)
			if names.Has(sp.Name) {
				errs = append(errs, field.Duplicate(pp.Child("name"), sp.Name))
			}
			names.Insert(sp.Name)
		}
		errs = append(errs, portNumber(int(sp.Port), pp.Child("port"))...)
		if sp.Protocol != "" && !slices.Contains(portProtocols, string(sp.Protocol)) {
			errs = append(errs, field.NotSupported(pp.Child("protocol"), sp.Protocol, portProtocols))
		}
		// Zero is defaulted to the port.
		switch {
		case sp.TargetPort.Type == intstr.String:
			for _, msg := range validation.IsValidPortName(sp.TargetPort.StrVal) {
				errs = append(errs, field.Invalid(pp.Child("targetPort"), sp.TargetPort.StrVal, msg))
			}
		case sp.TargetPort.IntVal != 0:
			errs = append(errs, portNumber(int(sp.TargetPort.IntVal), pp.Child("targetPort"))...)
		}
		if sp.NodePort != 0 {
			errs = append(errs, portNumber(int(sp.NodePort), pp.Child("nodePort"))...)
		}
	}
	return append(errs, metav1validation.ValidateLabels(s.Spec.Selector, spec.Child("selector"))...)
}

// validateData is ValidateConfigMap's (and ValidateSecret's) check of keys and size.
func validateData(data map[string]string, binary map[string][]byte, dataPath, binaryPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	size := 0
	for k, v := range data {
		for _, msg := range validation.IsConfigMapKey(k) {
			errs = append(errs, field.Invalid(dataPath.Key(k), k, msg))
		}
		size += len(v)
	}
	for k, v := range binary {
		for _, msg := range validation.IsConfigMapKey(k) {
			errs = append(errs, field.Invalid(binaryPath.Key(k), k, msg))
		}
		if _, dup := data[k]; dup {
			errs = append(errs, field.Invalid(binaryPath.Key(k), k, "duplicate of key present in "+dataPath.String()))
		}
		size += len(v)
	}
	if size > corev1.MaxSecretSize {
		errs = append(errs, field.TooLong(dataPath, "", corev1.MaxSecretSize))
	}
	return errs
}

func portNumber(port int, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsValidPortNum(port) {
		errs = append(errs, field.Invalid(p, port, msg))
	}
	return errs
}

func dns1123Label(v string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Label(v) {
		errs = append(errs, field.Invalid(p, v, msg))
	}
	return errs
}

func nonNegative(v *int32, p *field.Path) field.ErrorList {
	if v == nil || *v >= 0 {
		return nil
	}
	return field.ErrorList{field.Invalid(p, *v, "must be greater than or equal to 0")}
}

func nonNegativeQuantity(q resource.Quantity, p *field.Path) field.ErrorList {
	if q.Sign() >= 0 {
		return nil
	}
	return field.ErrorList{field.Invalid(p, q.String(), "must be greater than or equal to 0")}
}
