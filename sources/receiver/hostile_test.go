package receiver

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	rtmetrics "runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/trustsync/trustsync/internal/httpserver"
	"github.com/trustsync/trustsync/internal/httpserver/httpservertest"
	"github.com/trustsync/trustsync/internal/waitfor"
)

// serve runs h on a loopback listener with the receiver's server limits, shortened by o.
func serve(t *testing.T, h http.Handler, o httpserver.Options) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &httpserver.Server{Name: "receiver", Listener: ln, Handler: h, Options: o.Or(ServerOptions())}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Start(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

// post sends one request with a fresh connection and returns status, body and headers.
func post(t *testing.T, addr, path, payload string, headers map[string]string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+path, strings.NewReader(payload))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func newRegistryHandler(o Options) (*Handler, *triggers, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	o.Registerer = reg
	h, tr := newHandlerWith(o)
	return h, tr, reg
}

func counted(h *Handler, result string) int {
	return int(testutil.ToFloat64(h.metrics.requests.WithLabelValues(result)))
}

// TestUnauthenticatedAnswersAlike: whatever makes a request unauthenticated — no such
// source, no usable Secret, a failed lookup, a wrong signature or token — the caller
// gets the same status, headers and body, and the metrics tell the cases apart.
func TestUnauthenticatedAnswersAlike(t *testing.T) {
	var logged bytes.Buffer
	var logMu sync.Mutex
	log := funcr.New(func(prefix, args string) {
		logMu.Lock()
		defer logMu.Unlock()
		logged.WriteString(args + "\n")
	}, funcr.Options{})
	h, _, _ := newRegistryHandler(Options{Log: log, LogPerSecond: 100})
	addr := serve(t, h, httpserver.Options{})
	badSig := map[string]string{"X-Hub-Signature-256": "sha256=" + sign("other", body), "X-Gitea-Signature": sign("other", body),
		"X-Signature": "sha256=" + sign("other", body), "X-Gitlab-Token": "tok-xyz-123", "X-GitHub-Event": "push", "X-Gitea-Event": "push", "X-Gitlab-Event": "Push Hook"}
	cases := []struct {
		name, path string
		headers    map[string]string
		result     string
	}{
		{"unknown source", Path("team", "nope"), badSig, resultUnknownSource},
		{"unknown namespace", Path("other", "github"), badSig, resultUnknownSource},
		{"lookup error", Path("team", "broken"), badSig, resultLookupFailed},
		{"empty secret", Path("team", "nosecret"), badSig, resultNotConfigured},
		{"unknown type", Path("team", "badtype"), badSig, resultNotConfigured},
		{"github bad signature", Path("team", "github"), badSig, resultBadSignature},
		{"gitea bad signature", Path("team", "gitea"), badSig, resultBadSignature},
		{"generic bad signature", Path("team", "generic"), badSig, resultBadSignature},
		{"gitlab bad token", Path("team", "gitlab"), badSig, resultBadSignature},
		{"github no signature", Path("team", "github"), map[string]string{"X-GitHub-Event": "push"}, resultBadSignature},
	}
	type answer struct {
		status  int
		body    string
		headers string
	}
	var first *answer
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := counted(h, tc.result)
			status, b, hdr := post(t, addr, tc.path, body, tc.headers)
			hdr.Del("Date")
			got := answer{status, b, fmt.Sprint(hdr)}
			if first == nil {
				first = &got
			}
			if got != *first {
				t.Errorf("answer %+v, want the same as for %s: %+v", got, cases[0].name, *first)
			}
			if counted(h, tc.result) != before+1 {
				t.Errorf("metric result=%s not counted", tc.result)
			}
		})
	}
	if first.status != http.StatusUnauthorized || first.body != "missing or invalid signature\n" {
		t.Errorf("the answer is %d %q, want 401 missing or invalid signature", first.status, first.body)
	}
	logMu.Lock()
	defer logMu.Unlock()
	out := logged.String()
	for _, want := range []string{`"result"="unknown_source"`, `"result"="lookup_failed"`, `"result"="bad_signature"`, `"result"="not_configured"`, "cache not synced"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log does not say %s:\n%s", want, out)
		}
	}
	// What the request carried as credentials never reaches the log. (Lookup errors are
	// logged as they come: keeping secrets out of them is the Lookup's job.)
	for _, leak := range []string{sign("other", body), "tok-xyz-123"} {
		if strings.Contains(out, leak) {
			t.Errorf("the log contains a request credential %q", leak)
		}
	}
}

