package giteatest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/trustsync/trustsync/internal/httpserver/httpservertest"
)

// Version is the Gitea release this package configures and hack/gitea.sh builds by default.
const Version = "v1.26.0"

// EnvBinary names the environment variable that points at a gitea binary.
const EnvBinary = "TRUSTSYNC_GITEA"

const (
	adminUser   = "trustsync" // "admin" is a reserved name in Gitea
	adminEmail  = "trustsync@example.org"
	cliTimeout  = time.Minute      // one migrate / admin / generate command
	readyWithin = time.Minute      // `gitea web` answering /api/healthz
	stopGrace   = 5 * time.Second  // SIGTERM → SIGKILL
	httpTimeout = 15 * time.Second // one API call
	logTailSize = 4096             // bytes of Gitea's log quoted in errors
)

// Binary finds the gitea binary: $TRUSTSYNC_GITEA, else
// ~/.cache/trustsync/tools/gitea-v1.26.0/gitea.
func Binary() (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		if err := checkExecutable(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w; unset it or point it at a gitea %s binary (make gitea builds one)", EnvBinary, p, err, Version)
		}
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("locating the gitea binary: %w; set %s", err, EnvBinary)
	}
	cache := filepath.Join(home, ".cache", "trustsync")
	p := filepath.Join(cache, "tools", "gitea-"+Version, "gitea")
	if err := checkExecutable(p); err != nil {
		return "", fmt.Errorf("gitea binary: %w; build it with `make gitea` (hack/gitea.sh %s %s, 5-8 min cold) or point %s at one", err, cache, Version, EnvBinary)
	}
	return p, nil
}

func checkExecutable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", p)
	}
	return nil
}

// Server is a running Gitea. Everything listens on 127.0.0.1 only.
type Server struct {
	URL      string // http://127.0.0.1:<port>/ (ROOT_URL)
	APIURL   string // URL + "api/v1"
	User     string // admin user
	Password string
	Token    string // access token with all scopes

	bin     string
	work    string // this server's work dir (config, database, repositories, log)
	conf    string // app.ini
	logPath string // Gitea's stdout and stderr, quoted in errors
	client  *http.Client

	cmd      *exec.Cmd
	exited   chan struct{} // closed when `gitea web` has exited
	exitErr  error         // set before exited is closed
	stopOnce sync.Once
	stopErr  error
}

// Start runs migrate, creates the admin, starts `gitea web` on a free 127.0.0.1 port with a
// fresh work dir under dir, waits for /api/healthz and creates a token. Every wait is
// bounded (and cut short by ctx); on failure Start stops what it started and returns the
// error with the tail of Gitea's log. The caller must Stop the server; the work dir is left
// in dir for inspection.
func Start(ctx context.Context, dir string) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp(dir, "gitea-")
	if err != nil {
		return nil, fmt.Errorf("creating the gitea work dir: %w", err)
	}
	if work, err = filepath.Abs(work); err != nil {
		return nil, err
	}
	password, err := randomHex(16)
	if err != nil {
		return nil, err
	}
	s := &Server{
		User:     adminUser,
		Password: password,
		bin:      bin,
		work:     work,
		conf:     filepath.Join(work, "custom", "conf", "app.ini"),
		logPath:  filepath.Join(work, "gitea.log"),
		// No proxy: the server is on loopback, and an HTTP(S)_PROXY in the environment must
		// not get in between.
		client: &http.Client{Timeout: httpTimeout, Transport: &http.Transport{Proxy: nil}},
	}
	if err := s.start(ctx); err != nil {
		var stopErr error
		select {
		case <-s.exited: // gitea web exited by itself; err already says so
		default:
			stopErr = s.Stop()
		}
		err = fmt.Errorf("starting gitea in %s: %w", work, errors.Join(err, stopErr))
		return nil, s.withLog(err)
	}
	return s, nil
}

func (s *Server) start(ctx context.Context) error {
	port, err := httpservertest.FreePort()
	if err != nil {
		return err
	}
	s.URL = fmt.Sprintf("http://127.0.0.1:%d/", port)
	s.APIURL = s.URL + "api/v1"

	secrets, err := s.generateSecrets(ctx)
	if err != nil {
		return err
	}
	if err := s.writeConfig(port, secrets); err != nil {
		return err
	}
	if _, err := s.runCLI(ctx, "migrate", "-c", s.conf); err != nil {
		return err
	}
	if _, err := s.runCLI(ctx, "admin", "user", "create", "-c", s.conf, "--admin",
		"--username", s.User, "--password", s.Password, "--email", adminEmail,
		"--must-change-password=false"); err != nil {
		return err
	}
	if err := s.startWeb(); err != nil {
		return err
	}
	if err := s.waitHealthy(ctx); err != nil {
		return err
	}
	return s.createToken(ctx)
}

