package apply

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	crcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/engine/metrics"
	"github.com/trustsync/trustsync/engine/objcache"
	"github.com/trustsync/trustsync/internal/testenv"
	"github.com/trustsync/trustsync/manifest"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, &env)) }

const ownerLabel = "sync.gitops.trustsync.dev/name"

var nsCounter atomic.Int64

// fixture is one owner's view of the cluster: a Manager with its own cache and a counter
// of the requests it sends.
type fixture struct {
	t        *testing.T
	ns       string
	mgr      *Manager
	requests *metrics.RequestCounter
	client   client.Client // the manager's client
	cache    crcache.Cache
	opts     Options
}

func newFixture(t *testing.T, mod func(*Options)) *fixture {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	f := &fixture{t: t, ns: fmt.Sprintf("apply-%d", nsCounter.Add(1)), requests: metrics.NewRequestCounter()}
	cfg := rest.CopyConfig(env.Config)
	cfg.WrapTransport = f.requests.Wrap
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mapper, err := apiutil.NewDynamicRESTMapper(cfg, httpClient)
	if err != nil {
		t.Fatal(err)
	}
	if f.client, err = client.New(cfg, client.Options{Scheme: env.Scheme, Mapper: mapper}); err != nil {
		t.Fatal(err)
	}
	if f.cache, err = objcache.New(env.Config, objcache.Options{Scheme: env.Scheme, FieldOwner: "trustsync", OwnerLabel: ownerLabel}); err != nil {
		t.Fatal(err)
	}
	go func() { _ = f.cache.Start(ctx) }()
	if !f.cache.WaitForCacheSync(ctx) {
		t.Fatal("cache did not sync")
	}
	f.opts = DefaultOptions()
	f.opts.Labels = map[string]string{ownerLabel: f.ns}
	if mod != nil {
		mod(&f.opts)
	}
	if f.mgr, err = New(f.client, f.cache, mapper, f.opts); err != nil {
		t.Fatal(err)
	}
	return f
}

// objects parses YAML documents; %NS% is the fixture's namespace.
func (f *fixture) objects(docs ...string) []*manifest.Object {
	f.t.Helper()
	var out []*manifest.Object
	text := strings.ReplaceAll(strings.Join(docs, "\n---\n"), "%NS%", f.ns)
	dec := kyaml.NewDecoder(bytes.NewReader([]byte(text)))
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			f.t.Fatal(err)
		}
		if m == nil {
			continue
		}
		u := &unstructured.Unstructured{}
		data, _ := kyaml.Marshal(m)
		if err := kyaml.Unmarshal(data, &u.Object); err != nil {
			f.t.Fatal(err)
		}
		js, err := u.MarshalJSON()
		if err != nil {
			f.t.Fatal(err)
		}
		u = &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, manifest.New(u, "repo/"+u.GetName()+".yaml"))
	}
}

func (f *fixture) apply(objs []*manifest.Object) *ChangeSet {
	f.t.Helper()
	cs, err := f.mgr.Apply(context.Background(), objs)
	if err != nil {
		f.t.Fatalf("apply: %v", err)
	}
	return cs
}

