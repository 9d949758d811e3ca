package signin

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"k8s.io/client-go/rest"
)

type userKey struct{}

// AsUser is ctx carrying u, for a client made with Impersonating.
func AsUser(ctx context.Context, u User) context.Context { return context.WithValue(ctx, userKey{}, u) }

// ErrNoUser is what a request of an impersonating client fails with when its context
// carries no user: it is never sent with the dashboard's own identity.
var ErrNoUser = errors.New("no signed-in user to act as")

// Impersonating is cfg whose every request impersonates the user its context carries
// (see AsUser), so one client serves every user and Kubernetes RBAC decides for each.
// cfg must not impersonate already.
func Impersonating(cfg *rest.Config) (*rest.Config, error) {
	if cfg.Impersonate.UserName != "" || len(cfg.Impersonate.Groups) > 0 || cfg.Impersonate.UID != "" {
		return nil, errors.New("the dashboard's own client impersonates already; actions cannot impersonate users on top of it")
	}
	out := rest.CopyConfig(cfg)
	out.Wrap(func(next http.RoundTripper) http.RoundTripper { return impersonator{next} })
	return out, nil
}

type impersonator struct{ next http.RoundTripper }

func (t impersonator) RoundTrip(req *http.Request) (*http.Response, error) {
	u, ok := req.Context().Value(userKey{}).(User)
	if !ok || u.Name == "" {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, ErrNoUser
	}
	req = req.Clone(req.Context())
	for h := range req.Header {
		if strings.HasPrefix(http.CanonicalHeaderKey(h), "Impersonate-") {
			req.Header.Del(h)
		}
	}
	req.Header.Set("Impersonate-User", u.Name)
	for _, g := range u.Groups {
		req.Header.Add("Impersonate-Group", g)
	}
	return t.next.RoundTrip(req)
}
