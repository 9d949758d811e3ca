package stack

import (
	"os"
	"testing"
)

func TestProcessMemory(t *testing.T) {
	rss, peak, err := ProcessMemory(os.Getpid())
	if err != nil || rss <= 0 || peak < rss {
		t.Fatalf("rss %.1f peak %.1f: %v", rss, peak, err)
	}
	anon, file, err := ProcessPrivateMemory(os.Getpid())
	if err != nil || anon <= 0 || file <= 0 || anon+file > rss+1 {
		t.Errorf("anon %.1f file %.1f of rss %.1f: %v", anon, file, rss, err)
	}
	if _, _, err := ProcessMemory(-1); err == nil {
		t.Error("no error for a process that is not there")
	}
}
