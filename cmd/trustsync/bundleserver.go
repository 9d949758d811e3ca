package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/trustsync/trustsync/internal/app/bundleserver"
)

func newBundleServerCommand(k *kubeFlags) *cobra.Command {
	o := bundleserver.Options{}
	var platformFile, workloadAPI, certFile, keyFile, bundleFile string
	var development bool
	cmd := &cobra.Command{
		Use:   "bundle-server",
		Short: "Serve each workload its OPA bundle, over mutual TLS with X.509-SVIDs",
		Long: `The bundle server watches AuthorizationPolicies and serves GET /bundles?spiffe=<td>/ns/<ns>/sa/<sa>
(the reference bundle-service API) over mutual TLS: a caller presents its X.509-SVID and
gets only its own identity's bundle. Its own SVID and the trust bundle come from the
SPIFFE Workload API (--workload-api, default $SPIFFE_ENDPOINT_SOCKET), or from files.
Health, readiness and metrics are served without TLS on --probe-bind-address.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, cfg, err := k.serverSetup(platformFile, development)
			if err != nil {
				return err
			}
			td, err := spiffeid.TrustDomainFromString(p.TrustDomain)
			if err != nil {
				return fmt.Errorf("platform trustDomain: %w", err)
			}
			ctx := ctrl.SetupSignalHandler()
			o.PlatformNamespace, o.TrustDomain, o.Log = p.Namespace, td, ctrl.Log.WithName("bundle-server")
			o.Families = p.EnabledFamilies()
			closeSource, err := svidSources(ctx, &o, td, workloadAPI, certFile, keyFile, bundleFile)
			if err != nil {
				return err
			}
			defer closeSource()
			return bundleserver.Run(ctx, cfg, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&platformFile, "platform", "", "platform configuration file: trust domain and platform namespace (defaults apply when omitted)")
	f.StringVar(&o.Addr, "bind-address", ":8443", "address bundles are served on (mutual TLS)")
	f.StringVar(&o.ProbeAddr, "probe-bind-address", ":8081", `address of /healthz, /readyz and /metrics (plain HTTP); "0" turns it off`)
	f.StringVar(&workloadAPI, "workload-api", os.Getenv("SPIFFE_ENDPOINT_SOCKET"), "SPIFFE Workload API socket, e.g. unix:///spiffe-workload-api/spire-agent.sock")
	f.StringVar(&certFile, "svid-cert", "", "X.509-SVID certificate chain (PEM), instead of the Workload API; files are read once, at start (SVIDs rotate through the Workload API only)")
	f.StringVar(&keyFile, "svid-key", "", "private key of --svid-cert (PEM)")
	f.StringVar(&bundleFile, "trust-bundle", "", "trust bundle CA certificates (PEM), with --svid-cert")
	f.BoolVar(&development, "log-development", false, "human-readable logs")
	return cmd
}

// svidSources sets the server's SVID and trust bundle sources from files, or else from
// the Workload API; the returned function releases them.
func svidSources(ctx context.Context, o *bundleserver.Options, td spiffeid.TrustDomain, workloadAPI, certFile, keyFile, bundleFile string) (func(), error) {
	if certFile != "" || keyFile != "" || bundleFile != "" {
		if certFile == "" || keyFile == "" || bundleFile == "" {
			return nil, errors.New("--svid-cert, --svid-key and --trust-bundle go together")
		}
		svid, err := x509svid.Load(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("--svid-cert: %w", err)
		}
		bundle, err := x509bundle.Load(td, bundleFile)
		if err != nil {
			return nil, fmt.Errorf("--trust-bundle: %w", err)
		}
		o.SVID, o.Bundles = svid, bundle
		return func() {}, nil
	}
	if workloadAPI == "" {
		return nil, errors.New("no SVID: give --workload-api (or set SPIFFE_ENDPOINT_SOCKET), or --svid-cert, --svid-key and --trust-bundle")
	}
	src, err := workloadapi.NewX509Source(ctx, workloadapi.WithClientOptions(workloadapi.WithAddr(workloadAPI)))
	if err != nil {
		return nil, fmt.Errorf("SPIFFE Workload API %s: %w", workloadAPI, err)
	}
	o.SVID, o.Bundles = src, src
	return func() { _ = src.Close() }, nil
}