// generateSecrets asks Gitea for its own secrets, so they have the form it expects (the
// internal token is a JWT). The three commands are independent and run side by side.
func (s *Server) generateSecrets(ctx context.Context) (map[string]string, error) {
	names := []string{"SECRET_KEY", "INTERNAL_TOKEN", "JWT_SECRET"}
	values := make([]string, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			out, err := s.runCLI(ctx, "generate", "secret", name)
			values[i], errs[i] = strings.TrimSpace(out), err
			if err == nil && values[i] == "" {
				errs[i] = fmt.Errorf("gitea generate secret %s printed nothing", name)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for i, name := range names {
		out[name] = values[i]
	}
	return out, nil
}

func (s *Server) writeConfig(port int, secrets map[string]string) error {
	runUser := os.Getenv("USER") // what Gitea itself falls back to
	if u, err := user.Current(); err == nil {
		runUser = u.Username
	}
	if runUser == "" {
		return errors.New("cannot determine the current user name for RUN_USER")
	}
	var asRoot string
	if os.Geteuid() == 0 {
		// Gitea refuses to run as root unless told; CI machines run tests as root.
		asRoot = "I_AM_BEING_UNSAFE_RUNNING_AS_ROOT = true\n"
	}
	data := filepath.Join(s.work, "data")
	ini := fmt.Sprintf(`APP_NAME = trustsync-test
RUN_USER = %[1]s
RUN_MODE = prod
WORK_PATH = %[2]s
%[3]s
[server]
PROTOCOL = http
HTTP_ADDR = 127.0.0.1
HTTP_PORT = %[4]d
DOMAIN = 127.0.0.1
ROOT_URL = %[5]s
LOCAL_ROOT_URL = %[5]s
DISABLE_SSH = true
START_SSH_SERVER = false
OFFLINE_MODE = true
LFS_START_SERVER = false
APP_DATA_PATH = %[6]s

[database]
DB_TYPE = sqlite3
PATH = %[6]s/gitea.db
SQLITE_JOURNAL_MODE = WAL

[repository]
ROOT = %[2]s/repos
DEFAULT_BRANCH = main

[security]
INSTALL_LOCK = true
SECRET_KEY = %[7]s
INTERNAL_TOKEN = %[8]s
PASSWORD_COMPLEXITY = off
MIN_PASSWORD_LENGTH = 6

[oauth2]
JWT_SECRET = %[9]s

[service]
DISABLE_REGISTRATION = true

[session]
PROVIDER = memory

[cache]
ADAPTER = memory

[queue]
TYPE = channel

[indexer]
ISSUE_INDEXER_TYPE = db
REPO_INDEXER_ENABLED = false

[mailer]
ENABLED = false

[actions]
ENABLED = false

[cron]
ENABLED = false

[cron.update_checker]
ENABLED = false

; Gitea only calls external hosts by default; tests receive webhooks on 127.0.0.1.
; A short timeout keeps a dead receiver from holding deliveries up.
[webhook]
ALLOWED_HOST_LIST = loopback
DELIVER_TIMEOUT = 3

[log]
MODE = console
LEVEL = Warn
ROOT_PATH = %[2]s/log
`, runUser, s.work, asRoot, port, s.URL, data,
		secrets["SECRET_KEY"], secrets["INTERNAL_TOKEN"], secrets["JWT_SECRET"])
	if err := os.MkdirAll(filepath.Dir(s.conf), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(s.conf, []byte(ini), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", s.conf, err)
	}
	return nil
}

// env is the environment of every gitea command: the caller's, minus GITEA_* variables
// that would override the generated config, plus the work dir.
func (s *Server) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GITEA_") {
			env = append(env, kv)
		}
	}
	return append(env, "GITEA_WORK_DIR="+s.work, "GITEA_CUSTOM="+filepath.Join(s.work, "custom"))
}

func (s *Server) openLog() (*os.File, error) {
	f, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the gitea log: %w", err)
	}
	return f, nil
}

