package secretscan

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// MinSecretLen is the shortest value treated as a secret: shorter ones ("true", a port)
// occur in ordinary text by chance.
const MinSecretLen = 8

// maxText bounds what is kept to scan, so a chatty run cannot exhaust the test's memory;
// going over it is itself reported.
const maxText = 256 << 20

// Finding is one secret found in one text.
type Finding struct {
	// Source says where the text came from, e.g. "log" or "Event team/x".
	Source string
	// Secret names the secret, e.g. "Secret team/git key password"; never its value.
	Secret string
	// Form is the encoding it was found in, e.g. "base64".
	Form string
}

func (f Finding) String() string { return fmt.Sprintf("%s: %s (%s)", f.Source, f.Secret, f.Form) }

// Scanner collects texts and secrets; Findings matches them. Safe for concurrent use.
type Scanner struct {
	mu      sync.Mutex
	texts   []text
	size    int
	over    bool
	secrets map[string]string // value → name
}

type text struct{ source, body string }

// New returns an empty Scanner.
func New() *Scanner { return &Scanner{secrets: map[string]string{}} }

// Secret adds a value that must never be reported. Values shorter than MinSecretLen are
// ignored.
func (s *Scanner) Secret(name string, value []byte) {
	v := strings.TrimSpace(string(value))
	if len(v) < MinSecretLen {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.secrets[v]; !ok {
		s.secrets[v] = name
	}
}

// Text adds what the system under test said.
func (s *Scanner) Text(source, body string) {
	if body == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.size+len(body) > maxText {
		s.over = true
		return
	}
	s.size += len(body)
	s.texts = append(s.texts, text{source, body})
}

// Logger is a logger whose every line, at every verbosity up to 4, is scanned, and
// also passed to each of also (a test's log, say).
func (s *Scanner) Logger(also ...func(line string)) logr.Logger {
	return funcr.NewJSON(func(obj string) {
		s.Text("log", obj)
		for _, f := range also {
			f(obj)
		}
	}, funcr.Options{Verbosity: 4})
}

// Writer scans what is written to it, e.g. a process's stderr.
func (s *Scanner) Writer(source string) io.Writer { return writer{s, source} }

type writer struct {
	s      *Scanner
	source string
}

func (w writer) Write(p []byte) (int, error) {
	w.s.Text(w.source, string(p))
	return len(p), nil
}

// publicKeys are Secret keys whose values are public by design: certificates.
var publicKeys = []string{"ca.crt", "tls.crt", "ca.pem", "cert.pem", "bundle.pem", "username", "user", "client-id.txt", "client-id", "client_id"}

// statusKinds are the kinds whose status conditions the sweep reads.
var statusKinds = []schema.GroupVersionKind{
	{Group: "gitops.trustsync.dev", Version: "v1alpha1", Kind: "Sync"},
	{Group: "gitops.trustsync.dev", Version: "v1alpha1", Kind: "GitSource"},
	{Group: "gitops.trustsync.dev", Version: "v1alpha1", Kind: "Cluster"},
	{Group: "agent.kagenti.dev", Version: "v1alpha1", Kind: "AgentRuntime"},
	{Group: "agent.kagenti.dev", Version: "v1alpha1", Kind: "AuthorizationPolicy"},
	{Group: "agent.kagenti.dev", Version: "v1alpha1", Kind: "AgentCard"},
}

// SweepCluster adds every Secret's values as secrets, and every Event and the status of
// every object of trustsync's kinds as texts.
func (s *Scanner) SweepCluster(ctx context.Context, c client.Reader) error {
	var secrets corev1.SecretList
	if err := c.List(ctx, &secrets); err != nil {
		return fmt.Errorf("listing Secrets: %w", err)
	}
	for _, sec := range secrets.Items {
		for k, v := range sec.Data {
			if slices.Contains(publicKeys, k) || bytes.HasPrefix(bytes.TrimSpace(v), []byte("-----BEGIN CERTIFICATE")) {
				continue
			}
			s.Secret(fmt.Sprintf("Secret %s/%s key %s", sec.Namespace, sec.Name, k), v)
			// A private key leaks line by line too.
			if bytes.Contains(v, []byte("PRIVATE KEY")) {
				for line := range strings.SplitSeq(string(v), "\n") {
					if line = strings.TrimSpace(line); len(line) >= 16 && !strings.HasPrefix(line, "-----") {
						s.Secret(fmt.Sprintf("Secret %s/%s key %s (a line)", sec.Namespace, sec.Name, k), []byte(line))
					}
				}
			}
		}
	}
	var events corev1.EventList
	if err := c.List(ctx, &events); err != nil {
		return fmt.Errorf("listing Events: %w", err)
	}
	for _, e := range events.Items {
		s.Text(fmt.Sprintf("Event %s/%s", e.Namespace, e.Name), e.Reason+" "+e.Message)
	}
	for _, gvk := range statusKinds {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := c.List(ctx, list); err != nil {
			continue // a kind this test's API server does not serve
		}
		for _, o := range list.Items {
			if st, ok := o.Object["status"]; ok {
				b, _ := json.Marshal(st)
				s.Text(fmt.Sprintf("%s %s/%s status", gvk.Kind, o.GetNamespace(), o.GetName()), string(b))
			}
		}
	}
	return nil
}

// Findings matches every text against every form of every secret.
func (s *Scanner) Findings() []Finding {
	s.mu.Lock()
	defer s.mu.Unlock()
	type needle struct{ value, secret, form string }
	var needles []needle
	for v, name := range s.secrets {
		for form, n := range Forms(v) {
			needles = append(needles, needle{n, name, form})
		}
	}
	var out []Finding
	seen := map[Finding]bool{}
	for _, t := range s.texts {
		for _, n := range needles {
			if strings.Contains(t.body, n.value) {
				f := Finding{Source: t.source, Secret: n.secret, Form: n.form}
				if !seen[f] {
					seen[f] = true
					out = append(out, f)
				}
			}
		}
	}
	if s.over {
		out = append(out, Finding{Source: "the scanner", Secret: fmt.Sprintf("more than %d MiB of text: the rest was not scanned", maxText>>20), Form: "-"})
	}
	slices.SortFunc(out, func(a, b Finding) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// Secrets counts the secret values known, so a test can tell that it looked for some.
func (s *Scanner) Secrets() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.secrets)
}

// Texts counts the texts collected by the first word of their source ("log", "Event",
// "commit", "comment", a kind), so a test can tell that it scanned each kind of text.
func (s *Scanner) Texts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := map[string]int{}
	for _, t := range s.texts {
		kind, _, _ := strings.Cut(t.source, " ")
		n[kind]++
	}
	return n
}

