package spiretest

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
)

// Version is the SPIRE release this package configures and hack/spire.sh builds by default.
const Version = "v1.13.3"

// EnvDir names the environment variable holding the directory with spire-server and
// spire-agent.
const EnvDir = "TRUSTSYNC_SPIRE"

// DefaultTrustDomain is used when Options.TrustDomain is empty.
const DefaultTrustDomain = "example.org"

const (
	defaultStartTimeout = time.Minute      // server and agent healthy
	defaultSVIDWait     = 30 * time.Second // an entry reaching the Workload API (≈1 s normally)
	cliTimeout          = 30 * time.Second // one spire-server CLI command
	stopGrace           = 5 * time.Second  // SIGTERM → SIGKILL
	pollEvery           = 50 * time.Millisecond
	logKeep             = 64 << 10 // bytes of output kept per process
	logTail             = 4096     // bytes quoted in errors
	joinTokenTTL        = 600      // seconds; the agent uses it once, at start
	maxSocketDirLen     = 80       // leaves room for "/a.sock" within the 108-byte limit
)

// Binaries are the SPIRE executables a Server runs.
type Binaries struct {
	Dir    string
	Server string // spire-server
	Agent  string // spire-agent
}

var (
	findOnce   sync.Once
	findResult Binaries
	findErr    error
)

// Find locates spire-server and spire-agent: in $TRUSTSYNC_SPIRE, else in
// ~/.cache/trustsync/tools/spire-v1.13.3, and checks that they are SPIRE 1.13.3.
func Find() (Binaries, error) {
	findOnce.Do(func() { findResult, findErr = find() })
	return findResult, findErr
}

func find() (Binaries, error) {
	dir := os.Getenv(EnvDir)
	hint := fmt.Sprintf("build SPIRE with `make spire` (hack/spire.sh ~/.cache/trustsync %s, 11-25 min cold) or point %s at a directory with spire-server and spire-agent %s", Version, EnvDir, Version)
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return Binaries{}, fmt.Errorf("locating SPIRE: %w; set %s", err, EnvDir)
		}
		dir = filepath.Join(home, ".cache", "trustsync", "tools", "spire-"+Version)
	}
	b := Binaries{Dir: dir, Server: filepath.Join(dir, "spire-server"), Agent: filepath.Join(dir, "spire-agent")}
	for _, p := range []string{b.Server, b.Agent} {
		fi, err := os.Stat(p)
		if err != nil {
			return Binaries{}, fmt.Errorf("SPIRE binary: %w; %s", err, hint)
		}
		if fi.IsDir() || fi.Mode()&0o111 == 0 {
			return Binaries{}, fmt.Errorf("SPIRE binary %s is not an executable file; %s", p, hint)
		}
		if err := checkVersion(p); err != nil {
			return Binaries{}, fmt.Errorf("%w; %s", err, hint)
		}
	}
	if err := checkCgo(b.Server); err != nil {
		return Binaries{}, err
	}
	return b, nil
}

// checkCgo refuses a spire-server built without cgo: its sqlite datastore is a stub
// ("sqlite3 is not a supported dialect when CGO is not enabled") and the server exits at
// start. The binary's build settings say so before anything is run.
func checkCgo(bin string) error {
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return nil // not a Go binary we can read; let it try
	}
	for _, s := range info.Settings {
		if s.Key == "CGO_ENABLED" && s.Value == "0" {
			return fmt.Errorf("%s was built with CGO_ENABLED=0, so its sqlite datastore cannot work; rebuild spire-server with CGO_ENABLED=1 (hack/spire.sh) or point %s at such a build", bin, EnvDir)
		}
	}
	return nil
}

// checkVersion runs `<bin> --version`. A build from the module proxy prints
// "1.13.3-dev-unk" (no release ldflags), so only the numeric prefix is compared.
func checkVersion(bin string) error {
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--version").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s --version: %v: %s", bin, err, bytes.TrimSpace(out))
	}
	got := strings.TrimSpace(string(out))
	want := strings.TrimPrefix(Version, "v")
	if got != want && !strings.HasPrefix(got, want+"-") {
		return fmt.Errorf("%s is SPIRE %q, want %s", bin, got, want)
	}
	return nil
}

// Require returns the SPIRE binaries, or fails the test: a test that needs the real
// SPIRE never skips (make test builds it; see Find for where it is looked for).
func Require(tb testing.TB) Binaries {
	tb.Helper()
	b, err := Find()
	if err != nil {
		tb.Fatalf("SPIRE is unavailable: %v", err)
	}
	return b
}