// settle waits until the cache has seen the objects' latest writes.
func (f *fixture) settle(objs []*manifest.Object) {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, o := range objs {
		for {
			want := &unstructured.Unstructured{}
			want.SetGroupVersionKind(o.GroupVersionKind())
			key := client.ObjectKey{Namespace: o.GetNamespace(), Name: o.GetName()}
			if key.Namespace == "" && o.GetKind() != "Namespace" && o.GetKind() != "CustomResourceDefinition" {
				key.Namespace = "default"
			}
			if err := env.Client.Get(context.Background(), key, want); err != nil && !apierrors.IsNotFound(err) {
				f.t.Fatal(err)
			}
			got := &unstructured.Unstructured{}
			got.SetGroupVersionKind(o.GroupVersionKind())
			err := f.cache.Get(context.Background(), key, got)
			if (apierrors.IsNotFound(err) && want.GetResourceVersion() == "") || (err == nil && got.GetResourceVersion() == want.GetResourceVersion()) {
				break
			}
			if time.Now().After(deadline) {
				f.t.Fatalf("cache did not catch up with %s", key)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func (f *fixture) actions(cs *ChangeSet) map[string]Action {
	out := map[string]Action{}
	for _, c := range cs.Changes {
		out[c.Object.Kind+"/"+c.Object.Name] = c.Action
	}
	return out
}

const (
	namespace = "apiVersion: v1\nkind: Namespace\nmetadata: {name: '%NS%'}"
	cmA       = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: '%NS%'}\ndata: {key: one}"
	cmB       = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: '%NS%'}\ndata: {key: two}"
	service   = "apiVersion: v1\nkind: Service\nmetadata: {name: svc, namespace: '%NS%'}\nspec: {ports: [{port: 80}], selector: {app: a}}"
)

func TestApplyCreatesThenSendsNothing(t *testing.T) {
	f := newFixture(t, nil)
	objs := f.objects(namespace, cmA, cmB, service)
	cs := f.apply(objs)
	if got := cs.Count(Created); got != 4 {
		t.Fatalf("created %d, want 4: %v", got, f.actions(cs))
	}
	f.settle(objs)

	f.requests.Reset()
	cs = f.apply(f.objects(namespace, cmA, cmB, service))
	if cs.Count(Unchanged) != 4 {
		t.Fatalf("second apply: %v", f.actions(cs))
	}
	if w, d := f.requests.Writes(), f.requests.Count(metrics.VerbDryRun); w != 0 || d != 0 {
		t.Fatalf("a no-op apply sent %d writes and %d dry-runs", w, d)
	}
}

// TestKeptRenderIsPreparedOnce: the same objects applied again (a Sync keeps its last
// render) send nothing; after Reconfigure they are prepared with the new options, so a
// new owner label is applied.
func TestKeptRenderIsPreparedOnce(t *testing.T) {
	f := newFixture(t, nil)
	objs := f.objects(namespace, cmA, cmB)
	f.apply(objs)
	f.settle(objs)

	f.requests.Reset()
	if cs := f.apply(objs); cs.Count(Unchanged) != 3 || f.requests.Writes() != 0 || f.requests.Count(metrics.VerbDryRun) != 0 {
		t.Fatalf("the kept render again: %v, %d writes, %d dry-runs", f.actions(cs), f.requests.Writes(), f.requests.Count(metrics.VerbDryRun))
	}

	opts := f.opts
	opts.Labels = map[string]string{ownerLabel: f.ns, "team": "blue"}
	if err := f.mgr.Reconfigure(f.client, opts); err != nil {
		t.Fatal(err)
	}
	if cs := f.apply(objs); cs.Count(Configured) != 3 {
		t.Fatalf("after Reconfigure: %v, want all configured", f.actions(cs))
	}
	live := &unstructured.Unstructured{}
	live.SetGroupVersionKind(objs[1].GroupVersionKind())
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: "a"}, live); err != nil {
		t.Fatal(err)
	}
	if live.GetLabels()["team"] != "blue" {
		t.Fatalf("labels %v, want team=blue", live.GetLabels())
	}
}

func TestApplyOnlyTheChangedObject(t *testing.T) {
	f := newFixture(t, nil)
	objs := f.objects(namespace, cmA, cmB)
	f.apply(objs)
	f.settle(objs)

	f.requests.Reset()
	changed := f.objects(namespace, strings.Replace(cmA, "key: one", "key: uno", 1), cmB)
	cs := f.apply(changed)
	if a := f.actions(cs); a["ConfigMap/a"] != Configured || a["ConfigMap/b"] != Unchanged || a["Namespace/"+f.ns] != Unchanged {
		t.Fatalf("actions %v", a)
	}
	if w, d := f.requests.Count(metrics.VerbApply), f.requests.Count(metrics.VerbDryRun); w != 1 || d != 1 {
		t.Fatalf("sent %d applies and %d dry-runs, want 1 and 1", w, d)
	}
}

