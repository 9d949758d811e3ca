package authbridge

import (
	"slices"
	"strings"
	"testing"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

func TestIsTrustsyncImage(t *testing.T) {
	for image, want := range map[string]bool{
		"ghcr.io/trustsync/trustsync:latest":          true,
		"ghcr.io/trustsync/trustsync@sha256:abc":      true,
		"registry.local:5000/mirror/trustsync:v1.2.3": true,
		"trustsync": true,
		"ghcr.io/kagenti/kagenti-extensions/authbridge:latest":      false,
		"ghcr.io/kagenti/kagenti-extensions/authbridge-lite:latest": false,
		"registry.local:5000/trustsync-fork:v1":                     false,
		"ghcr.io/trustsync/trustsync-controller:latest":             false,
	} {
		if got := IsTrustsyncImage(image); got != want {
			t.Errorf("IsTrustsyncImage(%q) = %v, want %v", image, got, want)
		}
	}
}

// TestProxyContainerCommand: trustsync's image runs the `trustsync authbridge`
// subcommand (--lite for lite agents); upstream's images keep their entrypoint.
func TestProxyContainerCommand(t *testing.T) {
	for _, tt := range []struct {
		name        string
		full, lite  string
		mode        agentv1.AuthBridgeMode
		wantCommand []string
	}{
		{"trustsync proxy", gitopsv1.DefaultAuthBridgeImage, gitopsv1.DefaultAuthBridgeLiteImage, agentv1.AuthBridgeProxySidecar, []string{"/usr/local/bin/trustsync", "authbridge"}},
		{"trustsync lite", gitopsv1.DefaultAuthBridgeImage, gitopsv1.DefaultAuthBridgeLiteImage, agentv1.AuthBridgeLite, []string{"/usr/local/bin/trustsync", "authbridge", "--lite"}},
		{"upstream proxy", gitopsv1.UpstreamAuthBridgeImage, gitopsv1.UpstreamAuthBridgeLiteImage, agentv1.AuthBridgeProxySidecar, nil},
		{"upstream lite", gitopsv1.UpstreamAuthBridgeImage, gitopsv1.UpstreamAuthBridgeLiteImage, agentv1.AuthBridgeLite, nil},
		{"trustsync lite with the TLS bridge", gitopsv1.DefaultAuthBridgeImage, gitopsv1.DefaultAuthBridgeLiteImage, agentv1.AuthBridgeLite, []string{"/usr/local/bin/trustsync", "authbridge", "--lite"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := gitopsv1.DefaultPlatform()
			p.Images.AuthBridge, p.Images.AuthBridgeLite = tt.full, tt.lite
			bridge := strings.Contains(tt.name, "TLS bridge")
			c := proxyContainer(InjectInput{Platform: p, Settings: Settings{Mode: tt.mode, TLSBridge: bridge}}, nil, nil)
			if want := map[bool]string{false: tt.full, true: tt.lite}[tt.mode == agentv1.AuthBridgeLite]; c.Image != want {
				t.Errorf("image %s, want %s", c.Image, want)
			}
			if !slices.Equal(c.Command, tt.wantCommand) {
				t.Errorf("command %q, want %q", c.Command, tt.wantCommand)
			}
			if !slices.Equal(c.Args, []string{"--config", "/etc/authbridge/config.yaml"}) {
				t.Errorf("args %q: the same --config for every image", c.Args)
			}
		})
	}
}
