package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/trustsync/trustsync/manifest"
)

// Keys of the Secret.
const (
	KeyCABundle = "ca.crt" // the current CA, then the previous one while it is valid
	KeyCAKey    = "ca.key"
	KeyCert     = corev1.TLSCertKey
	KeyKey      = corev1.TLSPrivateKeyKey
)

// LabelName and LabelValue mark the Secret.
const (
	LabelName  = "app.kubernetes.io/name"
	LabelValue = "trustsync"
)

const (
	// maxAttempts bounds the re-reads after another replica wrote the same object first.
	maxAttempts = 5
	// firstRetry is the first wait after a failed pass; it doubles up to CheckInterval.
	firstRetry = time.Second
	// clusterDomain completes the Service's fully qualified name.
	clusterDomain = "cluster.local"
)

// Options configure a Rotator.
type Options struct {
	// Namespace of the Secret and the Service.
	Namespace string
	// SecretName is the Secret holding ca.crt, ca.key, tls.crt and tls.key.
	SecretName string
	// ServiceName gives the serving certificate the names <svc>, <svc>.<ns>,
	// <svc>.<ns>.svc and <svc>.<ns>.svc.cluster.local.
	ServiceName string
	// Hosts are further DNS names or IP addresses of the serving certificate.
	Hosts []string
	// MutatingWebhookConfigurations and ValidatingWebhookConfigurations are the
	// configurations whose every webhook's clientConfig.caBundle is kept equal to the CA
	// bundle. One that does not exist yet is skipped until a later pass finds it.
	MutatingWebhookConfigurations   []string
	ValidatingWebhookConfigurations []string
	// CAValidity and CertValidity are the lifetimes of a new CA and serving certificate.
	// Each is renewed once less than a third of its lifetime is left.
	CAValidity   time.Duration
	CertValidity time.Duration
	// CheckInterval is the time between two passes of Start.
	CheckInterval time.Duration
	// Now is the clock; tests move it.
	Now func() time.Time
}

// DefaultOptions returns the defaults: Secret trustsync-webhook-tls, a CA for five
// years, serving certificates for 90 days, a check every ten minutes.
func DefaultOptions() Options {
	return Options{
		SecretName:    "trustsync-webhook-tls",
		CAValidity:    5 * 365 * 24 * time.Hour,
		CertValidity:  90 * 24 * time.Hour,
		CheckInterval: 10 * time.Minute,
		Now:           time.Now,
	}
}

func (o *Options) defaults() {
	d := DefaultOptions()
	if o.SecretName == "" {
		o.SecretName = d.SecretName
	}
	if o.CAValidity == 0 {
		o.CAValidity = d.CAValidity
	}
	if o.CertValidity == 0 {
		o.CertValidity = d.CertValidity
	}
	if o.CheckInterval == 0 {
		o.CheckInterval = d.CheckInterval
	}
	if o.Now == nil {
		o.Now = d.Now
	}
}

