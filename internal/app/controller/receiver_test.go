package controller_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/internal/app/controller"
	"github.com/trustsync/trustsync/internal/gittest"
	"github.com/trustsync/trustsync/internal/httpserver/httpservertest"
	"github.com/trustsync/trustsync/internal/waitfor"
	"github.com/trustsync/trustsync/sources/receiver"
)

// secretReads counts the Secrets read through it.
type secretReads struct {
	client.Reader
	n atomic.Int64
}

func (r *secretReads) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if _, ok := obj.(*corev1.Secret); ok {
		r.n.Add(1)
	}
	return r.Reader.Get(ctx, key, obj, opts...)
}

func createAll(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := env.Client.Create(t.Context(), o); err != nil {
			t.Fatal(err)
		}
	}
}

func receiverSource(ns, name, secret string) *gitopsv1.GitSource {
	return &gitopsv1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: gitopsv1.GitSourceSpec{
		URL: "https://git.example/" + name + ".git", Interval: metav1.Duration{Duration: time.Hour}, Suspend: true,
		Receiver: &gitopsv1.ReceiverSpec{Type: gitopsv1.ReceiverGitea, SecretRef: gitopsv1.LocalObjectReference{Name: secret}},
	}}
}

// TestReceiverSecretCache: however many requests arrive, each receiver Secret is read
// once per cache lifetime — missing ones too — and requests for sources without a
// receiver read none; a rotated Secret is read again after the lifetime.
func TestReceiverSecretCache(t *testing.T) {
	const ns = "receiver-cache"
	createAll(t,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "webhook"}, StringData: map[string]string{"token": "push-secret"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "no-token"}, StringData: map[string]string{"other": "x"}},
		receiverSource(ns, "good", "webhook"),
		receiverSource(ns, "missing", "absent"),
		receiverSource(ns, "empty", "no-token"),
		&gitopsv1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "plain"}, Spec: gitopsv1.GitSourceSpec{
			URL: "https://git.example/plain.git", Interval: metav1.Duration{Duration: time.Hour}, Suspend: true}},
	)
	for _, tc := range []struct {
		source    string
		found     bool
		err       string
		reads     int64
		wantToken string
	}{
		{source: "good", found: true, reads: 1, wantToken: "push-secret"},
		{source: "missing", err: "reading the receiver Secret receiver-cache/absent", reads: 1},
		{source: "empty", err: "receiver Secret receiver-cache/no-token has no key token", reads: 1},
		{source: "plain", reads: 0},
		{source: "unknown", reads: 0},
	} {
		t.Run(tc.source, func(t *testing.T) {
			reads := &secretReads{Reader: env.Client}
			lookup := controller.NewReceiverLookup(env.Client, reads, time.Hour)
			var wg sync.WaitGroup
			for range 100 {
				wg.Go(func() {
					src, found, err := lookup.Receiver(context.Background(), ns, tc.source)
					switch {
					case found != tc.found:
						t.Errorf("found = %v, want %v", found, tc.found)
					case tc.err == "" && err != nil, tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
						t.Errorf("err = %v, want %q", err, tc.err)
					case string(src.Secret) != tc.wantToken:
						t.Errorf("token %q, want %q", src.Secret, tc.wantToken)
					}
				})
			}
			wg.Wait()
			if got := reads.n.Load(); got != tc.reads {
				t.Errorf("100 lookups read %d Secrets, want %d", got, tc.reads)
			}
		})
	}

	t.Run("rotation", func(t *testing.T) {
		reads := &secretReads{Reader: env.Client}
		const ttl = 200 * time.Millisecond
		lookup := controller.NewReceiverLookup(env.Client, reads, ttl)
		if src, _, err := lookup.Receiver(t.Context(), ns, "good"); err != nil || string(src.Secret) != "push-secret" {
			t.Fatalf("before: %q, %v", src.Secret, err)
		}
		s := &corev1.Secret{}
		if err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "webhook"}, s); err != nil {
			t.Fatal(err)
		}
		s.Data["token"] = []byte("rotated")
		if err := env.Client.Update(t.Context(), s); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * ttl)
		if src, _, err := lookup.Receiver(t.Context(), ns, "good"); err != nil || string(src.Secret) != "rotated" {
			t.Fatalf("after the lifetime: %q, %v; want the rotated token", src.Secret, err)
		}
		if reads.n.Load() != 2 {
			t.Errorf("%d reads, want 2", reads.n.Load())
		}
	})
}

func giteaSignature(secret, payload string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(payload))
	return hex.EncodeToString(mac.Sum(nil))
}

func postHook(t *testing.T, path, payload string, headers map[string]string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+receiverAddr+path, strings.NewReader(payload))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	resp.Header.Del("Date")
	return resp.StatusCode, string(b), resp.Header
}