// runCLI runs one short gitea command and returns its stdout; its stderr goes to the log.
func (s *Server) runCLI(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, cliTimeout)
	defer cancel()
	logFile, err := s.openLog()
	if err != nil {
		return "", err
	}
	defer logFile.Close()
	var stdout bytes.Buffer
	cmd := exec.CommandContext(ctx, s.bin, args...)
	cmd.Dir = s.work
	cmd.Env = s.env()
	cmd.Stdout = &stdout
	cmd.Stderr = logFile
	cmd.WaitDelay = stopGrace
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", err, ctx.Err())
		}
		// Secrets are printed on stdout, so only non-generate output is worth quoting.
		if args[0] != "generate" {
			fmt.Fprintf(logFile, "%s", stdout.String())
		}
		return "", fmt.Errorf("gitea %s: %w", args[0], err)
	}
	return stdout.String(), nil
}

func (s *Server) startWeb() error {
	logFile, err := s.openLog()
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin, "web", "-c", s.conf)
	cmd.Dir = s.work
	cmd.Env = s.env()
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("gitea web: %w", err)
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	go func() {
		s.exitErr = cmd.Wait()
		logFile.Close()
		close(s.exited)
	}()
	return nil
}

func (s *Server) waitHealthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyWithin)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		last = s.healthz(ctx)
		if last == nil {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("gitea web exited before it was healthy: %v", s.exitErr)
		case <-ctx.Done():
			return fmt.Errorf("gitea web not healthy at %sapi/healthz: %w (last: %v)", s.URL, ctx.Err(), last)
		case <-tick.C:
		}
	}
}

func (s *Server) healthz(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"api/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}

func (s *Server) createToken(ctx context.Context) error {
	var tok struct {
		SHA1 string `json:"sha1"`
	}
	body := map[string]any{"name": "trustsync-test", "scopes": []string{"all"}}
	if err := s.call(ctx, http.MethodPost, "/users/"+s.User+"/tokens", body, http.StatusCreated, &tok, true); err != nil {
		return fmt.Errorf("creating the access token: %w", err)
	}
	if tok.SHA1 == "" {
		return errors.New("creating the access token: empty token in the response")
	}
	s.Token = tok.SHA1
	return nil
}

// Outage stops `gitea web` until Resume, as a Git host outage would: its port refuses
// connections, its data stays. SIGTERM, then SIGKILL after the grace.
func (s *Server) Outage() error {
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stopping gitea web: %w", err)
	}
	select {
	case <-s.exited:
	case <-time.After(stopGrace):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	return nil
}

// Resume starts `gitea web` again after Outage, on the same port and data, and waits
// until it is healthy.
func (s *Server) Resume(ctx context.Context) error {
	if err := s.startWeb(); err != nil {
		return err
	}
	if err := s.waitHealthy(ctx); err != nil {
		return s.withLog(err)
	}
	return nil
}

// Stop terminates `gitea web` and waits for it: SIGTERM, then SIGKILL after 5 s. Calling
// it again returns the first result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		if s.cmd == nil {
			return
		}
		select {
		case <-s.exited:
			s.stopErr = fmt.Errorf("gitea web had already exited: %v", s.exitErr)
			return
		default:
		}
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			s.stopErr = fmt.Errorf("stopping gitea web: %w", err)
		}
		select {
		case <-s.exited:
			return
		case <-time.After(stopGrace):
		}
		_ = s.cmd.Process.Kill()
		<-s.exited // SIGKILL cannot be ignored, so this wait ends
		s.stopErr = errors.Join(s.stopErr, fmt.Errorf("gitea web did not stop within %s of SIGTERM; killed", stopGrace))
	})
	return s.stopErr
}

// CreateRepo creates an empty repository (no initial commit, default branch main) owned
// by the admin user and returns its clone URL, without credentials.
func (s *Server) CreateRepo(ctx context.Context, name string) (string, error) {
	var repo struct {
		CloneURL string `json:"clone_url"`
	}
	body := map[string]any{"name": name, "default_branch": "main", "auto_init": false, "private": false}
	if err := s.call(ctx, http.MethodPost, "/user/repos", body, http.StatusCreated, &repo, false); err != nil {
		return "", fmt.Errorf("creating repository %s: %w", name, err)
	}
	if repo.CloneURL == "" {
		return "", fmt.Errorf("creating repository %s: no clone_url in the response", name)
	}
	return repo.CloneURL, nil
}

// AuthHeader is the HTTP header that authenticates git as the admin user, e.g. for
// gittest.Clone or git -c http.extraHeader.
func (s *Server) AuthHeader() string {
	return "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(s.User+":"+s.Token))
}

