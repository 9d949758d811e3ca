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
