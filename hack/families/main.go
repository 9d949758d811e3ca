// Command families writes the CRDs of every family but Kagenti from Kagenti's, as
// controller-gen writes those into config/crd/bases: config/crd/<family>/ holds the same
// CRDs with the API group and the label domain rewritten (agent.kagenti.dev →
// agent.rossoctl.dev, kagenti.io/ → rossoctl.io/), and a kustomization listing them. The
// rename changed names, not fields, so one schema serves both and neither can drift;
// make generate runs it and make verify checks its output is committed.
//
// usage: go run ./hack/families [CONFIG_CRD_DIR]
package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
)

func main() {
	dir := "config/crd"
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	for _, f := range agentv1.Families {
		if f == agentv1.Kagenti {
			continue
		}
		if err := write(dir, f); err != nil {
			fmt.Fprintln(os.Stderr, "families:", err)
			os.Exit(1)
		}
	}
}

// rewrite is the rename of the family's names in a Kagenti CRD.
func rewrite(f agentv1.Family, data []byte) []byte {
	k := agentv1.Kagenti
	return []byte(strings.NewReplacer(k.Group, f.Group, k.Domain+"/", f.Domain+"/").Replace(string(data)))
}

func write(dir string, f agentv1.Family) error {
	out := filepath.Join(dir, f.Name)
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	files, err := filepath.Glob(filepath.Join(dir, "bases", agentv1.Kagenti.Group+"_*.yaml"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no %s CRDs in %s/bases", agentv1.Kagenti.Group, dir)
	}
	slices.Sort(files)
	var k bytes.Buffer
	fmt.Fprintf(&k, "# The CRDs of %s (%s), written by hack/families from the %s CRDs in\n# bases/: do not edit.\n", f.Title, f.Group, agentv1.Kagenti.Title)
	k.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n")
	for _, src := range files {
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		name := strings.Replace(filepath.Base(src), agentv1.Kagenti.Group, f.Group, 1)
		if err := os.WriteFile(filepath.Join(out, name), rewrite(f, data), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(&k, "  - %s\n", name)
	}
	return os.WriteFile(filepath.Join(out, "kustomization.yaml"), k.Bytes(), 0o644)
}
