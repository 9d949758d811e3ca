package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/bench/internal/benchutil"
	"github.com/trustsync/trustsync/internal/httpserver/httpservertest"
	"github.com/trustsync/trustsync/internal/stack"
	"github.com/trustsync/trustsync/security/policy"
	"github.com/trustsync/trustsync/sources/receiver"
)

func main() {
	binary := flag.String("trustsync", "bin/trustsync", "trustsync binary (make build)")
	slow := flag.Int("slow", 256, "flood connections that send all but the end of a body at the limit, then stall")
	fast := flag.Int("fast", 32, "flood clients sending unsigned bodies at the limit in a loop")
	huge := flag.Int("huge", 32, "flood clients announcing 25 MiB bodies in a loop")
	pushes := flag.Int("pushes", 7, "timed valid pushes, without and with the flood")
	concurrent := flag.Int("concurrent", 4, "largest policies validated at once (the webhook's default bound)")
	flag.Parse()
	log.SetLogger(logr.Discard())
	ctx := context.Background()

	s, err := stack.Start(ctx, *binary)
	if err != nil {
		benchutil.Fatal(err)
	}
	defer s.Stop()
	r, err := receiverFlood(ctx, s, *slow, *fast, *huge, *pushes)
	if err != nil {
		benchutil.Fatal(err)
	}
	w, err := webhookPolicies(ctx, s, *binary, *concurrent)
	if err != nil {
		benchutil.Fatal(err)
	}
	benchutil.Result("R3",
		"receiver_baseline_mb", mb(r.baseline), "receiver_flood_peak_mb", mb(r.peak), "receiver_after_mb", mb(r.after),
		"flood_requests", fmt.Sprint(r.floodRequests), "flood_connections", fmt.Sprint(r.floodConns),
		"push_ms", benchutil.Ms(r.quiet), "flood_push_ms", benchutil.Ms(r.flooded), "flood_push_max_ms", benchutil.Ms(r.floodedMax), "flood_push_refused", fmt.Sprint(r.refused),
		"policy_bytes", fmt.Sprint(w.policyBytes), "policy_rules", fmt.Sprint(w.rules),
		"webhook_idle_mb", mb(w.idle), "webhook_peak_mb", mb(w.peakOne), "webhook_policy_ms", benchutil.Ms(w.one),
		"concurrent", fmt.Sprint(w.concurrent), "webhook_concurrent_peak_mb", mb(w.peakConcurrent), "webhook_concurrent_max_ms", benchutil.Ms(w.concurrentMax),
		"over_bound_refused", fmt.Sprint(w.overRefused),
	)
}

func mb(b uint64) string { return fmt.Sprintf("%.0f", float64(b)/(1<<20)) }

// ---- receiver -------------------------------------------------------------------------

type receiverResult struct {
	baseline, peak, after      uint64
	quiet, flooded, floodedMax time.Duration
	refused                    int
	floodRequests, floodConns  int64
}

const pushSecret = "bench-push-secret"

