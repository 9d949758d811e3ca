package controller_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/internal/app/controller"
)

func TestTargetURL(t *testing.T) {
	s := &gitopsv1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "agents"}}
	tests := []struct {
		name, target, dashboard, want string
	}{
		{"the source's own, with the Sync's names", "https://ci.example/{namespace}/{name}", "https://dash.example", "https://ci.example/team-a/agents"},
		{"the dashboard's Sync page by default", "", "https://dash.example/", "https://dash.example/syncs/team-a/agents"},
		{"under a path", "", "https://example.com/trustsync", "https://example.com/trustsync/syncs/team-a/agents"},
		{"nowhere without either", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &gitopsv1.GitSource{Spec: gitopsv1.GitSourceSpec{CommitStatus: &gitopsv1.CommitStatusSpec{TargetURL: tt.target}}}
			if got := controller.TargetURL(src, s, tt.dashboard); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDashboardURL(t *testing.T) {
	for raw, ok := range map[string]bool{
		"https://dash.example":            true,
		"http://127.0.0.1:9080/":          true,
		"https://user:pw@dash.example":    false,
		"https://dash.example/?token=abc": false,
		"https://dash.example/#x":         false,
		"dash.example":                    false,
		"ftp://dash.example":              false,
	} {
		if err := controller.DashboardURL(raw); (err == nil) != ok {
			t.Errorf("%q: %v", raw, err)
		}
	}
}
