package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/trustsync/trustsync/internal/app/dashboard"
)

func newDashboardCommand(k *kubeFlags) *cobra.Command {
	o := dashboard.Options{}
	var platformFile string
	var development bool
	var secretFile string
	cmd := &cobra.Command{
		Use:   "dashboard",
		Short: "Serve the sync dashboard: Syncs, drift, agents, policies, who may call whom",
		Long: `The dashboard serves the cluster's Syncs and their state, drift field by field, the
agents with their identities and conditions, the policies, and who may call whom on the
applied revisions, kept live in the browser. It reads the cluster with the kubeconfig's
identity and, by default, writes nothing: bind it to loopback and reach it through
kubectl port-forward.

With --oidc-issuer users sign in with OpenID Connect (Keycloak, Dex, any provider; the
dashboard is a confidential client with redirect URI <public-url>/auth/callback). With
--actions as well, a signed-in user can reconcile, suspend and resume Syncs: each action
is sent as that user by impersonation (--oidc-prefix before the username and groups), so
Kubernetes RBAC decides, and the dashboard's identity needs the impersonate verb
(config/dashboard-actions).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, cfg, err := k.serverSetup(platformFile, development)
			if err != nil {
				return err
			}
			o.Platform, o.Log = p, ctrl.Log.WithName("dashboard")
			if o.SignIn.URL == "" {
				o.SignIn.URL = "http://" + o.Addr
			}
			if secretFile != "" {
				secret, err := os.ReadFile(secretFile)
				if err != nil {
					return fmt.Errorf("the OIDC client secret: %w", err)
				}
				o.SignIn.ClientSecret = strings.TrimSpace(string(secret))
			}
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
	f.StringVar(&o.MetricsURL, "metrics-url", "", "Prometheus-compatible query API that scrapes the sidecars (their :9091/metrics), e.g. http://prometheus.monitoring:9090: the agents page shows each agent's policy decisions")
	f.StringVar(&o.SignIn.URL, "public-url", "", "the dashboard's URL as browsers reach it (default http://<listen>)")
	f.StringVar(&o.SignIn.Issuer, "oidc-issuer", "", "OpenID provider users sign in with, e.g. https://keycloak.example.com/realms/kagenti; empty: no sign-in")
	f.StringVar(&o.SignIn.ClientID, "oidc-client-id", "trustsync-dashboard", "the dashboard's client ID at the provider")
	f.StringVar(&secretFile, "oidc-client-secret-file", "", "file holding the client's secret (never a flag: flags show in ps)")
	f.StringVar(&o.SignIn.UsernameClaim, "oidc-username-claim", "preferred_username", `ID token claim naming the user ("email" needs email_verified)`)
	f.StringVar(&o.SignIn.GroupsClaim, "oidc-groups-claim", "groups", "ID token claim listing the user's groups")
	f.StringVar(&o.SignIn.Prefix, "oidc-prefix", "oidc:", `prefix of impersonated usernames and groups, as kube-apiserver's --oidc-username-prefix; "-" for none`)
	f.BoolVar(&o.Actions, "actions", false, "let signed-in users reconcile, suspend and resume Syncs, as themselves")
	return cmd
}
