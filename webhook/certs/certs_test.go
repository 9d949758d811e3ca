package certs

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/trustsync/trustsync/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, &env)) }

// clock is a settable Options.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

var namespaces atomic.Int32

// fixture is one test's namespace, webhook configurations and clock.
type fixture struct {
	t                     *testing.T
	ns                    string
	mutating, validating  string
	clock                 *clock
	secretKey             client.ObjectKey
	mutatingKey, validKey client.ObjectKey
	// writes counts the create, update and patch requests of the fixture's Rotators.
	writes atomic.Int32
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ns := fmt.Sprintf("certs-%d", namespaces.Add(1))
	f := &fixture{t: t, ns: ns, mutating: ns + "-mutating", validating: ns + "-validating", clock: newClock()}
	f.secretKey = client.ObjectKey{Namespace: ns, Name: DefaultOptions().SecretName}
	f.mutatingKey = client.ObjectKey{Name: f.mutating}
	f.validKey = client.ObjectKey{Name: f.validating}
	if err := env.Client.Create(ctx(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	return f
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func (f *fixture) options() Options {
	return Options{
		Namespace:                       f.ns,
		ServiceName:                     "trustsync-webhook",
		Hosts:                           []string{"127.0.0.1"},
		MutatingWebhookConfigurations:   []string{f.mutating},
		ValidatingWebhookConfigurations: []string{f.validating},
		Now:                             f.clock.Now,
	}
}

func (f *fixture) rotator(change ...func(*Options)) *Rotator {
	f.t.Helper()
	o := f.options()
	for _, c := range change {
		c(&o)
	}
	r, err := New(f.countingClient(), o)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

// countingClient is a direct client that counts its writes into f.writes.
func (f *fixture) countingClient() client.Client {
	f.t.Helper()
	c, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		f.t.Fatal(err)
	}
	return interceptor.NewClient(c, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			f.writes.Add(1)
			return c.Create(ctx, obj, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			f.writes.Add(1)
			return c.Update(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			f.writes.Add(1)
			return c.Patch(ctx, obj, patch, opts...)
		},
	})
}

func (f *fixture) ensure(r *Rotator) {
	f.t.Helper()
	if err := r.Ensure(ctx(f.t)); err != nil {
		f.t.Fatalf("Ensure: %v", err)
	}
}

func webhookClientConfig() admissionv1.WebhookClientConfig {
	url := "https://127.0.0.1:1/x"
	return admissionv1.WebhookClientConfig{URL: &url}
}

// createConfigurations creates both configurations, two webhooks each, with no rules so
// the API server never calls them.
func (f *fixture) createConfigurations() {
	f.t.Helper()
	none := admissionv1.SideEffectClassNone
	m := &admissionv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: f.mutating}}
	v := &admissionv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: f.validating}}
	for _, name := range []string{"a.trustsync.dev", "b.trustsync.dev"} {
		m.Webhooks = append(m.Webhooks, admissionv1.MutatingWebhook{Name: name, ClientConfig: webhookClientConfig(), SideEffects: &none, AdmissionReviewVersions: []string{"v1"}})
		v.Webhooks = append(v.Webhooks, admissionv1.ValidatingWebhook{Name: name, ClientConfig: webhookClientConfig(), SideEffects: &none, AdmissionReviewVersions: []string{"v1"}})
	}
	for _, o := range []client.Object{m, v} {
		if err := env.Client.Create(ctx(f.t), o); err != nil {
			f.t.Fatal(err)
		}
	}
}

func (f *fixture) secret() *corev1.Secret {
	f.t.Helper()
	s := &corev1.Secret{}
	if err := env.Client.Get(ctx(f.t), f.secretKey, s); err != nil {
		f.t.Fatal(err)
	}
	return s
}

func (f *fixture) configurations() (*admissionv1.MutatingWebhookConfiguration, *admissionv1.ValidatingWebhookConfiguration) {
	f.t.Helper()
	m := &admissionv1.MutatingWebhookConfiguration{}
	v := &admissionv1.ValidatingWebhookConfiguration{}
	if err := env.Client.Get(ctx(f.t), f.mutatingKey, m); err != nil {
		f.t.Fatal(err)
	}
	if err := env.Client.Get(ctx(f.t), f.validKey, v); err != nil {
		f.t.Fatal(err)
	}
	return m, v
}