func TestApplyIsAllOrNothing(t *testing.T) {
	f := newFixture(t, nil)
	objs := f.objects(namespace, cmA, service)
	f.apply(objs)
	f.settle(objs)

	f.requests.Reset()
	bad := f.objects(namespace, strings.Replace(cmA, "key: one", "key: changed", 1),
		strings.Replace(service, "port: 80", "port: 700000", 1))
	_, err := f.mgr.Apply(context.Background(), bad)
	if err == nil {
		t.Fatal("an invalid Service was accepted")
	}
	for _, want := range []string{"repo/svc.yaml: Service " + f.ns + "/svc", "spec.ports[0].port"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if w := f.requests.Writes(); w != 0 {
		t.Fatalf("%d writes despite a failed dry-run", w)
	}
	if v := dataKey(t, f.ns, "a"); v != "one" {
		t.Fatalf("the good object of the bad revision was written: key=%q", v)
	}
}

// editConfigMap changes a ConfigMap as another field manager would (kubectl edit).
// dataKey is the live value of data.key of ConfigMap ns/name.
func dataKey(t *testing.T, ns, name string) string {
	t.Helper()
	cm := &unstructured.Unstructured{}
	cm.SetAPIVersion("v1")
	cm.SetKind("ConfigMap")
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, cm); err != nil {
		t.Fatal(err)
	}
	v, _, _ := unstructured.NestedString(cm.Object, "data", "key")
	return v
}

func editConfigMap(t *testing.T, ns, name, key, value, manager string) {
	t.Helper()
	cm := &unstructured.Unstructured{}
	cm.SetAPIVersion("v1")
	cm.SetKind("ConfigMap")
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, cm); err != nil {
		t.Fatal(err)
	}
	_ = unstructured.SetNestedField(cm.Object, value, "data", key)
	if err := env.Client.Update(context.Background(), cm, client.FieldOwner(manager)); err != nil {
		t.Fatal(err)
	}
}

func TestDrift(t *testing.T) {
	for _, mode := range []gitopsv1.DriftMode{gitopsv1.DriftWarn, gitopsv1.DriftCorrect} {
		t.Run(string(mode), func(t *testing.T) {
			f := newFixture(t, func(o *Options) { o.DriftMode = mode })
			objs := f.objects(namespace, cmA, cmB)
			f.apply(objs)
			f.settle(objs)

			editConfigMap(t, f.ns, "a", "key", "tampered", "kubectl-edit")
			editConfigMap(t, f.ns, "b", "other", "added", "kubectl-edit") // a field we do not own
			f.settle(objs)
			f.requests.Reset()
			cs := f.apply(f.objects(namespace, cmA, cmB))

			drifted := cs.Drifted()
			if len(drifted) != 1 || drifted[0].Object.Name != "a" {
				t.Fatalf("drifted %+v", drifted)
			}
			if got := strings.Join(drifted[0].Drift, ","); got != "/data/key" {
				t.Errorf("drifted fields %q, want /data/key", got)
			}
			if drifted[0].Manager != "kubectl-edit" {
				t.Errorf("manager %q", drifted[0].Manager)
			}
			if want := []FieldDiff{{Field: "/data/key", Desired: `"one"`, Live: `"tampered"`}}; !reflect.DeepEqual(drifted[0].Diffs, want) {
				t.Errorf("diffs %+v, want %+v", drifted[0].Diffs, want)
			}
			value := dataKey(t, f.ns, "a")
			switch mode {
			case gitopsv1.DriftWarn:
				if drifted[0].Action != Drifted || value != "tampered" || f.requests.Writes() != 0 {
					t.Fatalf("warn mode: action %s, value %q, %d writes", drifted[0].Action, value, f.requests.Writes())
				}
			case gitopsv1.DriftCorrect:
				if drifted[0].Action != Configured || value != "one" {
					t.Fatalf("correct mode: action %s, value %q", drifted[0].Action, value)
				}
			}
			if a := f.actions(cs); a["ConfigMap/b"] != Unchanged {
				t.Errorf("a change to fields trustsync does not own counted as drift: %v", a)
			}
		})
	}
}

