package gitsource

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/internal/gittest"
	"github.com/trustsync/trustsync/internal/testenv"
	"github.com/trustsync/trustsync/internal/waitfor"
	"github.com/trustsync/trustsync/sources/git"
)

var (
	env        *testenv.Env
	store      = NewStore()
	reconciler *Reconciler
	published  = &notifications{}
	recorded   = &recorder{}
)

// recorder keeps the notes of the events recorded.
type recorder struct {
	mu    sync.Mutex
	notes []string
}

func (r *recorder) Eventf(_ runtime.Object, _ runtime.Object, _, _, _, note string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notes = append(r.notes, fmt.Sprintf(note, args...))
}

func (r *recorder) all() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.notes, "\n")
}

type notifications struct {
	mu   sync.Mutex
	keys []types.NamespacedName
}

func (n *notifications) add(k types.NamespacedName) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.keys = append(n.keys, k)
}

func (n *notifications) count(k types.NamespacedName) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := 0
	for _, x := range n.keys {
		if x == k {
			c++
		}
	}
	return c
}

func TestMain(m *testing.M) {
	log.SetLogger(logr.Discard())
	os.Exit(testenv.Run(m, &env, func(ctx context.Context, e *testenv.Env) error {
		mgr, err := ctrl.NewManager(e.Config, ctrl.Options{Scheme: e.Scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0"})
		if err != nil {
			return err
		}
		cache, err := os.MkdirTemp("", "gitsource-test-")
		if err != nil {
			return err
		}
		store.Subscribe(published.add)
		reconciler = &Reconciler{Client: mgr.GetClient(), Secrets: mgr.GetAPIReader(), Fetcher: &git.Fetcher{CacheDir: cache}, Store: store, Events: recorded}
		if err := reconciler.SetupWithManager(context.Background(), mgr); err != nil {
			return err
		}
		go func() {
			if err := mgr.Start(ctx); err != nil {
				fmt.Fprintln(os.Stderr, "manager:", err)
			}
			_ = os.RemoveAll(cache)
		}()
		return nil
	}))
}

func create(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := env.Client.Create(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
}

func waitFor(t *testing.T, key types.NamespacedName, what string, cond func(*gitopsv1.GitSource) bool) *gitopsv1.GitSource {
	t.Helper()
	return waitfor.Object(t, env.Client, key, what, cond)
}

func TestFetchWithCredentials(t *testing.T) {
	server := gittest.NewServer(t, gittest.Options{Username: "bot", Password: "s3cret-pass"})
	url := server.CreateRepo(t, "agents")
	ws := server.Workspace(t, "agents")
	ws.Write(t, map[string]string{"apps/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"})
	first := ws.Commit(t, "first")
	ws.Push(t)

	const ns = "fetch"
	key := types.NamespacedName{Namespace: ns, Name: "agents"}
	create(t,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "git"}, StringData: map[string]string{"username": "bot", "password": "wrong-pass"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hook"}, StringData: map[string]string{"token": "x"}},
		&gitopsv1.GitSource{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "agents"},
			Spec: gitopsv1.GitSourceSpec{
				URL: url, Interval: metav1.Duration{Duration: time.Hour},
				SecretRef: &gitopsv1.LocalObjectReference{Name: "git"},
				Receiver:  &gitopsv1.ReceiverSpec{Type: gitopsv1.ReceiverGenericHMAC, SecretRef: gitopsv1.LocalObjectReference{Name: "hook"}},
			},
		},
	)
	failed := waitFor(t, key, "the failed fetch", func(s *gitopsv1.GitSource) bool { return conditions.IsFalse(s, gitopsv1.ReadyCondition) })
	if msg := conditions.GetMessage(failed, gitopsv1.ReadyCondition); strings.Contains(msg, "wrong-pass") || !strings.Contains(msg, "fetch failed") {
		t.Fatalf("condition message %q", msg)
	}
	if _, ok := store.Latest(key); ok {
		t.Fatal("a failed fetch published an artifact")
	}

	secret := &corev1.Secret{}
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "git"}, secret); err != nil {
		t.Fatal(err)
	}
	secret.StringData = map[string]string{"password": "s3cret-pass"}
	if err := env.Client.Update(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	reconciler.Trigger(context.Background(), ns, "agents") // as a verified push would
	ready := waitFor(t, key, "the artifact", func(s *gitopsv1.GitSource) bool { return conditions.IsReady(s) })
	if ready.Status.Artifact == nil || ready.Status.Artifact.Revision != "main@sha1:"+first || !strings.HasPrefix(ready.Status.Artifact.Digest, "sha256:") {
		t.Fatalf("artifact %+v", ready.Status.Artifact)
	}
	if ready.Status.ReceiverPath != "/hook/fetch/agents" {
		t.Errorf("receiver path %q", ready.Status.ReceiverPath)
	}
	a, ok := store.Latest(key)
	if !ok || a.Commit != first {
		t.Fatalf("store: %+v", a)
	}
	if _, err := os.Stat(a.Dir + "/apps/cm.yaml"); err != nil {
		t.Fatalf("the artifact's tree: %v", err)
	}
	if published.count(key) != 1 {
		t.Fatalf("subscribers told %d times", published.count(key))
	}

	// A new commit, brought in by a trigger.
	ws.Write(t, map[string]string{"apps/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n"})
	second := ws.Commit(t, "second")
	ws.Push(t)
	reconciler.Trigger(context.Background(), ns, "agents")
	waitFor(t, key, "the second commit", func(s *gitopsv1.GitSource) bool {
		return s.Status.Artifact != nil && s.Status.Artifact.Revision == "main@sha1:"+second
	})
	if a, _ := store.Latest(key); a.Commit != second || published.count(key) != 2 {
		t.Fatalf("store %s, told %d times", a.Commit, published.count(key))
	}
}

func TestSuspendedAndDeleted(t *testing.T) {
	server := gittest.NewServer(t, gittest.Options{})
	url := server.CreateRepo(t, "repo")
	ws := server.Workspace(t, "repo")
	ws.Write(t, map[string]string{"a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"})
	ws.Commit(t, "first")
	ws.Push(t)

	const ns = "suspended"
	key := types.NamespacedName{Namespace: ns, Name: "repo"}
	src := &gitopsv1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "repo"}, Spec: gitopsv1.GitSourceSpec{URL: url, Suspend: true}}
	create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, src)
	time.Sleep(time.Second)
	if _, ok := store.Latest(key); ok {
		t.Fatal("a suspended source was fetched")
	}
	latest := &gitopsv1.GitSource{}
	if err := env.Client.Get(context.Background(), key, latest); err != nil {
		t.Fatal(err)
	}
	latest.Spec.Suspend = false
	if err := env.Client.Update(context.Background(), latest); err != nil {
		t.Fatal(err)
	}
	waitFor(t, key, "the resumed fetch", func(s *gitopsv1.GitSource) bool { return conditions.IsReady(s) })
	if err := env.Client.Delete(context.Background(), latest); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := store.Latest(key); !ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("a deleted source's artifact is still published")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestFetchErrorsHideCredentials: a Git host that quotes the request back — the