// TestReplays: a delivery sent again — in a row or at once — triggers one fetch; the
// same ID for another source is another delivery.
func TestReplays(t *testing.T) {
	types := []struct {
		typ                  Type
		path                 string
		sigHeader, prefix    string
		eventHeader, event   string
		idHeader             string
		tokenInsteadOfHMAC   bool
		alsoIdempotencyKeyID bool
	}{
		{typ: GitHub, path: "github", sigHeader: "X-Hub-Signature-256", prefix: "sha256=", eventHeader: "X-GitHub-Event", event: "push", idHeader: "X-GitHub-Delivery"},
		{typ: Gitea, path: "gitea", sigHeader: "X-Gitea-Signature", eventHeader: "X-Gitea-Event", event: "push", idHeader: "X-Gitea-Delivery"},
		{typ: GitLab, path: "gitlab", sigHeader: "X-Gitlab-Token", eventHeader: "X-Gitlab-Event", event: "Push Hook", idHeader: "Idempotency-Key", tokenInsteadOfHMAC: true},
		{typ: GitLab, path: "gitlab", sigHeader: "X-Gitlab-Token", eventHeader: "X-Gitlab-Event", event: "Push Hook", idHeader: "X-Gitlab-Event-UUID", tokenInsteadOfHMAC: true},
	}
	for _, ty := range types {
		t.Run(string(ty.typ)+"/"+ty.idHeader, func(t *testing.T) {
			h, tr, _ := newRegistryHandler(Options{})
			req := func(id string) *http.Request {
				r := httptest.NewRequest(http.MethodPost, Path("team", ty.path), strings.NewReader(body))
				sig := ty.prefix + sign(secret, body)
				if ty.tokenInsteadOfHMAC {
					sig = secret
				}
				r.Header.Set(ty.sigHeader, sig)
				r.Header.Set(ty.eventHeader, ty.event)
				r.Header.Set(ty.idHeader, id)
				return r
			}
			var codes sync.Map
			var wg sync.WaitGroup
			for range 50 { // at once
				wg.Go(func() {
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req("d-1"))
					n, _ := codes.LoadOrStore(rec.Code, new(atomic.Int64))
					n.(*atomic.Int64).Add(1)
				})
			}
			wg.Wait()
			for range 50 { // in a row
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req("d-1"))
				if rec.Code != http.StatusOK {
					t.Fatalf("replay answered %d, want 200", rec.Code)
				}
			}
			if got := tr.count(); got != 1 {
				t.Errorf("100 copies of one delivery triggered %d fetches, want 1", got)
			}
			if n, ok := codes.Load(http.StatusAccepted); !ok || n.(*atomic.Int64).Load() != 1 {
				t.Errorf("want exactly one 202 among concurrent copies")
			}
			if got := counted(h, resultDuplicate); got != 99 {
				t.Errorf("duplicates counted %d, want 99", got)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req("d-2"))
			if rec.Code != http.StatusAccepted || tr.count() != 2 {
				t.Errorf("a new delivery: %d, %d fetches; want 202 and a second fetch", rec.Code, tr.count())
			}
		})
	}
}

func TestDeliveriesBounded(t *testing.T) {
	d := newDeliveries(3, time.Minute)
	now := time.Now()
	for _, id := range []string{"a", "b", "c", "d"} { // d evicts a
		if !d.first("ns", "n", id, now) {
			t.Fatalf("%s not first", id)
		}
	}
	if len(d.seen) != 3 {
		t.Errorf("%d remembered, want the bound 3", len(d.seen))
	}
	for id, want := range map[string]bool{"a": true, "c": false, "d": false} {
		if got := d.first("ns", "n", id, now); got != want {
			t.Errorf("first(%s) = %v, want %v", id, got, want)
		}
	}
	if !d.first("ns", "n", "d", now.Add(2*time.Minute)) {
		t.Error("a delivery older than the TTL counts as new")
	}
	if !d.first("ns", "other", "c", now) {
		t.Error("the same ID for another source is another delivery")
	}
}

// TestFetchesCoalescedPerSource: verified pushes with new delivery IDs (as a replay
// with a forged ID would be) fetch a burst at once, then exactly one more, when the
// limit allows; another source is not held up.
func TestFetchesCoalescedPerSource(t *testing.T) {
	h, tr, _ := newRegistryHandler(Options{FetchBurst: 2, FetchEvery: time.Second})
	push := func(path string, i int) int {
		r := request(GitHub, "good", "push")
		r.URL.Path = Path("team", path)
		r.Header.Set("X-GitHub-Delivery", fmt.Sprint("id-", i))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec.Code
	}
	for i := range 10 {
		if code := push("github", i); code != http.StatusAccepted {
			t.Fatalf("push %d answered %d, want 202", i, code)
		}
	}
	if got, want := tr.count(), 2; got != want {
		t.Errorf("%d fetches at once, want the burst %d", got, want)
	}
	// Another source has its own budget.
	h2 := request(GitLab, "good", "Push Hook")
	h2.URL.Path = Path("team", "gitlab")
	h.ServeHTTP(httptest.NewRecorder(), h2)
	if got := tr.count(); got != 3 {
		t.Errorf("another source's push: %d fetches, want 3", got)
	}
	deadline := time.Now().Add(20 * time.Second)
	for tr.count() < 4 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := tr.count(); got != 4 {
		t.Fatalf("%d fetches, want the 8 held-back pushes coalesced into one", got)
	}
	if a, c := counted(h, resultAccepted), counted(h, resultCoalesced); a != 3 || c != 8 {
		t.Errorf("accepted %d, coalesced %d; want 3 and 8", a, c)
	}
}