// validate reports every problem at once and returns the serving certificate's names.
func (o *Options) validate() (names, error) {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("webhook certs: Options.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	for _, p := range validation.IsDNS1123Label(o.Namespace) {
		bad("Namespace", "%q: %s", o.Namespace, p)
	}
	for _, p := range validation.IsDNS1123Subdomain(o.SecretName) {
		bad("SecretName", "%q: %s", o.SecretName, p)
	}
	var dns []string
	var ips []net.IP
	if o.ServiceName != "" {
		for _, p := range validation.IsDNS1035Label(o.ServiceName) {
			bad("ServiceName", "%q: %s", o.ServiceName, p)
		}
		svc, ns := o.ServiceName, o.Namespace
		dns = append(dns, svc, svc+"."+ns, svc+"."+ns+".svc", svc+"."+ns+".svc."+clusterDomain)
	}
	for i, h := range o.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			ips = append(ips, ip)
			continue
		}
		if p := validation.IsDNS1123Subdomain(h); len(p) > 0 {
			bad(fmt.Sprintf("Hosts[%d]", i), "%q is neither an IP address nor a DNS name: %s", h, p[0])
			continue
		}
		dns = append(dns, h)
	}
	if o.ServiceName == "" && len(o.Hosts) == 0 {
		bad("ServiceName", "required unless Hosts names the server")
	}
	for i, name := range o.MutatingWebhookConfigurations {
		for _, p := range validation.IsDNS1123Subdomain(name) {
			bad(fmt.Sprintf("MutatingWebhookConfigurations[%d]", i), "%q: %s", name, p)
		}
	}
	for i, name := range o.ValidatingWebhookConfigurations {
		for _, p := range validation.IsDNS1123Subdomain(name) {
			bad(fmt.Sprintf("ValidatingWebhookConfigurations[%d]", i), "%q: %s", name, p)
		}
	}
	if o.CAValidity < 0 {
		bad("CAValidity", "%s is negative", o.CAValidity)
	}
	if o.CertValidity < 0 || o.CertValidity > o.CAValidity {
		bad("CertValidity", "%s must be positive and at most CAValidity (%s)", o.CertValidity, o.CAValidity)
	}
	// Between two checks the certificate must not leave its renewal window unseen.
	if o.CheckInterval < 0 || o.CheckInterval >= o.CertValidity/renewalFraction {
		bad("CheckInterval", "%s must be positive and less than a third of CertValidity (%s)", o.CheckInterval, o.CertValidity)
	}
	return newNames(dns, ips), errors.Join(errs...)
}

// Rotator keeps the webhook's CA and serving certificate in a Secret, renews them, keeps
// the webhook configurations trusting the CA, and serves the current pair. It runs on
// every replica (no leader election): each one needs the pair in memory.
type Rotator struct {
	client         client.Client
	opts           Options
	names          names
	secret         manifest.Ref
	configurations []configuration
	loaded         atomic.Pointer[loaded]
}

// loaded is the pair in memory and the PEM it came from.
type loaded struct {
	cert    *tls.Certificate
	certPEM []byte
}

// New returns a Rotator. c must read directly from the API server: a cache would let
// replicas decide on stale Secrets, and the Rotator must work before any cache syncs.
func New(c client.Client, o Options) (*Rotator, error) {
	if c == nil {
		return nil, errors.New("webhook certs: a client is required")
	}
	o.defaults()
	n, err := o.validate()
	if err != nil {
		return nil, err
	}
	r := &Rotator{
		client: c,
		opts:   o,
		names:  n,
		secret: manifest.Ref{Kind: "Secret", Namespace: o.Namespace, Name: o.SecretName},
	}
	for _, name := range o.MutatingWebhookConfigurations {
		r.configurations = append(r.configurations, mutating(name))
	}
	for _, name := range o.ValidatingWebhookConfigurations {
		r.configurations = append(r.configurations, validating(name))
	}
	return r, nil
}

// NeedLeaderElection is false: every replica serves, so every replica needs the pair.
func (r *Rotator) NeedLeaderElection() bool { return false }