// Forms are the encodings of value a message could carry, by name. Base64 is also
// matched inside longer base64 text: for each of the three alignments the value can
// start at, the characters that depend on the value alone.
func Forms(value string) map[string]string {
	forms := map[string]string{"raw": value}
	add := func(name, v string) {
		if len(v) >= MinSecretLen && v != value {
			forms[name] = v
		}
	}
	b := []byte(value)
	add("base64", base64.StdEncoding.EncodeToString(b))
	add("base64 unpadded", base64.RawStdEncoding.EncodeToString(b))
	add("base64url", base64.URLEncoding.EncodeToString(b))
	add("base64url unpadded", base64.RawURLEncoding.EncodeToString(b))
	for shift := 0; shift < 3; shift++ {
		enc := base64.StdEncoding.EncodeToString(append(make([]byte, shift), b...))
		// Drop the first quantum when it holds the prefix's bits, and the last two, whose
		// bits depend on what follows the value.
		start := 0
		if shift > 0 {
			start = 4
		}
		if end := len(enc) - 8; end-start >= MinSecretLen {
			add(fmt.Sprintf("inside base64 (alignment %d)", shift), enc[start:end])
		}
	}
	add("hex", hex.EncodeToString(b))
	add("HEX", strings.ToUpper(hex.EncodeToString(b)))
	add("URL-escaped", url.QueryEscape(value))
	add("path-escaped", url.PathEscape(value))
	if q := strconv.Quote(value); len(q) > 2 {
		add("quoted", q[1:len(q)-1])
	}
	if j, err := json.Marshal(value); err == nil && len(j) > 2 {
		add("JSON", string(j[1:len(j)-1]))
	}
	return forms
}

// Verdict is the scan's outcome: an error listing every finding; an error too when no
// secret was known, or when a kind of text in want (a first word of a source, as Texts
// counts them) was never collected — unless partial (a go test -run of some tests only,
// which leave only some kinds). On success it says what was scanned.
func (s *Scanner) Verdict(want []string, partial bool) (string, error) {
	counts := s.Texts()
	for _, kind := range want {
		if counts[kind] == 0 && !partial {
			return "", fmt.Errorf("secret scan: no %s text was collected (%v), so the scan would miss a secret there", kind, counts)
		}
	}
	if s.Secrets() == 0 {
		return "", errors.New("secret scan: no secret value was collected, so nothing was looked for")
	}
	if f := s.Findings(); len(f) > 0 {
		lines := make([]string, len(f))
		for i, x := range f {
			lines[i] = x.String()
		}
		return "", fmt.Errorf("secret scan: secrets in what the system under test reported:\n  %s", strings.Join(lines, "\n  "))
	}
	return fmt.Sprintf("secret scan: none of %d secret values in %v texts", s.Secrets(), counts), nil
}
