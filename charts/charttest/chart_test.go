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
	"sigs.k8s.io/yaml"

	"github.com/trustsync/trustsync/install"
	"github.com/trustsync/trustsync/internal/testenv"
	"github.com/trustsync/trustsync/renderers/kustomize"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, &env)) }

const (
	chart    = "../trustsync"
	repoRoot = "../.."
)

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

// TestLint: helm lint passes, strict too; the chart refuses another namespace than
// trustsync-system and values its schema does not type.
func TestLint(t *testing.T) {
	for _, args := range [][]string{{"lint", chart, "--namespace", "trustsync-system"}, {"lint", chart, "--namespace", "trustsync-system", "--strict"}} {
		if out, err := helm(t, args...); err != nil || !strings.Contains(out, "0 chart(s) failed") {
			t.Errorf("%v: %s", err, out)
		}
	}
	if _, err := helm(t, "template", "trustsync", chart, "--namespace", "default"); err == nil || !strings.Contains(err.Error(), "install trustsync in the namespace trustsync-system") {
		t.Errorf("installing elsewhere than trustsync-system: %v", err)
	}
	for _, bad := range []string{"controller.replicas=-1", "image.pullPolicy=Sometimes", "dashboard.enabled=yes", "controller.shards={Not_A_Name}", "nosuchvalue=1", "dashboard.shards={a}", "platform.kind=Other", "controller.resources.limitz.cpu=1", "serviceMonitor.interval=soon"} {
		if _, err := helm(t, "template", "trustsync", chart, "--namespace", "trustsync-system", "--set", bad); err == nil || !strings.Contains(err.Error(), "schema") {
			t.Errorf("the values schema accepts %s: %v", bad, err)
		}
	}
}

