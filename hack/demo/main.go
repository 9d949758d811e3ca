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
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/log"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/internal/stack"
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

	step("starting a local control plane, a Git server (Gitea) and trustsync controller")
	s, err := stack.Start(ctx, binary)
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

	step("what trustsync shows (trustsync get syncs -A)")
	show(binary, "get", "syncs", "-A", "--kubeconfig", kubeconfig)
	show(binary, "get", "sources", "-A", "--kubeconfig", kubeconfig)
	step("the agents and their identities, from the Sync's status")
	show("kubectl", "--kubeconfig", kubeconfig, "get", "sync", "agents", "-n", "agents-platform",
		"-o", `jsonpath={range .status.agents[*]}{.namespace}/{.name}{"\t"}{.type}{"\t"}{.spiffeID}{"\n"}{end}`)
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
	fmt.Printf(`   Git:        %s (user %s, token %s)
   Clone:      git clone %s
   Kubeconfig: %s
   Try:        trustsync get syncs -A --kubeconfig %s
               kubectl --kubeconfig %s get agentruntimes,authorizationpolicies -A
               edit a policy, commit and push: the webhook applies it in about a second,
               and the commit gets a status; push a broken file and see the failure.
`, s.Gitea.URL, s.Gitea.User, s.Gitea.Token, strings.Replace(cloneURL, "://", "://"+s.Gitea.User+":"+s.Gitea.Token+"@", 1), kubeconfig, kubeconfig, kubeconfig)
	<-ctx.Done()
	return nil
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

func conditionStatus(s *gitopsv1.Sync) string {
	if c := conditions.Get(s, gitopsv1.ReadyCondition); c != nil {
		return string(c.Status)
	}
	return "Unknown"
}