// assertTrusted: every webhook of both configurations holds exactly bundle.
func (f *fixture) assertTrusted(bundle []byte) {
	f.t.Helper()
	m, v := f.configurations()
	var got [][]byte
	for _, w := range m.Webhooks {
		got = append(got, w.ClientConfig.CABundle)
	}
	for _, w := range v.Webhooks {
		got = append(got, w.ClientConfig.CABundle)
	}
	if len(got) != 4 {
		f.t.Fatalf("%d webhooks, want 4", len(got))
	}
	for i, b := range got {
		if !bytes.Equal(b, bundle) {
			f.t.Errorf("webhook %d: caBundle is not the Secret's ca.crt", i)
		}
	}
}

// resourceVersions of the Secret and both configurations.
func (f *fixture) resourceVersions() [3]string {
	f.t.Helper()
	m, v := f.configurations()
	return [3]string{f.secret().ResourceVersion, m.ResourceVersion, v.ResourceVersion}
}

func certs(t *testing.T, data []byte) []*x509.Certificate {
	t.Helper()
	c, err := parseCerts(data)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

func verify(leaf *x509.Certificate, roots *x509.CertPool, name string, at time.Time) error {
	_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: name, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	return err
}

func served(t *testing.T, r *Rotator) *x509.Certificate {
	t.Helper()
	c, err := r.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.Leaf
}

// assertConsistent: the Secret's serving certificate is r's, chains to the bundle's
// first CA, and the configurations trust the bundle.
func (f *fixture) assertConsistent(r *Rotator) *corev1.Secret {
	f.t.Helper()
	s := f.secret()
	leaf := certs(f.t, s.Data[KeyCert])[0]
	bundle := certs(f.t, s.Data[KeyCABundle])
	if !served(f.t, r).Equal(leaf) {
		f.t.Error("the served certificate is not the Secret's")
	}
	if !issuedBy(leaf, bundle[0]) {
		f.t.Error("the serving certificate is not issued by the bundle's first CA")
	}
	if _, err := parsePair(s.Data[KeyCABundle], s.Data[KeyCAKey]); err != nil {
		f.t.Errorf("ca.key does not belong to the current CA: %v", err)
	}
	if err := verify(leaf, pool(bundle...), "127.0.0.1", f.clock.Now()); err != nil {
		f.t.Errorf("serving certificate against the bundle: %v", err)
	}
	f.assertTrusted(s.Data[KeyCABundle])
	return s
}

func TestEnsureFirstPass(t *testing.T) {
	f := newFixture(t)
	f.createConfigurations()
	r := f.rotator()
	f.ensure(r)

	s := f.secret()
	if s.Type != corev1.SecretTypeOpaque || s.Labels[LabelName] != LabelValue {
		t.Errorf("type %s, labels %v", s.Type, s.Labels)
	}
	for _, k := range []string{KeyCABundle, KeyCAKey, KeyCert, KeyKey} {
		if len(s.Data[k]) == 0 {
			t.Errorf("data[%s] is empty", k)
		}
	}
	bundle := certs(t, s.Data[KeyCABundle])
	if len(bundle) != 1 {
		t.Fatalf("bundle holds %d certificates, want 1", len(bundle))
	}
	ca, leaf := bundle[0], certs(t, s.Data[KeyCert])[0]
	if !ca.IsCA || ca.MaxPathLen != 0 || !ca.MaxPathLenZero || ca.KeyUsage != x509.KeyUsageCertSign || ca.Subject.CommonName != CACommonName {
		t.Errorf("CA: isCA %v, maxPathLen %d (zero %v), key usage %v, CN %q", ca.IsCA, ca.MaxPathLen, ca.MaxPathLenZero, ca.KeyUsage, ca.Subject.CommonName)
	}
	if got := ca.NotAfter.Sub(f.clock.Now()); got != 43800*time.Hour {
		t.Errorf("CA valid for %s from now, want 43800h", got)
	}
	if got := leaf.NotAfter.Sub(f.clock.Now()); got != 90*24*time.Hour {
		t.Errorf("serving certificate valid for %s from now, want 2160h", got)
	}
	if leaf.IsCA || !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Errorf("serving certificate: isCA %v, ext key usage %v", leaf.IsCA, leaf.ExtKeyUsage)
	}
	for _, c := range []*x509.Certificate{ca, leaf} {
		if pub, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
			t.Errorf("%s: key %T, want ECDSA P-256", c.Subject.CommonName, c.PublicKey)
		}
		if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 128 {
			t.Errorf("%s: serial %d bits", c.Subject.CommonName, c.SerialNumber.BitLen())
		}
	}
	if ca.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
		t.Error("CA and serving certificate share a serial number")
	}
	wantDNS := []string{"trustsync-webhook", "trustsync-webhook." + f.ns, "trustsync-webhook." + f.ns + ".svc", "trustsync-webhook." + f.ns + ".svc.cluster.local"}
	if got := slices.Sorted(slices.Values(leaf.DNSNames)); !slices.Equal(got, slices.Sorted(slices.Values(wantDNS))) {
		t.Errorf("DNS names %v, want %v", got, wantDNS)
	}
	if len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")) {
		t.Errorf("IP addresses %v, want [127.0.0.1]", leaf.IPAddresses)
	}

	for _, tt := range []struct {
		name    string
		wantErr bool
	}{
		{name: wantDNS[0]},
		{name: wantDNS[1]},
		{name: wantDNS[2]},
		{name: wantDNS[3]},
		{name: "127.0.0.1"},
		{name: "other." + f.ns + ".svc", wantErr: true},
		{name: "127.0.0.2", wantErr: true},
	} {
		if err := verify(leaf, pool(bundle...), tt.name, f.clock.Now()); (err != nil) != tt.wantErr {
			t.Errorf("verify for %s: %v, want error %v", tt.name, err, tt.wantErr)
		}
	}
	f.assertConsistent(r)
	if err := r.ReadyCheck(nil); err != nil {
		t.Errorf("ReadyCheck: %v", err)
	}

	// A second pass writes nothing.
	before, writes := f.resourceVersions(), f.writes.Load()
	f.ensure(r)
	if after := f.resourceVersions(); after != before {
		t.Errorf("second pass changed resourceVersions %v to %v", before, after)
	}
	if n := f.writes.Load() - writes; n != 0 {
		t.Errorf("second pass sent %d writes, want none", n)
	}

	// A caBundle someone reset is repaired, and only that configuration is written.
	m, _ := f.configurations()
	m.Webhooks[1].ClientConfig.CABundle = nil
	if err := env.Client.Update(ctx(t), m); err != nil {
		t.Fatal(err)
	}
	before, writes = f.resourceVersions(), f.writes.Load()
	f.ensure(r)
	after := f.resourceVersions()
	if after[0] != before[0] || after[2] != before[2] || after[1] == before[1] {
		t.Errorf("repair: resourceVersions %v to %v, want only the MutatingWebhookConfiguration's to change", before, after)
	}
	if n := f.writes.Load() - writes; n != 1 {
		t.Errorf("repair sent %d writes, want 1", n)
	}
	f.assertTrusted(s.Data[KeyCABundle])
}