// Options configure a Server. The zero value is usable.
type Options struct {
	// TrustDomain of the server; DefaultTrustDomain when empty.
	TrustDomain string
	// Dir is the parent of the work directory; os.TempDir() when empty. When the path is
	// too long for unix sockets, /tmp is used instead.
	Dir string
	// X509SVIDTTL is the lifetime of issued X509-SVIDs; 1h when zero.
	X509SVIDTTL time.Duration
	// StartTimeout bounds Start (both processes healthy); 1 min when zero.
	StartTimeout time.Duration
}

// Server is a running SPIRE server with one attested agent. Everything listens on
// 127.0.0.1 or on unix sockets in its work directory.
type Server struct {
	bin     Binaries
	td      spiffeid.TrustDomain
	agentID spiffeid.ID
	work    string
	svidTTL time.Duration

	serverSocket string // the server's admin API, for the CLI
	agentSocket  string // the Workload API

	server *proc
	// agent is nil while StopAgent holds it stopped; agentMu guards it.
	agentMu     sync.Mutex
	agent       *proc
	agentConf   string
	agentHealth int

	stopOnce sync.Once
	stopErr  error
}

// Run is Start for a test: it calls Require, starts SPIRE (bounded by 2 minutes), and
// registers Stop as a cleanup. A failure to start fails the test with SPIRE's output.
func Run(tb testing.TB, o Options) *Server {
	tb.Helper()
	Require(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Start(ctx, o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Errorf("stopping SPIRE: %v", err)
		}
	})
	return s
}

// Start writes the configuration, starts spire-server, creates a join token, starts
// spire-agent with it and waits until both are healthy. On failure it stops what it
// started and returns the error with the tail of SPIRE's output. The caller must Stop the
// server.
func Start(ctx context.Context, o Options) (*Server, error) {
	bin, err := Find()
	if err != nil {
		return nil, err
	}
	if o.TrustDomain == "" {
		o.TrustDomain = DefaultTrustDomain
	}
	if o.X509SVIDTTL == 0 {
		o.X509SVIDTTL = time.Hour
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = defaultStartTimeout
	}
	td, err := spiffeid.TrustDomainFromString(o.TrustDomain)
	if err != nil {
		return nil, fmt.Errorf("spiretest: trust domain %q: %w", o.TrustDomain, err)
	}
	agentID, err := spiffeid.FromPath(td, "/agent/spiretest")
	if err != nil {
		return nil, err
	}
	work, err := workDir(o.Dir)
	if err != nil {
		return nil, err
	}
	s := &Server{
		bin:          bin,
		td:           td,
		agentID:      agentID,
		work:         work,
		svidTTL:      o.X509SVIDTTL,
		serverSocket: filepath.Join(work, "s.sock"),
		agentSocket:  filepath.Join(work, "a.sock"),
	}
	ctx, cancel := context.WithTimeout(ctx, o.StartTimeout)
	defer cancel()
	if err := s.start(ctx); err != nil {
		err = fmt.Errorf("starting SPIRE %s in %s: %w", Version, work, err)
		err = s.withLogs(err)
		return nil, errors.Join(err, s.Stop())
	}
	return s, nil
}

// workDir makes a fresh directory short enough for the unix sockets inside it.
func workDir(parent string) (string, error) {
	if parent == "" {
		parent = os.TempDir()
	}
	if abs, err := filepath.Abs(parent); err == nil {
		parent = abs
	}
	// MkdirTemp adds a separator, the prefix and up to 10 digits.
	if len(parent)+len("/spire-")+10 > maxSocketDirLen {
		parent = "/tmp"
	}
	dir, err := os.MkdirTemp(parent, "spire-")
	if err != nil {
		return "", fmt.Errorf("spiretest: creating the work dir: %w", err)
	}
	return dir, nil
}