// TestSlowBodiesDisplaced: strangers trickling bodies into every slot do not lock out a
// Git host: a new request displaces the oldest (by default at once, else once it is
// EvictAfter old); while none may be displaced, a new request is refused at once, not
// queued.
func TestSlowBodiesDisplaced(t *testing.T) {
	const slots = 4
	for _, tc := range []struct {
		name       string
		evictAfter time.Duration
		want       int
	}{
		{"displaces the oldest slow body", 0, http.StatusAccepted},
		{"displaces one old enough", 100 * time.Millisecond, http.StatusAccepted},
		{"refuses while none is old enough", time.Hour, http.StatusServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, tr, _ := newRegistryHandler(Options{MaxInFlight: slots, EvictAfter: tc.evictAfter})
			addr := serve(t, h, httpserver.Options{})
			for i := range slots {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\nX-Hub-Signature-256: sha256=%064d\r\nContent-Length: 1000\r\n\r\n{", Path("team", "github"), i)
			}
			waitfor.True(t, "every slot taken", func() bool { return testutil.ToFloat64(h.metrics.inFlight) == slots })
			if tc.want == http.StatusAccepted {
				time.Sleep(2 * tc.evictAfter) // the trickled bodies are older than EvictAfter
			}
			status, b, hdr := post(t, addr, Path("team", "github"), body, map[string]string{"X-Hub-Signature-256": "sha256=" + sign(secret, body), "X-GitHub-Event": "push"})
			if status != tc.want {
				t.Fatalf("valid push while strangers hold every slot: %d %q, want %d", status, b, tc.want)
			}
			if tc.want == http.StatusAccepted {
				if tr.count() != 1 || counted(h, resultEvicted) != 1 {
					t.Errorf("%d fetches, %d displaced; want 1 and 1", tr.count(), counted(h, resultEvicted))
				}
				return
			}
			if hdr.Get("Retry-After") == "" || counted(h, resultBusy) != 1 || tr.count() != 0 {
				t.Errorf("refusal: Retry-After %q, busy %d, fetches %d", hdr.Get("Retry-After"), counted(h, resultBusy), tr.count())
			}
		})
	}
}

// heapBytes is the live and not yet collected heap, from runtime/metrics.
func heapBytes() uint64 {
	s := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	rtmetrics.Read(s)
	return s[0].Value.Uint64()
}

