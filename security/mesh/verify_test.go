package mesh

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestVerify(t *testing.T) {
	root := newRoot(t, "mesh root")
	other := newRoot(t, "other root")
	inter := root.issueCA(t, "istio intermediate")
	foreign := other.issueCA(t, "foreign intermediate")
	mid := root.issueCA(t, "middle")
	deep := mid.issueCA(t, "deep intermediate")
	now := time.Now()
	expired := newCert(t, "expired", true, root, now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	leaf := newCert(t, "not a CA", false, root, now.Add(-time.Hour), now.Add(time.Hour))

	rootKey := types.NamespacedName{Namespace: RootNamespace, Name: RootSecretName}
	intKey := types.NamespacedName{Namespace: IstioNamespace, Name: DefaultIntermediateSecretName}
	good := func() *corev1.Secret { return intermediateSecret(intKey.Namespace, intKey.Name, inter) }

	tests := []struct {
		name   string
		root   *corev1.Secret
		inter  *corev1.Secret
		reason string
		secret types.NamespacedName
		key    string
	}{
		{name: "issued by the root", inter: good()},
		{name: "a deeper chain in tls.crt", inter: func() *corev1.Secret {
			s := intermediateSecret(intKey.Namespace, intKey.Name, deep)
			s.Data[KeyTLSCert] = append(bytes.Clone(deep.certPEM), mid.certPEM...)
			return s
		}()},
		{name: "issued by another root", inter: intermediateSecret(intKey.Namespace, intKey.Name, foreign), reason: ReasonFingerprintMismatch, secret: intKey, key: KeyCACert},
		{name: "ca.crt is the root but another root signed tls.crt", inter: func() *corev1.Secret {
			s := intermediateSecret(intKey.Namespace, intKey.Name, foreign)
			s.Data[KeyCACert] = root.certPEM
			return s
		}(), reason: ReasonChainInvalid, secret: intKey, key: KeyTLSCert},
		{name: "expired", inter: intermediateSecret(intKey.Namespace, intKey.Name, expired), reason: ReasonChainInvalid, secret: intKey, key: KeyTLSCert},
		{name: "not a CA", inter: intermediateSecret(intKey.Namespace, intKey.Name, leaf), reason: ReasonChainInvalid, secret: intKey, key: KeyTLSCert},
		{name: "the key of another certificate", inter: func() *corev1.Secret {
			s := good()
			s.Data[KeyTLSKey] = foreign.keyPEM
			return s
		}(), reason: ReasonKeyMismatch, secret: intKey, key: KeyTLSKey},
		{name: "no tls.key", inter: func() *corev1.Secret {
			s := good()
			delete(s.Data, KeyTLSKey)
			return s
		}(), reason: ReasonInvalidSecret, secret: intKey, key: KeyTLSKey},
		{name: "no ca.crt", inter: func() *corev1.Secret {
			s := good()
			delete(s.Data, KeyCACert)
			return s
		}(), reason: ReasonInvalidSecret, secret: intKey, key: KeyCACert},
		{name: "a private key where the certificate belongs", inter: func() *corev1.Secret {
			s := good()
			s.Data[KeyTLSCert] = inter.keyPEM
			return s
		}(), reason: ReasonInvalidSecret, secret: intKey, key: KeyTLSCert},
		{name: "garbage tls.crt", inter: func() *corev1.Secret {
			s := good()
			s.Data[KeyTLSCert] = []byte("not a certificate")
			return s
		}(), reason: ReasonInvalidSecret, secret: intKey, key: KeyTLSCert},
		{name: "the root is not a CA", root: rootSecret(rootKey.Namespace, rootKey.Name, leaf), inter: good(), reason: ReasonInvalidSecret, secret: rootKey, key: KeyTLSCert},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := tt.root
			if rs == nil {
				rs = rootSecret(rootKey.Namespace, rootKey.Name, root)
			}
			b, err := Verify(rs, tt.inter, now)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				d := b.Data()
				if len(d) != 4 {
					t.Fatalf("keys %v, want the four of cacerts", d)
				}
				if !bytes.Equal(d[KeyCACertPEM], tt.inter.Data[KeyTLSCert]) || !bytes.Equal(d[KeyCAKeyPEM], tt.inter.Data[KeyTLSKey]) || !bytes.Equal(d[KeyRootCertPEM], root.certPEM) {
					t.Errorf("ca-cert.pem, ca-key.pem, root-cert.pem are not tls.crt, tls.key, ca.crt")
				}
				if want := append(bytes.Clone(tt.inter.Data[KeyTLSCert]), root.certPEM...); !bytes.Equal(d[KeyCertChainPEM], want) {
					t.Errorf("cert-chain.pem is not tls.crt followed by ca.crt:\n%s", d[KeyCertChainPEM])
				}
				if !strings.HasPrefix(b.RootFingerprint, "sha256:") || len(b.RootFingerprint) != len("sha256:")+64 {
					t.Errorf("root fingerprint %q", b.RootFingerprint)
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify accepted it, want %s", tt.reason)
			}
			var ve *Error
			if !errors.As(err, &ve) {
				t.Fatalf("error %T %v is not an *Error", err, err)
			}
			if ve.Reason != tt.reason || ve.Secret != tt.secret || ve.Key != tt.key {
				t.Errorf("got %s on %s key %s, want %s on %s key %s (%v)", ve.Reason, ve.Secret, ve.Key, tt.reason, tt.secret, tt.key, err)
			}
			if ReasonOf(err) != tt.reason {
				t.Errorf("ReasonOf = %q", ReasonOf(err))
			}
			assertNoKeyMaterial(t, err.Error(), inter, foreign, root, leaf)
		})
	}
}