func TestRenewal(t *testing.T) {
	tests := []struct {
		name string
		// moveTo is the new time, from the first CA and serving certificate.
		moveTo      func(ca, leaf *x509.Certificate) time.Time
		wantCert    bool // a new serving certificate
		wantCA      bool // a new CA, the old one kept after it in the bundle
		wantNoWrite bool // nothing written
	}{
		{
			name: "half of the certificate's life left",
			moveTo: func(_, leaf *x509.Certificate) time.Time {
				return leaf.NotBefore.Add(leaf.NotAfter.Sub(leaf.NotBefore) / 2)
			},
			wantNoWrite: true,
		},
		{
			name:        "just before the certificate's last third",
			moveTo:      func(_, leaf *x509.Certificate) time.Time { return leaf.NotAfter.Add(-lifetime(leaf)/3 - time.Minute) },
			wantNoWrite: true,
		},
		{
			name:     "in the certificate's last third",
			moveTo:   func(_, leaf *x509.Certificate) time.Time { return leaf.NotAfter.Add(-lifetime(leaf)/3 + time.Minute) },
			wantCert: true,
		},
		{
			name:     "after the certificate expired",
			moveTo:   func(_, leaf *x509.Certificate) time.Time { return leaf.NotAfter.Add(time.Hour) },
			wantCert: true,
		},
		{
			name:     "in the CA's last third",
			moveTo:   func(ca, _ *x509.Certificate) time.Time { return ca.NotAfter.Add(-lifetime(ca)/3 + time.Minute) },
			wantCert: true,
			wantCA:   true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.createConfigurations()
			r := f.rotator()
			f.ensure(r)
			first := f.secret()
			ca, leaf := certs(t, first.Data[KeyCABundle])[0], certs(t, first.Data[KeyCert])[0]
			before, writes := f.resourceVersions(), f.writes.Load()

			f.clock.Set(tt.moveTo(ca, leaf))
			f.ensure(r)
			if tt.wantNoWrite && f.writes.Load() != writes {
				t.Errorf("%d writes, want none", f.writes.Load()-writes)
			}
			s := f.assertConsistent(r)
			newLeaf, bundle := certs(t, s.Data[KeyCert])[0], certs(t, s.Data[KeyCABundle])
			if got := !newLeaf.Equal(leaf); got != tt.wantCert {
				t.Errorf("new serving certificate: %v, want %v", got, tt.wantCert)
			}
			if tt.wantNoWrite && f.resourceVersions() != before {
				t.Errorf("resourceVersions %v changed to %v", before, f.resourceVersions())
			}
			switch {
			case tt.wantCA:
				if len(bundle) != 2 || bundle[0].Equal(ca) || !bundle[1].Equal(ca) {
					t.Fatalf("bundle is not [new CA, old CA]: %d certificates, first is old %v", len(bundle), bundle[0].Equal(ca))
				}
				if !issuedBy(newLeaf, bundle[0]) || issuedBy(newLeaf, ca) {
					t.Error("the new serving certificate is not issued by the new CA alone")
				}
				if bytes.Equal(s.Data[KeyCAKey], first.Data[KeyCAKey]) {
					t.Error("ca.key did not change with the CA")
				}
			default:
				if !bytes.Equal(s.Data[KeyCABundle], first.Data[KeyCABundle]) || !bytes.Equal(s.Data[KeyCAKey], first.Data[KeyCAKey]) {
					t.Error("the CA changed")
				}
			}
		})
	}
}

