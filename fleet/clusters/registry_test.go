package clusters

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/engine/objcache"
	"github.com/trustsync/trustsync/engine/syncs"
	"github.com/trustsync/trustsync/internal/testenv"
)

// startRegistry starts a registry of the hub's Clusters until the test ends.
func startRegistry(t *testing.T) *Registry {
	t.Helper()
	r := newRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Start: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("the registry did not stop its member caches")
		}
	})
	// Start records its context before anything else; Members says when it has not yet.
	deadline := time.Now().Add(5 * time.Second)
	for r.running() != nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	return r
}

func newRegistry() *Registry {
	return &Registry{Clusters: hub.Client, Secrets: hub.Client, Scheme: hub.Scheme, PlatformNamespace: gitopsv1.DefaultPlatformNamespace,
		Cache: objcache.Options{FieldOwner: gitopsv1.FieldManager, OwnerLabel: gitopsv1.LabelSyncName}, Timeout: 5 * time.Second}
}

func createNamespace(t *testing.T, name string) {
	t.Helper()
	if err := hub.Client.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// register creates a Cluster and, unless config is nil, its Secret in Cluster API's shape.
func register(t *testing.T, ns, name string, lbls map[string]string, spec gitopsv1.ClusterSpec, config []byte) *gitopsv1.Cluster {
	t.Helper()
	if config != nil {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-kubeconfig"}, Data: map[string][]byte{"value": config}}
		if err := hub.Client.Create(t.Context(), s); err != nil {
			t.Fatal(err)
		}
	}
	c := &gitopsv1.Cluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbls}, Spec: spec}
	if err := hub.Client.Create(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	return c
}

func members(t *testing.T, r *Registry, ns, selector string) []syncs.Member {
	t.Helper()
	sel, err := labels.Parse(selector)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := r.Members(t.Context(), ns, sel)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// one is the only member selector selects, reached.
func one(t *testing.T, r *Registry, ns, selector, name string) *syncs.Target {
	t.Helper()
	ms := members(t, r, ns, selector)
	if len(ms) != 1 || ms[0].Cluster.Name != name {
		t.Fatalf("%s selects %v, want %s", selector, names(ms), name)
	}
	if ms[0].Err != nil || ms[0].Target == nil {
		t.Fatalf("%s: target %v, error %v", name, ms[0].Target, ms[0].Err)
	}
	return ms[0].Target
}

func names(ms []syncs.Member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Cluster.Name)
	}
	return out
}

// owned is a ConfigMap of the member's default namespace, with the Sync owner label when
// labelled.
func owned(name string, labelled bool) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}}
	if labelled {
		cm.Labels = map[string]string{gitopsv1.LabelSyncName: "app"}
	}
	return cm
}

