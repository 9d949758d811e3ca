package v1alpha1

import (
	"slices"
	"strings"
	"testing"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
)

func TestParsePlatform(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		check   func(t *testing.T, p *Platform)
		wantErr []string
		// notInErr must not appear in the error (secrets it refuses).
		notInErr []string
	}{
		{
			name: "empty document gives the defaults",
			doc:  "apiVersion: gitops.trustsync.dev/v1alpha1\nkind: Platform\n",
			check: func(t *testing.T, p *Platform) {
				if p.TrustDomain != "localtest.me" || p.Namespace != "trustsync-system" || p.Keycloak.Realm != "kagenti" {
					t.Errorf("defaults not applied: %+v", p)
				}
				if !p.SPIREEnabled() || !p.InjectionEnabled() || p.FeatureGates.InjectTools || !p.TokenExchangeEnabled() {
					t.Error("gate defaults")
				}
				if p.Issuer() != "http://keycloak-service.keycloak.svc:8080/realms/kagenti" {
					t.Errorf("issuer %s", p.Issuer())
				}
			},
		},
		{
			name: "the issue's example",
			doc: `apiVersion: gitops.trustsync.dev/v1alpha1
kind: Platform
trustDomain: example.org
keycloak: {url: "http://kc.keycloak.svc:8080", realm: agents}
featureGates: {globalEnabled: false, injectTools: true}
authbridgeConfig: {enabled: true}
spire: {enabled: false}
images: {authbridge: registry.example/authbridge:v1}
`,
			check: func(t *testing.T, p *Platform) {
				if p.TrustDomain != "example.org" || p.InjectionEnabled() || !p.FeatureGates.InjectTools || p.SPIREEnabled() || !p.AuthbridgeConfig.Enabled {
					t.Errorf("%+v", p)
				}
				if p.Images.AuthBridge != "registry.example/authbridge:v1" || p.Images.ProxyInit != DefaultProxyInitImage {
					t.Errorf("images %+v", p.Images)
				}
				if p.Keycloak.PublicURL != "http://kc.keycloak.svc:8080" {
					t.Errorf("publicURL defaults to url, got %q", p.Keycloak.PublicURL)
				}
			},
		},
		{
			name: "families default to kagenti",
			doc:  "apiVersion: gitops.trustsync.dev/v1alpha1\nkind: Platform\n",
			check: func(t *testing.T, p *Platform) {
				if !slices.Equal(p.Families, []string{"kagenti"}) || p.PlatformFamily() != agentv1.Kagenti || p.FamilyEnabled(agentv1.Rossoctl) {
					t.Errorf("families %v", p.Families)
				}
			},
		},
		{
			name: "both families, rossoctl first",
			doc:  "apiVersion: gitops.trustsync.dev/v1alpha1\nkind: Platform\nfamilies: [rossoctl, kagenti]\n",
			check: func(t *testing.T, p *Platform) {
				if !slices.Equal(p.EnabledFamilies(), []agentv1.Family{agentv1.Rossoctl, agentv1.Kagenti}) || p.PlatformFamily() != agentv1.Rossoctl {
					t.Errorf("families %v", p.EnabledFamilies())
				}
			},
		},
		{
			name:    "an unknown family is an error",
			doc:     "apiVersion: gitops.trustsync.dev/v1alpha1\nkind: Platform\nfamilies: [kagenti, rosoctl]\n",
			wantErr: []string{`families[1]: "rosoctl" is not a family; families are kagenti, rossoctl`},
		},
		{
			name:    "a family listed twice is an error",
			doc:     "apiVersion: gitops.trustsync.dev/v1alpha1\nkind: Platform\nfamilies: [rossoctl, rossoctl]\n",
			wantErr: []string{`families[1]: "rossoctl" is listed twice`},
		},
		{
			name:    "unknown field names the file",
			doc:     "apiVersion: gitops.trustsync.dev/v1alpha1\nkind: Platform\ntrustdomain: x\n",
			wantErr: []string{`platform.yaml: `, `unknown field "trustdomain"`},
		},
		{
			name: "every invalid field is reported",
			doc: `apiVersion: gitops.trustsync.dev/v1alpha1
kind: Platform
namespace: Not_A_Label
trustDomain: "Example.ORG"
keycloak: {url: "keycloak:8080", clientAuthType: password}
defaults: {authBridgeMode: sidecar, allowedEgressEnforcement: [iptables]}
spire: {socketPath: /run/spire.sock}
`,
			wantErr: []string{
				"platform.yaml: defaults.allowedEgressEnforcement[0]",
				"platform.yaml: defaults.authBridgeMode",
				"platform.yaml: keycloak.clientAuthType",
				"platform.yaml: keycloak.publicURL",
				"platform.yaml: keycloak.url",
				"platform.yaml: namespace",
				"platform.yaml: spire.socketPath",
				"platform.yaml: trustDomain",
			},
		},
		{
			name:    "a duplicate key is an error, not the last one winning",
			doc:     "apiVersion: gitops.trustsync.dev/v1alpha1\nkind: Platform\ntrustDomain: a.org\ntrustDomain: b.org\n",
			wantErr: []string{"platform.yaml: ", `"trustDomain" already set`},
		},
		{
			name:    "a second document is an error",
			doc:     "apiVersion: gitops.trustsync.dev/v1alpha1\nkind: Platform\n---\napiVersion: gitops.trustsync.dev/v1alpha1\nkind: Platform\ntrustDomain: b.org\n",
			wantErr: []string{"platform.yaml: holds 2 YAML documents"},
		},
		{
			name:    "remote bases are refused",
			doc:     "apiVersion: gitops.trustsync.dev/v1alpha1\nkind: Platform\nkustomize: {allowRemoteBases: true}\n",
			wantErr: []string{"platform.yaml: kustomize.allowRemoteBases: remote bases are not supported"},
		},
		{
			name: "limits take Kubernetes quantities and durations",
			doc:  "apiVersion: gitops.trustsync.dev/v1alpha1\nkind: Platform\nlimits: {fileSize: 1Mi, renderTimeout: 30s, objects: 10}\n",
			check: func(t *testing.T, p *Platform) {
				if p.Limits.FileBytes() != 1<<20 || p.Limits.RenderDeadline().String() != "30s" || p.Limits.MaxObjects() != 10 {
					t.Errorf("limits %+v", p.Limits)
				}
				if p.Limits.RevisionBytes() != DefaultLimitRevisionSize || p.Limits.MaxYAMLDepth() != DefaultLimitYAMLDepth {
					t.Errorf("unset limits keep their defaults: %+v", p.Limits)
				}
			},
		},
		{
			name:    "limits must be positive",
			doc:     "apiVersion: gitops.trustsync.dev/v1alpha1\nkind: Platform\nlimits: {fileSize: \"-1\", files: -3, regoTimeout: -1s}\n",
			wantErr: []string{"platform.yaml: limits.fileSize: must be positive", "platform.yaml: limits.files: must be positive", "platform.yaml: limits.regoTimeout: must be positive"},
		},
		{
			name: "credentials in the Keycloak URLs are refused, without quoting them",
			doc:  "apiVersion: gitops.trustsync.dev/v1alpha1\nkind: Platform\nkeycloak: {url: \"http://admin:hunter2@kc.keycloak.svc:8080\", publicURL: \"https://kc.example/?token=hunter2\"}\n",
			wantErr: []string{
				"platform.yaml: keycloak.publicURL: \"https://kc.example/?token=[REDACTED]\" must not have a query",
				"platform.yaml: keycloak.url: \"http://kc.keycloak.svc:8080\" must not carry credentials",
			},
			notInErr: []string{"hunter2", "admin"},
		},
		{
			name:     "a password with a slash, which does not parse, is still refused as credentials",
			doc:      "apiVersion: gitops.trustsync.dev/v1alpha1\nkind: Platform\nkeycloak: {url: \"http://admin:pa/ss@kc.keycloak.svc\", publicURL: \"https://kc.example\"}\n",
			wantErr:  []string{"platform.yaml: keycloak.url: \"http://kc.keycloak.svc\" must not carry credentials"},
			notInErr: []string{"pa/ss", "admin"},
		},
		{
			name:     "a token as the Keycloak URL's user is refused",
			doc:      "apiVersion: gitops.trustsync.dev/v1alpha1\nkind: Platform\nkeycloak: {url: \"https://tok3n@kc.example\", publicURL: \"https://kc.example\"}\n",
			wantErr:  []string{"platform.yaml: keycloak.url: \"https://kc.example\" must not carry credentials"},
			notInErr: []string{"tok3n"},
		},
		{
			name:    "wrong kind",
			doc:     "apiVersion: gitops.trustsync.dev/v1alpha1\nkind: Sync\n",
			wantErr: []string{"platform.yaml: kind: must be Platform"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePlatform("platform.yaml", []byte(tt.doc))
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatal("want an error")
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error lacks %q:\n%v", w, err)
					}
				}
				for _, secret := range tt.notInErr {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error holds %q:\n%v", secret, err)
					}
				}
				if n := strings.Count(err.Error(), "\n") + 1; len(tt.wantErr) > 2 && n != len(tt.wantErr) {
					t.Errorf("got %d errors, want %d:\n%v", n, len(tt.wantErr), err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, p)
		})
	}
}