func lifetime(c *x509.Certificate) time.Duration { return c.NotAfter.Sub(c.NotBefore) }

// TestCARotationKeepsTrust: the certificate served before a CA rotation is still trusted
// by the bundle written with the new CA, and the old CA leaves the bundle once expired.
func TestCARotationKeepsTrust(t *testing.T) {
	f := newFixture(t)
	f.createConfigurations()
	r := f.rotator()
	f.ensure(r)
	oldCA := certs(t, f.secret().Data[KeyCABundle])[0]

	// The day before the CA's last third: a fresh serving certificate, from the old CA.
	renewal := oldCA.NotAfter.Add(-lifetime(oldCA) / 3)
	f.clock.Set(renewal.Add(-24 * time.Hour))
	f.ensure(r)
	oldLeaf := served(t, r)
	if !issuedBy(oldLeaf, oldCA) || !validAt(oldLeaf, f.clock.Now()) {
		t.Fatal("before the CA's last third the serving certificate is not a valid one of the old CA")
	}

	f.clock.Set(renewal.Add(24 * time.Hour))
	f.ensure(r)
	s := f.assertConsistent(r)
	bundle := certs(t, s.Data[KeyCABundle])
	if len(bundle) != 2 || !bundle[1].Equal(oldCA) {
		t.Fatalf("bundle: %d certificates, want [new CA, old CA]", len(bundle))
	}
	newCA := bundle[0]
	if err := verify(oldLeaf, pool(bundle...), "127.0.0.1", f.clock.Now()); err != nil {
		t.Errorf("the certificate served before the rotation is not trusted by the new bundle: %v", err)
	}
	if err := verify(oldLeaf, pool(newCA), "127.0.0.1", f.clock.Now()); err == nil {
		t.Error("the old certificate verifies against the new CA alone; the check above proves nothing")
	}
	if served(t, r).Equal(oldLeaf) || !issuedBy(served(t, r), newCA) {
		t.Error("the served certificate is not re-issued by the new CA")
	}

	// Once the old CA has expired it leaves the bundle and the configurations.
	f.clock.Set(oldCA.NotAfter.Add(time.Hour))
	f.ensure(r)
	s = f.assertConsistent(r)
	if bundle := certs(t, s.Data[KeyCABundle]); len(bundle) != 1 || !bundle[0].Equal(newCA) {
		t.Errorf("after the old CA expired the bundle holds %d certificates, want only the new CA", len(bundle))
	}
}