// metric scrapes the controller's metrics server for one series' value.
func metric(t *testing.T, series string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(string(b))
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// TestReceiverUnauthenticatedAlike: on the running controller, a source that does not
// exist, one whose receiver Secret is missing and a bad signature get the same answer,
// and the metrics count each.
func TestReceiverUnauthenticatedAlike(t *testing.T) {
	const ns = "receiver-alike"
	createAll(t,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "webhook"}, StringData: map[string]string{"token": "push-secret"}},
		receiverSource(ns, "exists", "webhook"),
		receiverSource(ns, "no-secret", "absent"),
	)
	const payload = `{"ref":"refs/heads/main"}`
	headers := map[string]string{"X-Gitea-Event": "push", "X-Gitea-Signature": giteaSignature("guess", payload)}
	series := func(result string) string { return `trustsync_receiver_requests_total{result="` + result + `"}` }
	var first string
	for _, tc := range []struct{ name, path, result string }{
		{"unknown source", receiver.Path(ns, "nope"), "unknown_source"},
		{"missing Secret", receiver.Path(ns, "no-secret"), "lookup_failed"},
		{"bad signature", receiver.Path(ns, "exists"), "bad_signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := metric(t, series(tc.result))
			// The GitSource cache may not have seen the new sources yet: wait for the answer
			// to be counted as this case.
			deadline := time.Now().Add(20 * time.Second)
			var got string
			for {
				status, body, hdr := postHook(t, tc.path, payload, headers)
				got = fmt.Sprint(status, " ", body, " ", hdr)
				if metric(t, series(tc.result)) > before || time.Now().After(deadline) {
					break
				}
				before = metric(t, series(tc.result))
				time.Sleep(100 * time.Millisecond)
			}
			if metric(t, series(tc.result)) <= before {
				t.Fatalf("not counted as %s", tc.result)
			}
			if first == "" {
				first = got
			}
			if got != first {
				t.Errorf("answer %q, want the same as for an unknown source: %q", got, first)
			}
		})
	}
	if !strings.HasPrefix(first, "401 missing or invalid signature") {
		t.Errorf("answer %q, want 401 missing or invalid signature", first)
	}
}

// TestReceiverReplaysFetchOnce: one signed delivery sent twenty times — at once and in a
// row — makes the controller fetch once, and the fetch brings the pushed commit.
func TestReceiverReplaysFetchOnce(t *testing.T) {
	ctx := t.Context()
	cloneURL, err := gitea.CreateRepo(ctx, "replays")
	if err != nil {
		t.Fatal(err)
	}
	ws := gittest.Clone(t, cloneURL, gitea.AuthHeader())
	ws.Write(t, map[string]string{"apps/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: default}\n"})
	ws.Commit(t, "first")
	ws.Push(t)
	const ns = "receiver-replays"
	src := receiverSource(ns, "replays", "webhook")
	src.Spec.URL, src.Spec.Suspend = cloneURL, false
	src.Spec.SecretRef = &gitopsv1.LocalObjectReference{Name: "git"}
	createAll(t,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "git"}, StringData: map[string]string{"username": gitea.User, "password": gitea.Token}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "webhook"}, StringData: map[string]string{"token": "push-secret"}},
		src,
	)
	artifact := func() string {
		s := &gitopsv1.GitSource{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "replays"}, s); err != nil || s.Status.Artifact == nil {
			return ""
		}
		return s.Status.Artifact.Revision
	}
	waitfor.TrueWithin(t, time.Minute, "the first fetch", func() bool { return artifact() != "" })
	time.Sleep(500 * time.Millisecond) // its reconcile is counted once it has returned

	ws.Write(t, map[string]string{"apps/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: default}\n"})
	second := ws.Commit(t, "second")
	ws.Push(t)
	// A fetch is a GitSource reconcile, whatever its result.
	fetches := func() float64 {
		n := 0.0
		for _, result := range []string{"success", "error", "requeue", "requeue_after"} {
			n += metric(t, `controller_runtime_reconcile_total{controller="gitsource",result="`+result+`"}`)
		}
		return n
	}
	accepted, duplicates := `trustsync_receiver_requests_total{result="accepted"}`, `trustsync_receiver_requests_total{result="duplicate"}`
	beforeFetches, beforeAccepted, beforeDuplicates := fetches(), metric(t, accepted), metric(t, duplicates)

	payload := `{"ref":"refs/heads/main","after":"` + second + `"}`
	headers := map[string]string{"X-Gitea-Event": "push", "X-Gitea-Delivery": "3f0c1d2e-delivery", "X-Gitea-Signature": giteaSignature("push-secret", payload)}
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if status, body, _ := postHook(t, receiver.Path(ns, "replays"), payload, headers); status != http.StatusAccepted && status != http.StatusOK {
				t.Errorf("signed delivery answered %d %q", status, body)
			}
		})
	}
	wg.Wait()
	for range 10 {
		postHook(t, receiver.Path(ns, "replays"), payload, headers)
	}
	waitfor.TrueWithin(t, time.Minute, "the pushed commit to be fetched", func() bool { return strings.HasSuffix(artifact(), second) })
	time.Sleep(2 * time.Second) // a second fetch, were there one, would have run by now
	if got := metric(t, accepted) - beforeAccepted; got != 1 {
		t.Errorf("%v deliveries accepted, want 1", got)
	}
	if got := metric(t, duplicates) - beforeDuplicates; got != 19 {
		t.Errorf("%v duplicates, want 19", got)
	}
	if got := fetches() - beforeFetches; got != 1 {
		t.Errorf("%v GitSource fetches after 20 copies of one delivery, want 1", got)
	}
}

// TestControllerServersCloseHeldConnections: the receiver, metrics and probe servers of
// `trustsync controller` drop trickled headers and bodies and idle keep-alives.
func TestControllerServersCloseHeldConnections(t *testing.T) {
	const margin = 5 * time.Second
	for _, srv := range []struct{ name, addr, get, post string }{
		{"receiver", receiverAddr, receiver.Path("x", "y"), receiver.Path("x", "y")},
		{"metrics", metricsAddr, "/metrics", "/metrics"},
		{"health", healthAddr, "/healthz", "/healthz"},
	} {
		t.Run(srv.name, func(t *testing.T) {
			dial := httpservertest.TCP(srv.addr)
			httpservertest.ClosesTrickledHeaders(t, dial, serverLimits.ReadHeaderTimeout+margin)
			httpservertest.ClosesTrickledBody(t, dial, srv.post, serverLimits.ReadTimeout+margin)
			httpservertest.ClosesIdle(t, dial, srv.get, serverLimits.IdleTimeout+margin)
		})
	}
}