func receiverFlood(ctx context.Context, s *stack.Stack, slow, fast, huge, pushes int) (receiverResult, error) {
	var res receiverResult
	cloneURL, err := s.Gitea.CreateRepo(ctx, "flood")
	if err != nil {
		return res, err
	}
	work, err := os.MkdirTemp("", "trustsync-r3-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(work)
	repo, err := stack.NewRepo(work, cloneURL, s.Gitea.User, s.Gitea.Token)
	if err != nil {
		return res, err
	}
	commit := func(i int) (string, error) {
		if err := os.WriteFile(filepath.Join(work, "cm.yaml"), fmt.Appendf(nil, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c%d, namespace: default}\n", i), 0o644); err != nil {
			return "", err
		}
		sha, err := repo.Commit(fmt.Sprint("commit ", i))
		if err != nil {
			return "", err
		}
		return sha, repo.Push()
	}
	if _, err := commit(0); err != nil {
		return res, err
	}
	const ns, name = "r3", "flood"
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "git"}, StringData: map[string]string{"username": s.Gitea.User, "password": s.Gitea.Token}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "webhook"}, StringData: map[string]string{"token": pushSecret}},
		&gitopsv1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: gitopsv1.GitSourceSpec{
			URL: cloneURL, Interval: metav1.Duration{Duration: time.Hour}, SecretRef: &gitopsv1.LocalObjectReference{Name: "git"},
			Receiver: &gitopsv1.ReceiverSpec{Type: gitopsv1.ReceiverGitea, SecretRef: gitopsv1.LocalObjectReference{Name: "webhook"}},
		}},
	} {
		if err := s.Env.Client.Create(ctx, o); err != nil {
			return res, err
		}
	}
	revision := func() string {
		src := &gitopsv1.GitSource{}
		if err := s.Env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, src); err != nil || src.Status.Artifact == nil {
			return ""
		}
		return src.Status.Artifact.Revision
	}
	if err := until(2*time.Minute, func() bool { return revision() != "" }); err != nil {
		return res, fmt.Errorf("the first fetch: %w", err)
	}
	hook := "http://" + s.Receiver + receiver.Path(ns, name)
	push := func(i int) (time.Duration, int, error) {
		sha, err := commit(i)
		if err != nil {
			return 0, 0, err
		}
		payload := fmt.Sprintf(`{"ref":"refs/heads/main","after":%q}`, sha)
		mac := hmac.New(sha256.New, []byte(pushSecret))
		mac.Write([]byte(payload))
		start := time.Now()
		refused := 0
		for {
			req, _ := http.NewRequest(http.MethodPost, hook, strings.NewReader(payload))
			req.Header.Set("X-Gitea-Event", "push")
			req.Header.Set("X-Gitea-Delivery", fmt.Sprint("r3-delivery-", i))
			req.Header.Set("X-Gitea-Signature", hex.EncodeToString(mac.Sum(nil)))
			resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusAccepted {
					break
				}
			}
			// A Git host would not retry this soon; counting it says how often it would
			// have lost the push to the flood.
			if refused++; refused > 100 {
				return 0, refused, fmt.Errorf("valid push %d refused 100 times (last: %v)", i, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err := until(time.Minute, func() bool { return strings.HasSuffix(revision(), sha) }); err != nil {
			return 0, refused, fmt.Errorf("push %d never fetched: %w", i, err)
		}
		return time.Since(start), refused, nil
	}

	time.Sleep(3 * time.Second)
	if res.baseline, _, err = procMemory(s.Controller.Process.Pid); err != nil {
		return res, err
	}
	var quiet []time.Duration
	for i := 1; i <= pushes; i++ {
		d, _, err := push(i)
		if err != nil {
			return res, err
		}
		quiet = append(quiet, d)
		fmt.Printf("push %d without flood: %s ms\n", i, benchutil.Ms(d))
		time.Sleep(time.Second) // within the per-source fetch limit
	}
	res.quiet = benchutil.Median(quiet)

	floodCtx, stopFlood := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var peak atomic.Uint64
	wg.Go(func() {
		for floodCtx.Err() == nil {
			if rss, _, err := procMemory(s.Controller.Process.Pid); err == nil && rss > peak.Load() {
				peak.Store(rss)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	var requests, conns atomic.Int64
	flood(floodCtx, &wg, s.Receiver, hook, slow, fast, huge, &requests, &conns)
	time.Sleep(5 * time.Second) // the flood fills every slot and cycles
	var flooded []time.Duration
	for i := pushes + 1; i <= 2*pushes; i++ {
		d, refused, err := push(i)
		if err != nil {
			stopFlood()
			return res, err
		}
		res.refused += refused
		flooded = append(flooded, d)
		fmt.Printf("push %d during the flood: %s ms (%d refusals first)\n", i, benchutil.Ms(d), refused)
		time.Sleep(time.Second)
	}
	stopFlood()
	wg.Wait()
	res.floodRequests, res.floodConns = requests.Load(), conns.Load()
	res.flooded = benchutil.Median(flooded)
	res.floodedMax = slices.Max(flooded)
	res.peak = peak.Load()
	time.Sleep(5 * time.Second)
	if res.after, _, err = procMemory(s.Controller.Process.Pid); err != nil {
		return res, err
	}
	fmt.Printf("controller RSS %s MiB before, peak %s MiB during %d flood requests on %d connections, %s MiB after\n",
		mb(res.baseline), mb(res.peak), res.floodRequests, res.floodConns, mb(res.after))
	return res, nil
}

// flood starts the unsigned clients; they stop with ctx.
func flood(ctx context.Context, wg *sync.WaitGroup, addr, hook string, slow, fast, huge int, requests, conns *atomic.Int64) {
	body := bytes.Repeat([]byte{'{'}, receiver.DefaultMaxBody)
	badSig := hex.EncodeToString(make([]byte, 32))
	path := strings.TrimPrefix(hook, "http://"+addr)
	raw := func(header string, bodyPart []byte) {
		d := net.Dialer{Timeout: 5 * time.Second}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			time.Sleep(10 * time.Millisecond)
			return
		}
		conns.Add(1)
		requests.Add(1)
		stop := context.AfterFunc(ctx, func() { c.Close() })
		defer stop()
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(time.Minute))
		if _, err := io.WriteString(c, header); err != nil {
			return
		}
		if _, err := c.Write(bodyPart); err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, c) // until the server answers and closes
	}
	for range slow {
		wg.Go(func() {
			for ctx.Err() == nil {
				raw(fmt.Sprintf("POST %s HTTP/1.1\r\nHost: r\r\nX-Gitea-Event: push\r\nX-Gitea-Signature: %s\r\nContent-Length: %d\r\n\r\n", path, badSig, len(body)), body[:len(body)-1024])
			}
		})
	}
	for range huge {
		wg.Go(func() {
			for ctx.Err() == nil {
				raw(fmt.Sprintf("POST %s HTTP/1.1\r\nHost: r\r\nX-Gitea-Event: push\r\nX-Gitea-Signature: %s\r\nContent-Length: %d\r\n\r\n", path, badSig, 25<<20), body[:64<<10])
			}
		})
	}
	for range fast {
		wg.Go(func() {
			c := &http.Client{Timeout: time.Minute}
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, hook, bytes.NewReader(body))
				req.Header.Set("X-Gitea-Event", "push")
				req.Header.Set("X-Gitea-Signature", badSig)
				requests.Add(1)
				resp, err := c.Do(req)
				if err != nil {
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}

// ---- webhook --------------------------------------------------------------------------

type webhookResult struct {
	policyBytes, rules            int
	idle, peakOne, peakConcurrent uint64
	one, concurrentMax            time.Duration
	concurrent, overRefused       int
}

func webhookPolicies(ctx context.Context, s *stack.Stack, binary string, concurrent int) (webhookResult, error) {
	var res webhookResult
	dir, err := os.MkdirTemp("", "trustsync-r3-webhook-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	if err := writeCert(dir); err != nil {
		return res, err
	}
	kubeconfig, platformFile := filepath.Join(dir, "kubeconfig"), filepath.Join(dir, "platform.yaml")
	if err := stack.WriteKubeconfig(kubeconfig, s.Env); err != nil {
		return res, err
	}
	p := gitopsv1.DefaultPlatform()
	data, _ := yaml.Marshal(p)
	if err := os.WriteFile(platformFile, data, 0o600); err != nil {
		return res, err
	}
	port, health := freePort(), freePort()
	cmd := exec.Command(binary, "webhook", "--kubeconfig", kubeconfig, "--platform", platformFile, "--port", fmt.Sprint(port),
		"--cert-dir", dir, "--metrics-bind-address", "0", "--health-probe-bind-address", fmt.Sprint("127.0.0.1:", health))
	logFile, _ := os.Create(filepath.Join(dir, "webhook.log"))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return res, err
	}
	defer func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() }()
	if err := until(time.Minute, func() bool {
		resp, err := http.Get(fmt.Sprint("http://127.0.0.1:", health, "/readyz"))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}); err != nil {
		return res, fmt.Errorf("trustsync webhook did not get ready: %w", err)
	}
	time.Sleep(2 * time.Second)
	pid := cmd.Process.Pid
	if res.idle, _, err = procMemory(pid); err != nil {
		return res, err
	}

	review, bytesOfRego, rules := largestPolicyReview(&p.Limits)
	res.policyBytes, res.rules = bytesOfRego, rules
	fmt.Printf("largest policy: %d bytes of Rego in %d rules (limits %d bytes, %d rules); review %d bytes\n",
		bytesOfRego, rules, p.Limits.PolicyBytes(), p.Limits.MaxPolicyRules(), len(review))
	url := fmt.Sprint("https://127.0.0.1:", port, "/validate-agent-kagenti-dev-v1alpha1-authorizationpolicy")
	// Only the webhook's work is measured here, not its identity.
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // see above
	send := func() (time.Duration, string, error) {
		start := time.Now()
		resp, err := hc.Post(url, "application/json", bytes.NewReader(review))
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		var ar struct {
			Response struct {
				Allowed bool `json:"allowed"`
				Status  struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
				} `json:"status"`
			} `json:"response"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&ar); err != nil {
			return 0, "", err
		}
		outcome := "allowed"
		if !ar.Response.Allowed {
			outcome = fmt.Sprintf("refused %d: %.120s", ar.Response.Status.Code, ar.Response.Status.Message)
		}
		return time.Since(start), outcome, nil
	}
	peakDuring := func(f func()) uint64 {
		var peak atomic.Uint64
		done := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			for {
				if rss, _, err := procMemory(pid); err == nil && rss > peak.Load() {
					peak.Store(rss)
				}
				select {
				case <-done:
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		}()
		f()
		close(done)
		<-sampled
		return peak.Load()
	}

	var ones []time.Duration
	var firstErr error
	res.peakOne = peakDuring(func() {
		for range 3 {
			d, outcome, err := send()
			if err != nil {
				firstErr = err
				return
			}
			ones = append(ones, d)
			fmt.Printf("one policy: %s ms, %s\n", benchutil.Ms(d), outcome)
		}
	})
	if firstErr != nil {
		return res, firstErr
	}
	res.one = benchutil.Median(ones)

	run := func(n int) (time.Duration, int, uint64, error) {
		var mu sync.Mutex
		var maxD time.Duration
		refused := 0
		var errs []error
		peak := peakDuring(func() {
			var wg sync.WaitGroup
			for range n {
				wg.Go(func() {
					d, outcome, err := send()
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						errs = append(errs, err)
						return
					}
					maxD = max(maxD, d)
					if strings.HasPrefix(outcome, "refused 429") {
						refused++
					}
				})
			}
			wg.Wait()
		})
		if len(errs) > 0 {
			return 0, 0, 0, errs[0]
		}
		return maxD, refused, peak, nil
	}
	res.concurrent = concurrent
	if res.concurrentMax, _, res.peakConcurrent, err = run(concurrent); err != nil {
		return res, err
	}
	fmt.Printf("%d policies at once: slowest %s ms, RSS peak %s MiB\n", concurrent, benchutil.Ms(res.concurrentMax), mb(res.peakConcurrent))
	var overPeak uint64
	if _, res.overRefused, overPeak, err = run(4 * concurrent); err != nil {
		return res, err
	}
	fmt.Printf("%d policies at once: %d refused as busy, RSS peak %s MiB\n", 4*concurrent, res.overRefused, mb(overPeak))
	res.peakConcurrent = max(res.peakConcurrent, overPeak)
	return res, nil
}

// largestPolicyReview is an admission review creating a client AuthorizationPolicy of
// exactly the limits' rule count and just under their size: one Rego file of rules that
// each allow one caller, padded to size with longer identities.
func largestPolicyReview(l *gitopsv1.Limits) ([]byte, int, int) {
	rules, budget := l.MaxPolicyRules(), int(l.PolicyBytes())
	header := "package " + policy.Package(agentv1.ScopeClient, policy.Points[0]) + "\n\nimport rego.v1\n\n"
	per := (budget - 1024 - len(header)) / rules
	var b strings.Builder
	b.WriteString(header)
	for i := range rules {
		rule := fmt.Sprintf("allow if input.identity.client_id == \"spiffe://example.org/ns/team-%03d/sa/agent-%04d", i%100, i)
		if pad := per - len(rule) - 2; pad > 0 {
			rule += "-" + strings.Repeat("x", pad-1)
		}
		b.WriteString(rule + "\"\n")
	}
	ap := agentv1.AuthorizationPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: agentv1.GroupVersion.String(), Kind: "AuthorizationPolicy"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "largest"},
		Spec:       agentv1.AuthorizationPolicySpec{Scope: agentv1.ScopeClient, Policies: []agentv1.RegoPolicy{{Path: policy.Points[0].File(), Content: b.String()}}},
	}
	obj, _ := json.Marshal(ap)
	gv := map[string]string{"group": agentv1.GroupVersion.Group, "version": agentv1.GroupVersion.Version}
	kind, resource := map[string]string{"kind": "AuthorizationPolicy"}, map[string]string{"resource": "authorizationpolicies"}
	for k, v := range gv {
		kind[k], resource[k] = v, v
	}
	review, _ := json.Marshal(map[string]any{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": map[string]any{
		"uid": "r3-largest-policy", "kind": kind, "resource": resource, "namespace": "team-a", "operation": "CREATE",
		"userInfo": map[string]any{"username": "tenant"}, "object": json.RawMessage(obj),
	}})
	return review, b.Len(), rules
}

// ---- helpers --------------------------------------------------------------------------

// procMemory is a process's resident set and its peak, in bytes.
func procMemory(pid int) (rss, peak uint64, err error) {
	r, p, err := stack.ProcessMemory(pid)
	return uint64(r * (1 << 20)), uint64(p * (1 << 20)), err
}

func until(d time.Duration, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s", d)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

func freePort() int {
	port, err := httpservertest.FreePort()
	if err != nil {
		benchutil.Fatal(err)
	}
	return port
}

// writeCert writes a self-signed serving certificate as tls.crt and tls.key.
func writeCert(dir string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "trustsync-webhook"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
}