// TestOlderBundleNeverReplacesNewer: a replica that read the Secret just before another
// one renewed the CA does not take the new CA out of the configurations.
func TestOlderBundleNeverReplacesNewer(t *testing.T) {
	f := newFixture(t)
	f.createConfigurations()
	r := f.rotator()
	f.ensure(r)
	oldBundle := f.secret().Data[KeyCABundle]
	ca := certs(t, oldBundle)[0]
	f.clock.Set(ca.NotAfter.Add(-lifetime(ca)/3 + time.Minute))
	f.ensure(r)
	before := f.resourceVersions()

	for _, c := range r.configurations {
		if err := r.trust(ctx(t), c, oldBundle); err != nil {
			t.Fatal(err)
		}
	}
	if after := f.resourceVersions(); after != before {
		t.Errorf("the older bundle was written: resourceVersions %v to %v", before, after)
	}
	f.assertConsistent(r)

	// A bundle led by a newer CA that does not trust ours is not another replica's: it
	// is replaced.
	stranger, err := newCA(f.clock.Now().Add(time.Hour), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := f.configurations()
	m.Webhooks[0].ClientConfig.CABundle = encodeCerts(stranger.cert)
	if err := env.Client.Update(ctx(t), m); err != nil {
		t.Fatal(err)
	}
	f.ensure(r)
	f.assertConsistent(r)
}

func TestDamagedSecret(t *testing.T) {
	tests := []struct {
		name string
		// garbage starts from a Secret of garbage; else damage, if set, changes the data of
		// a Secret written by a first pass.
		garbage bool
		damage  func(t *testing.T, s *corev1.Secret)
		// change adjusts the options of the second pass.
		change       func(*Options)
		wantSameCA   bool
		wantSameCert bool
		wantPrevious bool // the damaged Secret's CA stays in the bundle
	}{
		{name: "garbage everywhere", garbage: true},
		{
			name:         "label removed",
			damage:       func(_ *testing.T, s *corev1.Secret) { delete(s.Labels, LabelName) },
			wantSameCA:   true,
			wantSameCert: true,
		},
		{
			name:         "CA key missing",
			damage:       func(_ *testing.T, s *corev1.Secret) { delete(s.Data, KeyCAKey) },
			wantPrevious: true,
		},
		{
			name:         "CA key of another certificate",
			damage:       func(_ *testing.T, s *corev1.Secret) { s.Data[KeyCAKey] = s.Data[KeyKey] },
			wantPrevious: true,
		},
		{
			name: "serving certificate garbage",
			damage: func(_ *testing.T, s *corev1.Secret) {
				s.Data[KeyCert] = []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
			},
			wantSameCA: true,
		},
		{
			name: "serving certificate for client authentication",
			damage: func(t *testing.T, s *corev1.Secret) {
				s.Data[KeyCert], s.Data[KeyKey] = clientCert(t, s.Data)
			},
			wantSameCA: true,
		},
		{
			name:       "serving key of another certificate",
			damage:     func(_ *testing.T, s *corev1.Secret) { s.Data[KeyKey] = s.Data[KeyCAKey] },
			wantSameCA: true,
		},
		{
			name: "serving certificate is the CA",
			damage: func(_ *testing.T, s *corev1.Secret) {
				s.Data[KeyCert], s.Data[KeyKey] = s.Data[KeyCABundle], s.Data[KeyCAKey]
			},
			wantSameCA: true,
		},
		{
			name:       "hosts changed",
			change:     func(o *Options) { o.Hosts = []string{"127.0.0.2", "webhook.example"} },
			wantSameCA: true,
		},
		{
			name:       "service changed",
			change:     func(o *Options) { o.ServiceName = "other" },
			wantSameCA: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.createConfigurations()
			var oldCA, oldLeaf *x509.Certificate
			if tt.garbage {
				first := &corev1.Secret{
					ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: f.secretKey.Name},
					Type:       corev1.SecretTypeOpaque,
					Data:       map[string][]byte{KeyCABundle: []byte("garbage"), KeyCAKey: []byte("x"), KeyCert: []byte("y"), KeyKey: []byte("z"), "other": []byte("kept")},
				}
				if err := env.Client.Create(ctx(t), first); err != nil {
					t.Fatal(err)
				}
			} else {
				f.ensure(f.rotator())
				first := f.secret()
				oldCA, oldLeaf = certs(t, first.Data[KeyCABundle])[0], certs(t, first.Data[KeyCert])[0]
				if tt.damage != nil {
					tt.damage(t, first)
					if err := env.Client.Update(ctx(t), first); err != nil {
						t.Fatal(err)
					}
				}
			}
			var changes []func(*Options)
			if tt.change != nil {
				changes = append(changes, tt.change)
			}
			r := f.rotator(changes...)
			f.ensure(r)
			s := f.secret()
			leaf := certs(t, s.Data[KeyCert])[0]
			bundle := certs(t, s.Data[KeyCABundle])
			if !served(t, r).Equal(leaf) || !issuedBy(leaf, bundle[0]) || !r.names.matches(leaf) {
				t.Error("the Secret does not hold a serving certificate of the current CA for the options")
			}
			if err := verify(leaf, pool(bundle...), "", f.clock.Now()); err != nil {
				t.Errorf("serving certificate against the bundle: %v", err)
			}
			if _, err := parsePair(s.Data[KeyCABundle], s.Data[KeyCAKey]); err != nil {
				t.Errorf("CA pair: %v", err)
			}
			if s.Labels[LabelName] != LabelValue {
				t.Errorf("labels %v", s.Labels)
			}
			f.assertTrusted(s.Data[KeyCABundle])
			if tt.garbage {
				if string(s.Data["other"]) != "kept" {
					t.Error("a key the rotator does not own was lost")
				}
				if len(bundle) != 1 {
					t.Errorf("bundle holds %d certificates, want 1", len(bundle))
				}
				return
			}
			if got := bundle[0].Equal(oldCA); got != tt.wantSameCA {
				t.Errorf("same CA: %v, want %v", got, tt.wantSameCA)
			}
			if got := len(bundle) == 2 && bundle[1].Equal(oldCA); got != tt.wantPrevious {
				t.Errorf("old CA kept after the new one: %v, want %v", got, tt.wantPrevious)
			}
			if got := leaf.Equal(oldLeaf); got != tt.wantSameCert {
				t.Errorf("same serving certificate: %v, want %v", got, tt.wantSameCert)
			}
		})
	}
}