func TestLoadPlatformWithoutFileGivesDefaults(t *testing.T) {
	p, err := LoadPlatform("")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("the defaults do not validate: %v", err)
	}
}

// FuzzParsePlatform: no platform file makes ParsePlatform panic or hang, and one it
// accepts is valid, with its defaults set.
func FuzzParsePlatform(f *testing.F) {
	for _, s := range []string{
		"apiVersion: gitops.trustsync.dev/v1alpha1\nkind: Platform\ntrustDomain: example.org\n",
		"kind: Platform\nkeycloak: {url: 'http://user:pw@x', realm: r}\n",
		"limits: {fileSize: 1Ki, objects: -1}\n",
		"a: &a [*a, *a]\n",
		"---\n---\n",
		"kind: Platform\nspire: {enabled: yes}\nimages: {authbridge: 'UPPER:tag'}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePlatform("platform.yaml", data)
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("ParsePlatform accepted an invalid platform: %v", err)
		}
		if p.Namespace == "" || p.TrustDomain == "" {
			t.Fatalf("an accepted platform lacks its defaults: %+v", p)
		}
	})
}

func TestPlatformForCluster(t *testing.T) {
	hub := DefaultPlatform()
	hub.Keycloak.URL, hub.Keycloak.PublicURL = "http://keycloak.hub", "https://keycloak.example.org"
	off := false
	for _, c := range []struct {
		name  string
		over  *ClusterPlatform
		check func(p *Platform) string
	}{
		{"none", nil, func(p *Platform) string {
			if p.TrustDomain != hub.TrustDomain || p.Keycloak.URL != hub.Keycloak.URL {
				return "changed the hub's platform"
			}
			return ""
		}},
		{"trust domain and Keycloak", &ClusterPlatform{TrustDomain: "prod.example.org", Keycloak: &ClusterKeycloak{URL: "https://kc.prod", Realm: "prod"}}, func(p *Platform) string {
			if p.TrustDomain != "prod.example.org" || p.Keycloak.URL != "https://kc.prod" || p.Keycloak.Realm != "prod" {
				return "overrides not taken"
			}
			if p.Keycloak.PublicURL != "https://keycloak.example.org" {
				return "a public URL of its own was replaced: " + p.Keycloak.PublicURL
			}
			return ""
		}},
		{"SPIRE off, gates", &ClusterPlatform{SpireEnabled: &off, FeatureGates: &FeatureGates{InjectTools: true}}, func(p *Platform) string {
			if p.SPIREEnabled() || !p.FeatureGates.InjectTools || !p.InjectionEnabled() {
				return "SPIRE or the gates not as set (unset gates keep their defaults)"
			}
			return ""
		}},
	} {
		got := hub.ForCluster(c.over)
		if msg := c.check(got); msg != "" {
			t.Errorf("%s: %s", c.name, msg)
		}
		if hub.TrustDomain != DefaultTrustDomain {
			t.Fatalf("%s: ForCluster changed its receiver", c.name)
		}
	}
}
