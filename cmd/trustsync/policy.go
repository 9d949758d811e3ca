package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/renderers"
	"github.com/trustsync/trustsync/security/identity"
	"github.com/trustsync/trustsync/security/policy"
)

func newPolicyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Evaluate, test and bundle a revision's AuthorizationPolicies offline",
		Long: `The policy commands render PATH as the controller would and work on its
AuthorizationPolicies with the same code the bundle server and the previews use: the
bundle of an identity is its global, namespace and client tiers; a decision is made
fail closed (undefined is a deny).`,
	}
	cmd.AddCommand(newPolicyEvalCommand(), newPolicyTestCommand(), newPolicyBundleCommand())
	return cmd
}

// policyFlags are the flags every policy command shares.
type policyFlags struct {
	platform, root, namespace string
}

func (f *policyFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.platform, "platform", "", "platform configuration file (defaults apply when omitted)")
	cmd.Flags().StringVar(&f.root, "root", "", "root of the source tree (default: the enclosing Git work tree, else PATH)")
	cmd.Flags().StringVarP(&f.namespace, "namespace", "n", "", "namespace for namespaced objects (a Sync's targetNamespace)")
}

// revision is a rendered PATH with its policies indexed by tier.
type revision struct {
	res *renderers.Result
	set *policy.Set
	// identities by SPIFFE ID.
	identities  map[string]renderers.Identity
	trustDomain string
	limits      gitopsv1.Limits
}

func (f *policyFlags) render(path string, o renderers.Options) (*revision, error) {
	o.Namespace = f.namespace
	res, p, err := renderTree(f.platform, f.root, path, o)
	if err != nil {
		return nil, err
	}
	rev := &revision{res: res, set: policy.NewSet(p.Namespace, res.AuthorizationPolicies()), identities: map[string]renderers.Identity{}, trustDomain: p.TrustDomain, limits: p.Limits}
	for _, id := range res.Identities(p.TrustDomain) {
		rev.identities[id.ID] = id
	}
	return rev, nil
}

// party resolves a SPIFFE ID given on the command line (spiffe:// optional).
func (r *revision) party(flag, raw string) (policy.Party, identity.Workload, error) {
	w, err := r.workload(flag, raw)
	if err != nil {
		return policy.Party{}, w, err
	}
	return policy.Party{ID: w.String(), Host: r.identities[w.String()].Host}, w, nil
}

// workload reads a SPIFFE ID given on the command line, of the platform's trust domain
// only: the bundle server refuses any other (403), and no policy of the revision
// decides for it.
func (r *revision) workload(flag, raw string) (identity.Workload, error) {
	w, err := identity.Parse(raw)
	if err != nil {
		return w, fmt.Errorf("--%s: %w", flag, err)
	}
	if w.TrustDomain != r.trustDomain {
		return w, fmt.Errorf("--%s %s: trust domain %q is not the platform's (%s); the bundle server refuses it (403)", flag, raw, w.TrustDomain, r.trustDomain)
	}
	return w, nil
}

// stopped is the error of a decision stopped at a bound, located at e: the policy's
// file, object and field.
func (r *revision) stopped(e *policy.Error, pt policy.Point) error {
	if e.Name == "" {
		return fmt.Errorf("deciding %s: %w", pt, e)
	}
	for _, o := range r.res.Objects {
		if o.GetKind() == agentv1.AuthorizationPolicyKind && o.GetNamespace() == e.Namespace && o.GetName() == e.Name {
			e.File = o.Source
		}
	}
	return e
}

