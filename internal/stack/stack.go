package stack

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/internal/giteatest"
	"github.com/trustsync/trustsync/internal/httpserver/httpservertest"
	"github.com/trustsync/trustsync/internal/keycloaktest"
	"github.com/trustsync/trustsync/internal/testenv"
)

// Stack is a running control plane, Gitea and controller, and with Options.Keycloak a
// fake Keycloak the controller registers the agents in.
type Stack struct {
	Env      *testenv.Env
	Gitea    *giteatest.Server
	Keycloak *keycloaktest.Server
	Receiver string // host:port of the controller's receiver
	Pprof    string // host:port of the controller's profiles, with Options.Pprof
	// Dashboard is the base URL of `trustsync dashboard`, with Options.Dashboard.
	Dashboard  string
	Controller *exec.Cmd
	// Metrics is host:port of the controller's Prometheus metrics.
	Metrics string
	// DashboardProcess is the dashboard's own process, whose memory can be read.
	DashboardProcess *exec.Cmd
	work             string
	// binary and controllerArgs start the controller again (RestartController).
	binary         string
	controllerArgs []string
	// more are the controllers StartController started, which Stop stops too.
	more []*exec.Cmd
}

// Options configure a stack.
type Options struct {
	// Keycloak runs a fake Keycloak (its admin API and a real OIDC provider) and lets the
	// controller register every agent there; without it client registration is off.
	Keycloak bool
	// Pprof serves the controller's runtime profiles on a loopback address (Stack.Pprof).
	Pprof bool
	// Limits replace the Platform's default limits where set (large benchmarks).
	Limits gitopsv1.Limits
	// Dashboard runs `trustsync dashboard` as a process of its own on a loopback
	// address (Stack.Dashboard), and the controller's commit statuses link to it.
	Dashboard bool
}

// Start starts the control plane, Gitea and the controller binary.
func Start(ctx context.Context, binary string) (*Stack, error) {
	return StartWith(ctx, binary, Options{})
}

// StartWith starts a stack as Start does, with options.
func StartWith(ctx context.Context, binary string, o Options) (*Stack, error) {
	s := &Stack{}
	var err error
	if s.work, err = os.MkdirTemp("", "trustsync-stack-"); err != nil {
		return nil, err
	}
	if s.Env, err = testenv.Start(); err != nil {
		return nil, err
	}
	if s.Gitea, err = giteatest.Start(ctx, s.work); err != nil {
		s.Stop()
		return nil, err
	}
	kubeconfig := filepath.Join(s.work, "kubeconfig")
	if err := WriteKubeconfig(kubeconfig, s.Env); err != nil {
		s.Stop()
		return nil, err
	}
	platform := filepath.Join(s.work, "platform.yaml")
	if err := s.writePlatform(ctx, platform, o); err != nil {
		s.Stop()
		return nil, err
	}
	if s.Receiver, err = httpservertest.FreeAddr(); err != nil {
		s.Stop()
		return nil, err
	}
	if s.Metrics, err = httpservertest.FreeAddr(); err != nil {
		s.Stop()
		return nil, err
	}
	args := []string{"controller", "--kubeconfig", kubeconfig, "--platform", platform,
		"--metrics-bind-address", s.Metrics, "--health-probe-bind-address", "0",
		"--receiver-bind-address", s.Receiver, "--cache-dir", filepath.Join(s.work, "cache")}
	if o.Pprof {
		if s.Pprof, err = httpservertest.FreeAddr(); err != nil {
			s.Stop()
			return nil, err
		}
		args = append(args, "--pprof-bind-address", s.Pprof)
	}
	var dashboardAddr string
	if o.Dashboard {
		if dashboardAddr, err = httpservertest.FreeAddr(); err != nil {
			s.Stop()
			return nil, err
		}
		s.Dashboard = "http://" + dashboardAddr
		args = append(args, "--dashboard-url", s.Dashboard)
	}
	s.binary, s.controllerArgs = binary, args
	if s.Controller, err = s.start(binary, "controller.log", args...); err != nil {
		s.Stop()
		return nil, err
	}
	if o.Dashboard {
		if s.DashboardProcess, err = s.start(binary, "dashboard.log", "dashboard", "--kubeconfig", kubeconfig, "--platform", platform, "--listen", dashboardAddr); err != nil {
			s.Stop()
			return nil, err
		}
	}
	return s, nil
}

