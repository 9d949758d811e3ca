package gittest

import (
	"bytes"
	"crypto/subtle"
	"fmt"
	"io"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// HTTPBackend is the git smart-HTTP CGI program.
const HTTPBackend = "/usr/lib/git-core/git-http-backend"

// CommandTimeout bounds every git command this package runs.
const CommandTimeout = 60 * time.Second

// maxRequestBody bounds a chunked request body, which is buffered because CGI needs a
// Content-Length.
const maxRequestBody = 64 << 20

// Options configure a Server. The zero value serves every repository without auth.
type Options struct {
	// Username and Password, when Username is set, are required as basic auth.
	Username, Password string
	// BearerToken, when set, is accepted as "Authorization: Bearer <token>".
	BearerToken string
	// OnPush is called with the repository name (without .git) after a receive-pack
	// request was answered 200 (git reports rejected ref updates inside that answer).
	OnPush func(repo string)
}

// Server is a git smart-HTTP server on 127.0.0.1 backed by real bare repositories.
type Server struct {
	// URL is the base URL, e.g. http://127.0.0.1:43121.
	URL string
	// Root holds the bare repositories, <Root>/<name>.git.
	Root string

	opts Options
	home string // HOME and global config for git processes
}

// NewServer starts a server; it is closed through t.Cleanup.
func NewServer(t testing.TB, o Options) *Server {
	t.Helper()
	if _, err := os.Stat(HTTPBackend); err != nil {
		t.Fatalf("gittest: git-http-backend not available: %v", err)
	}
	s := &Server{Root: t.TempDir(), opts: o, home: t.TempDir()}

	user := o.Username
	if user == "" {
		user = "tester"
	}
	backend := &cgi.Handler{
		Path: HTTPBackend,
		Env: []string{
			"GIT_PROJECT_ROOT=" + s.Root,
			"GIT_HTTP_EXPORT_ALL=1",
			// receive-pack is only enabled for authenticated users.
			"REMOTE_USER=" + user,
			"HOME=" + s.home,
			"GIT_CONFIG_NOSYSTEM=1",
		},
	}

	srv := httptest.NewUnstartedServer(s.handler(backend))
	srv.Config.ReadHeaderTimeout = 10 * time.Second
	srv.Config.ReadTimeout = CommandTimeout
	srv.Config.WriteTimeout = CommandTimeout
	srv.Start()
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

func (s *Server) handler(backend http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.authorized(r) {
			// WWW-Authenticate makes CLI git retry with credentials.
			w.Header().Set("WWW-Authenticate", `Basic realm="gittest"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if err := bufferChunked(r); err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		backend.ServeHTTP(rec, r)
		if repo, ok := receivePackRepo(r); ok && rec.status == http.StatusOK && s.opts.OnPush != nil {
			s.opts.OnPush(repo)
		}
	})
}

func (s *Server) authorized(r *http.Request) bool {
	if s.opts.Username == "" && s.opts.BearerToken == "" {
		return true
	}
	if s.opts.Username != "" {
		if u, p, ok := r.BasicAuth(); ok && equal(u, s.opts.Username) && equal(p, s.opts.Password) {
			return true
		}
	}
	if s.opts.BearerToken != "" {
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && equal(tok, s.opts.BearerToken) {
			return true
		}
	}
	return false
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// bufferChunked turns a chunked body into one with a length: net/http/cgi refuses chunked
// bodies, and CLI git sends large pushes chunked.
func bufferChunked(r *http.Request) error {
	if r.ContentLength >= 0 && len(r.TransferEncoding) == 0 {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil {
		return fmt.Errorf("gittest: reading request body: %w", err)
	}
	if len(body) > maxRequestBody {
		return fmt.Errorf("gittest: request body over %d bytes", maxRequestBody)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.TransferEncoding = nil
	return nil
}

// receivePackRepo reports the repository name of a push request.
func receivePackRepo(r *http.Request) (string, bool) {
	if r.Method != http.MethodPost {
		return "", false
	}
	p, ok := strings.CutSuffix(r.URL.Path, "/git-receive-pack")
	if !ok {
		return "", false
	}
	return strings.TrimSuffix(strings.TrimPrefix(p, "/"), ".git"), true
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// CreateRepo creates the bare repository <name>.git with initial branch main and
// returns its clone URL. name may contain slashes (org/repo).
func (s *Server) CreateRepo(t testing.TB, name string) string {
	t.Helper()
	dir := s.RepoDir(t, name)
	if _, err := os.Stat(dir); err == nil {
		t.Fatalf("gittest: repository %q already exists", name)
	}
	runGit(t, s.env(), "", "init", "--quiet", "--bare", "--initial-branch=main", dir)
	runGit(t, s.env(), dir, "config", "http.receivepack", "true")
	return s.RepoURL(name)
}

// RepoURL is the clone URL of repository name.
func (s *Server) RepoURL(name string) string { return s.URL + "/" + name + ".git" }

// RepoDir is the bare repository directory of name, for tests that configure the
// server side (e.g. git config uploadpack.allowAnySHA1InWant true).
func (s *Server) RepoDir(t testing.TB, name string) string {
	t.Helper()
	clean := filepath.ToSlash(filepath.Clean(name))
	if name == "" || filepath.IsAbs(name) || clean == ".." || strings.HasPrefix(clean, "../") || clean != name {
		t.Fatalf("gittest: bad repository name %q", name)
	}
	return filepath.Join(s.Root, filepath.FromSlash(name)+".git")
}

// Git runs git in the bare repository name on the server side and returns its stdout.
func (s *Server) Git(t testing.TB, name string, args ...string) string {
	t.Helper()
	return runGit(t, s.env(), s.RepoDir(t, name), args...)
}

func (s *Server) env() []string {
	return gitEnv(s.home)
}