func (s *Server) start(ctx context.Context) error {
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	serverPort, serverHealth, agentHealth := ports[0], ports[1], ports[2]
	for _, d := range []string{"server", "agent"} {
		if err := os.MkdirAll(filepath.Join(s.work, d), 0o700); err != nil {
			return err
		}
	}
	serverConf := filepath.Join(s.work, "server.conf")
	agentConf := filepath.Join(s.work, "agent.conf")
	if err := os.WriteFile(serverConf, []byte(s.serverConfig(serverPort, serverHealth)), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(agentConf, []byte(s.agentConfig(serverPort, agentHealth)), 0o600); err != nil {
		return err
	}

	if s.server, err = startProc("spire-server", s.work, s.bin.Server, "run", "-config", serverConf); err != nil {
		return err
	}
	if err := waitReady(ctx, s.server, serverHealth); err != nil {
		return err
	}
	s.agentConf, s.agentHealth = agentConf, agentHealth
	return s.startAgent(ctx)
}

// startAgent starts spire-agent with a new join token (the server takes each once)
// and waits until it is healthy.
func (s *Server) startAgent(ctx context.Context) error {
	out, err := s.serverCLI(ctx, "token", "generate", "-socketPath", s.serverSocket,
		"-spiffeID", s.agentID.String(), "-ttl", strconv.Itoa(joinTokenTTL))
	if err != nil {
		return err
	}
	token, ok := strings.CutPrefix(strings.TrimSpace(out), "Token: ")
	if !ok || token == "" || strings.ContainsAny(token, " \n") {
		return fmt.Errorf("spire-server token generate printed %q, want \"Token: <token>\"", out)
	}
	agent, err := startProc("spire-agent", s.work, s.bin.Agent, "run", "-config", s.agentConf, "-joinToken", token)
	if err != nil {
		return err
	}
	s.agentMu.Lock()
	s.agent = agent
	s.agentMu.Unlock()
	return waitReady(ctx, agent, s.agentHealth)
}

// StopAgent stops spire-agent, as a node's SPIRE agent crashing or being upgraded
// would: the Workload API socket goes away under its clients, whose SVIDs stay valid
// until they expire. StartAgent brings it back.
func (s *Server) StopAgent() error {
	s.agentMu.Lock()
	agent := s.agent
	s.agent = nil
	s.agentMu.Unlock()
	if agent == nil {
		return errors.New("spiretest: the agent is not running")
	}
	return agent.stop()
}

// StartAgent starts spire-agent again after StopAgent, on the same socket, and waits
// until it is healthy; the workloads registered before are served again.
func (s *Server) StartAgent(ctx context.Context) error {
	s.agentMu.Lock()
	running := s.agent != nil
	s.agentMu.Unlock()
	if running {
		return errors.New("spiretest: the agent is running")
	}
	if err := s.startAgent(ctx); err != nil {
		return s.withLogs(fmt.Errorf("restarting spire-agent: %w", err))
	}
	return nil
}

func (s *Server) serverConfig(port, health int) string {
	data := filepath.Join(s.work, "server")
	return fmt.Sprintf(`server {
    bind_address = "127.0.0.1"
    bind_port = "%d"
    socket_path = %q
    trust_domain = %q
    data_dir = %q
    log_level = "INFO"
    ca_ttl = "24h"
    default_x509_svid_ttl = %q
    default_jwt_svid_ttl = "5m"
    experimental {
        cache_reload_interval = "500ms"
    }
}
plugins {
    DataStore "sql" {
        plugin_data {
            database_type = "sqlite3"
            connection_string = %q
        }
    }
    NodeAttestor "join_token" {
        plugin_data {}
    }
    KeyManager "disk" {
        plugin_data {
            keys_path = %q
        }
    }
}
health_checks {
    listener_enabled = true
    bind_address = "127.0.0.1"
    bind_port = "%d"
}
`, port, s.serverSocket, s.td.Name(), data, s.svidTTL.String(),
		filepath.Join(data, "datastore.sqlite3"), filepath.Join(data, "keys.json"), health)
}

func (s *Server) agentConfig(serverPort, health int) string {
	data := filepath.Join(s.work, "agent")
	return fmt.Sprintf(`agent {
    data_dir = %q
    log_level = "INFO"
    server_address = "127.0.0.1"
    server_port = "%d"
    socket_path = %q
    trust_domain = %q
    insecure_bootstrap = true
    experimental {
        sync_interval = "500ms"
    }
}
plugins {
    NodeAttestor "join_token" {
        plugin_data {}
    }
    KeyManager "disk" {
        plugin_data {
            directory = %q
        }
    }
    WorkloadAttestor "unix" {
        plugin_data {}
    }
}
health_checks {
    listener_enabled = true
    bind_address = "127.0.0.1"
    bind_port = "%d"
}
`, data, serverPort, s.agentSocket, s.td.Name(), data, health)
}

// TrustDomain is the server's trust domain.
func (s *Server) TrustDomain() spiffeid.TrustDomain { return s.td }

// AgentID is the agent's alias, the parent of every workload entry.
func (s *Server) AgentID() spiffeid.ID { return s.agentID }

// SocketAddr is the Workload API address, "unix:///…/a.sock", for workloadapi.WithAddr
// or SPIFFE_ENDPOINT_SOCKET.
func (s *Server) SocketAddr() string { return "unix://" + s.agentSocket }

// Dir is the work directory (configuration, data, sockets); Stop removes it.
func (s *Server) Dir() string { return s.work }

// ID returns the SPIFFE ID with path in the server's trust domain, e.g.
// ID("/ns/team-a/sa/weather"). It panics on an invalid path: it is for literals in tests.
func (s *Server) ID(path string) spiffeid.ID {
	id, err := spiffeid.FromPath(s.td, path)
	if err != nil {
		panic(fmt.Sprintf("spiretest: SPIFFE ID path %q: %v", path, err))
	}
	return id
}

// AddWorkload registers an entry for id, parented to the agent, with the selector
// unix:uid:<this process's uid>. It does not wait for the SVID; WaitForSVID does.
func (s *Server) AddWorkload(ctx context.Context, id spiffeid.ID) error {
	if id.TrustDomain() != s.td {
		return fmt.Errorf("spiretest: %s is not in trust domain %s", id, s.td)
	}
	_, err := s.serverCLI(ctx, "entry", "create", "-socketPath", s.serverSocket,
		"-parentID", s.agentID.String(), "-spiffeID", id.String(),
		"-selector", "unix:uid:"+strconv.Itoa(os.Getuid()),
		"-x509SVIDTTL", strconv.Itoa(int(s.svidTTL/time.Second)))
	if err != nil {
		return fmt.Errorf("registering %s: %w", id, err)
	}
	return nil
}

// WaitForSVID polls the Workload API until it serves an X509-SVID with id, for at most
// 30 s (and no longer than ctx allows).
func (s *Server) WaitForSVID(ctx context.Context, id spiffeid.ID) (*x509svid.SVID, error) {
	ctx, cancel := context.WithTimeout(ctx, defaultSVIDWait)
	defer cancel()
	tick := time.NewTicker(pollEvery * 2)
	defer tick.Stop()
	var last error
	for {
		svid, err := s.fetchSVID(ctx, id)
		if err == nil {
			return svid, nil
		}
		last = err
		select {
		case <-ctx.Done():
			return nil, s.withLogs(fmt.Errorf("no X509-SVID %s from the Workload API at %s: %w (last: %v)", id, s.SocketAddr(), ctx.Err(), last))
		case <-tick.C:
		}
	}
}

func (s *Server) fetchSVID(ctx context.Context, id spiffeid.ID) (*x509svid.SVID, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	// Until the agent has the first entry, the Workload API answers PermissionDenied.
	svids, err := workloadapi.FetchX509SVIDs(ctx, workloadapi.WithAddr(s.SocketAddr()))
	if err != nil {
		return nil, err
	}
	var got []string
	for _, svid := range svids {
		if svid.ID == id {
			return svid, nil
		}
		got = append(got, svid.ID.String())
	}
	return nil, fmt.Errorf("the Workload API serves %v", got)
}

// X509Source waits for the SVID with id and returns a go-spiffe X509Source whose
// GetX509SVID is that SVID and whose bundles are the Workload API's. The caller must
// Close it (before Stop, or its watcher logs reconnect errors).
func (s *Server) X509Source(ctx context.Context, id spiffeid.ID) (*workloadapi.X509Source, error) {
	if _, err := s.WaitForSVID(ctx, id); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, defaultSVIDWait)
	defer cancel()
	src, err := workloadapi.NewX509Source(ctx,
		workloadapi.WithClientOptions(workloadapi.WithAddr(s.SocketAddr())),
		workloadapi.WithDefaultX509SVIDPicker(func(svids []*x509svid.SVID) *x509svid.SVID {
			for _, svid := range svids {
				if svid.ID == id {
					return svid
				}
			}
			return nil // GetX509SVID then fails with "missing X509-SVID"
		}))
	if err != nil {
		return nil, fmt.Errorf("X509Source for %s: %w", id, err)
	}
	if _, err := src.GetX509SVID(); err != nil {
		_ = src.Close()
		return nil, fmt.Errorf("X509Source for %s: %w", id, err)
	}
	return src, nil
}

