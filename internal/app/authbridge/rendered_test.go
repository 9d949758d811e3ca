package authbridge

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"go.yaml.in/yaml/v3"

	"github.com/trustsync/trustsync/dataplane/files"
	"github.com/trustsync/trustsync/internal/x509test"
	"github.com/trustsync/trustsync/security/authbridge/sidecarconfig"
)

// TestRenderedConfigsRun takes every proxy-sidecar config.yaml trustsync renders for
// the examples (the renderer's golden files) and runs it unchanged through what the
// sidecar does before it binds: load, validate, and build both pipelines with every
// plugin constructed.
func TestRenderedConfigsRun(t *testing.T) {
	goldens, err := filepath.Glob("../../../renderers/testdata/golden/*.yaml")
	if err != nil || len(goldens) == 0 {
		t.Fatalf("no golden renders: %v", err)
	}
	ca := x509test.NewSPIFFECA(t, "example.org")
	id := spiffeid.RequireFromString("spiffe://example.org/ns/demo/sa/assistant")
	svid := ca.SVID(t, id.String(), x509test.Options{})
	ran, bridged, lite := 0, 0, 0
	type object struct {
		Kind     string                           `yaml:"kind"`
		Metadata struct{ Name, Namespace string } `yaml:"metadata"`
		Data     map[string]string                `yaml:"data"`
		Spec     struct {
			AuthBridgeMode string                `yaml:"authBridgeMode"`
			TargetRef      struct{ Name string } `yaml:"targetRef"`
		} `yaml:"spec"`
	}
	for _, g := range goldens {
		data, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		var objs []object
		for dec := yaml.NewDecoder(bytes.NewReader(data)); ; {
			var o object
			if err := dec.Decode(&o); err != nil {
				break
			}
			objs = append(objs, o)
		}
		// The workloads whose AgentRuntime asks for the lite image: their sidecar runs
		// with --lite.
		liteConfigs := map[string]bool{}
		for _, o := range objs {
			if o.Kind == "AgentRuntime" && o.Spec.AuthBridgeMode == "lite" {
				liteConfigs[o.Metadata.Namespace+"/authbridge-config-"+o.Spec.TargetRef.Name] = true
			}
		}
		for _, obj := range objs {
			cfg, ok := obj.Data["config.yaml"]
			if obj.Kind != "ConfigMap" || !strings.HasPrefix(obj.Metadata.Name, "authbridge-config-") || !ok || !strings.Contains(cfg, "mode: proxy-sidecar") {
				continue
			}
			name := filepath.Base(g) + "/" + obj.Metadata.Name
			isLite := liteConfigs[obj.Metadata.Namespace+"/"+obj.Metadata.Name]
			if isLite {
				lite++
			}
			t.Run(name, func(t *testing.T) {
				file := filepath.Join(t.TempDir(), "config.yaml")
				if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
					t.Fatal(err)
				}
				// The variables the webhook gives the proxy container.
				env := map[string]string{"SPIRE_ENABLED": "true", "MTLS_MODE": "permissive"}
				l, err := load(file, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
				if err != nil {
					t.Fatalf("the data plane refuses the rendered config: %v\n%s", err, cfg)
				}
				if tb := l.resolved.TLSBridge; tb != nil {
					// The bridge, with cert-manager's Secret where the webhook mounts it.
					bridgeCA := x509test.New(t, x509test.Options{CommonName: "bridge", IsCA: true})
					dir := t.TempDir()
					for f, data := range map[string][]byte{"tls.crt": bridgeCA.CertPEM(), "tls.key": bridgeCA.KeyPEM(t), "ca.crt": bridgeCA.CertPEM()} {
						if err := os.WriteFile(filepath.Join(dir, f), data, 0o600); err != nil {
							t.Fatal(err)
						}
					}
					local := *tb
					local.CADir = dir
					br, err := newBridge(&local, prometheus.NewRegistry(), logr.Discard())
					if err != nil {
						t.Fatalf("the rendered tls_bridge does not build: %v\n%s", err, cfg)
					}
					if !br.CACert().Equal(bridgeCA.Cert) || !br.Intercepts("api.example.com:443") {
						t.Fatal("the bridge does not use the mounted CA or the default ports")
					}
					bridged++
				}
				b := &builder{reg: prometheus.NewRegistry(), log: logr.Discard(), lite: isLite}
				if l.resolved.SPIFFE != nil {
					b.identity = &workloadIdentity{id: id}
					if c := opaConfig(l.resolved); c != nil {
						bc, err := newBundleClient(c, id, staticSVID{svid}, ca.Bundle("example.org"), t.TempDir(), b.reg, logr.Discard())
						if err != nil {
							t.Fatal(err)
						}
						b.bundles = bc
					}
				}
				p, err := b.build(l.resolved)
				if err != nil {
					t.Fatalf("the rendered pipelines do not build: %v\n%s", err, cfg)
				}
				p.close()
			})
			ran++
		}
	}
	if ran == 0 {
		t.Fatal("no proxy-sidecar config.yaml in the golden renders")
	}
	if bridged == 0 || lite == 0 {
		t.Fatalf("the golden renders enable the TLS bridge in %d configs and the lite image in %d, want both", bridged, lite)
	}
}

type staticSVID struct{ svid *x509svid.SVID }

func (s staticSVID) GetX509SVID() (*x509svid.SVID, error) { return s.svid, nil }

func TestAccessLogRedacts(t *testing.T) {
	const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlc2lnbmF0dXJl"
	l := &accessLog{clean: map[string]string{}}
	for range 2 { // the second time from what the log remembers
		for _, in := range []string{"/reset/" + jwt, "/go/https://user:pa55@host", "/q/token=" + jwt} {
			if out := l.redacted(in); strings.Contains(out, jwt) || strings.Contains(out, "pa55") {
				t.Errorf("redacted(%q) = %q", in, out)
			}
		}
		if l.redacted("/hello") != "/hello" || l.redacted("planner.team-b") != "planner.team-b" {
			t.Error("plain paths and hosts are changed")
		}
	}
	for i := range 3 * accessLogClean {
		l.redacted(fmt.Sprintf("/p/%d/token=%s", i, jwt))
	}
	if len(l.clean) > accessLogClean {
		t.Errorf("%d redactions remembered, bound %d", len(l.clean), accessLogClean)
	}
}

// TestFileBound: the sidecar reads config.yaml with the bound sidecarconfig holds it to.
func TestFileBound(t *testing.T) {
	if files.MaxBytes != sidecarconfig.MaxBytes {
		t.Errorf("files.MaxBytes %d, sidecarconfig.MaxBytes %d", files.MaxBytes, sidecarconfig.MaxBytes)
	}
}
