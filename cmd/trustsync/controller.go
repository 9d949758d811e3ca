package main

import (
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/trustsync/trustsync/internal/app/controller"
)

func newControllerCommand(k *kubeFlags) *cobra.Command {
	o := controller.Options{}
	var platformFile string
	var development bool
	var qps float32
	var burst int
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Run the GitOps engine: fetch GitSources, apply Syncs, receive pushes",
		Long: `The controller fetches every GitSource, renders and applies every Sync all or nothing,
prunes what left Git, detects and corrects drift, and reports each revision's outcome on
its commit. Push webhooks on the receiver address trigger an immediate fetch.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, cfg, err := k.serverSetup(platformFile, development)
			if err != nil {
				return err
			}
			o.Platform = p
			cfg.QPS, cfg.Burst = qps, burst
			return controller.Run(ctrl.SetupSignalHandler(), cfg, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&platformFile, "platform", "", "platform configuration file (defaults apply when omitted)")
	f.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8080", `metrics address; "0" turns it off`)
	f.StringVar(&o.HealthAddr, "health-probe-bind-address", ":8081", `health probe address; "0" turns it off`)
	f.StringVar(&o.ReceiverAddr, "receiver-bind-address", ":9292", `push webhook receiver address; "0" turns it off`)
	f.StringVar(&o.DashboardAddr, "dashboard-addr", "0", `address the sync dashboard is served on, read-only, on every replica (see trustsync dashboard); "0" turns it off`)
	f.StringVar(&o.DashboardURL, "dashboard-url", "", "public URL of the dashboard, e.g. https://trustsync.example.com: commit statuses without spec.commitStatus.targetURL link to the Sync's page there")
	f.StringVar(&o.PprofAddr, "pprof-bind-address", "0", `Go runtime profiles at /debug/pprof/, unauthenticated (bind to loopback); "0" turns it off`)
	f.BoolVar(&o.LeaderElection, "leader-elect", false, "elect a leader among replicas")
	f.StringVar(&o.WatchLabelSelector, "watch-label-selector", "", `run as a shard: only GitSources and Syncs with matching labels, e.g. "sharding.fluxcd.io/key=shard1"; the main set runs "!sharding.fluxcd.io/key" and alone runs the run-time controllers (docs/fleet.md)`)
	f.StringVar(&o.CacheDir, "cache-dir", filepath.Join(os.TempDir(), "trustsync"), "directory for Git clones and checked-out revisions")
	f.IntVar(&o.Concurrency, "concurrency", 8, "parallel API requests of one Sync")
	f.IntVar(&o.MaxConcurrentReconciles, "concurrent", 4, "Syncs reconciled at once")
	f.StringVar(&o.WorkloadAPI, "workload-api", os.Getenv("SPIFFE_ENDPOINT_SOCKET"), "SPIFFE Workload API socket for the controller's own X.509-SVID (AgentCards fetched over mTLS); empty fetches over HTTP")
	f.BoolVar(&development, "log-development", false, "human-readable logs")
	// A first sync sends a dry-run and an apply per object; client-go's default of 20
	// requests a second would stretch 1,000 agents over ten minutes. The API server's
	// priority and fairness still protects it.
	f.Float32Var(&qps, "kube-api-qps", 100, "requests per second to the Kubernetes API")
	f.IntVar(&burst, "kube-api-burst", 300, "burst of requests to the Kubernetes API")
	return cmd
}