// sees waits (bounded) until target's object cache holds the ConfigMap name.
func sees(t *testing.T, target *syncs.Target, name string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		err := target.Objects.Get(ctx, client.ObjectKey{Namespace: "default", Name: name}, &corev1.ConfigMap{})
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the member's object cache does not see %s: %v", name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// holds says whether target's object cache holds the ConfigMap name now.
func holds(t *testing.T, target *syncs.Target, name string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	err := target.Objects.Get(ctx, client.ObjectKey{Namespace: "default", Name: name}, &corev1.ConfigMap{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("reading the member's object cache: %v", err)
	}
	return err == nil
}

// TestRegistry runs the registry's tests against one member cluster.
func TestRegistry(t *testing.T) {
	member, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = member.Stop() }()
	t.Run("targets", func(t *testing.T) { registryTargets(t, member) })
	t.Run("unreachable", func(t *testing.T) { registryUnreachable(t, member) })
}

// registryTargets: a Sync's selector gets the Clusters it selects, each with a
// Target that applies to the member and caches the member's owned objects (and only
// those); the Target is kept while the Cluster's kubeconfig is the same, rebuilt when it
// changes, the old one's cache stopped, and dropped when the Cluster goes.
func registryTargets(t *testing.T, member *testenv.Env) {
	r := startRegistry(t)
	const ns = "registry-targets"
	createNamespace(t, ns)
	register(t, ns, "prod", map[string]string{"env": "prod"}, gitopsv1.ClusterSpec{}, kubeconfig(t, member, nil))
	register(t, ns, "dev", map[string]string{"env": "dev"}, gitopsv1.ClusterSpec{}, kubeconfig(t, member, nil))

	target := one(t, r, ns, "env=prod", "prod")
	if target.Config.QPS != 100 || target.Config.Burst != 300 || target.Config.Timeout != 5*time.Second {
		t.Errorf("apply config: QPS %v, burst %d, timeout %s", target.Config.QPS, target.Config.Burst, target.Config.Timeout)
	}
	if all := members(t, r, ns, ""); fmt.Sprint(names(all)) != "[dev prod]" {
		t.Errorf("everything selects %v, want [dev prod] by name", names(all))
	}

	// What the engine applies with Target.Config, Target.Objects sees; nothing unowned.
	apply, err := client.New(target.Config, client.Options{Scheme: hub.Scheme, Mapper: target.Mapper})
	if err != nil {
		t.Fatal(err)
	}
	for _, cm := range []*corev1.ConfigMap{owned("unowned", false), owned("owned", true)} {
		if err := apply.Create(t.Context(), cm); err != nil {
			t.Fatal(err)
		}
	}
	sees(t, target, "owned")
	if holds(t, target, "unowned") {
		t.Error("the member's object cache holds a ConfigMap without the owner label")
	}
	if m, err := target.Mapper.RESTMapping(corev1.SchemeGroupVersion.WithKind("ConfigMap").GroupKind(), "v1"); err != nil || m.Resource.Resource != "configmaps" {
		t.Errorf("the member's RESTMapper: %v, %v", m, err)
	}

	// Cached: the same Target for the same kubeconfig, whoever asks, all at once.
	var wg sync.WaitGroup
	got := make([]*syncs.Target, 8)
	for i := range got {
		wg.Go(func() {
			ms, err := r.Members(t.Context(), ns, labels.SelectorFromSet(labels.Set{"env": "prod"}))
			if err == nil && len(ms) == 1 {
				got[i] = ms[0].Target
			}
		})
	}
	wg.Wait()
	for i, g := range got {
		if g != target {
			t.Errorf("call %d: Target %p, want the cached %p", i, g, target)
		}
	}

	// A new kubeconfig (a token beside the client certificate): a new Target; the old
	// one's cache is stopped and sees nothing more.
	s := &corev1.Secret{}
	if err := hub.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "prod-kubeconfig"}, s); err != nil {
		t.Fatal(err)
	}
	s.Data["value"] = kubeconfig(t, member, func(c *clientcmdapi.Config) { c.AuthInfos["admin"].Token = "rotated-token-unused-by-the-member" })
	if err := hub.Client.Update(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	rotated := one(t, r, ns, "env=prod", "prod")
	if rotated == target {
		t.Fatal("a changed kubeconfig kept the old Target")
	}
	if again := one(t, r, ns, "env=prod", "prod"); again != rotated {
		t.Error("the rebuilt Target is not cached")
	}
	if err := apply.Create(t.Context(), owned("after-rotation", true)); err != nil {
		t.Fatal(err)
	}
	sees(t, rotated, "after-rotation")
	sees(t, rotated, "owned")
	if holds(t, target, "after-rotation") {
		t.Error("the replaced Target's object cache still runs")
	}

	// The Cluster goes: a call for its namespace drops its Target and stops its cache.
	if err := hub.Client.Delete(t.Context(), &gitopsv1.Cluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "prod"}}); err != nil {
		t.Fatal(err)
	}
	if ms := members(t, r, ns, "env=dev"); len(ms) != 1 || ms[0].Target == nil {
		t.Fatalf("dev: %v", ms)
	}
	if err := apply.Create(t.Context(), owned("after-deletion", true)); err != nil {
		t.Fatal(err)
	}
	dev := one(t, r, ns, "env=dev", "dev")
	sees(t, dev, "after-deletion")
	if holds(t, rotated, "after-deletion") {
		t.Error("a deleted Cluster's object cache still runs")
	}
	if ms := members(t, r, ns, "env=prod"); len(ms) != 0 {
		t.Errorf("a deleted Cluster is still selected: %v", names(ms))
	}
}

