package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/trustsync/trustsync/internal/app/authbridge"
	"github.com/trustsync/trustsync/security/authbridge/sidecarconfig"
)

func newAuthBridgeCommand() *cobra.Command {
	o := authbridge.Options{}
	var accessLog bool
	cmd := &cobra.Command{
		Use:   "authbridge --config FILE",
		Short: "Run the AuthBridge proxy sidecar, or check its configuration",
		Long: `Run the AuthBridge proxy sidecar: the data plane that enforces, on every request of the
pod, what trustsync renders — identity (SPIFFE), mutual TLS between sidecars and OPA
authorization at four decision points, fail closed. It reads the sidecar's config.yaml
(upstream AuthBridge's schema, as trustsync renders it into authbridge-config-<workload>)
and serves the reverse proxy in front of the agent, the forward proxy the agent's
HTTP_PROXY names, the transparent listener for redirected egress, /healthz and /readyz,
and /metrics, /config and /reload/status on the stats address. A change of config.yaml
or of the routes file is reloaded without dropping connections.

The check subcommand validates a configuration with the same code.

Logs are JSON on stderr (LOG_LEVEL: debug, info, warn, error); the access log is JSON
on stdout, one line per exchange, with no header value or token in it.`,
		Example: `  trustsync authbridge --config /etc/authbridge/config.yaml
  trustsync authbridge check --config config.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			o.Log = sidecarLog(cmd.ErrOrStderr())
			if accessLog {
				o.AccessLog = cmd.OutOrStdout()
			}
			return authbridge.Run(ctx, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.ConfigPath, "config", authbridge.DefaultConfigPath, "the sidecar's config.yaml")
	f.StringVar(&o.StateDir, "state-dir", authbridge.DefaultStateDir, "directory that keeps the last good policy bundle across restarts (an emptyDir)")
	f.BoolVar(&o.Lite, "lite", false, "run only the lite image's plugins (jwt-validation, token-exchange), as upstream's authbridge-lite")
	f.BoolVar(&accessLog, "access-log", true, "write the JSON access log to stdout")
	cmd.AddCommand(newAuthBridgeCheckCommand())
	return cmd
}

// sidecarLog is the sidecar's JSON log at $LOG_LEVEL (info by default).
func sidecarLog(w io.Writer) logr.Logger {
	level := slog.LevelInfo
	switch strings.ToLower(os.Getenv("LOG_LEVEL")) {
	case "debug":
		level = slog.LevelDebug
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})
	return logr.FromSlogHandler(h.WithAttrs([]slog.Attr{slog.String("binary", "trustsync-authbridge")}))
}

type authBridgeCheckOptions struct {
	config, routes, output string
}

func newAuthBridgeCheckCommand() *cobra.Command {
	o := &authBridgeCheckOptions{}
	cmd := &cobra.Command{
		Use:   "check --config FILE [--routes FILE]",
		Short: "Validate a sidecar config.yaml (and routes.yaml) and print what it resolves to",
		Long: `Check loads config.yaml as the sidecar does — environment references expanded from
this process's environment, then the YAML — applies the sidecar's rules and defaults and
prints the resolved configuration: the listeners, each direction's pipeline in order with
every plugin's effective on_error and its config with the defaults, and the warnings. With
--routes it checks a routes.yaml too. Problems go to stderr, one per line naming the file
and the field, and it exits 1.`,
		Example: `  # An agent's configuration, as the cluster has it
  kubectl get configmap authbridge-config-assistant -o jsonpath='{.data.config\.yaml}' > config.yaml
  trustsync authbridge check --config config.yaml

  # With the namespace's routes, as JSON
  trustsync authbridge check --config config.yaml --routes routes.yaml -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&o.config, "config", "", "the sidecar's config.yaml (required)")
	cmd.Flags().StringVar(&o.routes, "routes", "", "a token-exchange routes.yaml")
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	return cmd
}

// authBridgeCheck is what check prints as JSON.
type authBridgeCheck struct {
	Config   string                  `json:"config"`
	Resolved *sidecarconfig.Resolved `json:"resolved"`
	Routes   []sidecarconfig.Route   `json:"routes,omitempty"`
}

func (o *authBridgeCheckOptions) run(out io.Writer) error {
	switch o.output {
	case "text", "json":
	default:
		return fmt.Errorf("--output %q: want text or json", o.output)
	}
	if o.config == "" {
		return errors.New("--config is required")
	}
	var errs []error
	resolved, err := o.loadConfig()
	errs = append(errs, located(o.config, err)...)
	var routes []sidecarconfig.Route
	if o.routes != "" {
		data, err := readBounded(o.routes)
		if err == nil {
			routes, err = sidecarconfig.LoadRoutes(data)
		}
		errs = append(errs, located(o.routes, err)...)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if o.routes != "" && !hasPlugin(resolved.Outbound, sidecarconfig.PluginTokenExchange) {
		resolved.Warnings = append(resolved.Warnings, sidecarconfig.Warning{Message: fmt.Sprintf("%s: no token-exchange in the outbound pipeline reads the routes", o.routes)})
	}
	if o.output == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(authBridgeCheck{Config: o.config, Resolved: resolved, Routes: routes})
	}
	return writeResolved(out, o.config, resolved, o.routes, routes)
}

