// Command demo runs trustsync end to end on this machine: a local control plane
// (kube-apiserver + etcd), a local Git server (Gitea) holding the multi-tenant example,
// and `trustsync controller`. It shows the Sync becoming Ready, the objects it applied and
// the commit status on Gitea, then waits — for you to push changes, or for Ctrl-C, which
// stops everything. With --once it stops as soon as the Sync is Ready (for CI).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/log"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/internal/httpserver/httpservertest"
	"github.com/trustsync/trustsync/internal/stack"
	"github.com/trustsync/trustsync/security/keycloak"
)

func main() {
	binary := flag.String("trustsync", "bin/trustsync", "trustsync binary (make build)")
	once := flag.Bool("once", false, "stop as soon as the Sync is Ready")
	flag.Parse()
	log.SetLogger(logr.Discard())
	if err := run(*binary, *once); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(binary string, once bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	step("starting a local control plane, a Git server (Gitea), a Keycloak (its admin API, faked, with a real OIDC provider), trustsync controller and trustsync dashboard")
	s, err := stack.StartWith(ctx, binary, stack.Options{Keycloak: true, Dashboard: true})
	if err != nil {
		return err
	}
	defer func() {
		step("stopping everything")
		s.Stop()
	}()
	work, err := os.MkdirTemp("", "trustsync-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	kubeconfig := filepath.Join(work, "kubeconfig")
	if err := stack.WriteKubeconfig(kubeconfig, s.Env); err != nil {
		return err
	}

	step("pushing examples/multi-tenant to the Git server")
	cloneURL, err := s.Gitea.CreateRepo(ctx, "agents")
	if err != nil {
		return err
	}
	repoDir := filepath.Join(work, "repo")
	if err := exec.Command("cp", "-r", "examples/multi-tenant", repoDir).Run(); err != nil {
		return fmt.Errorf("copying the example: %w", err)
	}
	repo, err := stack.NewRepo(repoDir, cloneURL, s.Gitea.User, s.Gitea.Token)
	if err != nil {
		return err
	}
	sha, err := repo.Commit("two teams and their agents")
	if err != nil {
		return err
	}
	if err := repo.Push(); err != nil {
		return err
	}
	fmt.Printf("   %s @ %s\n", cloneURL, sha[:12])

	step("creating a GitSource and a Sync in namespace agents-platform")
	if err := s.Sync(ctx, "agents-platform", "agents", cloneURL, "./"); err != nil {
		return err
	}

	step("waiting for the Sync to become Ready")
	key := types.NamespacedName{Namespace: "agents-platform", Name: "agents"}
	deadline := time.Now().Add(3 * time.Minute)
	var last string
	for {
		sync := &gitopsv1.Sync{}
		if err := s.Env.Client.Get(ctx, key, sync); err != nil {
			return err
		}
		msg := conditions.GetMessage(sync, gitopsv1.ReadyCondition)
		if msg != last && msg != "" {
			fmt.Printf("   Ready=%s: %s\n", conditionStatus(sync), msg)
			last = msg
		}
		if conditions.IsReady(sync) && sync.Status.LastAppliedRevision == "main@sha1:"+sha {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return errors.New("the Sync did not become Ready; controller log:\n" + s.LogTail())
		}
		time.Sleep(500 * time.Millisecond)
	}

	fmt.Printf("   dashboard: %s/\n", s.Dashboard)
	if err := httpservertest.WaitOK(ctx, s.Dashboard+"/syncs/"+key.Namespace+"/"+key.Name, 100, 200*time.Millisecond); err != nil {
		return err
	}

	step("what trustsync shows (trustsync get syncs -A)")
	show(binary, "get", "syncs", "-A", "--kubeconfig", kubeconfig)
	show(binary, "get", "sources", "-A", "--kubeconfig", kubeconfig)
	// CI runs the demo: tree and events are checked on the multi-tenant example as the
	// engine synced it, not only shown.
	step("what the Sync applied (trustsync tree sync " + key.Name + ")")
	if err := expect(binary, []string{"team-a", "AgentRuntime", "research-agent", "team-b", "planner-agent", "Current"}, "tree", "sync", key.Name, "-n", key.Namespace, "--kubeconfig", kubeconfig); err != nil {
		return err
	}
	step("its events (trustsync events --for sync/" + key.Name + ")")
	if err := expect(binary, []string{"Sync/" + key.Name, "ReconciliationSucceeded"}, "events", "--for", "sync/"+key.Name, "-n", key.Namespace, "--kubeconfig", kubeconfig); err != nil {
		return err
	}
	step("waiting for the run-time controllers: agent conditions, Keycloak clients, policy status")
	if err := waitForAgents(ctx, s); err != nil {
		return err
	}
	step("the agents, their identities and conditions (trustsync get agents -A)")
	show(binary, "get", "agents", "-A", "--kubeconfig", kubeconfig)
	step("each agent's Keycloak client credentials, in the Secret its pods mount (names only)")
	show("kubectl", "--kubeconfig", kubeconfig, "get", "secrets", "-A", "-l", "app.kubernetes.io/managed-by=trustsync",
		"-o", `custom-columns=NAMESPACE:.metadata.namespace,SECRET:.metadata.name,AGENT:.metadata.labels.trustsync\.dev/agentruntime`)
	step("the policies' status, which trustsync writes (kubectl get authorizationpolicies -A)")
	show("kubectl", "--kubeconfig", kubeconfig, "get", "authorizationpolicies", "-A",
		"-o", `custom-columns=NAMESPACE:.metadata.namespace,NAME:.metadata.name,SCOPE:.spec.scope,READY:.status.conditions[?(@.type=="Ready")].status,MESSAGE:.status.conditions[?(@.type=="Ready")].message`)
	step("who may call whom (trustsync policy eval)")
	for _, pair := range [][2]string{{"team-a/sa/research-agent", "team-b/sa/planner-agent"}, {"team-b/sa/planner-agent", "team-a/sa/research-agent"}} {
		fmt.Printf("   %s → %s: ", pair[0], pair[1])
		show(binary, "policy", "eval", "examples/multi-tenant", "--caller", "spiffe://localtest.me/ns/"+pair[0], "--callee", "spiffe://localtest.me/ns/"+pair[1])
	}
	statuses, err := s.Gitea.Statuses(ctx, "agents", sha)
	if err != nil {
		return err
	}
	step("the commit status on Gitea")
	for _, st := range statuses {
		fmt.Printf("   %s  %-8s %s\n", st.Context, st.State, st.Description)
	}
	if once {
		return nil
	}

	step("running until Ctrl-C")
	fmt.Printf(`   dashboard:  %s/
   Git:        %s (user %s, token %s)
   Clone:      git clone %s
   Kubeconfig: %s
   Try:        trustsync get syncs -A --kubeconfig %s
               kubectl --kubeconfig %s get agentruntimes,authorizationpolicies -A
               edit a policy, commit and push: the webhook applies it in about a second,
               and the commit gets a status; push a broken file and see the failure.
`, s.Dashboard, s.Gitea.URL, s.Gitea.User, s.Gitea.Token, strings.Replace(cloneURL, "://", "://"+s.Gitea.User+":"+s.Gitea.Token+"@", 1), kubeconfig, kubeconfig, kubeconfig)
	<-ctx.Done()
	return nil
}

// waitForAgents waits until every AgentRuntime has the conditions of the agent status
// controller and its Keycloak client, and every policy a Ready condition.
func waitForAgents(ctx context.Context, s *stack.Stack) error {
	deadline := time.Now().Add(time.Minute)
	for {
		var runtimes agentv1.AgentRuntimeList
		var policies agentv1.AuthorizationPolicyList
		if err := s.Env.Client.List(ctx, &runtimes); err != nil {
			return err
		}
		if err := s.Env.Client.List(ctx, &policies); err != nil {
			return err
		}
		done := len(runtimes.Items) > 0
		for _, rt := range runtimes.Items {
			done = done && meta.FindStatusCondition(rt.Status.Conditions, agentv1.ConditionReady) != nil &&
				(rt.Spec.Type == agentv1.AgentTypeTool || meta.IsStatusConditionTrue(rt.Status.Conditions, keycloak.ConditionClientRegistered))
		}
		for _, p := range policies.Items {
			done = done && meta.FindStatusCondition(p.Status.Conditions, agentv1.ConditionReady) != nil
		}
		if done {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return errors.New("the agents' conditions did not appear; controller log:\n" + s.LogTail())
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func step(s string) { fmt.Printf("\n== %s\n", s) }

func show(name string, args ...string) {
	if name == "kubectl" {
		if assets := os.Getenv("KUBEBUILDER_ASSETS"); assets != "" {
			name = filepath.Join(assets, "kubectl")
		}
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Printf("   (%s: %v)\n", name, err)
	}
	fmt.Println()
}

// expect runs the binary, shows its output and fails unless it has every one of wants.
func expect(binary string, wants []string, args ...string) error {
	out, err := exec.Command(binary, args...).CombinedOutput()
	fmt.Print(string(out))
	if err != nil {
		return fmt.Errorf("trustsync %s: %v", strings.Join(args, " "), err)
	}
	for _, w := range wants {
		if !strings.Contains(string(out), w) {
			return fmt.Errorf("trustsync %s does not show %q", strings.Join(args, " "), w)
		}
	}
	return nil
}

func conditionStatus(s *gitopsv1.Sync) string {
	if c := conditions.Get(s, gitopsv1.ReadyCondition); c != nil {
		return string(c.Status)
	}
	return "Unknown"
}
