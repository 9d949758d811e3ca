package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/go-logr/logr"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/bench/internal/benchutil"
	"github.com/trustsync/trustsync/internal/headless"
	"github.com/trustsync/trustsync/internal/httpserver/httpservertest"
	"github.com/trustsync/trustsync/internal/stack"
	"github.com/trustsync/trustsync/internal/testenv"
	"github.com/trustsync/trustsync/security/policy"
)

func main() {
	binary := flag.String("trustsync", "bin/trustsync", "trustsync binary (make build)")
	syncs := flag.Int("syncs", 1000, "Syncs, each with one agent")
	namespaces := flag.Int("namespaces", 10, "namespaces they are spread over")
	runs := flag.Int("runs", 5, "timed runs of each page")
	flag.Parse()
	log.SetLogger(logr.Discard())
	if err := run(*binary, *syncs, *namespaces, *runs); err != nil {
		benchutil.Fatal(err)
	}
}

func run(binary string, n, namespaces, runs int) error {
	ctx := context.Background()
	env, err := testenv.Start()
	if err != nil {
		return err
	}
	defer env.Stop()
	work, err := os.MkdirTemp("", "trustsync-p10-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	start := time.Now()
	if err := populate(ctx, env, n, namespaces); err != nil {
		return err
	}
	fmt.Printf("created %d Syncs and %d AgentRuntimes with their status in %.1f s\n", n, n, time.Since(start).Seconds())

	kubeconfig := filepath.Join(work, "kubeconfig")
	if err := stack.WriteKubeconfig(kubeconfig, env); err != nil {
		return err
	}
	addr, err := httpservertest.FreeAddr()
	if err != nil {
		return err
	}
	dash := exec.Command(binary, "dashboard", "--kubeconfig", kubeconfig, "--listen", addr)
	logFile, err := os.Create(filepath.Join(work, "dashboard.log"))
	if err != nil {
		return err
	}
	dash.Stdout, dash.Stderr = logFile, logFile
	if err := dash.Start(); err != nil {
		return err
	}
	defer func() {
		_ = dash.Process.Signal(os.Interrupt)
		_ = dash.Wait()
	}()
	base := "http://" + addr
	if err := httpservertest.WaitOK(ctx, base+"/healthz", 600, 100*time.Millisecond); err != nil {
		return err
	}
	idleRSS, _, err := stack.ProcessMemory(dash.Process.Pid)
	if err != nil {
		return err
	}

	browser, stop, err := headless.Start(ctx)
	if err != nil {
		return err
	}
	defer stop()
	tab, cancel := chromedp.NewContext(browser)
	defer cancel()
	if err := chromedp.Do(tab); err != nil { // opens the tab, for as long as tab lives
		return err
	}

	// Ready: from the navigation's start to the first row drawn.
	page := func(url, row string) func() error {
		return func() error {
			c, cancel := context.WithTimeout(tab, time.Minute)
			defer cancel()
			return chromedp.Do(c, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(row)))
		}
	}
	overview, err := benchutil.Time(runs, page(base+"/", "tr[data-sync]"))
	if err != nil {
		return fmt.Errorf("the overview: %w", err)
	}
	agents, err := benchutil.Time(runs, page(base+"/agents", "tr[data-agent]"))
	if err != nil {
		return fmt.Errorf("the agents page: %w", err)
	}

	// A status change to screen: the open overview shows a Sync's new Ready message.
	if err := chromedp.Do(tab, chromedp.Navigate(base+"/?ns=team-00&q=agents-0000"), chromedp.WaitVisible(chromedp.CSS("tr[data-sync]"))); err != nil {
		return err
	}
	key := client.ObjectKey{Namespace: "team-00", Name: "agents-0000"}
	round := 0
	change, err := benchutil.Time(runs, func() error {
		round++
		msg := fmt.Sprintf("bench change %d", round)
		s := &gitopsv1.Sync{}
		if err := env.Client.Get(ctx, key, s); err != nil {
			return err
		}
		patch := client.MergeFrom(s.DeepCopy())
		s.Status.Conditions[0].Message = msg
		if err := env.Client.Status().Patch(ctx, s, patch); err != nil {
			return err
		}
		return waitFor(tab, `document.querySelector("tr[data-sync]").innerText.includes(`+fmt.Sprintf("%q", msg)+`)`)
	})
	if err != nil {
		return fmt.Errorf("the status change: %w", err)
	}

	pagesRSS, _, err := stack.ProcessMemory(dash.Process.Pid)
	if err != nil {
		return err
	}
	accessStart := time.Now()
	if err := page(base+"/access", "table.matrix")(); err != nil {
		return fmt.Errorf("the access view: %w", err)
	}
	access := time.Since(accessStart)

	rss, peak, err := stack.ProcessMemory(dash.Process.Pid)
	if err != nil {
		return err
	}
	anon, file, err := stack.ProcessPrivateMemory(dash.Process.Pid)
	if err != nil {
		return err
	}

	// The baseline: what a list drawn in the browser fetches first.
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = 1000, 1000
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		return err
	}
	list, err := benchutil.Time(runs, func() error { return c.List(ctx, &gitopsv1.SyncList{}) })
	if err != nil {
		return err
	}

	fmt.Printf("overview %s ms, agents %s ms, a change on screen %s ms, access view of %d identities %s ms; dashboard %.0f MiB (peak %.0f; %.0f synced, %.0f before the access view; %.0f its own, %.0f the binary's pages); listing the Syncs %s ms\n",
		benchutil.Ms(benchutil.Median(overview)), benchutil.Ms(benchutil.Median(agents)), benchutil.Ms(benchutil.Median(change)), n,
		benchutil.Ms(access), rss, peak, idleRSS, pagesRSS, anon, file, benchutil.Ms(benchutil.Median(list)))
	benchutil.Result("P10", "syncs", fmt.Sprint(n), "agents", fmt.Sprint(n),
		"overview_ms", benchutil.Ms(benchutil.Median(overview)), "agents_ms", benchutil.Ms(benchutil.Median(agents)),
		"change_ms", benchutil.Ms(benchutil.Median(change)), "access_ms", benchutil.Ms(access),
		"rss_mb", fmt.Sprintf("%.0f", rss), "peak_mb", fmt.Sprintf("%.0f", peak), "synced_mb", fmt.Sprintf("%.0f", idleRSS),
		"pages_mb", fmt.Sprintf("%.0f", pagesRSS), "anon_mb", fmt.Sprintf("%.0f", anon), "file_mb", fmt.Sprintf("%.0f", file), "list_ms", benchutil.Ms(benchutil.Median(list)))
	return nil
}

