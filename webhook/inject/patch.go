package inject

import (
	"maps"
	"slices"
	"strconv"

	"github.com/go-openapi/jsonpointer"
	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/trustsync/trustsync/security/authbridge"
)

// recorder mutates a pod and records each change as a JSON patch operation, so the
// patch is exactly the mutation: no serialisation of the whole pod, no diff.
type recorder struct {
	pod *corev1.Pod
	ops []jsonpatch.JsonPatchOperation
}

func (r *recorder) record(op, path string, value any) {
	r.ops = append(r.ops, jsonpatch.JsonPatchOperation{Operation: op, Path: path, Value: value})
}

// apply adds the injection to the pod and sets the annotations.
func apply(pod *corev1.Pod, inj *authbridge.Injection, annotations map[string]string) []jsonpatch.JsonPatchOperation {
	r := &recorder{pod: pod}
	spec := &pod.Spec
	for i := range spec.Containers {
		c := &spec.Containers[i]
		base := "/spec/containers/" + strconv.Itoa(i)
		if mv := inj.AgentPort; mv != nil && c.Name == mv.Container {
			r.movePort(base, c, mv)
		}
		var env []corev1.EnvVar
		for _, e := range inj.AppEnv {
			if !slices.ContainsFunc(c.Env, func(x corev1.EnvVar) bool { return x.Name == e.Name }) {
				env = append(env, e)
			}
		}
		appendTo(r, base+"/env", &c.Env, env...)
		var mounts []corev1.VolumeMount
		for _, m := range inj.AppMounts {
			if !slices.ContainsFunc(c.VolumeMounts, func(x corev1.VolumeMount) bool { return x.Name == m.Name || x.MountPath == m.MountPath }) {
				mounts = append(mounts, m)
			}
		}
		appendTo(r, base+"/volumeMounts", &c.VolumeMounts, mounts...)
	}
	appendTo(r, "/spec/volumes", &spec.Volumes, inj.Volumes...)
	appendTo(r, "/spec/initContainers", &spec.InitContainers, inj.InitContainers...)
	appendTo(r, "/spec/containers", &spec.Containers, inj.Containers...)
	for _, k := range slices.Sorted(maps.Keys(annotations)) {
		v := annotations[k]
		switch old, ok := pod.Annotations[k]; {
		case pod.Annotations == nil:
			pod.Annotations = map[string]string{k: v}
			r.record("add", "/metadata/annotations", map[string]string{k: v})
		case !ok || old != v:
			pod.Annotations[k] = v
			r.record("add", "/metadata/annotations/"+jsonpointer.Escape(k), v) // add replaces a member
		}
	}
	return r.ops
}

// appendTo appends elements to a list of the pod: one operation that creates the list
// when it is absent, else one per element.
func appendTo[T any](r *recorder, path string, list *[]T, items ...T) {
	if len(items) == 0 {
		return
	}
	if *list == nil {
		r.record("add", path, slices.Clone(items))
	} else {
		for _, v := range items {
			r.record("add", path+"/-", v)
		}
	}
	*list = append(*list, items...)
}

// setEnv sets a variable of a container. An existing one is kept unless override.
func (r *recorder) setEnv(base string, c *corev1.Container, e corev1.EnvVar, override bool) {
	i := slices.IndexFunc(c.Env, func(x corev1.EnvVar) bool { return x.Name == e.Name })
	switch {
	case i < 0:
		appendTo(r, base+"/env", &c.Env, e)
	case override && (c.Env[i].Value != e.Value || c.Env[i].ValueFrom != nil):
		c.Env[i] = e
		r.record("replace", base+"/env/"+strconv.Itoa(i), e)
	}
}

// movePort moves the agent off the port the sidecar takes over: the port's number (its
// name goes to the sidecar, so Services by name reach the proxy), PORT, and the probes
// that used it — the kubelet keeps probing the agent itself, as Istio's probe rewrite does.
func (r *recorder) movePort(base string, c *corev1.Container, mv *authbridge.PortMove) {
	for j := range c.Ports {
		p := &c.Ports[j]
		if p.ContainerPort != mv.From {
			continue
		}
		path := base + "/ports/" + strconv.Itoa(j)
		p.ContainerPort = mv.To
		r.record("replace", path+"/containerPort", mv.To)
		if p.Name != "" {
			p.Name = ""
			r.record("remove", path+"/name", nil)
		}
		break
	}
	r.setEnv(base, c, corev1.EnvVar{Name: "PORT", Value: strconv.Itoa(int(mv.To))}, true)
	for _, pr := range []struct {
		field string
		probe *corev1.Probe
	}{{"livenessProbe", c.LivenessProbe}, {"readinessProbe", c.ReadinessProbe}, {"startupProbe", c.StartupProbe}} {
		if pr.probe == nil {
			continue
		}
		path := base + "/" + pr.field
		moved := intstr.FromInt32(mv.To)
		if h := pr.probe.HTTPGet; h != nil && usesPort(h.Port, mv) {
			h.Port = moved
			r.record("replace", path+"/httpGet/port", mv.To)
		}
		if t := pr.probe.TCPSocket; t != nil && usesPort(t.Port, mv) {
			t.Port = moved
			r.record("replace", path+"/tcpSocket/port", mv.To)
		}
		if g := pr.probe.GRPC; g != nil && g.Port == mv.From {
			g.Port = mv.To
			r.record("replace", path+"/grpc/port", mv.To)
		}
	}
}

func usesPort(p intstr.IntOrString, mv *authbridge.PortMove) bool {
	if p.Type == intstr.String {
		return mv.Name != "" && p.StrVal == mv.Name
	}
	return p.IntVal == mv.From
}