// start starts a process of the binary, its output to a log file in the stack's folder.
func (s *Stack) start(binary, log string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command(binary, args...)
	// Appended to: a restarted controller's log follows the killed one's.
	logFile, err := os.OpenFile(filepath.Join(s.work, log), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s %s: %w", binary, args[0], err)
	}
	return cmd, nil
}

// writePlatform writes the controller's platform file: the defaults, with Keycloak at
// the fake (whose admin Secret it creates where the controller looks for it), or client
// registration off.
func (s *Stack) writePlatform(ctx context.Context, path string, o Options) error {
	p := gitopsv1.DefaultPlatform()
	p.Limits = o.Limits
	if !o.Keycloak {
		p.FeatureGates.ClientRegistration = ptr.To(false)
	} else {
		var err error
		if s.Keycloak, err = keycloaktest.Start(keycloaktest.Options{Realms: []string{p.Keycloak.Realm}}); err != nil {
			return err
		}
		p.Keycloak.URL, p.Keycloak.PublicURL = s.Keycloak.URL, s.Keycloak.URL
		objs := []client.Object{
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: p.Keycloak.Namespace}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: p.Keycloak.Namespace, Name: "keycloak-initial-admin"},
				StringData: map[string]string{"username": s.Keycloak.AdminUsername(), "password": s.Keycloak.AdminPassword()}},
		}
		for _, obj := range objs {
			if err := s.Env.Client.Create(ctx, obj); err != nil {
				return err
			}
		}
	}
	data, err := yaml.Marshal(p)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

// KillController kills the controller with SIGKILL, as an OOM kill or a node loss
// would: no shutdown runs.
func (s *Stack) KillController() error {
	if err := s.Controller.Process.Kill(); err != nil {
		return err
	}
	_ = s.Controller.Wait() // "signal: killed"
	return nil
}

// RestartController starts the controller again, as it was started, after
// KillController; its metrics start from zero.
func (s *Stack) RestartController() error {
	cmd, err := s.start(s.binary, "controller.log", s.controllerArgs...)
	if err != nil {
		return err
	}
	s.Controller = cmd
	return nil
}

// StartController starts another controller process beside Stack.Controller (a shard,
// say): the same binary on the same control plane and platform file, with a cache
// directory of its own and its metrics, health probe and receiver servers off, then
// args, which may turn them on again (a flag given twice takes the last value), e.g.
// "--watch-label-selector", "sharding.fluxcd.io/key=shard1", "--leader-elect". Its
// output goes to log in the stack's folder; Stop stops it too.
func (s *Stack) StartController(log string, args ...string) (*exec.Cmd, error) {
	cache, err := os.MkdirTemp(s.work, "cache-")
	if err != nil {
		return nil, err
	}
	cmd, err := s.start(s.binary, log, append([]string{"controller",
		"--kubeconfig", filepath.Join(s.work, "kubeconfig"), "--platform", filepath.Join(s.work, "platform.yaml"),
		"--metrics-bind-address", "0", "--health-probe-bind-address", "0", "--receiver-bind-address", "0",
		"--cache-dir", cache}, args...)...)
	if err != nil {
		return nil, err
	}
	s.more = append(s.more, cmd)
	return cmd, nil
}

// ControllerMetrics scrapes the controller's metrics: every sample by its name and
// labels as the text format writes them, e.g. trustsync_api_requests_total{verb="apply"}.
func (s *Stack) ControllerMetrics(ctx context.Context) (map[string]float64, error) {
	return Scrape(ctx, http.DefaultClient, "http://"+s.Metrics+"/metrics", 16<<20)
}