// Bundle returns the X.509 bundle of the server's trust domain as the Workload API serves
// it. At least one workload must be registered (the Workload API serves nothing to a
// process without an entry).
func (s *Server) Bundle(ctx context.Context) (*x509bundle.Bundle, error) {
	ctx, cancel := context.WithTimeout(ctx, defaultSVIDWait)
	defer cancel()
	set, err := workloadapi.FetchX509Bundles(ctx, workloadapi.WithAddr(s.SocketAddr()))
	if err != nil {
		return nil, fmt.Errorf("fetching X.509 bundles from %s: %w", s.SocketAddr(), err)
	}
	b, ok := set.Get(s.td)
	if !ok {
		return nil, fmt.Errorf("the Workload API at %s serves no bundle for %s", s.SocketAddr(), s.td)
	}
	return b, nil
}

// Logs returns the tail of the server's and the agent's output.
func (s *Server) Logs() string {
	var b strings.Builder
	s.agentMu.Lock()
	agent := s.agent
	s.agentMu.Unlock()
	for _, p := range []*proc{s.server, agent} {
		if p == nil {
			continue
		}
		fmt.Fprintf(&b, "--- %s ---\n%s\n", p.name, p.out.tail(logTail))
	}
	return b.String()
}

// Stop terminates the agent and then the server (SIGTERM to each process group, SIGKILL
// after 5 s), waits for them and removes the work directory. Calling it again returns the
// first result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		var errs []error
		s.agentMu.Lock()
		agent := s.agent
		s.agentMu.Unlock()
		for _, p := range []*proc{agent, s.server} {
			if p != nil {
				errs = append(errs, p.stop())
			}
		}
		if err := os.RemoveAll(s.work); err != nil {
			errs = append(errs, err)
		}
		s.stopErr = errors.Join(errs...)
	})
	return s.stopErr
}

