package signin

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync/atomic"
	"testing"

	"k8s.io/client-go/rest"
)

func TestImpersonating(t *testing.T) {
	var hits atomic.Int32
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		got = r.Header.Clone()
	}))
	defer srv.Close()
	cfg, err := Impersonating(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	get := func(ctx context.Context, extra http.Header) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api", nil)
		for k, v := range extra {
			req.Header[k] = v
		}
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}

	if err := get(context.Background(), nil); !errors.Is(err, ErrNoUser) || hits.Load() != 0 {
		t.Fatalf("without a user: %v, %d requests sent", err, hits.Load())
	}
	u := User{Name: "oidc:alice", Groups: []string{"oidc:a", "oidc:b"}}
	smuggled := http.Header{"Impersonate-Uid": {"0"}, "Impersonate-Extra-Scopes": {"admin"}, "Impersonate-Group": {"system:masters"}}
	if err := get(AsUser(context.Background(), u), smuggled); err != nil {
		t.Fatal(err)
	}
	if got.Get("Impersonate-User") != "oidc:alice" || !reflect.DeepEqual(got.Values("Impersonate-Group"), u.Groups) ||
		got.Get("Impersonate-Uid") != "" || got.Get("Impersonate-Extra-Scopes") != "" {
		t.Errorf("headers sent: %v", got)
	}

	if _, err := Impersonating(&rest.Config{Host: srv.URL, Impersonate: rest.ImpersonationConfig{UserName: "x"}}); err == nil {
		t.Error("a config that impersonates already was taken")
	}
}