// TestVersions: the chart's appVersion and default image tag are the tag config/images
// gives, so `helm install` and `kubectl apply -k config/default` run the same image.
func TestVersions(t *testing.T) {
	read := func(file string, into any) {
		t.Helper()
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(data, into); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	var images struct {
		Images []struct{ NewName, NewTag string }
	}
	var meta struct{ APIVersion, Name, Version, AppVersion string }
	var values struct {
		Image struct{ Repository, Tag string }
	}
	read(filepath.Join(repoRoot, "config", "images", "kustomization.yaml"), &images)
	read(filepath.Join(chart, "Chart.yaml"), &meta)
	read(filepath.Join(chart, "values.yaml"), &values)
	if len(images.Images) != 1 {
		t.Fatalf("config/images names %d images, want 1", len(images.Images))
	}
	img := images.Images[0]
	if meta.APIVersion != "v2" || meta.Name != "trustsync" || meta.Version != "0.1.0" || meta.AppVersion != img.NewTag {
		t.Errorf("Chart.yaml: %+v, want apiVersion v2, name trustsync, version 0.1.0, appVersion %s", meta, img.NewTag)
	}
	if values.Image.Repository != img.NewName || values.Image.Tag != img.NewTag {
		t.Errorf("values.yaml's image is %s:%s, config/images' %s:%s", values.Image.Repository, values.Image.Tag, img.NewName, img.NewTag)
	}
}

// TestChartIsConfig: for default values and each component switch, the chart renders
// object for object what the matching config/ base builds to (with the repository's
// kustomize renderer, as `kubectl apply -k` would) and what `trustsync install` applies
// (install.Manifests), but the Namespace, which is Helm's to create
// (--create-namespace). The chart adds no labels of its own, so nothing else is
// stripped: the objects are compared whole, the platform ConfigMap's hashed name
// included.
func TestChartIsConfig(t *testing.T) {
	tests := []struct {
		set  []string
		base string // a config/ base the values equal; empty when none does
		o    install.Options
	}{
		{nil, "config/default", install.Options{}},
		{[]string{"webhook.certManager=true"}, "config/cert-manager", install.Options{CertManager: true}},
		{[]string{"bundleServer.enabled=true"}, "config/bundle-server", install.Options{BundleServer: true}},
		{[]string{"dashboard.enabled=true"}, "config/dashboard", install.Options{Dashboard: true}},
		{[]string{"webhook.certManager=true", "bundleServer.enabled=true", "dashboard.enabled=true"}, "", install.Options{CertManager: true, BundleServer: true, Dashboard: true}},
	}
	for _, tc := range tests {
		t.Run(strings.Join(append([]string{"defaults"}, tc.set...), ","), func(t *testing.T) {
			got := render(t, tc.set...)
			if tc.base != "" {
				objs, err := kustomize.Build(os.DirFS(repoRoot), tc.base, kustomize.Options{})
				if err != nil {
					t.Fatal(err)
				}
				want := make([]*unstructured.Unstructured, len(objs))
				for i, o := range objs {
					want[i] = o.Unstructured
				}
				sameObjects(t, tc.base, got, want)
			}
			want, err := install.Manifests(tc.o)
			if err != nil {
				t.Fatal(err)
			}
			sameObjects(t, "trustsync install", got, want)
		})
	}
}

// sameObjects fails t unless the chart's objects are want's but its Namespace, each
// difference shown as a line diff of the two objects' YAML.
func sameObjects(t *testing.T, what string, chart, want []*unstructured.Unstructured) {
	t.Helper()
	// Keyed by group too: two kinds of one name in different groups are two objects.
	gkey := func(o *unstructured.Unstructured) string {
		return o.GroupVersionKind().GroupKind().String() + "/" + o.GetNamespace() + "/" + o.GetName()
	}
	got := map[string]*unstructured.Unstructured{}
	for _, o := range chart {
		if _, dup := got[gkey(o)]; dup {
			t.Errorf("the chart renders %s twice", gkey(o))
		}
		got[gkey(o)] = o
	}
	var missing []string
	for _, w := range want {
		if w.GetKind() == "Namespace" {
			continue
		}
		g, ok := got[gkey(w)]
		if !ok {
			missing = append(missing, gkey(w))
			continue
		}
		delete(got, gkey(w))
		gy, _ := yaml.Marshal(g.Object)
		wy, _ := yaml.Marshal(w.Object)
		if !bytes.Equal(gy, wy) {
			t.Errorf("%s differs from %s's (- %s, + chart):\n%s", gkey(w), what, what, lineDiff(string(wy), string(gy)))
		}
	}
	extra := make([]string, 0, len(got))
	for k := range got {
		extra = append(extra, k)
	}
	slices.Sort(extra)
	if len(missing) > 0 || len(extra) > 0 {
		t.Errorf("against %s the chart lacks %v and adds %v", what, missing, extra)
	}
}

// lineDiff is a, b's lines as a diff: "-" only in a, "+" only in b, by their longest
// common subsequence (objects are a few hundred lines at most), with three lines of
// context around each change and "…" for what is left out.
func lineDiff(a, b string) string {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var lines []string
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			lines = append(lines, "  "+x[i])
			i, j = i+1, j+1
		case i < len(x) && (j == len(y) || lcs[i+1][j] >= lcs[i][j+1]):
			lines = append(lines, "- "+x[i])
			i++
		default:
			lines = append(lines, "+ "+y[j])
			j++
		}
	}
	const context = 3
	keep := make([]bool, len(lines))
	for n, l := range lines {
		if !strings.HasPrefix(l, "  ") {
			for k := max(0, n-context); k <= min(len(lines)-1, n+context); k++ {
				keep[k] = true
			}
		}
	}
	var out strings.Builder
	for n, l := range lines {
		switch {
		case keep[n]:
			out.WriteString(l + "\n")
		case n == 0 || keep[n-1]:
			out.WriteString("  …\n")
		}
	}
	return out.String()
}

