package v1alpha1

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSourcePath(t *testing.T) {
	for in, want := range map[string]string{"": ".", "./": ".", ".": ".", "/": ".", "apps": "apps", "./apps/prod": "apps/prod", "apps/prod/": "apps/prod", "../../etc": "etc", " apps ": "apps"} {
		s := SyncSpec{Path: in}
		if got := s.SourcePath(); got != want {
			t.Errorf("SourcePath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRetryAfterFailure(t *testing.T) {
	s := SyncSpec{Interval: metav1.Duration{Duration: time.Minute}}
	if got := s.RetryAfterFailure(); got != time.Minute {
		t.Errorf("without retryInterval: %s", got)
	}
	s.RetryInterval = &metav1.Duration{Duration: 10 * time.Second}
	if got := s.RetryAfterFailure(); got != 10*time.Second {
		t.Errorf("with retryInterval: %s", got)
	}
}

func TestOverlay(t *testing.T) {
	labels := map[string]string{"env": "prod", "region": "eu"}
	for _, c := range []struct {
		path, overlay string
		want          string
		ok            bool
	}{
		{path: "./apps", want: "apps/clusters/prod-eu", ok: true},
		{path: "./", want: "clusters/prod-eu", ok: true},
		{path: "./base", overlay: "./envs/${cluster.labels.env}", want: "envs/prod", ok: true},
		{path: "./base", overlay: "envs/${cluster.labels.env}/${cluster.labels.region}/${cluster.name}", want: "envs/prod/eu/prod-eu", ok: true},
		{path: "./base", overlay: "envs/${cluster.labels.tier}"},                      // a label the cluster lacks
		{path: "./base", overlay: "envs/${cluster.uid}"},                              // not a variable
		{path: "./base", overlay: "../../${cluster.name}", want: "prod-eu", ok: true}, // confined like path
	} {
		s := SyncSpec{Path: c.path, ClusterOverlay: c.overlay}
		got, ok := s.Overlay("prod-eu", labels)
		if got != c.want || ok != c.ok {
			t.Errorf("Overlay(path %q, overlay %q) = %q, %t; want %q, %t", c.path, c.overlay, got, ok, c.want, c.ok)
		}
	}
}