func TestDeletedObjectIsDrift(t *testing.T) {
	f := newFixture(t, nil)
	objs := f.objects(namespace, cmA)
	f.apply(objs)
	f.settle(objs)
	if err := env.Client.Delete(context.Background(), objs[1].DeepCopy()); err != nil {
		t.Fatal(err)
	}
	f.settle(objs)
	cs := f.apply(f.objects(namespace, cmA))
	d := cs.Drifted()
	if len(d) != 1 || d[0].Action != Created || d[0].Drift[0] != "/" {
		t.Fatalf("drifted %+v", d)
	}
}

func TestNamespaceAndItsObjectsInOneRevision(t *testing.T) {
	f := newFixture(t, nil)
	cs := f.apply(f.objects(cmA, service, namespace)) // any order
	if cs.Count(Created) != 3 {
		t.Fatalf("actions %v", f.actions(cs))
	}
	if cs.Changes[0].Object.Kind != "Namespace" {
		t.Errorf("the Namespace was not applied first: %v", cs.Changes[0].Object)
	}
}

const crd = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.%NS%.example.org}
spec:
  group: %NS%.example.org
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {size: {type: integer}}}`

func TestCRDAndItsObjectsInOneRevision(t *testing.T) {
	f := newFixture(t, nil)
	widget := "apiVersion: %NS%.example.org/v1\nkind: Widget\nmetadata: {name: w, namespace: '%NS%'}\nspec: {size: 3}"
	cs := f.apply(f.objects(widget, namespace, crd))
	if cs.Count(Created) != 3 {
		t.Fatalf("actions %v", f.actions(cs))
	}
	bad := "apiVersion: %NS%.example.org/v1\nkind: Widget\nmetadata: {name: w2, namespace: '%NS%'}\nspec: {size: big}"
	if _, err := f.mgr.Apply(context.Background(), f.objects(namespace, crd, widget, bad)); err == nil || !strings.Contains(err.Error(), "Widget "+f.ns+"/w2") {
		t.Fatalf("invalid custom resource: %v", err)
	}
}

func TestUnservedKind(t *testing.T) {
	f := newFixture(t, nil)
	_, err := f.mgr.Apply(context.Background(), f.objects("apiVersion: nowhere.example.org/v1\nkind: Ghost\nmetadata: {name: g, namespace: default}"))
	if err == nil || !strings.Contains(err.Error(), "the cluster does not serve nowhere.example.org/v1, Kind=Ghost") {
		t.Fatalf("got %v", err)
	}
}

// TestColdStart: a new Manager (a restarted engine) checks existing objects with one
// dry-run each, writes nothing when they match, and is back to sending nothing after.
// TestColdStart: after a restart (nothing recorded) an object that carries the hash of
// what Git wants, and that nobody wrote since, costs no request: no dry-run, no write.
func TestColdStart(t *testing.T) {
	f := newFixture(t, nil)
	objs := f.objects(namespace, cmA, cmB)
	f.apply(objs)
	f.settle(objs)

	f.mgr.Forget()
	f.requests.Reset()
	cs := f.apply(f.objects(namespace, cmA, cmB))
	if cs.Count(Unchanged) != 3 || f.requests.Writes() != 0 || f.requests.Count(metrics.VerbDryRun) != 0 {
		t.Fatalf("cold start: %v, %d writes, %d dry-runs", f.actions(cs), f.requests.Writes(), f.requests.Count(metrics.VerbDryRun))
	}
	f.requests.Reset()
	f.apply(f.objects(namespace, cmA, cmB))
	if f.requests.Writes()+f.requests.Count(metrics.VerbDryRun) != 0 {
		t.Fatal("requests after the cold start")
	}
}

// TestColdStartDrift: drift that happened while the engine was down is found after the
// restart, with one dry-run for the object written since, none for one whose foreign
// write touched no field of Git's; warn reports it and writes nothing, also on the next
// plan, which needs no dry-run; correct corrects it.
func TestColdStartDrift(t *testing.T) {
	for _, mode := range []gitopsv1.DriftMode{gitopsv1.DriftWarn, gitopsv1.DriftCorrect} {
		t.Run(string(mode), func(t *testing.T) {
			f := newFixture(t, func(o *Options) { o.DriftMode = mode })
			objs := f.objects(namespace, cmA, cmB)
			f.apply(objs)
			f.settle(objs)

			f.mgr.Forget() // the engine is down
			editConfigMap(t, f.ns, "a", "key", "tampered", "kubectl-edit")
			editConfigMap(t, f.ns, "b", "other", "added", "kubectl-edit") // a field Git does not set
			f.settle(objs)
			f.requests.Reset()
			cs := f.apply(f.objects(namespace, cmA, cmB))
			drifted := cs.Drifted()
			if len(drifted) != 1 || drifted[0].Object.Name != "a" || strings.Join(drifted[0].Drift, ",") != "/data/key" || drifted[0].Manager != "kubectl-edit" {
				t.Fatalf("drifted %+v, want a's /data/key by kubectl-edit", drifted)
			}
			if want := []FieldDiff{{Field: "/data/key", Desired: `"one"`, Live: `"tampered"`}}; !reflect.DeepEqual(drifted[0].Diffs, want) {
				t.Errorf("diffs after the restart %+v, want %+v", drifted[0].Diffs, want)
			}
			if a := f.actions(cs); a["ConfigMap/b"] != Unchanged {
				t.Errorf("a foreign write outside Git's fields counted: %v", a)
			}
			if n := f.requests.Count(metrics.VerbDryRun); n != 1 {
				t.Errorf("%d dry-runs, want 1 (a's)", n)
			}
			value := func() string { return dataKey(t, f.ns, "a") }
			switch mode {
			case gitopsv1.DriftWarn:
				if drifted[0].Action != Drifted || value() != "tampered" || f.requests.Writes() != 0 {
					t.Fatalf("warn mode after a restart: action %s, value %q, %d writes", drifted[0].Action, value(), f.requests.Writes())
				}
				f.requests.Reset()
				cs = f.apply(f.objects(namespace, cmA, cmB))
				if d := cs.Drifted(); len(d) != 1 || d[0].Action != Drifted || f.requests.Writes()+f.requests.Count(metrics.VerbDryRun) != 0 {
					t.Errorf("the next plan: %+v, %d writes, %d dry-runs; want the same drift from the cache alone", d, f.requests.Writes(), f.requests.Count(metrics.VerbDryRun))
				}
			case gitopsv1.DriftCorrect:
				if drifted[0].Action != Configured || value() != "one" {
					t.Fatalf("correct mode after a restart: action %s, value %q", drifted[0].Action, value())
				}
			}
		})
	}
}

// TestColdStartGitChange: what Git changed while the engine was down is applied after the
// restart, in warn mode too (warn is about others' writes, not Git's); a Secret, which
// carries no hash, is settled by a dry-run.
func TestColdStartGitChange(t *testing.T) {
	const secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: '%NS%'}\nstringData: {token: t0}"
	f := newFixture(t, func(o *Options) { o.DriftMode = gitopsv1.DriftWarn })
	objs := f.objects(namespace, cmA, cmB, secret)
	f.apply(objs)
	f.settle(objs)
	s := &unstructured.Unstructured{}
	s.SetAPIVersion("v1")
	s.SetKind("Secret")
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: "s"}, s); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.GetAnnotations()[gitopsv1.AnnotationApplied]; ok {
		t.Error("a Secret carries the hash of its data")
	}

	f.mgr.Forget()
	f.requests.Reset()
	cs := f.apply(f.objects(namespace, strings.Replace(cmA, "key: one", "key: changed", 1), cmB, secret))
	a := f.actions(cs)
	if a["ConfigMap/a"] != Configured || a["ConfigMap/b"] != Unchanged || a["Secret/s"] != Unchanged || len(cs.Drifted()) != 0 {
		t.Fatalf("after a restart with a Git change: %v", a)
	}
	if n := f.requests.Count(metrics.VerbDryRun); n != 2 {
		t.Errorf("%d dry-runs, want 2 (the changed ConfigMap, the Secret)", n)
	}
}

func TestIgnoredFieldsAreLeftToOthers(t *testing.T) {
	const scaled = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: '%NS%'}\ndata: {key: one, replicas: '1'}"
	for _, ignore := range []bool{true, false} {
		t.Run(fmt.Sprintf("ignore=%t", ignore), func(t *testing.T) {
			f := newFixture(t, func(o *Options) {
				if ignore {
					o.Ignore = []gitopsv1.IgnoreRule{{Paths: []string{"/data/replicas"}, Target: &gitopsv1.ObjectSelector{Kind: "ConfigMap", Name: "a"}}}
				}
			})
			objs := f.objects(namespace, scaled)
			f.apply(objs)
			f.settle(objs)
			editConfigMap(t, f.ns, "a", "replicas", "5", "autoscaler")
			f.settle(objs)
			drifted := len(f.apply(objs).Drifted()) > 0
			if drifted == ignore {
				t.Fatalf("drifted=%t with the ignore rule %t", drifted, ignore)
			}
		})
	}
}

func TestPrune(t *testing.T) {
	f := newFixture(t, nil)
	objs := f.objects(namespace, cmA, cmB)
	cs := f.apply(objs)
	f.settle(objs)
	old := InventoryOf(cs)

	current := f.objects(cmA)
	cs = f.apply(current)
	f.settle(current)
	stale := Stale(old, InventoryOf(cs))
	pruned, failed, err := f.mgr.Prune(context.Background(), stale)
	if err != nil || len(failed) != 0 {
		t.Fatal(err, failed)
	}
	if a := f.actions(pruned); a["ConfigMap/b"] != Pruned || a["Namespace/"+f.ns] != Skipped {
		t.Fatalf("prune: %v", a)
	}
	cm := &unstructured.Unstructured{}
	cm.SetAPIVersion("v1")
	cm.SetKind("ConfigMap")
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: "b"}, cm); !apierrors.IsNotFound(err) {
		t.Fatalf("b still exists: %v", err)
	}
}

func TestPruneLeavesWhatIsNotOurs(t *testing.T) {
	f := newFixture(t, nil)
	objs := f.objects(namespace, cmA, cmB)
	cs := f.apply(objs)
	f.settle(objs)
	inv := InventoryOf(cs)
	// Someone takes b over: it loses the owner label.
	cm := &unstructured.Unstructured{}
	cm.SetAPIVersion("v1")
	cm.SetKind("ConfigMap")
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: "b"}, cm); err != nil {
		t.Fatal(err)
	}
	cm.SetLabels(map[string]string{"team": "other"})
	if err := env.Client.Update(context.Background(), cm); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the cache drops b: it no longer matches the owner label
	pruned, _, err := f.mgr.Prune(context.Background(), Stale(inv, nil))
	if err != nil {
		t.Fatal(err)
	}
	if a := f.actions(pruned); a["ConfigMap/b"] == Pruned || a["ConfigMap/a"] != Pruned {
		t.Fatalf("prune: %v", a)
	}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: "b"}, cm); err != nil {
		t.Fatalf("b was deleted although someone else owns it now: %v", err)
	}
}

func TestObjectOfAnotherOwnerIsRefused(t *testing.T) {
	first := newFixture(t, nil)
	objs := first.objects(namespace, cmA)
	first.apply(objs)
	first.settle(objs)

	second := newFixture(t, func(o *Options) { o.Labels = map[string]string{ownerLabel: "someone-else"} })
	second.requests.Reset()
	_, err := second.mgr.Apply(context.Background(), objs)
	if err == nil || !strings.Contains(err.Error(), "ConfigMap "+first.ns+"/a: already managed by another owner ("+ownerLabel+"="+first.ns+")") {
		t.Fatalf("got %v", err)
	}
	if second.requests.Writes()+second.requests.Count(metrics.VerbDryRun) != 0 {
		t.Fatal("requests were sent for a refused revision")
	}
}