// Authorization header, the decoded credentials — in its 401 does not bring the password,
// in any encoding, into the GitSource's condition or its events.
func TestFetchErrorsHideCredentials(t *testing.T) {
	const user, password = "bot", "s3cret/pa55+x"
	host := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		decoded, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(auth, "Basic "))
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, "no access for %s\nAuthorization: %s\nthat is %q\n", r.URL, auth, decoded)
	}))
	defer host.Close()
	const ns = "echo"
	key := types.NamespacedName{Namespace: ns, Name: "agents"}
	create(t,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "git"}, StringData: map[string]string{"username": user, "password": password}},
		&gitopsv1.GitSource{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "agents"},
			Spec:       gitopsv1.GitSourceSpec{URL: host.URL + "/agents.git", Interval: metav1.Duration{Duration: time.Hour}, SecretRef: &gitopsv1.LocalObjectReference{Name: "git"}},
		},
	)
	failed := waitFor(t, key, "the failed fetch", func(s *gitopsv1.GitSource) bool { return conditions.IsFalse(s, gitopsv1.ReadyCondition) })
	msg := conditions.GetMessage(failed, gitopsv1.ReadyCondition)
	if !strings.Contains(msg, "authentication required") || !strings.Contains(msg, host.URL) {
		t.Errorf("condition message %q does not say what failed where", msg)
	}
	notes := recorded.all()
	for _, secret := range []string{password, base64.StdEncoding.EncodeToString([]byte(user + ":" + password)), "s3cret%2Fpa55%2Bx"} {
		if strings.Contains(msg, secret) {
			t.Errorf("condition message holds %q: %s", secret, msg)
		}
		if strings.Contains(notes, secret) {
			t.Errorf("an event holds %q: %s", secret, notes)
		}
	}
	if !strings.Contains(notes, "fetch failed") {
		t.Errorf("no fetch-failed event: %q", notes)
	}
}

// TestURLCredentialsRefused: the API server refuses credentials in a GitSource's URLs,
// with a message saying where they belong; an ssh user is part of the address.
func TestURLCredentialsRefused(t *testing.T) {
	const ns = "urls"
	create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	status := func(address, target string) *gitopsv1.CommitStatusSpec {
		return &gitopsv1.CommitStatusSpec{Provider: gitopsv1.ProviderGitea, Address: address, TargetURL: target, SecretRef: gitopsv1.LocalObjectReference{Name: "token"}}
	}
	tests := []struct {
		name   string
		url    string
		status *gitopsv1.CommitStatusSpec
		want   string // "" = accepted
	}{
		{"https with user and password", "https://bot:hunter2@git.example/r.git", nil, "must not carry credentials"},
		{"https with a token as user", "https://ghp_token@git.example/r.git", nil, "must not carry credentials"},
		{"ssh with password", "ssh://git:hunter2@git.example/r.git", nil, "must not carry credentials"},
		{"a password holding a slash", "https://bot:hun/ter2@git.example/r.git", nil, "must not carry credentials"},
		{"status address, a password holding a slash", "https://git.example/r.git", status("https://bot:hun/ter2@git.example/api/v1", ""), "must not carry credentials"},
		{"token in the query", "https://git.example/r.git?access_token=hunter2", nil, "must not have a query"},
		{"status address with credentials", "https://git.example/r.git", status("https://bot:hunter2@git.example/api/v1", ""), "must not carry credentials"},
		{"status address with a query token", "https://git.example/r.git", status("https://git.example/api/v1?token=hunter2", ""), "must not have a query"},
		{"status link with credentials", "https://git.example/r.git", status("", "https://u:hunter2@ci.example/run"), "must not carry credentials"},
		{"plain https", "https://git.example/r.git", status("https://git.example/api/v1", "https://ci.example/run?id=1"), ""},
		{"ssh user", "ssh://git@git.example:2222/r.git", nil, ""},
		{"scp-like", "git@git.example:org/r.git", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &gitopsv1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "src-"}, Spec: gitopsv1.GitSourceSpec{URL: tt.url, CommitStatus: tt.status, Suspend: true}}
			err := env.Client.Create(context.Background(), src)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("err = %v, want a refusal saying %q", err, tt.want)
			}
		})
	}
}