func TestSecretOfAnotherType(t *testing.T) {
	f := newFixture(t)
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: f.secretKey.Name},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{KeyCert: []byte("x"), KeyKey: []byte("y")},
	}
	if err := env.Client.Create(ctx(t), s); err != nil {
		t.Fatal(err)
	}
	r := f.rotator()
	err := r.Ensure(ctx(t))
	want := "Secret " + f.ns + "/" + f.secretKey.Name + ": type is kubernetes.io/tls"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Ensure: %v, want an error containing %q", err, want)
	}
	if s := f.secret(); string(s.Data[KeyCert]) != "x" {
		t.Error("the Secret was changed")
	}
	if _, err := r.GetCertificate(nil); err == nil {
		t.Error("a certificate is served after a failed first pass")
	}
}

// TestPermissions runs the Rotator as a user with only the permissions it needs, and
// without the one to patch the configurations: then the pass fails on the configuration
// and no pair is served, since the API server would not trust it.
func TestPermissions(t *testing.T) {
	tests := []struct {
		name        string
		configVerbs []string
		wantErr     string
	}{
		{name: "get and patch", configVerbs: []string{"get", "patch"}},
		{name: "get only", configVerbs: []string{"get"}, wantErr: "MutatingWebhookConfiguration %s-mutating: webhooks[].clientConfig.caBundle: patching"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.createConfigurations()
			user := f.ns + "-rotator"
			subjects := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}
			objs := []client.Object{
				&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: user}, Rules: []rbacv1.PolicyRule{{
					APIGroups:     []string{admissionv1.GroupName},
					Resources:     []string{"mutatingwebhookconfigurations", "validatingwebhookconfigurations"},
					ResourceNames: []string{f.mutating, f.validating},
					Verbs:         tt.configVerbs,
				}}},
				&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: user}, Subjects: subjects, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: user}},
				&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: user}, Rules: []rbacv1.PolicyRule{{
					APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "create", "update"},
				}}},
				&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: user}, Subjects: subjects, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: user}},
			}
			for _, o := range objs {
				if err := env.Client.Create(ctx(t), o); err != nil {
					t.Fatal(err)
				}
			}
			cfg := rest.CopyConfig(env.Config)
			cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
			c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
			if err != nil {
				t.Fatal(err)
			}
			r, err := New(c, f.options())
			if err != nil {
				t.Fatal(err)
			}
			err = r.Ensure(ctx(t))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				f.assertConsistent(r)
				return
			}
			if want := fmt.Sprintf(tt.wantErr, f.ns); err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("Ensure: %v, want an error containing %q", err, want)
			}
			if _, err := r.GetCertificate(nil); err == nil {
				t.Error("a pair is served that the configurations do not trust")
			}
		})
	}
}