func newPolicyEvalCommand() *cobra.Command {
	var (
		f              policyFlags
		caller, callee string
		point, output  string
		call           policy.Call
		inputFile      string
	)
	cmd := &cobra.Command{
		Use:   "eval PATH --caller SPIFFE_ID --callee SPIFFE_ID",
		Short: "Decide whether one workload may call another",
		Long: `Eval renders PATH, builds the bundle of the identity that decides at the point (the
callee inbound, the caller outbound) and evaluates a representative request: inbound,
input.identity.client_id is the caller's SPIFFE ID and input.agent.client_id the
callee's; outbound, agent and identity.client_id are the caller and identity.service_id
the callee, as upstream's OPA plugin has it. input.host is
the callee's Service, when the revision has one. It prints allow or deny with the reason
and exits 0 whenever it could evaluate; a decision stopped at a bound of the Platform's
limits (regoTimeout, regoMemory) is an error naming the policy file, as is an ID of
another trust domain.`,
		Example: `  trustsync policy eval examples/multi-tenant \
    --caller spiffe://example.org/ns/team-a/sa/research-agent \
    --callee spiffe://example.org/ns/team-b/sa/planner-agent`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if caller == "" || callee == "" {
				return errors.New("--caller and --callee are required")
			}
			pt, err := policy.ParsePoint(point)
			if err != nil {
				return fmt.Errorf("--point: %w", err)
			}
			if output != "text" && output != "json" {
				return fmt.Errorf("--output %q: want text or json", output)
			}
			rev, err := f.render(args[0], renderers.Options{SkipPolicyTests: true})
			if err != nil {
				return err
			}
			var cw, ew identity.Workload
			if call.Caller, cw, err = rev.party("caller", caller); err != nil {
				return err
			}
			if call.Callee, ew, err = rev.party("callee", callee); err != nil {
				return err
			}
			owner := ew
			if pt.Direction == "outbound" {
				owner = cw
			}
			input := call.Input(pt)
			if inputFile != "" {
				if err := mergeInput(input, inputFile); err != nil {
					return err
				}
			}
			ctx := cmd.Context()
			b, err := policy.Build(rev.set.Tiers(owner.Namespace, owner.ServiceAccount))
			if err != nil {
				return err
			}
			d, err := policy.NewDecider(ctx, b, rev.limits)
			if err != nil {
				return err
			}
			dec := d.Decide(ctx, pt, input)
			if dec.Exceeded != nil {
				// Not a verdict on the call: the revision's policies cannot decide it within
				// the bounds (the data plane denies it).
				return rev.stopped(d.Locate(ctx, pt, input, dec.Exceeded), pt)
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				return writeJSON(out, map[string]any{"point": pt.String(), "caller": call.Caller.ID, "callee": call.Callee.ID, "bundle": b.Revision, "allow": dec.Allow, "reason": dec.Reason})
			}
			_, err = fmt.Fprintln(out, dec)
			return err
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&caller, "caller", "", "SPIFFE ID of the calling workload")
	cmd.Flags().StringVar(&callee, "callee", "", "SPIFFE ID of the called workload")
	cmd.Flags().StringVar(&point, "point", "inbound/request", "decision point: inbound/request, inbound/response, outbound/request or outbound/response")
	cmd.Flags().StringVar(&call.Method, "method", "POST", "HTTP method of the request")
	cmd.Flags().StringVar(&call.Path, "path", "/", "HTTP path of the request")
	cmd.Flags().StringVar(&call.A2AMethod, "a2a-method", "message/send", "A2A JSON-RPC method (input.a2a.method)")
	cmd.Flags().IntVar(&call.StatusCode, "status-code", 200, "response status code, at the response points")
	cmd.Flags().StringVar(&call.PeerID, "peer", "", "SPIFFE ID of the other sidecar as mutual TLS authenticated it (input.peer.spiffe_id): the caller's at the inbound points, the callee's at outbound/response; none (plaintext) when empty")
	cmd.Flags().StringVar(&inputFile, "input", "", "JSON file whose top-level fields replace those of the generated input")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

func mergeInput(input map[string]any, file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var extra map[string]any
	if err := json.Unmarshal(data, &extra); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	for k, v := range extra {
		input[k] = v
	}
	return nil
}

func newPolicyTestCommand() *cobra.Command {
	var f policyFlags
	var verbose bool
	cmd := &cobra.Command{
		Use:   "test PATH",
		Short: "Run the Rego tests of a revision's AuthorizationPolicies",
		Long: `Test renders PATH and runs every *_test.rego file of its AuthorizationPolicies with the
bundle of the identity the policy's tier decides for (a client policy's tests see the
global, namespace and client tiers of that identity). The controller runs the same tests
before it applies a revision: a failing test keeps the revision out of the cluster.
It exits 1 when a test fails.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rev, err := f.render(args[0], renderers.Options{SkipPolicyTests: true})
			if err != nil {
				return err
			}
			policies := rev.res.AuthorizationPolicies()
			results, errs := policy.Test(cmd.Context(), rev.set, policies, rev.limits)
			return reportTests(cmd.OutOrStdout(), results, errs, verbose)
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "list passing tests too")
	return cmd
}

// reportTests prints failures (and with verbose every result) and a summary line.
func reportTests(out io.Writer, results []policy.TestResult, errs []*policy.Error, verbose bool) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	failed := 0
	for _, r := range results {
		if !r.Pass {
			failed++
		}
		if r.Pass && !verbose {
			continue
		}
		verdict := "PASS"
		if !r.Pass {
			verdict = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s/%s\t%s:%d\t%s\t%s\n", verdict, r.Namespace, r.Name, r.Path, r.Line, r.Test, r.Error)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "%d passed, %d failed\n", len(results)-failed, failed)
	var all []error
	for _, e := range errs {
		all = append(all, e)
	}
	if failed > 0 {
		all = append(all, fmt.Errorf("%d Rego tests failed", failed))
	}
	return errors.Join(all...)
}

func newPolicyBundleCommand() *cobra.Command {
	var f policyFlags
	var id, out string
	cmd := &cobra.Command{
		Use:   "bundle PATH --identity SPIFFE_ID -o FILE",
		Short: "Write the OPA bundle one identity would be served",
		Long: `Bundle renders PATH and writes the bundle the bundle server would serve to the
identity: the same files, the same revision, byte for byte. opa run and opa eval read it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if id == "" || out == "" {
				return errors.New("--identity and --output are required")
			}
			if _, err := identity.Parse(id); err != nil {
				return fmt.Errorf("--identity: %w", err)
			}
			rev, err := f.render(args[0], renderers.Options{})
			if err != nil {
				return err
			}
			w, err := rev.workload("identity", id)
			if err != nil {
				return err
			}
			b, err := policy.Build(rev.set.Tiers(w.Namespace, w.ServiceAccount))
			if err != nil {
				return err
			}
			data, err := b.Archive()
			if err != nil {
				return err
			}
			if err := os.WriteFile(out, data, 0o644); err != nil {
				return err
			}
			files := make([]string, len(b.Files))
			for i, f := range b.Files {
				files[i] = f.Path
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s: revision %s, %d bytes\n  %s\n", out, b.Revision, len(data), strings.Join(files, "\n  "))
			return err
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&id, "identity", "", "SPIFFE ID whose bundle to write")
	cmd.Flags().StringVarP(&out, "output", "o", "", "file to write the gzip tar to")
	return cmd
}