func (o *authBridgeCheckOptions) loadConfig() (*sidecarconfig.Resolved, error) {
	data, err := readBounded(o.config)
	if err != nil {
		return nil, err
	}
	cfg, err := sidecarconfig.Load(data, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	return cfg.Validate()
}

// readBounded reads a file, up to one byte over the sidecar's limit (so Load can say
// it is too large without holding more).
func readBounded(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, sidecarconfig.MaxBytes+1))
}

// located prefixes every problem with the file it is in, one error each.
func located(file string, err error) []error {
	var out []error
	for _, e := range flatten(err) {
		if errors.Is(e, os.ErrNotExist) {
			out = append(out, e) // the path is in the message already
			continue
		}
		out = append(out, fmt.Errorf("%s: %w", file, e))
	}
	return out
}

func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

func hasPlugin(s sidecarconfig.ResolvedStage, name string) bool {
	for _, p := range s.Plugins {
		if p.Name == name {
			return true
		}
	}
	return false
}

func writeResolved(out io.Writer, file string, r *sidecarconfig.Resolved, routesFile string, routes []sidecarconfig.Route) error {
	runBy := r.RunBy
	if r.ThisDataPlane {
		runBy += ", this data plane"
	}
	fmt.Fprintf(out, "%s: valid, mode %s (%s)\n", file, r.Mode, runBy)

	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nLISTENERS")
	l := r.Listeners
	reverse := l.ReverseProxy
	if reverse != "" {
		reverse += " -> " + l.ReverseProxyBackend
	}
	for _, row := range [][2]string{
		{"reverse proxy", reverse}, {"forward proxy", l.ForwardProxy}, {"transparent proxy", l.TransparentProxy},
		{"ext_proc", l.ExtProc}, {"ext_authz", l.ExtAuthz}, {"session API", l.SessionAPI}, {"stats", l.Stats}, {"health", l.Health},
		{"roles", strings.Join(l.Roles, ", ")}, {"skip hosts", strings.Join(l.SkipHosts, ", ")},
	} {
		if row[1] != "" {
			fmt.Fprintf(tw, "%s\t%s\n", row[0], row[1])
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, stage := range []struct {
		name string
		s    sidecarconfig.ResolvedStage
	}{{"INBOUND", r.Inbound}, {"OUTBOUND", r.Outbound}} {
		fmt.Fprintf(out, "\n%s\n", stage.name)
		if len(stage.s.Plugins) == 0 {
			fmt.Fprintln(out, "(no plugin)")
		}
		for i, p := range stage.s.Plugins {
			name := p.Name
			if p.ID != "" {
				name += " (" + p.ID + ")"
			}
			fmt.Fprintf(out, "%d. %s  on_error: %s\n", i+1, name, p.OnError)
			if p.Config == nil {
				continue
			}
			data, err := yaml.Marshal(p.Config)
			if err != nil {
				return err
			}
			for _, line := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
				fmt.Fprintf(out, "     %s\n", line)
			}
		}
		for _, off := range stage.s.Off {
			fmt.Fprintf(out, "off: %s (entry %d, left out unread)\n", off.Name, off.Index)
		}
	}

	fmt.Fprintln(out, "\nSECURITY")
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	mtls := string(r.MTLS)
	if mtls == "" {
		mtls = "plaintext (no mtls block)"
	}
	fmt.Fprintf(tw, "mtls\t%s\n", mtls)
	if s := r.SPIFFE; s != nil {
		mirror := "no SVID files"
		if s.MirrorFiles {
			mirror = "SVID files in " + s.MirrorDir
		}
		fmt.Fprintf(tw, "spiffe\t%s (%s)\n", s.Socket, mirror)
	} else {
		fmt.Fprintf(tw, "spiffe\tnone\n")
	}
	if b := r.TLSBridge; b != nil {
		fmt.Fprintf(tw, "tls bridge\tCA in %s, ports %s\n", b.CADir, strings.Trim(fmt.Sprint(b.Ports), "[]"))
	} else {
		fmt.Fprintf(tw, "tls bridge\toff\n")
	}
	if r.EgressEnforcement != "" {
		fmt.Fprintf(tw, "egress\t%s\n", r.EgressEnforcement)
	}
	if s := r.Session; s.Enabled {
		fmt.Fprintf(tw, "session\tttl %s, %d events, %d sessions\n", s.TTL, s.MaxEvents, s.MaxSessions)
	} else {
		fmt.Fprintf(tw, "session\toff\n")
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	if routesFile != "" {
		fmt.Fprintf(out, "\nROUTES (%s)\n", routesFile)
		if len(routes) == 0 {
			fmt.Fprintln(out, "(none)")
		}
		for i, rt := range routes {
			fmt.Fprintf(out, "%d. %s -> %s", i+1, rt.Host, rt.Action)
			for _, kv := range [][2]string{{"audience", rt.TargetAudience}, {"scopes", rt.TokenScopes}, {"token_url", rt.TokenURL}} {
				if kv[1] != "" {
					fmt.Fprintf(out, ", %s %q", kv[0], kv[1])
				}
			}
			fmt.Fprintln(out)
		}
	}
	if len(r.Warnings) > 0 {
		fmt.Fprintln(out, "\nWARNINGS")
		for _, w := range r.Warnings {
			fmt.Fprintf(out, "warning: %s\n", w)
		}
	}
	return nil
}