// Scrape reads a Prometheus text exposition from url, at most limit bytes of it: every
// sample by its name and labels as the text format writes them.
func Scrape(ctx context.Context, hc *http.Client, url string, limit int64) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	out := map[string]float64{}
	for line := range strings.SplitSeq(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out, nil
}

// BuildBinary builds the trustsync binary into dir, as a test runs it as a process.
func BuildBinary(dir string) (string, error) {
	binary := filepath.Join(dir, "trustsync")
	build := exec.Command("go", "build", "-o", binary, "github.com/trustsync/trustsync/cmd/trustsync")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building trustsync: %w\n%s", err, out)
	}
	return binary, nil
}

// Stop stops everything.
func (s *Stack) Stop() {
	for _, cmd := range append([]*exec.Cmd{s.DashboardProcess, s.Controller}, s.more...) {
		if cmd == nil || cmd.Process == nil {
			continue
		}
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
	}
	if s.Gitea != nil {
		_ = s.Gitea.Stop()
	}
	if s.Keycloak != nil {
		s.Keycloak.Close()
	}
	if s.Env != nil {
		_ = s.Env.Stop()
	}
	_ = os.RemoveAll(s.work)
}

// Sync creates, in a new namespace, the Secrets, a GitSource of the Gitea repository with
// commit statuses and a receiver, and a Sync of path; Gitea's push webhook points at the
// receiver.
func (s *Stack) Sync(ctx context.Context, ns, repo, cloneURL, path string) error {
	objects := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "git"}, StringData: map[string]string{"username": s.Gitea.User, "password": s.Gitea.Token}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "status"}, StringData: map[string]string{"token": s.Gitea.Token}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "webhook"}, StringData: map[string]string{"token": "push-secret"}},
		&gitopsv1.GitSource{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: repo},
			Spec: gitopsv1.GitSourceSpec{
				URL:          cloneURL,
				Interval:     metav1.Duration{Duration: time.Hour},
				SecretRef:    &gitopsv1.LocalObjectReference{Name: "git"},
				CommitStatus: &gitopsv1.CommitStatusSpec{Provider: gitopsv1.ProviderGitea, SecretRef: gitopsv1.LocalObjectReference{Name: "status"}},
				Receiver:     &gitopsv1.ReceiverSpec{Type: gitopsv1.ReceiverGitea, SecretRef: gitopsv1.LocalObjectReference{Name: "webhook"}},
			},
		},
		&gitopsv1.Sync{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: repo},
			Spec: gitopsv1.SyncSpec{
				SourceRef: gitopsv1.SourceReference{Name: repo},
				Path:      path,
				Interval:  metav1.Duration{Duration: time.Hour},
				Prune:     true,
				Timeout:   &metav1.Duration{Duration: 10 * time.Minute},
				Wait:      false, // no kubelet runs here: Deployments never roll out
			},
		},
	}
	for _, o := range objects {
		if err := s.Env.Client.Create(ctx, o); err != nil {
			return err
		}
	}
	return s.Gitea.CreatePushWebhook(ctx, repo, "http://"+s.Receiver+"/hook/"+ns+"/"+repo, "push-secret")
}

