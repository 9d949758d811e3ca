package renametest

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
)

// Replacer rewrites Kagenti's names into f's, longest first so that no name is
// rewritten twice.
func Replacer(f agentv1.Family) *strings.Replacer {
	k := agentv1.Kagenti
	return strings.NewReplacer(
		k.Group, f.Group,
		k.LabelProtocolPrefix(), f.LabelProtocolPrefix(),
		k.Domain+"/", f.Domain+"/",
		k.SecretClientCredentialsPrefix(), f.SecretClientCredentialsPrefix(),
		k.ConfigMapFeatureGates(), f.ConfigMapFeatureGates(),
		k.LabelEnabledNamespace(), f.LabelEnabledNamespace(),
		k.Namespace, f.Namespace,
	)
}

// Rewrite is data in f's names.
func Rewrite(f agentv1.Family, data []byte) []byte {
	return []byte(Replacer(f).Replace(string(data)))
}

// Tree copies the tree at src into a new temporary directory with every YAML file
// rewritten into f's names (other files as they are), and returns the copy's path.
func Tree(t testing.TB, f agentv1.Family, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if ext := filepath.Ext(p); ext == ".yaml" || ext == ".yml" {
			data = Rewrite(f, data)
		}
		return os.WriteFile(out, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}
