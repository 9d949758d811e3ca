package charttest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/trustsync/trustsync/install"
	"github.com/trustsync/trustsync/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, &env)) }

const chart = "../trustsync"

// helmBinary is the helm `make helm` builds from the Go module proxy.
func helmBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("TRUSTSYNC_HELM")
	if bin == "" {
		home, _ := os.UserHomeDir()
		bin = filepath.Join(home, ".cache", "trustsync", "tools", "helm-v4.3.2", "helm")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("helm not found at %s: build it with `make helm` or set TRUSTSYNC_HELM", bin)
	}
	return bin
}

func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command(helmBinary(t), args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("helm %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), nil
}

// render is `helm template` of the chart with the --set values.
func render(t *testing.T, set ...string) []*unstructured.Unstructured {
	t.Helper()
	args := []string{"template", "trustsync", chart, "--namespace", "trustsync-system", "--include-crds"}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	out, err := helm(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(out), 4096)
	var objs []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if err.Error() == "EOF" {
				return objs
			}
			t.Fatalf("helm template's output does not parse: %v", err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

func key(o *unstructured.Unstructured) string {
	return o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
}

func byKey(objs []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
	m := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		m[key(o)] = o
	}
	return m
}

// TestLint: helm lint passes, strict too.
func TestLint(t *testing.T) {
	for _, args := range [][]string{{"lint", chart, "--namespace", "trustsync-system"}, {"lint", chart, "--namespace", "trustsync-system", "--strict"}} {
		if out, err := helm(t, args...); err != nil || !strings.Contains(out, "0 chart(s) failed") {
			t.Errorf("%v: %s", err, out)
		}
	}
	if _, err := helm(t, "template", "trustsync", chart, "--namespace", "default"); err == nil || !strings.Contains(err.Error(), "install trustsync in the namespace trustsync-system") {
		t.Errorf("installing elsewhere than trustsync-system: %v", err)
	}
	if _, err := helm(t, "template", "trustsync", chart, "--namespace", "trustsync-system", "--set", "controller.replicas=-1"); err == nil {
		t.Error("the values schema accepts negative replicas")
	}
}

// TestChartIsConfig: for default values and each component switch, the chart renders
// object for object what config/ does (install.Manifests builds it), but the namespace,
// which is Helm's to create.
func TestChartIsConfig(t *testing.T) {
	tests := []struct {
		set []string
		o   install.Options
	}{
		{nil, install.Options{}},
		{[]string{"webhook.certManager=true"}, install.Options{CertManager: true}},
		{[]string{"bundleServer.enabled=true"}, install.Options{BundleServer: true}},
		{[]string{"dashboard.enabled=true"}, install.Options{Dashboard: true}},
		{[]string{"webhook.certManager=true", "bundleServer.enabled=true", "dashboard.enabled=true"}, install.Options{CertManager: true, BundleServer: true, Dashboard: true}},
	}
	for _, tc := range tests {
		t.Run(strings.Join(append([]string{"defaults"}, tc.set...), ","), func(t *testing.T) {
			want, err := install.Manifests(tc.o)
			if err != nil {
				t.Fatal(err)
			}
			got := byKey(render(t, tc.set...))
			var missing []string
			for _, w := range want {
				if w.GetKind() == "Namespace" {
					continue
				}
				g, ok := got[key(w)]
				if !ok {
					missing = append(missing, key(w))
					continue
				}
				delete(got, key(w))
				gj, _ := g.MarshalJSON()
				wj, _ := w.MarshalJSON()
				if !bytes.Equal(gj, wj) {
					t.Errorf("%s differs from config/'s:\nchart:  %s\nconfig: %s", key(w), gj, wj)
				}
			}
			if len(missing) > 0 || len(got) > 0 {
				extra := make([]string, 0, len(got))
				for k := range got {
					extra = append(extra, k)
				}
				slices.Sort(extra)
				t.Errorf("the chart lacks %v and adds %v", missing, extra)
			}
		})
	}
}

func deployment(t *testing.T, objs []*unstructured.Unstructured, name string) *unstructured.Unstructured {
	t.Helper()
	d, ok := byKey(objs)["Deployment/trustsync-system/"+name]
	if !ok {
		t.Fatalf("no Deployment %s", name)
	}
	return d
}

func container(d *unstructured.Unstructured) map[string]any {
	cs, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	return cs[0].(map[string]any)
}

// TestValues: each value set changes what it says and nothing it does not.
func TestValues(t *testing.T) {
	tests := []struct {
		name  string
		set   []string
		check func(t *testing.T, objs []*unstructured.Unstructured)
	}{
		{"image", []string{"image.repository=registry.local/trustsync", "image.tag=v1.2.3", "image.pullPolicy=IfNotPresent", "dashboard.enabled=true"}, func(t *testing.T, objs []*unstructured.Unstructured) {
			for _, name := range []string{"trustsync-controller", "trustsync-webhook", "trustsync-dashboard"} {
				c := container(deployment(t, objs, name))
				if c["image"] != "registry.local/trustsync:v1.2.3" || c["imagePullPolicy"] != "IfNotPresent" {
					t.Errorf("%s runs %v (%v)", name, c["image"], c["imagePullPolicy"])
				}
			}
		}},
		{"replicas and resources", []string{"webhook.replicas=3", "controller.resources.limits.memory=2Gi"}, func(t *testing.T, objs []*unstructured.Unstructured) {
			if r, _, _ := unstructured.NestedFieldNoCopy(deployment(t, objs, "trustsync-webhook").Object, "spec", "replicas"); fmt.Sprint(r) != "3" {
				t.Errorf("webhook replicas %v", r)
			}
			if r, _, _ := unstructured.NestedFieldNoCopy(deployment(t, objs, "trustsync-controller").Object, "spec", "replicas"); fmt.Sprint(r) != "1" {
				t.Errorf("the controller's replicas changed to %v", r)
			}
			res := container(deployment(t, objs, "trustsync-controller"))["resources"]
			if fmt.Sprint(res) != "map[limits:map[memory:2Gi]]" {
				t.Errorf("controller resources %v", res)
			}
		}},
		{"no leader election", []string{"controller.leaderElection=false"}, func(t *testing.T, objs []*unstructured.Unstructured) {
			if args := fmt.Sprint(container(deployment(t, objs, "trustsync-controller"))["args"]); strings.Contains(args, "--leader-elect") {
				t.Errorf("args %s", args)
			}
		}},
		{"shards", []string{"controller.shards={a,b}"}, func(t *testing.T, objs []*unstructured.Unstructured) {
			for name, sel := range map[string]string{"trustsync-controller": "!sharding.fluxcd.io/key", "trustsync-controller-a": "sharding.fluxcd.io/key=a", "trustsync-controller-b": "sharding.fluxcd.io/key=b"} {
				d := deployment(t, objs, name)
				if args := fmt.Sprint(container(d)["args"]); !strings.Contains(args, "--watch-label-selector="+sel+"]") && !strings.Contains(args, "--watch-label-selector="+sel+" ") {
					t.Errorf("%s args %s", name, args)
				}
				comp, _, _ := unstructured.NestedString(d.Object, "spec", "selector", "matchLabels", "app.kubernetes.io/component")
				if want := strings.TrimPrefix(strings.TrimPrefix(name, "trustsync-"), ""); comp != want {
					t.Errorf("%s selects component %q, want %q: shards' pods must not match another Deployment", name, comp, want)
				}
			}
		}},
		{"platform", []string{"platform.trustDomain=prod.example.org", "platform.keycloak.realm=agents"}, func(t *testing.T, objs []*unstructured.Unstructured) {
			for _, o := range objs {
				if o.GetKind() == "ConfigMap" && strings.HasPrefix(o.GetName(), "trustsync-platform") {
					data, _, _ := unstructured.NestedString(o.Object, "data", "platform.yaml")
					for _, want := range []string{"kind: Platform", "trustDomain: prod.example.org", "realm: agents"} {
						if !strings.Contains(data, want) {
							t.Errorf("platform.yaml lacks %q:\n%s", want, data)
						}
					}
					return
				}
			}
			t.Error("no platform ConfigMap")
		}},
		{"network policies", []string{"networkPolicy.enabled=true", "dashboard.enabled=true"}, func(t *testing.T, objs []*unstructured.Unstructured) {
			m := byKey(objs)
			for _, n := range []string{"default-deny", "controller", "webhook", "bundle-server", "dashboard"} {
				if _, ok := m["NetworkPolicy/trustsync-system/trustsync-"+n]; !ok {
					t.Errorf("no NetworkPolicy trustsync-%s", n)
				}
			}
		}},
		{"service monitor", []string{"serviceMonitor.enabled=true", "serviceMonitor.labels.release=prom"}, func(t *testing.T, objs []*unstructured.Unstructured) {
			sm, ok := byKey(objs)["ServiceMonitor/trustsync-system/trustsync-controller"]
			if !ok || sm.GetLabels()["release"] != "prom" {
				t.Fatalf("ServiceMonitor %v", sm)
			}
			// It selects the metrics Service config/ labels for it.
			svc := byKey(objs)["Service/trustsync-system/trustsync-metrics"]
			if svc == nil || svc.GetLabels()["app.kubernetes.io/component"] != "controller" {
				t.Errorf("the metrics Service %v has not the labels the ServiceMonitor selects", svc)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.check(t, render(t, tc.set...)) })
	}
}

// TestAcceptedByTheAPIServer: what the chart renders, by default and with everything
// on, is accepted by a real API server (CRDs applied first, the rest as a server-side
// dry run).
func TestAcceptedByTheAPIServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "trustsync-system"}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	for _, set := range [][]string{nil, {"webhook.certManager=true", "bundleServer.enabled=true", "dashboard.enabled=true", "networkPolicy.enabled=true", "serviceMonitor.enabled=true", "controller.shards={a}"}} {
		for _, o := range render(t, set...) {
			opts := []client.ApplyOption{client.FieldOwner("charttest"), client.ForceOwnership}
			if !install.IsCRD(o) {
				opts = append(opts, client.DryRunAll)
			}
			if err := env.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(o), opts...); err != nil {
				t.Errorf("%v: %s refused: %v", set, key(o), err)
			}
		}
	}
}