// BasicAuthURL returns cloneURL with the admin user and token as credentials, for git
// push over HTTP. An unparsable URL is returned unchanged, so the push fails visibly.
func (s *Server) BasicAuthURL(cloneURL string) string {
	u, err := url.Parse(cloneURL)
	if err != nil {
		return cloneURL
	}
	u.User = url.UserPassword(s.User, s.Token)
	return u.String()
}

// Status is one commit status as Gitea reports it.
type Status struct {
	Context     string `json:"context"`
	State       string `json:"status"` // Gitea's API names the state "status" in responses
	Description string `json:"description"`
	TargetURL   string `json:"target_url"`
}

// Statuses pages at Gitea's default maximum page size, a bounded number of times.
const (
	statusPageSize = 50
	maxStatusPages = 20
)

// Statuses lists every status of sha in the admin user's repository repo, newest first.
func (s *Server) Statuses(ctx context.Context, repo, sha string) ([]Status, error) {
	var all []Status
	for page := 1; page <= maxStatusPages; page++ {
		// sort=leastindex orders by the per-commit status index, descending: newest first
		// even within one second, which the default created_unix order cannot tell apart.
		path := fmt.Sprintf("/repos/%s/%s/statuses/%s?sort=leastindex&limit=%d&page=%d",
			url.PathEscape(s.User), url.PathEscape(repo), url.PathEscape(sha), statusPageSize, page)
		var batch []Status
		if err := s.call(ctx, http.MethodGet, path, nil, http.StatusOK, &batch, false); err != nil {
			return nil, fmt.Errorf("listing statuses of %s in %s: %w", sha, repo, err)
		}
		all = append(all, batch...)
		if len(batch) < statusPageSize {
			return all, nil
		}
	}
	return nil, fmt.Errorf("listing statuses of %s in %s: more than %d pages", sha, repo, maxStatusPages)
}

// CreatePushWebhook registers a Gitea-type webhook on the admin user's repository repo
// that POSTs push events as JSON to targetURL, signed with secret.
func (s *Server) CreatePushWebhook(ctx context.Context, repo, targetURL, secret string) error {
	body := map[string]any{
		"type":   "gitea",
		"config": map[string]string{"url": targetURL, "content_type": "json", "secret": secret},
		"events": []string{"push"},
		"active": true,
	}
	path := fmt.Sprintf("/repos/%s/%s/hooks", url.PathEscape(s.User), url.PathEscape(repo))
	if err := s.call(ctx, http.MethodPost, path, body, http.StatusCreated, nil, false); err != nil {
		return fmt.Errorf("creating a push webhook on %s: %w", repo, err)
	}
	return nil
}

// call does one API request below APIURL, authenticated with the token (or, before there
// is one, with the password), and decodes the JSON answer into out when it is not nil.
func (s *Server) call(ctx context.Context, method, path string, in any, want int, out any, basic bool) error {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.APIURL+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if basic {
		req.SetBasicAuth(s.User, s.Password)
	} else {
		req.Header.Set("Authorization", "token "+s.Token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading the response: %w", method, req.URL.Path, err)
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %s (want %d): %s", method, req.URL.Path, resp.Status, want, bytes.TrimSpace(data))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decoding the response: %w", method, req.URL.Path, err)
		}
	}
	return nil
}

// withLog appends the tail of Gitea's log to err, where the actual reason usually is.
func (s *Server) withLog(err error) error {
	f, openErr := os.Open(s.logPath)
	if openErr != nil {
		return err
	}
	defer f.Close()
	var offset int64
	if fi, statErr := f.Stat(); statErr == nil && fi.Size() > logTailSize {
		offset = fi.Size() - logTailSize
	}
	tail, _ := io.ReadAll(io.NewSectionReader(f, offset, logTailSize))
	if len(bytes.TrimSpace(tail)) == 0 {
		return err
	}
	return fmt.Errorf("%w\n--- tail of %s ---\n%s", err, s.logPath, tail)
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// StartTemp starts a server in a fresh temporary dir, which it stops and removes once
// ctx is done: for a TestMain's harness.
func StartTemp(ctx context.Context) (*Server, error) {
	dir, err := os.MkdirTemp("", "trustsync-gitea-")
	if err != nil {
		return nil, err
	}
	s, err := Start(ctx, dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	go func() {
		<-ctx.Done()
		_ = s.Stop()
		_ = os.RemoveAll(dir)
	}()
	return s, nil
}