func TestLineDiff(t *testing.T) {
	tests := []struct{ a, b, want string }{
		{"a\nb", "a\nb", "  …\n"},
		{"a\nb\nc", "a\nc", "  a\n- b\n  c\n"},
		{"a\nc", "a\nb\nc", "  a\n+ b\n  c\n"},
		{"replicas: 1", "replicas: 3", "- replicas: 1\n+ replicas: 3\n"},
		{"1\n2\n3\n4\n5\nx\n6\n7\n8\n9\n10", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10", "  …\n  3\n  4\n  5\n- x\n  6\n  7\n  8\n  …\n"},
	}
	for _, tc := range tests {
		if got := lineDiff(tc.a, tc.b); got != tc.want {
			t.Errorf("lineDiff(%q, %q) = %q, want %q", tc.a, tc.b, got, tc.want)
		}
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

// platformConfigMap is the name and platform.yaml of the one platform ConfigMap.
func platformConfigMap(t *testing.T, objs []*unstructured.Unstructured) (name, data string) {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == "ConfigMap" && strings.HasPrefix(o.GetName(), "trustsync-platform") {
			if name != "" {
				t.Fatalf("platform ConfigMaps %s and %s", name, o.GetName())
			}
			name = o.GetName()
			data, _, _ = unstructured.NestedString(o.Object, "data", "platform.yaml")
		}
	}
	if name == "" {
		t.Fatal("no platform ConfigMap")
	}
	return name, data
}

// mounted is the ConfigMap a Deployment mounts as its platform volume.
func mounted(d *unstructured.Unstructured) string {
	vols, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "volumes")
	for _, v := range vols {
		if name, ok, _ := unstructured.NestedString(v.(map[string]any), "configMap", "name"); ok && strings.HasPrefix(name, "trustsync-platform") {
			return name
		}
	}
	return ""
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
		{"replicas and resources", []string{"webhook.replicas=3", "bundleServer.enabled=true", "bundleServer.replicas=4", "dashboard.enabled=true", "dashboard.replicas=0", "controller.resources.limits.memory=2Gi"}, func(t *testing.T, objs []*unstructured.Unstructured) {
			for name, want := range map[string]string{"trustsync-webhook": "3", "trustsync-bundle-server": "4", "trustsync-dashboard": "0", "trustsync-controller": "1"} {
				if r, _, _ := unstructured.NestedFieldNoCopy(deployment(t, objs, name).Object, "spec", "replicas"); fmt.Sprint(r) != want {
					t.Errorf("%s replicas %v, want %s", name, r, want)
				}
			}
			res := container(deployment(t, objs, "trustsync-controller"))["resources"]
			if fmt.Sprint(res) != "map[limits:map[memory:2Gi]]" {
				t.Errorf("controller resources %v", res)
			}
		}},
		{"rossoctl", []string{"families={rossoctl}", "platform.trustDomain=prod.example.org", "bundleServer.enabled=true"}, func(t *testing.T, objs []*unstructured.Unstructured) {
			// The chart as trustsync install --families rossoctl: Rossoctl's CRDs among
			// the objects, its pod-injection entry, its group in validation and RBAC, and
			// families in the platform file, also when the platform value replaces it.
			keys := byKey(objs)
			for _, k := range []string{"CustomResourceDefinition//agentruntimes.agent.rossoctl.dev", "CustomResourceDefinition//authorizationpolicies.agent.rossoctl.dev"} {
				if _, ok := keys[k]; !ok {
					t.Errorf("no %s", k)
				}
			}
			mwc := keys["MutatingWebhookConfiguration//trustsync-webhook"]
			if mwc == nil {
				t.Fatal("no MutatingWebhookConfiguration")
			}
			hooks, _, _ := unstructured.NestedSlice(mwc.Object, "webhooks")
			if len(hooks) != 1 || hooks[0].(map[string]any)["name"] != "inject.rossoctl.io" || !strings.Contains(fmt.Sprint(hooks[0]), "rossoctl-enabled") {
				t.Errorf("pod injection %v, want Rossoctl's entry alone", hooks)
			}
			if _, data := platformConfigMap(t, objs); !strings.Contains(data, "families:\n- rossoctl") || !strings.Contains(data, "trustDomain: prod.example.org") {
				t.Errorf("platform.yaml:\n%s", data)
			}
			if _, data := platformConfigMap(t, render(t, "families={rossoctl}")); !strings.Contains(data, "families: [rossoctl]") {
				t.Errorf("config/'s platform.yaml without families:\n%s", data)
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
				want := strings.TrimPrefix(name, "trustsync-")
				comp, _, _ := unstructured.NestedString(d.Object, "spec", "selector", "matchLabels", "app.kubernetes.io/component")
				if comp != want {
					t.Errorf("%s selects component %q, want %q: shards' pods must not match another Deployment", name, comp, want)
				}
				// Under the default deny, a shard without a policy of its own would
				// receive no probe, scrape or push.
				np, ok := byKey(objs)["NetworkPolicy/trustsync-system/"+name]
				if !ok {
					t.Errorf("no NetworkPolicy %s", name)
					continue
				}
				if comp, _, _ := unstructured.NestedString(np.Object, "spec", "podSelector", "matchLabels", "app.kubernetes.io/component"); comp != want {
					t.Errorf("NetworkPolicy %s selects component %q, want %q", name, comp, want)
				}
			}
		}},
		{"platform", []string{"platform.trustDomain=prod.example.org", "platform.keycloak.realm=agents", "bundleServer.enabled=true", "dashboard.enabled=true"}, func(t *testing.T, objs []*unstructured.Unstructured) {
			name, data := platformConfigMap(t, objs)
			for _, want := range []string{"apiVersion: gitops.trustsync.dev/v1alpha1", "kind: Platform", "trustDomain: prod.example.org", "realm: agents"} {
				if !strings.Contains(data, want) {
					t.Errorf("platform.yaml lacks %q:\n%s", want, data)
				}
			}
			// The platform file is read at start: only a new name rolls the pods.
			if def, _ := platformConfigMap(t, render(t)); name == def {
				t.Errorf("the platform ConfigMap keeps config/'s name %s with other content", name)
			}
			if other, _ := platformConfigMap(t, render(t, "platform.trustDomain=other.example.org")); name == other {
				t.Errorf("two platforms give one ConfigMap name %s", name)
			}
			for _, d := range []string{"trustsync-controller", "trustsync-webhook", "trustsync-bundle-server", "trustsync-dashboard"} {
				if got := mounted(deployment(t, objs, d)); got != name {
					t.Errorf("%s mounts ConfigMap %q, want %s", d, got, name)
				}
			}
		}},
		{"network policies by default", []string{"bundleServer.enabled=true", "dashboard.enabled=true"}, func(t *testing.T, objs []*unstructured.Unstructured) {
			m := byKey(objs)
			for _, n := range []string{"default-deny", "controller", "webhook", "bundle-server", "dashboard"} {
				if _, ok := m["NetworkPolicy/trustsync-system/trustsync-"+n]; !ok {
					t.Errorf("no NetworkPolicy trustsync-%s", n)
				}
			}
			// The API server's address is unknown: the webhook's port is open to all.
			np := m["NetworkPolicy/trustsync-system/trustsync-webhook"]
			if from, _, _ := unstructured.NestedSlice(np.Object, "spec", "ingress"); len(from) != 1 || !strings.Contains(fmt.Sprint(from), "port:webhook") || strings.Contains(fmt.Sprint(from), "from:") {
				t.Errorf("the webhook's ingress %v", from)
			}
		}},
		{"no network policies", []string{"networkPolicy.enabled=false", "bundleServer.enabled=true", "dashboard.enabled=true"}, func(t *testing.T, objs []*unstructured.Unstructured) {
			for _, o := range objs {
				if o.GetKind() == "NetworkPolicy" {
					t.Errorf("NetworkPolicy %s rendered", o.GetName())
				}
			}
		}},
		{"cert-manager", []string{"webhook.certManager=true"}, func(t *testing.T, objs []*unstructured.Unstructured) {
			if _, ok := byKey(objs)["Certificate/trustsync-system/trustsync-webhook"]; !ok {
				t.Error("no Certificate trustsync-webhook")
			}
			if args := fmt.Sprint(container(deployment(t, objs, "trustsync-webhook"))["args"]); !strings.Contains(args, "--cert-dir=/etc/trustsync/tls") {
				t.Errorf("webhook args %s", args)
			}
			for _, k := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
				if a := byKey(objs)[k+"//trustsync-webhook"].GetAnnotations()["cert-manager.io/inject-ca-from"]; a != "trustsync-system/trustsync-webhook" {
					t.Errorf("%s inject-ca-from %q", k, a)
				}
			}
		}},
		{"own CA by default", nil, func(t *testing.T, objs []*unstructured.Unstructured) {
			for _, o := range objs {
				if o.GetKind() == "Certificate" || o.GetKind() == "ServiceMonitor" || o.GetName() == "trustsync-bundle-server" || o.GetName() == "trustsync-dashboard" {
					t.Errorf("%s rendered by default", key(o))
				}
			}
			if args := fmt.Sprint(container(deployment(t, objs, "trustsync-webhook"))["args"]); strings.Contains(args, "--cert-dir") {
				t.Errorf("webhook args %s", args)
			}
		}},
		{"bundle server and dashboard", []string{"bundleServer.enabled=true", "dashboard.enabled=true"}, func(t *testing.T, objs []*unstructured.Unstructured) {
			m := byKey(objs)
			for _, k := range []string{"Deployment/trustsync-system/trustsync-bundle-server", "Service/trustsync-system/trustsync-bundle-server", "PodDisruptionBudget/trustsync-system/trustsync-bundle-server", "ClusterSPIFFEID//trustsync-system.trustsync-bundle-server", "Deployment/trustsync-system/trustsync-dashboard", "Service/trustsync-system/trustsync-dashboard", "ClusterRole//trustsync-dashboard"} {
				if _, ok := m[k]; !ok {
					t.Errorf("no %s", k)
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
	for _, set := range [][]string{nil, {"webhook.certManager=true", "bundleServer.enabled=true", "dashboard.enabled=true", "serviceMonitor.enabled=true", "controller.shards={a}", "platform.trustDomain=example.org", "image.tag=v1.2.3", "image.pullPolicy=Always", "webhook.replicas=3", "controller.resources.requests.cpu=1"}} {
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
