package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestLine(t *testing.T) {
	var b bytes.Buffer
	now := time.Unix(0, 0)
	l := New(&b, 40, func() time.Time { return now })
	l.Phase("building apps with kustomize")
	now = now.Add(10 * time.Millisecond)
	l.Phase("too soon to draw") // within minRedraw: not drawn
	now = now.Add(time.Second)
	l.Phase("checking 1200 objects against their schemas, a phase with a long name")
	l.Done()
	out := b.String()
	for _, want := range []string{"\r\x1b[2Kbuilding apps with kustomize… (0.0s)", "\r\x1b[2Kchecking 1200 objects against their s"} {
		if !strings.Contains(out, want) {
			t.Errorf("output %q lacks %q", out, want)
		}
	}
	if strings.Contains(out, "too soon") {
		t.Errorf("redrawn within %s: %q", minRedraw, out)
	}
	if !strings.HasSuffix(out, "\r\x1b[2K") {
		t.Errorf("the line is not cleared at the end: %q", out)
	}
	for _, line := range strings.Split(out, "\r\x1b[2K") {
		if len([]rune(line)) > 39 {
			t.Errorf("a line wider than the terminal: %q", line)
		}
	}
}

// TestQuiet: not on a terminal (a test's stderr), in CI, or nil, nothing is drawn.
func TestQuiet(t *testing.T) {
	t.Setenv("CI", "")
	if l := ForStderr(); l != nil {
		t.Error("a Line on a stderr that is not a terminal")
	}
	t.Setenv("CI", "true")
	if l := ForStderr(); l != nil {
		t.Error("a Line in CI")
	}
	var l *Line
	l.Phase("x") // a nil Line draws nothing and does not panic
	l.Done()
}