// waitFor polls the page until the expression is true, for at most 30 s.
func waitFor(tab context.Context, expr string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ok, err := chromedp.Run(tab, chromedp.Evaluate[bool](expr))
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("%s never held", expr)
}

// populate creates n Syncs, each Ready with one agent, and their AgentRuntimes, over
// namespaces; a namespace policy per namespace lets its own agents call each other.
func populate(ctx context.Context, env *testenv.Env, n, namespaces int) error {
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = 2000, 2000
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		return err
	}
	p := gitopsv1.DefaultPlatform()
	objs := []client.Object{policy.DefaultGlobalPolicy(p.Namespace, false)} // envtest has the platform namespace
	for i := range namespaces {
		ns := fmt.Sprintf("team-%02d", i)
		objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, &agentv1.AuthorizationPolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: ns},
			Spec: agentv1.AuthorizationPolicySpec{Scope: agentv1.ScopeNamespace, Policies: []agentv1.RegoPolicy{{Path: "inbound/request.rego",
				Content: "package authbridge.ns.inbound.request\n\nimport rego.v1\n\ndefault allow := false\n\nallow if startswith(input.identity.client_id, \"spiffe://" + p.TrustDomain + "/ns/" + ns + "/\")\n"}}},
		})
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			return err
		}
	}
	now := metav1.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	for i := range n {
		g.Go(func() error {
			ns, name := fmt.Sprintf("team-%02d", i%namespaces), fmt.Sprintf("agent-%04d", i)
			rt := &agentv1.AgentRuntime{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: agentv1.AgentRuntimeSpec{
				Type: agentv1.AgentTypeAgent, TargetRef: agentv1.TargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: name},
				AuthBridgeMode: agentv1.AuthBridgeProxySidecar, MTLSMode: agentv1.MTLSStrict,
			}}
			if err := c.Create(gctx, rt); err != nil {
				return err
			}
			rt.Status.Conditions = []metav1.Condition{{Type: agentv1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Ready", Message: "ready", LastTransitionTime: now}}
			if err := c.Status().Update(gctx, rt); err != nil {
				return err
			}
			s := &gitopsv1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("agents-%04d", i)}, Spec: gitopsv1.SyncSpec{
				SourceRef: gitopsv1.SourceReference{Name: "agents"}, Path: "./" + name, Interval: metav1.Duration{Duration: 5 * time.Minute}, Prune: true, Wait: true,
			}}
			if err := c.Create(gctx, s); err != nil {
				return err
			}
			rev := "main@sha1:" + strings.Repeat(fmt.Sprintf("%x", i%16), 40)
			s.Status = gitopsv1.SyncStatus{
				ObservedGeneration:  s.Generation,
				Conditions:          []metav1.Condition{{Type: gitopsv1.ReadyCondition, Status: metav1.ConditionTrue, Reason: gitopsv1.ReasonSucceeded, Message: "Applied revision: " + rev, LastTransitionTime: now}},
				LastAppliedRevision: rev, LastAttemptedRevision: rev,
				Agents: []gitopsv1.AgentSummary{{Namespace: ns, Name: name, Type: "agent", Workload: "Deployment/" + name, Ready: "True",
					SPIFFEID: "spiffe://" + p.TrustDomain + "/ns/" + ns + "/sa/" + name, ServiceAccount: name, Host: name + "." + ns + ".svc:8080",
					Injected: true, Mode: string(agentv1.AuthBridgeProxySidecar), MTLS: string(agentv1.MTLSStrict)}},
				History: []gitopsv1.HistoryEntry{{Revision: rev, Result: "Applied", Message: "applied 7 objects, 0 drifted", StartedAt: now, Duration: metav1.Duration{Duration: 800 * time.Millisecond}}},
			}
			return c.Status().Update(gctx, s)
		})
	}
	return g.Wait()
}