// TestFloodMemoryAndValidPush: hundreds of concurrent unsigned requests — bodies at the
// limit sent at full speed, bodies announced and trickled, bodies announced far over the
// limit — leave the receiver's heap flat, and a valid push sent during the flood is
// admitted while the flood is refused. The heap bound is generous (the figure itself
// is benchmark R3's); the old receiver held every body whole, 512 KiB × 300 here.
func TestFloodMemoryAndValidPush(t *testing.T) {
	const (
		slowClients  = 160 // each sends all but the end of a body at the limit, stalls, and re-dials when cut
		fastClients  = 16  // each sends full unsigned bodies in a loop
		hugeClients  = 64  // each announces 25 MiB
		fastRequests = 10
		heapBound    = 64 << 20
	)
	h, tr, _ := newRegistryHandler(Options{})
	addr := serve(t, h, httpserver.Options{ReadTimeout: 5 * time.Second})
	big := bytes.Repeat([]byte{'x'}, DefaultMaxBody)
	badSig := "sha256=" + sign("other", "x")

	runtime.GC()
	baseline := heapBytes()
	var peak atomic.Uint64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if b := heapBytes(); b > peak.Load() {
				peak.Store(b)
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()

	var wg sync.WaitGroup
	var conns []net.Conn
	var connsMu sync.Mutex
	stopSlow := make(chan struct{})
	for range slowClients {
		wg.Go(func() {
			// Re-dialled as soon as the server cuts it, as an attacker would.
			for {
				select {
				case <-stopSlow:
					return
				default:
				}
				c, err := net.Dial("tcp", addr)
				if err != nil {
					continue
				}
				connsMu.Lock()
				conns = append(conns, c)
				connsMu.Unlock()
				fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\nX-Hub-Signature-256: %s\r\nContent-Length: %d\r\n\r\n", Path("team", "github"), badSig, DefaultMaxBody)
				_, _ = c.Write(big[:DefaultMaxBody-1024])
				_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
				_, _ = io.Copy(io.Discard, c)
				c.Close()
			}
		})
	}
	for range hugeClients {
		wg.Go(func() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				return
			}
			defer c.Close()
			fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: %s\r\nContent-Length: %d\r\n\r\n", Path("team", "github"), badSig, 25<<20)
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, _ = io.Copy(io.Discard, c)
		})
	}
	var refused atomic.Int64
	client := &http.Client{Timeout: 30 * time.Second}
	for range fastClients {
		wg.Go(func() {
			for range fastRequests {
				req, _ := http.NewRequest(http.MethodPost, "http://"+addr+Path("team", "github"), bytes.NewReader(big))
				req.Header.Set("X-Hub-Signature-256", badSig)
				req.Header.Set("X-GitHub-Event", "push")
				resp, err := client.Do(req)
				if err != nil {
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusServiceUnavailable {
					refused.Add(1)
				}
			}
		})
	}

	// During the flood: the slots are full of stalled bodies and fast ones are being
	// refused; a Git host's push still gets in.
	waitfor.True(t, "the flood to fill the slots", func() bool { return testutil.ToFloat64(h.metrics.inFlight) >= float64(DefaultOptions().MaxInFlight) })
	// A push can meet a pool whose every slot is past its body (nothing to displace) and
	// be told 503 with Retry-After, as any server at capacity would; the host's
	// redelivery must then get in. A few attempts, never an unbounded wait.
	for i := range 3 {
		var status int
		var b string
		for attempt := 0; attempt < 5; attempt++ {
			status, b, _ = post(t, addr, Path("team", "github"), body, map[string]string{
				"X-Hub-Signature-256": "sha256=" + sign(secret, body), "X-GitHub-Event": "push", "X-GitHub-Delivery": fmt.Sprint("valid-", i)})
			if status != http.StatusServiceUnavailable {
				break
			}
		}
		if status != http.StatusAccepted {
			t.Errorf("valid push %d during the flood: %d %q, want 202", i, status, b)
		}
	}
	close(stopSlow)
	connsMu.Lock()
	for _, c := range conns {
		c.Close()
	}
	connsMu.Unlock()
	wg.Wait()
	connsMu.Lock()
	for _, c := range conns {
		c.Close()
	}
	connsMu.Unlock()
	waitfor.True(t, "the flood to drain", func() bool { return testutil.ToFloat64(h.metrics.inFlight) == 0 })
	close(stopSampling)
	<-sampled

	if tr.count() != 3 {
		t.Errorf("%d fetches, want the 3 valid pushes'", tr.count())
	}
	if refused.Load() == 0 || counted(h, resultTooLarge) < hugeClients || counted(h, resultBadSignature) == 0 {
		t.Errorf("the flood was not refused: fast refused %d, too large %d, bad signature %d", refused.Load(), counted(h, resultTooLarge), counted(h, resultBadSignature))
	}
	grew := int64(peak.Load()) - int64(baseline)
	t.Logf("heap %d KiB before, peak %d KiB during the flood (+%d KiB); %d displaced, %d busy, %d bad signatures",
		baseline>>10, peak.Load()>>10, grew>>10, counted(h, resultEvicted), counted(h, resultBusy), counted(h, resultBadSignature))
	if grew > heapBound {
		t.Errorf("the heap grew by %d MiB under the flood, over the bound %d MiB", grew>>20, heapBound>>20)
	}
	runtime.GC()
	if after := int64(heapBytes()) - int64(baseline); after > 16<<20 {
		t.Errorf("%d MiB still held after the flood", after>>20)
	}
}

// TestServerClosesHeldConnections: the receiver's listener drops trickled headers,
// trickled bodies and idle keep-alives.
func TestServerClosesHeldConnections(t *testing.T) {
	h, _ := newHandler()
	o := httpserver.Options{ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: 600 * time.Millisecond, IdleTimeout: 400 * time.Millisecond}
	addr := serve(t, h, o)
	dial := httpservertest.TCP(addr)
	const margin = 5 * time.Second
	httpservertest.ClosesTrickledHeaders(t, dial, o.ReadHeaderTimeout+margin)
	httpservertest.ClosesTrickledBody(t, dial, Path("team", "github"), o.ReadTimeout+margin, "X-GitHub-Event: push", "X-Hub-Signature-256: sha256=00")
	// A GET is answered 405 and kept alive.
	httpservertest.ClosesIdle(t, dial, Path("team", "github"), o.IdleTimeout+margin)
}
