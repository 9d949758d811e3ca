package sidecartest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
)

// UpstreamBundles is a fake of upstream's (Kagenti's) bundle-service, as its API is
// documented: GET /bundles?spiffe=<the ID without spiffe://> over plain HTTP, the caller
// not authenticated; a gzip tar of authbridge/{global,ns,client}/<path> with a
// .manifest {revision, roots: [authbridge]} of the service's own hash; ETag
// "sha256:<hex>" of the archive and Cache-Control max-age=0, must-revalidate; 304 on a
// matching If-None-Match; 400 for another identity. It serves one identity's bundle.
type UpstreamBundles struct {
	// ID is the identity served (a SPIFFE ID).
	ID string

	mu      sync.Mutex
	files   map[string]string // path below authbridge/ → content
	answers map[int]int
}

// Set replaces the bundle's files, keyed by their path below authbridge/ (e.g.
// client/inbound/request.rego).
func (u *UpstreamBundles) Set(files map[string]string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.files = files
}

// Answers counts the answers with status code.
func (u *UpstreamBundles) Answers(code int) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.answers[code]
}

func (u *UpstreamBundles) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	code := http.StatusOK
	defer func() {
		u.mu.Lock()
		defer u.mu.Unlock()
		if u.answers == nil {
			u.answers = map[int]int{}
		}
		u.answers[code]++
	}()
	if r.Method != http.MethodGet || r.URL.Path != "/bundles" || r.URL.Query().Get("spiffe") != strings.TrimPrefix(u.ID, "spiffe://") {
		code = http.StatusBadRequest
		http.Error(w, "unknown identity", code)
		return
	}
	body, err := u.archive()
	if err != nil {
		code = http.StatusInternalServerError
		http.Error(w, err.Error(), code)
		return
	}
	etag := fmt.Sprintf(`"sha256:%x"`, sha256.Sum256(body))
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", "max-age=0, must-revalidate")
	if r.Header.Get("If-None-Match") == etag {
		code = http.StatusNotModified
		w.WriteHeader(code)
		return
	}
	w.Header().Set("Content-Type", "application/gzip")
	_, _ = w.Write(body)
}

func (u *UpstreamBundles) archive() ([]byte, error) {
	u.mu.Lock()
	files := u.files
	u.mu.Unlock()
	paths := make([]string, 0, len(files))
	h := sha256.New()
	for p := range files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		fmt.Fprintf(h, "%s\x00%s\x00", p, files[p])
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	add := func(name, content string) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write([]byte(content))
		return err
	}
	if err := add("/.manifest", fmt.Sprintf(`{"revision":"%x","roots":["authbridge"]}`, h.Sum(nil))); err != nil {
		return nil, err
	}
	for _, p := range paths {
		if err := add("/authbridge/"+p, files[p]); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
