// P8: the preview of a pull request on a 1,000-agent repository where one client policy
// changes (agent-0500 starts admitting its whole namespace).
//
// The preview renders both revisions from Git, runs the head's Rego tests, compares the
// objects and works out who may call whom: 1,000 × 999 caller → callee pairs, each
// decided at inbound/request and outbound/request. wall_ms is the whole preview, as
// `trustsync preview` runs it. Only pairs whose inputs changed are evaluated (the changed
// identity's row and column), and of those only the decisions that can flip. pairs_per_s
// is the rate at which the comparison settles pairs — all 999,000, most by seeing that
// nothing they depend on changed; full_matrix_s is what deciding every pair of both
// revisions would take at the measured cost of one prepared decision (decision_us) — the
// baseline a preview without that pruning pays.
package main

import (
	"context"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/bench/internal/benchutil"
	"github.com/trustsync/trustsync/bench/internal/repogen"
	"github.com/trustsync/trustsync/preview"
	"github.com/trustsync/trustsync/preview/access"
	"github.com/trustsync/trustsync/renderers"
	"github.com/trustsync/trustsync/security/policy"
	"github.com/trustsync/trustsync/sources/git"
)

func main() {
	agents := flag.Int("agents", 1000, "agents in the repository")
	namespaces := flag.Int("namespaces", 10, "namespaces")
	flag.Parse()
	if err := run(*agents, *namespaces); err != nil {
		benchutil.Fatal(err)
	}
}

type repo string

func (r repo) Tree(_ context.Context, rev string) (fs.FS, string, error) {
	return git.OpenRevision(string(r), rev)
}

func run(agents, namespaces int) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "trustsync-p8-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := repogen.Write(dir, repogen.Options{Agents: agents, Namespaces: namespaces}); err != nil {
		return err
	}
	gitCmd := func(args ...string) error {
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=bench", "-c", "user.email=bench@example.org"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := gitCmd("init", "-q", "-b", "main"); err != nil {
		return err
	}
	if err := gitCmd("add", "."); err != nil {
		return err
	}
	if err := gitCmd("commit", "-q", "-m", "base"); err != nil {
		return err
	}
	// The change: agent-0500's client policy admits every caller of its namespace.
	target := agents / 2
	ns := fmt.Sprintf("team-%02d", target%namespaces)
	file := filepath.Join(dir, ns, fmt.Sprintf("agent-%04d.yaml", target))
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	changed := strings.Replace(string(data), "        allow if endswith(", "        allow if regex.match(`^spiffe://[^/]+/ns/"+ns+"/sa/[^/]+$`, input.identity.client_id)\n\n        allow if endswith(", 1)
	if changed == string(data) {
		return fmt.Errorf("the client policy of agent-%04d was not found to change", target)
	}
	if err := os.WriteFile(file, []byte(changed), 0o644); err != nil {
		return err
	}
	if err := gitCmd("commit", "-q", "-am", "agent-0500 admits its namespace"); err != nil {
		return err
	}

	p := gitopsv1.DefaultPlatform()
	start := time.Now()
	rep, err := preview.Run(ctx, repo(dir), preview.Options{Path: ".", Base: "main~1", Head: "main", Platform: p})
	if err != nil {
		return err
	}
	var md strings.Builder
	if err := rep.Markdown(&md); err != nil {
		return err
	}
	wall := time.Since(start)
	if len(rep.HeadErrors) > 0 {
		return fmt.Errorf("the head does not render: %v", rep.HeadErrors)
	}
	grants := 0
	for _, c := range rep.Access.Changes {
		if c.Granted() {
			grants++
		}
	}
	if want := agents/namespaces - 1; grants != want {
		return fmt.Errorf("%d new calls, want %d (every other identity of %s → agent-%04d)", grants, want, ns, target)
	}

	// The access comparison alone, for its evaluation rate.
	base, err := renderAt(dir, "main~1", p)
	if err != nil {
		return err
	}
	head, err := renderAt(dir, "main", p)
	if err != nil {
		return err
	}
	start = time.Now()
	res, err := access.Compare(ctx, access.FromRender(base, p), access.FromRender(head, p))
	if err != nil {
		return err
	}
	compare := time.Since(start)
	pairsPerSecond := float64(res.Pairs) / compare.Seconds()
	perDecision, err := decisionCost(ctx, head, p)
	if err != nil {
		return err
	}
	// The baseline: deciding every pair of both revisions, two decisions each.
	fullMatrix := time.Duration(float64(res.Pairs) * 4 * float64(perDecision))

	fmt.Printf("preview of %d agents: %s; %d pairs settled in %v, %d of them evaluated (%d decisions); report %d bytes\n",
		agents, rep.Summary(), res.Pairs, compare.Round(time.Millisecond), res.Considered, res.Evaluated, md.Len())
	benchutil.Result("P8",
		"agents", fmt.Sprint(agents),
		"wall_ms", benchutil.Ms(wall),
		"pairs", fmt.Sprint(res.Pairs),
		"pairs_evaluated", fmt.Sprint(res.Considered),
		"compare_ms", benchutil.Ms(compare),
		"pairs_per_s", fmt.Sprintf("%.0f", pairsPerSecond),
		"decisions", fmt.Sprint(res.Evaluated),
		"decision_us", fmt.Sprintf("%.1f", float64(perDecision.Nanoseconds())/1000),
		"full_matrix_s", fmt.Sprintf("%.1f", fullMatrix.Seconds()),
		"access_changes", fmt.Sprint(len(rep.Access.Changes)),
		"objects_changed", fmt.Sprint(len(rep.Objects.Changes)),
	)
	return nil
}

// decisionCost is the time of one prepared decision in the head revision, the unit of
// the full-matrix baseline.
func decisionCost(ctx context.Context, head *renderers.Result, p *gitopsv1.Platform) (time.Duration, error) {
	ids := head.Identities(p.TrustDomain)
	set := policy.NewSet(p.Namespace, head.AuthorizationPolicies())
	callee := ids[len(ids)/2]
	b, err := policy.Build(set.Tiers(callee.Namespace, callee.ServiceAccount))
	if err != nil {
		return 0, err
	}
	d, err := policy.NewDecider(ctx, b, p.Limits)
	if err != nil {
		return 0, err
	}
	const n = 2000
	start := time.Now()
	for i := range n {
		caller := ids[i%len(ids)]
		call := policy.Call{Caller: policy.Party{ID: caller.ID, Host: caller.Host}, Callee: policy.Party{ID: callee.ID, Host: callee.Host}}
		d.Decide(ctx, access.Points[0], call.Input(access.Points[0]))
	}
	return time.Since(start) / n, nil
}

func renderAt(dir, rev string, p *gitopsv1.Platform) (*renderers.Result, error) {
	fsys, _, err := git.OpenRevision(dir, rev)
	if err != nil {
		return nil, err
	}
	return renderers.Render(fsys, ".", renderers.Options{Platform: p, SkipPolicyTests: true})
}