// assertNoKeyMaterial fails when a message quotes a private key, as PEM or as base64 of
// any part of its DER.
func assertNoKeyMaterial(t *testing.T, msg string, cas ...*testCA) {
	t.Helper()
	if strings.Contains(msg, "PRIVATE KEY-----") {
		t.Errorf("message quotes a PEM key: %s", msg)
	}
	for _, c := range cas {
		body := strings.Join(strings.Split(string(c.keyPEM), "\n")[1:2], "")
		if body != "" && strings.Contains(msg, body[:16]) {
			t.Errorf("message quotes key material of %q", c.cert.Subject)
		}
		raw := base64.StdEncoding.EncodeToString(c.key.D.Bytes())
		if strings.Contains(msg, raw[:16]) {
			t.Errorf("message quotes the private scalar of %q", c.cert.Subject)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	d := DefaultOptions()
	if err := d.validate(); err != nil {
		t.Fatalf("the defaults do not validate: %v", err)
	}
	tests := []struct {
		name   string
		change func(o *Options)
		want   string
	}{
		{"unknown workload kind", func(o *Options) { o.Intermediates[0].Restart[0].Kind = "StatefulSet" }, "Intermediates[0].Restart[0].Kind"},
		{"two intermediates in one namespace", func(o *Options) { o.Intermediates[1].Secret.Namespace = IstioNamespace }, "a second intermediate in namespace istio-system"},
		{"intermediate named cacerts", func(o *Options) { o.Intermediates[0].Secret.Name = CACertsSecretName }, "overwritten by the cacerts Secret"},
		{"intermediate is the root", func(o *Options) { o.Intermediates[0].Secret = o.Root }, "is the root"},
		{"bad namespace", func(o *Options) { o.Intermediates[0].RootConfigMapNamespaces = []string{"Bad_NS"} }, "RootConfigMapNamespaces[0]"},
		{"no root", func(o *Options) { o.Root.Name = "" }, "Root.Name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultOptions()
			tt.change(&o)
			err := o.validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("validate() = %v, want an error about %s", err, tt.want)
			}
		})
	}
}

func TestOptionsDefaults(t *testing.T) {
	var o Options
	o.defaults()
	if o.Root.Name != RootSecretName || len(o.Intermediates) != 2 || o.CACertsName != CACertsSecretName || o.Now == nil || o.RetryInterval <= 0 {
		t.Errorf("defaults not filled: %+v", o)
	}
	none := Options{Intermediates: []Intermediate{}}
	none.defaults()
	if len(none.Intermediates) != 0 {
		t.Errorf("an explicitly empty list of intermediates got the defaults")
	}
}