// registryUnreachable: a Cluster nothing reaches is listed with why, never with a
// credential of its kubeconfig (nor its fingerprint); one without a Ready condition yet,
// or whose Ready=False is about an older generation, is tried.
func registryUnreachable(t *testing.T, member *testenv.Env) {
	r := startRegistry(t)
	const ns = "registry-unreachable"
	createNamespace(t, ns)
	const token = "fake-member-token-5f2a9c1e7b3d"
	withToken := func(edit func(*clientcmdapi.Config)) []byte {
		return kubeconfig(t, member, func(c *clientcmdapi.Config) {
			c.AuthInfos["admin"].Token = token
			if edit != nil {
				edit(c)
			}
		})
	}
	exec := withToken(func(c *clientcmdapi.Config) {
		c.AuthInfos["admin"].Exec = &clientcmdapi.ExecConfig{Command: "/bin/sh", Args: []string{"-c", "curl evil"}, APIVersion: "client.authentication.k8s.io/v1"}
	})
	notReady := func(generation int64) *metav1.Condition {
		return &metav1.Condition{Type: gitopsv1.ReadyCondition, Status: metav1.ConditionFalse, Reason: gitopsv1.ReasonUnreachable,
			Message: "the cluster did not answer at https://203.0.113.7:6443: connection refused", ObservedGeneration: generation}
	}

	tests := []struct {
		name   string
		spec   gitopsv1.ClusterSpec
		config []byte
		ready  *metav1.Condition // written as the Cluster's status; ObservedGeneration 0 is its generation
		want   string            // the error, exactly when it starts with "=", else a part of it; "" reached
	}{
		{name: "suspended", spec: gitopsv1.ClusterSpec{Suspend: true}, config: withToken(nil), want: "=the Cluster is suspended"},
		{name: "not-ready", config: withToken(nil), ready: notReady(0), want: "=" + notReady(0).Message},
		{name: "no-secret", want: "=no Secret no-secret-kubeconfig with the cluster's kubeconfig (key value)"},
		{name: "no-key", spec: gitopsv1.ClusterSpec{KubeConfig: gitopsv1.KubeConfigReference{Key: "kubeconfig"}}, config: withToken(nil), want: "=the Secret no-key-kubeconfig has no key kubeconfig"},
		{name: "exec", config: exec, want: `Secret exec-kubeconfig key value: the kubeconfig is refused: user "admin" runs a program (exec "/bin/sh")`},
		{name: "garbage", config: []byte("token: " + token + "\n{not yaml: ["), want: "does not parse"},
		{name: "stale-not-ready", config: withToken(nil), ready: notReady(-1)},
		{name: "not-contacted-yet", config: withToken(nil)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := register(t, ns, tc.name, map[string]string{"case": tc.name}, tc.spec, tc.config)
			if tc.ready != nil {
				cond := *tc.ready
				cond.ObservedGeneration += c.Generation
				cond.LastTransitionTime = metav1.Now()
				c.Status.Conditions = []metav1.Condition{cond}
				if err := hub.Client.Status().Update(t.Context(), c); err != nil {
					t.Fatal(err)
				}
			}
			ms := members(t, r, ns, "case="+tc.name)
			if len(ms) != 1 || ms[0].Cluster.Name != tc.name {
				t.Fatalf("selected %v", names(ms))
			}
			m := ms[0]
			if tc.want == "" {
				if m.Err != nil || m.Target == nil {
					t.Fatalf("not reached: %v", m.Err)
				}
				return
			}
			if m.Err == nil || m.Target != nil {
				t.Fatalf("target %v, error %v; want the error %q", m.Target, m.Err, tc.want)
			}
			msg := m.Err.Error()
			if exact, ok := strings.CutPrefix(tc.want, "="); ok && msg != exact || !ok && !strings.Contains(msg, tc.want) {
				t.Errorf("error %q, want %q", msg, tc.want)
			}
			fp := fingerprint(tc.config, tc.spec.ServiceAccountName, tc.spec.ServiceAccountNamespace)
			for what, secret := range map[string]string{"token": token, "client key": string(member.Config.KeyData), "kubeconfig": string(tc.config), "fingerprint": hex.EncodeToString(fp[:])} {
				if len(tc.config) > 0 && strings.Contains(msg, secret) {
					t.Errorf("the error shows the kubeconfig's %s: %q", what, msg)
				}
			}
		})
	}

	// Suspending a reached Cluster stops its Target.
	reached := one(t, r, ns, "case=not-contacted-yet", "not-contacted-yet")
	holds(t, reached, "after-suspension") // its ConfigMap informer runs
	c := &gitopsv1.Cluster{}
	if err := hub.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "not-contacted-yet"}, c); err != nil {
		t.Fatal(err)
	}
	c.Spec.Suspend = true
	if err := hub.Client.Update(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	if ms := members(t, r, ns, "case=not-contacted-yet"); len(ms) != 1 || ms[0].Target != nil || ms[0].Err == nil {
		t.Fatalf("suspended: %+v", ms)
	}
	other := one(t, r, ns, "case=stale-not-ready", "stale-not-ready")
	apply, err := client.New(other.Config, client.Options{Scheme: hub.Scheme, Mapper: other.Mapper})
	if err != nil {
		t.Fatal(err)
	}
	if err := apply.Create(t.Context(), owned("after-suspension", true)); err != nil {
		t.Fatal(err)
	}
	sees(t, other, "after-suspension")
	if holds(t, reached, "after-suspension") {
		t.Error("a suspended Cluster's object cache still runs")
	}
}

// TestRegistryNotStarted: before the manager starts it, the registry says so.
func TestRegistryNotStarted(t *testing.T) {
	_, err := newRegistry().Members(t.Context(), "default", labels.Everything())
	if err == nil || !strings.Contains(err.Error(), "has not started") {
		t.Fatalf("Members before Start: %v", err)
	}
}
