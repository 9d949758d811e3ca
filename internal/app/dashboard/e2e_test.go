package dashboard_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	dashboardpkg "github.com/trustsync/trustsync/dashboard"
	"github.com/trustsync/trustsync/dashboard/signin"
	"github.com/trustsync/trustsync/internal/app/controller"
	"github.com/trustsync/trustsync/internal/app/dashboard"
	"github.com/trustsync/trustsync/internal/giteatest"
	"github.com/trustsync/trustsync/internal/headless"
	"github.com/trustsync/trustsync/internal/httpserver/httpservertest"
	"github.com/trustsync/trustsync/internal/keycloaktest"
	"github.com/trustsync/trustsync/internal/promtest"
	"github.com/trustsync/trustsync/internal/testenv"
)

var (
	env   *testenv.Env
	gitea *giteatest.Server
	// dashboardURL is the standalone dashboard's (trustsync dashboard); embeddedAddr the
	// controller's own (--dashboard-addr).
	dashboardURL, embeddedAddr string
	// browser is one headless Chromium for every test; each test opens its own tab.
	browser context.Context
	// keycloak is the OpenID provider the standalone dashboard signs users in with.
	keycloak *keycloaktest.Server
	// prometheus is the query API the standalone dashboard reads decision counts from.
	prometheus *promtest.Server
)

// The provider's users: alice is in sync-operators, whom the actions test lets patch
// Syncs; bob is in no group and may not.
var (
	alice = keycloaktest.User{Username: "alice", Password: "alice-password", Groups: []string{"sync-operators"}}
	bob   = keycloaktest.User{Username: "bob", Password: "bob-password"}
)

func TestMain(m *testing.M) {
	log.SetLogger(logr.Discard())
	code := testenv.Run(m, &env, startGitea, startController, startDashboard, startBrowser)
	os.Exit(code)
}

// platform is the example's, reading both families: the views list Rossoctl's objects
// beside Kagenti's.
func platform() (*gitopsv1.Platform, error) {
	p, err := gitopsv1.LoadPlatform("../../../examples/platform.yaml")
	if err != nil {
		return nil, err
	}
	p.Families = []string{"kagenti", "rossoctl"}
	return p, nil
}

func startController(ctx context.Context, e *testenv.Env) error {
	p, err := platform()
	if err != nil {
		return err
	}
	if embeddedAddr, err = httpservertest.FreeAddr(); err != nil {
		return err
	}
	cache, err := os.MkdirTemp("", "trustsync-dashboard-cache-")
	if err != nil {
		return err
	}
	go func() {
		if err := controller.Run(ctx, e.Config, controller.Options{Platform: p, MetricsAddr: "0", HealthAddr: "0", ReceiverAddr: "0",
			DashboardAddr: embeddedAddr, CacheDir: cache}); err != nil {
			fmt.Fprintln(os.Stderr, "controller:", err)
		}
		_ = os.RemoveAll(cache)
	}()
	return nil
}

func startDashboard(ctx context.Context, e *testenv.Env) error {
	p, err := platform()
	if err != nil {
		return err
	}
	addr, err := httpservertest.FreeAddr()
	if err != nil {
		return err
	}
	if keycloak, err = keycloaktest.Start(keycloaktest.Options{}); err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		keycloak.Close()
	}()
	for _, u := range []keycloaktest.User{alice, bob} {
		if _, err := keycloak.AddUser("kagenti", u); err != nil {
			return err
		}
	}
	secret, err := keycloak.AddWebClient("kagenti", "trustsync-dashboard", "http://"+addr+signin.PathCallback)
	if err != nil {
		return err
	}
	prometheus = promtest.Start()
	// What Prometheus would hold of research-agent's sidecar: its inbound decisions.
	pod := func(result string) map[string]string {
		return map[string]string{"namespace": "team-a", "pod": "research-agent-7d9f8b6c5-x2kqz", "point": "inbound/request", "result": result}
	}
	prometheus.Answer(dashboardpkg.DecisionsQuery, []promtest.Sample{{Labels: pod("allow"), Value: 12}, {Labels: pod("deny"), Value: 3}})
	go func() {
		<-ctx.Done()
		prometheus.Close()
	}()
	d, err := dashboard.New(e.Config, dashboard.Options{Addr: addr, Platform: p, MetricsURL: prometheus.URL, Actions: true, SignIn: signin.Options{
		Issuer: keycloak.Issuer("kagenti"), ClientID: "trustsync-dashboard", ClientSecret: secret, URL: "http://" + addr,
	}})
	if err != nil {
		return err
	}
	go func() {
		if err := d.Run(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "dashboard:", err)
		}
	}()
	dashboardURL = "http://" + addr
	return waitServing(ctx, dashboardURL)
}

func startBrowser(ctx context.Context, _ *testenv.Env) error {
	b, stop, err := headless.Start(ctx)
	if err != nil {
		return err
	}
	browser = b
	go func() {
		<-ctx.Done()
		stop()
	}()
	return nil
}

// tab opens a browser tab for one test, closed with it.
func tab(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancelT)
	return ctx
}

// outputDir is where screenshots go: $TEST_OUTPUT/dashboard, else test-output/dashboard at
// the repository's root.
func outputDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("TEST_OUTPUT")
	if dir == "" {
		dir = "../../../test-output"
	}
	dir = filepath.Join(dir, "dashboard")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// waitForSync waits for a Sync to get where done says.
func waitForSync(t *testing.T, key client.ObjectKey, done func(*gitopsv1.Sync) bool) *gitopsv1.Sync {
	t.Helper()
	s := &gitopsv1.Sync{}
	for range 300 {
		// Not t.Context(): cleanups wait too, after it is done.
		if err := env.Client.Get(context.Background(), key, s); err == nil && done(s) {
			return s
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("Sync %s did not get there; status %+v", key, s.Status)
	return nil
}

// waitServing waits for a dashboard to answer /healthz.
func waitServing(ctx context.Context, base string) error {
	return httpservertest.WaitOK(ctx, base+"/healthz", 300, 100*time.Millisecond)
}

func startGitea(ctx context.Context, _ *testenv.Env) (err error) {
	gitea, err = giteatest.StartTemp(ctx)
	return err
}
