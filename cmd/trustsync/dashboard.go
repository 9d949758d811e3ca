package main

import (
	"fmt"

	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/trustsync/trustsync/internal/app/dashboard"
)

func newDashboardCommand(k *kubeFlags) *cobra.Command {
	o := dashboard.Options{}
	var platformFile string
	var development bool
	cmd := &cobra.Command{
		Use:   "dashboard",
		Short: "Serve the sync dashboard: Syncs, drift, agents, policies, who may call whom",
		Long: `The dashboard serves the cluster's Syncs and their state, drift field by field, the
agents with their identities and conditions, the policies, and who may call whom on the
applied revisions, kept live in the browser. It reads the cluster with the kubeconfig's
identity and writes nothing. Bind it to loopback and reach it through kubectl
port-forward, or put it behind an authenticating proxy: it does not sign users in.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, cfg, err := k.serverSetup(platformFile, development)
			if err != nil {
				return err
			}
			o.Platform, o.Log = p, ctrl.Log.WithName("dashboard")
			d, err := dashboard.New(cfg, o)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "dashboard: http://%s/\n", o.Addr)
			return d.Run(ctrl.SetupSignalHandler())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Addr, "listen", "127.0.0.1:9080", "address the dashboard is served on")
	f.StringVar(&platformFile, "platform", "", "platform configuration file: trust domain and platform namespace (defaults apply when omitted)")
	f.BoolVar(&development, "log-development", false, "human-readable logs")
	return cmd
}
