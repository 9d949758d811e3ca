package files

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	ok, big := filepath.Join(dir, "ok"), filepath.Join(dir, "big")
	if err := os.WriteFile(ok, []byte("spiffe://td/ns/a/sa/b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(big, make([]byte, MaxBytes+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if data, err := Read(ok); err != nil || string(data) != "spiffe://td/ns/a/sa/b\n" {
		t.Errorf("Read = %q, %v", data, err)
	}
	if _, err := Read(big); err == nil || !strings.Contains(err.Error(), big) {
		t.Errorf("an oversized file: %v, want an error naming it", err)
	}
	if _, err := Read(filepath.Join(dir, "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing file: %v, want fs.ErrNotExist (the plugins wait for it)", err)
	}
}