// Start runs a pass at once and then every CheckInterval until ctx is done. A failed pass
// is retried sooner, waiting from one second doubling up to CheckInterval; failures are
// logged, and ReadyCheck tells whether a pair is served.
func (r *Rotator) Start(ctx context.Context) error {
	logger := log.FromContext(ctx).WithValues("secret", r.secret.String())
	retry := min(firstRetry, r.opts.CheckInterval)
	for {
		wait := r.opts.CheckInterval
		if err := r.Ensure(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			wait = retry
			retry = min(2*retry, r.opts.CheckInterval)
			logger.Error(err, "keeping the webhook serving certificate", "retryIn", wait)
		} else {
			retry = min(firstRetry, r.opts.CheckInterval)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// Ensure makes one pass: it reads the Secret; creates or renews the CA and the serving
// certificate when missing, unusable, not naming the hosts, or in the last third of
// their life; writes the Secret; puts the CA bundle into the webhook configurations; and
// loads the pair. The new pair is served only once every existing configuration trusts
// its CA.
func (r *Rotator) Ensure(ctx context.Context) error {
	data, err := r.ensureSecret(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range r.configurations {
		if err := r.trust(ctx, c, data[KeyCABundle]); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return r.load(ctx, data)
}

// GetCertificate serves the current pair; it is tls.Config.GetCertificate.
func (r *Rotator) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	l := r.loaded.Load()
	if l == nil {
		return nil, fmt.Errorf("no serving certificate loaded yet from %s", r.secret)
	}
	return l.cert, nil
}

// ReadyCheck is a healthz.Checker: ready once a pair is loaded and while it is valid.
func (r *Rotator) ReadyCheck(*http.Request) error {
	l := r.loaded.Load()
	if l == nil {
		return fmt.Errorf("no serving certificate loaded yet from %s", r.secret)
	}
	if now := r.opts.Now(); !now.Before(l.cert.Leaf.NotAfter) {
		return fmt.Errorf("the serving certificate from %s expired at %s", r.secret, l.cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// ensureSecret converges the Secret and returns its data. When another replica wrote it
// between our read and our write, the pass starts over from its content, so replicas
// agree on one CA and one serving certificate instead of overwriting each other.
func (r *Rotator) ensureSecret(ctx context.Context) (map[string][]byte, error) {
	for attempt := 1; ; attempt++ {
		data, err := r.writeSecret(ctx)
		if err == nil {
			return data, nil
		}
		if raced := apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err); raced && attempt < maxAttempts {
			continue
		}
		return nil, &manifest.Error{Object: r.secret, Err: err}
	}
}

func (r *Rotator) writeSecret(ctx context.Context) (map[string][]byte, error) {
	logger := log.FromContext(ctx).WithValues("secret", r.secret.String())
	secret := &corev1.Secret{}
	err := r.client.Get(ctx, client.ObjectKey{Namespace: r.opts.Namespace, Name: r.opts.SecretName}, secret)
	exists := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("reading: %w", err)
	}
	if exists {
		// Both are immutable; the Secret is someone else's or needs deleting by hand.
		if secret.Type != corev1.SecretTypeOpaque {
			return nil, fmt.Errorf("type is %s, want %s; delete the Secret to have it recreated", secret.Type, corev1.SecretTypeOpaque)
		}
		if secret.Immutable != nil && *secret.Immutable {
			return nil, errors.New("immutable; delete the Secret to have it recreated")
		}
	}
	p, err := r.plan(secret.Data, r.opts.Now())
	if err != nil {
		return nil, err
	}
	if exists && secret.Labels[LabelName] == LabelValue && sameData(secret.Data, p.data) {
		return p.data, nil
	}
	if !exists {
		secret = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: r.opts.Namespace, Name: r.opts.SecretName},
			Type:       corev1.SecretTypeOpaque,
		}
	}
	if secret.Labels == nil {
		secret.Labels = map[string]string{}
	}
	secret.Labels[LabelName] = LabelValue
	if secret.Data == nil {
		secret.Data = map[string][]byte{}
	}
	maps.Copy(secret.Data, p.data) // other keys are left to whoever put them there
	if exists {
		err = r.client.Update(ctx, secret)
	} else {
		err = r.client.Create(ctx, secret)
	}
	if err != nil {
		return nil, fmt.Errorf("writing: %w", err)
	}
	// Logged only once written: a replica that lost the race issued nothing.
	if p.newCA != nil {
		logger.Info("issued a new webhook CA", "serial", p.newCA.SerialNumber.Text(16), "notAfter", p.newCA.NotAfter, "previousCAs", p.previous)
	}
	if p.newCert != nil {
		logger.Info("issued a new webhook serving certificate", "serial", p.newCert.SerialNumber.Text(16), "names", r.names.String(), "notAfter", p.newCert.NotAfter)
	}
	return p.data, nil
}

func sameData(have, want map[string][]byte) bool {
	for k, v := range want {
		if !bytes.Equal(have[k], v) {
			return false
		}
	}
	return true
}

// plan is the content the Secret must have.
type plan struct {
	data     map[string][]byte
	newCA    *x509.Certificate // issued by this plan, else nil
	newCert  *x509.Certificate
	previous int // CAs after the current one in the bundle
}

// plan keeps what the Secret holds where it is still good and replaces the rest.
func (r *Rotator) plan(held map[string][]byte, now time.Time) (*plan, error) {
	p := &plan{}
	bundle, _ := parseCerts(held[KeyCABundle]) // an unreadable bundle trusts nothing further
	ca, err := parsePair(held[KeyCABundle], held[KeyCAKey])
	var previous []*x509.Certificate
	if err == nil && ca.cert.IsCA && validAt(ca.cert, now) && !renewalDue(ca.cert, now) {
		previous = stillValid(bundle[1:], now, ca.cert)
	} else {
		// Servers may still present certificates of the CA being replaced: it stays in
		// the bundle until it expires.
		if len(bundle) > 0 && bundle[0].IsCA {
			previous = stillValid(bundle[:1], now, nil)
		}
		if ca, err = newCA(now, r.opts.CAValidity); err != nil {
			return nil, fmt.Errorf("issuing a CA: %w", err)
		}
		p.newCA = ca.cert
	}
	p.previous = len(previous)

	cert, err := parsePair(held[KeyCert], held[KeyKey])
	if err != nil || !isServing(cert.cert) || !issuedBy(cert.cert, ca.cert) ||
		!r.names.matches(cert.cert) || !validAt(cert.cert, now) || renewalDue(cert.cert, now) {
		if cert, err = newServingCert(ca, r.names, now, r.opts.CertValidity); err != nil {
			return nil, fmt.Errorf("issuing a serving certificate: %w", err)
		}
		p.newCert = cert.cert
	}

	caKey, err := ca.keyPEM()
	if err != nil {
		return nil, err
	}
	certKey, err := cert.keyPEM()
	if err != nil {
		return nil, err
	}
	p.data = map[string][]byte{
		KeyCABundle: encodeCerts(append([]*x509.Certificate{ca.cert}, previous...)...),
		KeyCAKey:    caKey,
		KeyCert:     cert.certPEM(),
		KeyKey:      certKey,
	}
	return p, nil
}

// stillValid are the CAs of certs valid at now, other than current.
func stillValid(certs []*x509.Certificate, now time.Time, current *x509.Certificate) []*x509.Certificate {
	var out []*x509.Certificate
	for _, c := range certs {
		if c.IsCA && validAt(c, now) && (current == nil || !c.Equal(current)) {
			out = append(out, c)
		}
	}
	return out
}

// load puts the pair into memory when it changed.
func (r *Rotator) load(ctx context.Context, data map[string][]byte) error {
	if l := r.loaded.Load(); l != nil && bytes.Equal(l.certPEM, data[KeyCert]) {
		return nil
	}
	pair, err := tls.X509KeyPair(data[KeyCert], data[KeyKey])
	if err != nil {
		return &manifest.Error{Object: r.secret, Field: "data", Err: fmt.Errorf("loading the serving certificate: %w", err)}
	}
	if pair.Leaf == nil {
		if pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return &manifest.Error{Object: r.secret, Field: "data[" + KeyCert + "]", Err: err}
		}
	}
	r.loaded.Store(&loaded{cert: &pair, certPEM: bytes.Clone(data[KeyCert])})
	log.FromContext(ctx).Info("serving the webhook certificate", "secret", r.secret.String(), "serial", pair.Leaf.SerialNumber.Text(16), "notAfter", pair.Leaf.NotAfter)
	return nil
}

// configuration is one webhook configuration whose webhooks must trust the CA bundle.
type configuration struct {
	ref manifest.Ref
	// empty returns an object to read the configuration into.
	empty func() client.Object
	// caBundles points at every webhook's clientConfig.caBundle in obj.
	caBundles func(obj client.Object) []*[]byte
}

func mutating(name string) configuration {
	return configuration{
		ref:   manifest.Ref{Group: admissionv1.GroupName, Kind: "MutatingWebhookConfiguration", Name: name},
		empty: func() client.Object { return &admissionv1.MutatingWebhookConfiguration{} },
		caBundles: func(obj client.Object) []*[]byte {
			var out []*[]byte
			for i := range obj.(*admissionv1.MutatingWebhookConfiguration).Webhooks {
				out = append(out, &obj.(*admissionv1.MutatingWebhookConfiguration).Webhooks[i].ClientConfig.CABundle)
			}
			return out
		},
	}
}

func validating(name string) configuration {
	return configuration{
		ref:   manifest.Ref{Group: admissionv1.GroupName, Kind: "ValidatingWebhookConfiguration", Name: name},
		empty: func() client.Object { return &admissionv1.ValidatingWebhookConfiguration{} },
		caBundles: func(obj client.Object) []*[]byte {
			var out []*[]byte
			for i := range obj.(*admissionv1.ValidatingWebhookConfiguration).Webhooks {
				out = append(out, &obj.(*admissionv1.ValidatingWebhookConfiguration).Webhooks[i].ClientConfig.CABundle)
			}
			return out
		},
	}
}

// trust sets every webhook's caBundle of c to bundle where it differs. The patch names
// only the caBundles (strategic merge by webhook name) and carries the resourceVersion
// read, so a concurrent change by someone else is re-read, never overwritten.
func (r *Rotator) trust(ctx context.Context, c configuration, bundle []byte) error {
	logger := log.FromContext(ctx).WithValues("configuration", c.ref.String())
	for attempt := 1; ; attempt++ {
		obj := c.empty()
		err := r.client.Get(ctx, client.ObjectKey{Name: c.ref.Name}, obj)
		if apierrors.IsNotFound(err) {
			logger.V(1).Info("not found; it gets the CA bundle on a later pass")
			return nil
		}
		if err != nil {
			return &manifest.Error{Object: c.ref, Err: fmt.Errorf("reading: %w", err)}
		}
		before := obj.DeepCopyObject().(client.Object)
		changed := 0
		for _, b := range c.caBundles(obj) {
			if !bytes.Equal(*b, bundle) && !newerBundle(*b, bundle) {
				*b = bytes.Clone(bundle)
				changed++
			}
		}
		if changed == 0 {
			return nil
		}
		err = r.client.Patch(ctx, obj, client.StrategicMergeFrom(before, client.MergeFromWithOptimisticLock{}))
		if err == nil {
			logger.Info("set the webhook CA bundle", "webhooks", changed)
			return nil
		}
		if (apierrors.IsConflict(err) || apierrors.IsNotFound(err)) && attempt < maxAttempts {
			continue
		}
		return &manifest.Error{Object: c.ref, Field: "webhooks[].clientConfig.caBundle", Err: fmt.Errorf("patching: %w", err)}
	}
}

// newerBundle reports whether have is led by a newer CA than ours and still trusts ours:
// another replica renewed the CA after this pass read the Secret. Writing ours would take
// the new CA away from the API server while that replica already serves its certificate.
func newerBundle(have, ours []byte) bool {
	h, err := parseCerts(have)
	if err != nil {
		return false
	}
	o, err := parseCerts(ours)
	if err != nil {
		return false
	}
	return h[0].IsCA && h[0].NotBefore.After(o[0].NotBefore) &&
		slices.ContainsFunc(h[1:], o[0].Equal)
}
