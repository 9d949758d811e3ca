package main

import (
	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/trustsync/trustsync/internal/app/webhook"
)

func newWebhookCommand(k *kubeFlags) *cobra.Command {
	o := webhook.Options{}
	var platformFile string
	var development bool
	cmd := &cobra.Command{
		Use:   "webhook",
		Short: "Serve the admission webhooks: AuthBridge injection and agent API validation",
		Long: `The webhook injects the AuthBridge sidecars into agent pods as their AgentRuntime asks,
and validates AgentRuntimes and AuthorizationPolicies. It runs its own CA, rotates the
serving certificate before expiry and keeps the webhook configurations' caBundle current;
with --cert-dir it serves a certificate cert-manager issued instead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, cfg, err := k.serverSetup(platformFile, development)
			if err != nil {
				return err
			}
			o.Platform = p
			return webhook.Run(ctrl.SetupSignalHandler(), cfg, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&platformFile, "platform", "", "platform configuration file (defaults apply when omitted)")
	f.IntVar(&o.Port, "port", 9443, "port the webhooks are served on")
	f.StringVar(&o.CertDir, "cert-dir", "", "directory with tls.crt and tls.key (cert-manager); empty runs trustsync's own CA")
	f.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8080", `metrics address; "0" turns it off`)
	f.StringVar(&o.HealthAddr, "health-probe-bind-address", ":8081", `health probe address; "0" turns it off`)
	f.BoolVar(&development, "log-development", false, "human-readable logs")
	return cmd
}