// WaitForStatus waits until the commit has a status of the context in the state.
func (s *Stack) WaitForStatus(ctx context.Context, repo, sha, statusContext, state string, poll time.Duration) error {
	for {
		statuses, err := s.Gitea.Statuses(ctx, repo, sha)
		if err != nil {
			return err
		}
		for _, st := range statuses {
			if st.Context == statusContext {
				if st.State == state {
					return nil
				}
				if st.State == "failure" {
					return fmt.Errorf("commit %s failed: %s", sha[:12], st.Description)
				}
				break
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("commit %s never got %s %s: %w (controller log: %s)", sha[:12], statusContext, state, ctx.Err(), s.LogTail())
		case <-time.After(poll):
		}
	}
}

// LogTail is the end of the controller's log.
func (s *Stack) LogTail() string { return s.LogTailOf("controller.log") }

// LogTailOf is the end of a log in the stack's folder, such as StartController's.
func (s *Stack) LogTailOf(log string) string {
	data, _ := os.ReadFile(filepath.Join(s.work, log))
	if len(data) > 2000 {
		data = data[len(data)-2000:]
	}
	return string(data)
}

// Memory is the controller's resident set and its peak, in MiB (from /proc).
func (s *Stack) Memory() (rss, peak float64, err error) {
	return ProcessMemory(s.Controller.Process.Pid)
}

// ProcessPrivateMemory splits a process's resident set, in MiB (from /proc): anon is its
// own (heap, stacks, runtime), file the binary's pages it touched, which processes of
// the same binary share and the kernel can drop.
func ProcessPrivateMemory(pid int) (anon, file float64, err error) {
	m, err := procStatus(pid, "RssAnon", "RssFile")
	return m[0], m[1], err
}

// ProcessMemory is a process's resident set and its peak, in MiB (from /proc).
func ProcessMemory(pid int) (rss, peak float64, err error) {
	m, err := procStatus(pid, "VmRSS", "VmHWM")
	return m[0], m[1], err
}

// procStatus reads fields of /proc/<pid>/status given in kB, in MiB; a field the
// kernel does not report is 0.
func procStatus(pid int, fields ...string) ([]float64, error) {
	out := make([]float64, len(fields))
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return out, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		if i := slices.Index(fields, name); i >= 0 {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 64)
			out[i] = kb / 1024
		}
	}
	return out, nil
}

// HeapProfile writes the controller's heap profile (after a GC) to path; it needs
// Options.Pprof.
func (s *Stack) HeapProfile(ctx context.Context, path string) error {
	if s.Pprof == "" {
		return fmt.Errorf("the stack serves no profiles: start it with Options.Pprof")
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute) // a heap profile is written at once
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.Pprof+"/debug/pprof/heap?gc=1", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("heap profile: %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, io.LimitReader(resp.Body, 256<<20)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Repo is a working copy for pushing to Gitea with the git CLI.
type Repo struct {
	Dir string
	env []string
}

// NewRepo makes a working copy of dir's files that pushes to remote with basic auth.
func NewRepo(dir, remote, user, token string) (*Repo, error) {
	home, err := os.MkdirTemp("", "trustsync-git-home-")
	if err != nil {
		return nil, err
	}
	r := &Repo{Dir: dir, env: []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=bench", "GIT_AUTHOR_EMAIL=bench@example.invalid", "GIT_COMMITTER_NAME=bench", "GIT_COMMITTER_EMAIL=bench@example.invalid"}}
	authed := strings.Replace(remote, "://", "://"+user+":"+token+"@", 1)
	for _, args := range [][]string{{"init", "--quiet", "--initial-branch=main"}, {"remote", "add", "origin", authed}} {
		if _, err := r.Git(args...); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Git runs a git command in the working copy.
func (r *Repo) Git(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir, cmd.Env = r.Dir, r.env
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %v: %s", args[0], err, stderr.String())
	}
	return strings.TrimSpace(out.String()), nil
}

// Commit commits everything and returns the SHA.
func (r *Repo) Commit(msg string) (string, error) {
	if _, err := r.Git("add", "-A"); err != nil {
		return "", err
	}
	if _, err := r.Git("commit", "--quiet", "--allow-empty", "-m", msg); err != nil {
		return "", err
	}
	return r.Git("rev-parse", "HEAD")
}

// Push pushes main.
func (r *Repo) Push() error {
	_, err := r.Git("push", "--quiet", "origin", "main")
	return err
}

// WriteKubeconfig writes a kubeconfig for the control plane.
func WriteKubeconfig(path string, env *testenv.Env) error {
	data, err := env.Kubeconfig()
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}