func TestMissingConfigurationIsSkipped(t *testing.T) {
	f := newFixture(t)
	r := f.rotator()
	f.ensure(r) // neither configuration exists yet
	if _, err := r.GetCertificate(nil); err != nil {
		t.Fatalf("no certificate served while the configurations are missing: %v", err)
	}
	f.createConfigurations()
	f.ensure(r)
	f.assertConsistent(r)
}

func TestConcurrentRotators(t *testing.T) {
	f := newFixture(t)
	f.createConfigurations()
	rotators := make([]*Rotator, 4)
	for i := range rotators {
		rotators[i] = f.rotator()
	}
	concurrently := func() {
		t.Helper()
		start := make(chan struct{})
		errs := make([]error, len(rotators))
		var wg sync.WaitGroup
		for i, r := range rotators {
			wg.Go(func() {
				<-start
				errs[i] = r.Ensure(ctx(t))
			})
		}
		close(start)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		for _, r := range rotators {
			f.assertConsistent(r)
		}
	}

	concurrently()
	ca := certs(t, f.secret().Data[KeyCABundle])[0]

	// Renewal races as well: the replicas end on one new CA, the old one after it.
	f.clock.Set(ca.NotAfter.Add(-lifetime(ca)/3 + time.Minute))
	concurrently()
	bundle := certs(t, f.secret().Data[KeyCABundle])
	if len(bundle) != 2 || bundle[0].Equal(ca) || !bundle[1].Equal(ca) {
		t.Errorf("after a concurrent renewal the bundle holds %d certificates, want [new CA, old CA]", len(bundle))
	}
}

func TestTLSHandshake(t *testing.T) {
	f := newFixture(t)
	r := f.rotator(func(o *Options) { o.Now = nil }) // the handshake checks against the real clock
	f.ensure(r)
	s := f.secret()
	bundle := certs(t, s.Data[KeyCABundle])

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "admitted") }),
		TLSConfig:         &tls.Config{GetCertificate: r.GetCertificate, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })

	otherCA, err := newCA(time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name       string
		roots      *x509.CertPool
		serverName string
		wantErr    string
	}{
		{name: "by IP address", roots: pool(bundle...)},
		{name: "by Service name", roots: pool(bundle...), serverName: "trustsync-webhook." + f.ns + ".svc"},
		{name: "by a name not in the certificate", roots: pool(bundle...), serverName: "elsewhere.example", wantErr: "certificate is valid for"},
		{name: "trusting another CA", roots: pool(otherCA.cert), wantErr: "certificate signed by unknown authority"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: tt.roots, ServerName: tt.serverName, MinVersion: tls.VersionTLS12}}}
			resp, err := client.Get("https://" + ln.Addr().String() + "/")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if string(body) != "admitted" {
				t.Errorf("body %q", body)
			}
			if peer := resp.TLS.PeerCertificates; len(peer) != 1 || !bytes.Equal(pemOf(peer[0]), s.Data[KeyCert]) {
				t.Errorf("the server presented %d certificates, want only the Secret's serving certificate", len(peer))
			}
		})
	}
}

func pemOf(c *x509.Certificate) []byte { return encodeCerts(c) }

func TestBeforeFirstPass(t *testing.T) {
	f := newFixture(t)
	r := f.rotator()
	if c, err := r.GetCertificate(nil); err == nil || c != nil {
		t.Errorf("GetCertificate before Ensure: %v, %v; want an error", c, err)
	}
	if err := r.ReadyCheck(nil); err == nil {
		t.Error("ready before Ensure")
	}
	if r.NeedLeaderElection() {
		t.Error("a Rotator must run on every replica")
	}
	// Expired in memory is not ready either.
	f.ensure(r)
	f.clock.Set(served(t, r).NotAfter)
	if err := r.ReadyCheck(nil); err == nil {
		t.Error("ready with an expired certificate")
	}
}

func TestStart(t *testing.T) {
	f := newFixture(t)
	f.createConfigurations()
	r := f.rotator()
	runCtx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Start(runCtx) }()
	deadline := time.Now().Add(30 * time.Second)
	for r.ReadyCheck(nil) != nil {
		if time.Now().After(deadline) {
			t.Fatal("not ready within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.assertConsistent(r)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Start: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Start did not return after its context was done")
	}
}