func (s *Server) withLogs(err error) error {
	logs := s.Logs()
	if strings.TrimSpace(logs) == "" {
		return err
	}
	return fmt.Errorf("%w\n%s", err, logs)
}

// serverCLI runs one spire-server command against the admin socket.
func (s *Server) serverCLI(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, cliTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, s.bin.Server, args...)
	cmd.Dir = s.work
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = stopGrace
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", err, ctx.Err())
		}
		return "", fmt.Errorf("spire-server %s %s: %w: %s", args[0], args[1], err, bytes.TrimSpace(append(stdout.Bytes(), stderr.Bytes()...)))
	}
	return stdout.String(), nil
}

// proc is one long-running SPIRE process.
type proc struct {
	name    string
	cmd     *exec.Cmd
	out     *tailBuffer
	exited  chan struct{} // closed when the process has exited
	exitErr error         // set before exited is closed
}

func startProc(name, dir, bin string, args ...string) (*proc, error) {
	p := &proc{name: name, out: &tailBuffer{max: logKeep}, exited: make(chan struct{})}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = p.out, p.out
	setProcAttrs(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p.cmd = cmd
	go func() {
		p.exitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

func (p *proc) stop() error {
	select {
	case <-p.exited:
		return fmt.Errorf("%s had already exited: %v", p.name, p.exitErr)
	default:
	}
	if err := signalGroup(p.cmd, syscall.SIGTERM); err != nil {
		return fmt.Errorf("stopping %s: %w", p.name, err)
	}
	select {
	case <-p.exited:
		return nil
	case <-time.After(stopGrace):
	}
	_ = signalGroup(p.cmd, syscall.SIGKILL)
	<-p.exited // SIGKILL cannot be ignored, so this wait ends
	return fmt.Errorf("%s did not stop within %s of SIGTERM; killed", p.name, stopGrace)
}

// waitReady polls the process's health listener until /ready answers 200.
func waitReady(ctx context.Context, p *proc, port int) error {
	url := fmt.Sprintf("http://127.0.0.1:%d/ready", port)
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		last = err
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited before it was ready: %v", p.name, p.exitErr)
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s: %w (last: %v)", p.name, url, ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// freePorts asks the kernel for n distinct free loopback ports, holding all listeners
// until the end so they differ. Another process could take one before SPIRE binds it;
// SPIRE then exits and Start reports that.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// tailBuffer keeps the last max bytes written to it; both processes write concurrently
// from their stdout and stderr copiers.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.buf
	if len(t) > n {
		t = t[len(t)-n:]
	}
	return string(t)
}
