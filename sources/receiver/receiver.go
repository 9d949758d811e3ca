package receiver

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// Type is the webhook format of a sender; the values are those of
// api/gitops/v1alpha1 ReceiverType.
type Type string

const (
	GitHub      Type = "github"
	GitLab      Type = "gitlab"
	Gitea       Type = "gitea"
	GenericHMAC Type = "generic-hmac"
)

// DefaultMaxBody is GitHub's cap on webhook payloads.
const DefaultMaxBody = 25 << 20

// Request headers read per type.
const (
	headerGitHubSignature = "X-Hub-Signature-256"
	headerGitHubEvent     = "X-GitHub-Event"
	headerGitLabToken     = "X-Gitlab-Token"
	headerGitLabEvent     = "X-Gitlab-Event"
	headerGiteaSignature  = "X-Gitea-Signature"
	headerGiteaEvent      = "X-Gitea-Event"
	headerSignature       = "X-Signature"
)

// Source is the receiver configuration of one GitSource.
type Source struct {
	Type Type
	// Secret is the HMAC key (github, gitea, generic-hmac) or shared token (gitlab).
	Secret []byte
}

// Lookup finds a GitSource's receiver settings; found is false when the GitSource does
// not exist or has no receiver.
type Lookup interface {
	Receiver(ctx context.Context, namespace, name string) (src Source, found bool, err error)
}

// Handler serves POST /hook/{namespace}/{name}.
type Handler struct {
	Lookup Lookup
	// Trigger is called once per verified push. It should return quickly (enqueue a
	// fetch); its context is not cancelled when the request ends.
	Trigger func(ctx context.Context, namespace, name string)
	// MaxBody bounds the request body; default DefaultMaxBody.
	MaxBody int64

	once sync.Once
	mux  *http.ServeMux
}

// Path is the URL path push webhooks for a GitSource are sent to.
func Path(namespace, name string) string {
	return "/hook/" + url.PathEscape(namespace) + "/" + url.PathEscape(name)
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.once.Do(func() {
		h.mux = http.NewServeMux()
		// The method in the pattern makes the mux answer other methods with 405.
		h.mux.HandleFunc("POST /hook/{namespace}/{name}", h.receive)
	})
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) receive(w http.ResponseWriter, r *http.Request) {
	namespace, name := r.PathValue("namespace"), r.PathValue("name")
	if h.Lookup == nil || h.Trigger == nil {
		http.Error(w, "receiver not ready", http.StatusServiceUnavailable)
		return
	}
	src, found, err := h.Lookup.Receiver(r.Context(), namespace, name)
	switch {
	case err != nil:
		// The cause may name internals; the sender only needs to retry.
		http.Error(w, "receiver lookup failed", http.StatusServiceUnavailable)
		return
	case !found:
		// The same answer as a bad signature: a caller without the secret must not learn
		// which sources have receivers.
		http.Error(w, "missing or invalid signature", http.StatusUnauthorized)
		return
	case len(src.Secret) == 0 || !src.Type.valid():
		// An empty key would accept anyone's signature.
		http.Error(w, "receiver is not configured", http.StatusInternalServerError)
		return
	}

	body, status := h.readBody(w, r)
	if status != 0 {
		http.Error(w, http.StatusText(status), status)
		return
	}
	if !verify(src, r.Header, body) {
		http.Error(w, "missing or invalid signature", http.StatusUnauthorized)
		return
	}
	trigger, status := wanted(src.Type, r.Header)
	if !trigger {
		w.WriteHeader(status)
		return
	}
	h.Trigger(context.WithoutCancel(r.Context()), namespace, name)
	w.WriteHeader(http.StatusAccepted)
}

// readBody returns the body, or a status when it is too large or unreadable.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, int) {
	limit := h.MaxBody
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	if r.ContentLength > limit {
		return nil, http.StatusRequestEntityTooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, http.StatusRequestEntityTooLarge
	case err != nil:
		return nil, http.StatusBadRequest
	}
	return body, 0
}

func (t Type) valid() bool {
	switch t {
	case GitHub, GitLab, Gitea, GenericHMAC:
		return true
	}
	return false
}

// verify checks the request's signature or token against the source's secret.
func verify(src Source, h http.Header, body []byte) bool {
	switch src.Type {
	case GitHub:
		return validHMAC(src.Secret, body, h.Get(headerGitHubSignature), "sha256=")
	case Gitea:
		return validHMAC(src.Secret, body, h.Get(headerGiteaSignature), "")
	case GenericHMAC:
		return validHMAC(src.Secret, body, h.Get(headerSignature), "sha256=")
	case GitLab:
		token := h.Get(headerGitLabToken)
		if token == "" {
			return false
		}
		// Comparing digests keeps the secret's length out of the timing too.
		got, want := sha256.Sum256([]byte(token)), sha256.Sum256(src.Secret)
		return subtle.ConstantTimeCompare(got[:], want[:]) == 1
	}
	return false
}

// validHMAC checks header == prefix + hex(HMAC-SHA256(secret, body)).
func validHMAC(secret, body []byte, header, prefix string) bool {
	sig, ok := strings.CutPrefix(header, prefix)
	if !ok || sig == "" {
		return false
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// wanted says whether a verified request's event triggers a fetch, and otherwise the
// status to answer with.
func wanted(t Type, h http.Header) (bool, int) {
	var event string
	var triggers []string
	switch t {
	case GitHub:
		event, triggers = h.Get(headerGitHubEvent), []string{"push", "create"}
	case GitLab:
		event, triggers = h.Get(headerGitLabEvent), []string{"Push Hook", "Tag Push Hook"}
	case Gitea:
		event, triggers = h.Get(headerGiteaEvent), []string{"push", "create"}
	default:
		return true, 0
	}
	if event == "" {
		return false, http.StatusBadRequest
	}
	for _, e := range triggers {
		if event == e {
			return true, 0
		}
	}
	// ping and other events are fine to receive; they just change nothing.
	return false, http.StatusOK
}