func TestOptions(t *testing.T) {
	valid := func(o *Options) { o.Namespace, o.ServiceName = "ns", "svc" }
	tests := []struct {
		name    string
		change  func(*Options)
		wantErr []string // every one must appear
	}{
		{name: "defaults", change: valid},
		{name: "hosts only", change: func(o *Options) { o.Namespace, o.Hosts = "ns", []string{"10.0.0.1", "::1", "webhook.example"} }},
		{name: "no namespace", change: func(o *Options) { o.ServiceName = "svc" }, wantErr: []string{"Options.Namespace"}},
		{name: "no names", change: func(o *Options) { o.Namespace = "ns" }, wantErr: []string{"Options.ServiceName: required"}},
		{
			name: "every problem at once",
			change: func(o *Options) {
				o.Namespace, o.ServiceName, o.Hosts = "ns", "Svc", []string{"ok.example", "not a host"}
			},
			wantErr: []string{`Options.ServiceName: "Svc"`, `Options.Hosts[1]: "not a host" is neither an IP address nor a DNS name`},
		},
		{name: "bad configuration name", change: func(o *Options) { valid(o); o.ValidatingWebhookConfigurations = []string{"ok", "Bad_Name"} }, wantErr: []string{"Options.ValidatingWebhookConfigurations[1]"}},
		{name: "certificate outlives the CA", change: func(o *Options) { valid(o); o.CAValidity, o.CertValidity = time.Hour, 2*time.Hour }, wantErr: []string{"Options.CertValidity"}},
		{name: "checks too rare", change: func(o *Options) { valid(o); o.CertValidity, o.CheckInterval = 3*time.Hour, time.Hour }, wantErr: []string{"Options.CheckInterval"}},
		{name: "negative check interval", change: func(o *Options) { valid(o); o.CheckInterval = -time.Second }, wantErr: []string{"Options.CheckInterval"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o Options
			tt.change(&o)
			r, err := New(env.Client, o)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				d := DefaultOptions()
				if r.opts.SecretName != d.SecretName || r.opts.CAValidity != 43800*time.Hour || r.opts.CertValidity != 90*24*time.Hour || r.opts.CheckInterval != 10*time.Minute || r.opts.Now == nil {
					t.Errorf("defaults not applied: %+v", r.opts)
				}
				return
			}
			if err == nil {
				t.Fatalf("New accepted %+v", o)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	if _, err := New(nil, Options{Namespace: "ns", ServiceName: "svc"}); err == nil {
		t.Error("New accepted a nil client")
	}
}

func TestNamesMatch(t *testing.T) {
	ca, err := newCA(time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	issued := newNames([]string{"b.example", "a.example"}, []net.IP{net.ParseIP("127.0.0.1")})
	leaf, err := newServingCert(ca, issued, time.Now(), 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		names names
		want  bool
	}{
		{"same, other order, duplicates", newNames([]string{"a.example", "b.example", "a.example"}, []net.IP{net.ParseIP("127.0.0.1").To16()}), true},
		{"a name more", newNames([]string{"a.example", "b.example", "c.example"}, []net.IP{net.ParseIP("127.0.0.1")}), false},
		{"a name less", newNames([]string{"a.example"}, []net.IP{net.ParseIP("127.0.0.1")}), false},
		{"another IP", newNames([]string{"a.example", "b.example"}, []net.IP{net.ParseIP("127.0.0.2")}), false},
		{"no IP", newNames([]string{"a.example", "b.example"}, nil), false},
	}
	for _, tt := range tests {
		if got := tt.names.matches(leaf.cert); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
	if !leaf.cert.NotAfter.Equal(ca.cert.NotAfter) {
		t.Errorf("the serving certificate ends %s, its CA %s: want it cut to the CA's end", leaf.cert.NotAfter, ca.cert.NotAfter)
	}
}

// clientCert is a certificate of the Secret's CA for the names of its serving
// certificate, but for client authentication only.
func clientCert(t *testing.T, data map[string][]byte) (certPEM, keyPEM []byte) {
	t.Helper()
	ca, err := parsePair(data[KeyCABundle], data[KeyCAKey])
	if err != nil {
		t.Fatal(err)
	}
	key, err := newKey()
	if err != nil {
		t.Fatal(err)
	}
	serial, err := newSerial()
	if err != nil {
		t.Fatal(err)
	}
	leaf := certs(t, data[KeyCert])[0]
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		NotBefore:    ca.cert.NotBefore,
		NotAfter:     ca.cert.NotBefore.Add(90 * 24 * time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		DNSNames:     leaf.DNSNames,
		IPAddresses:  leaf.IPAddresses,
	}
	pair, err := sign(tmpl, ca.cert, key, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err = pair.keyPEM()
	if err != nil {
		t.Fatal(err)
	}
	return pair.certPEM(), keyPEM
}
