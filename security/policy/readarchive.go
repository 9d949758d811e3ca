package policy

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

// Bounds of an archive ReadArchive accepts, besides the compressed MaxBundleSize and the
// Limits' per-file PolicyBytes: a gzip bomb stops at them, not at the memory's end.
const (
	// MaxBundleFiles is the most entries an archive may hold.
	MaxBundleFiles = 4096
	// MaxBundleUncompressedSize is the most bytes an archive may decompress to.
	MaxBundleUncompressedSize = 4 * MaxBundleSize
)

// manifestName is the .manifest entry's name inside an archive.
const manifestName = ".manifest"

// ReadArchive is the inverse of (*Bundle).Archive: it reads a bundle's gzip tar, checks
// it is one trustsync built, and compiles it exactly as Build does, so NewDecider works
// on the result. It refuses, naming the entry, anything else: an archive over the size,
// decompressed-size or file-count bounds, an entry that is not a regular file, a name
// that is not clean and relative or repeats, a file outside the manifest's roots or not
// Rego, a missing .manifest, and a revision that is not the files' own.
//
// The archive carries no namespaces, so the Tiers of the result hold policies named by
// their directory in the bundle only (the client tier's is "client"); decisions are the
// same, and their reasons name the policies that way.
func ReadArchive(data []byte, l gitopsv1.Limits) (*Bundle, error) {
	man, files, err := readEntries(data, l, true)
	if err != nil {
		return nil, err
	}
	if got := revision(files); got != man.Revision {
		return nil, fmt.Errorf("bundle archive: %s: revision %q, but the files' revision is %s", manifestName, man.Revision, got)
	}
	t, err := tiersOfFiles(files)
	if err != nil {
		return nil, err
	}
	// Build again from the tiers the paths name: the same compiler, capabilities, shape
	// and package rules as the server's, and fail-closed modules exactly where Build
	// puts them. Anything the archive holds that Build would not make changes the files.
	b, err := Build(t)
	if err != nil {
		return nil, fmt.Errorf("bundle archive: %w", err)
	}
	if b.Revision != man.Revision {
		return nil, fmt.Errorf("bundle archive: %s: the files are not a bundle trustsync builds", firstDifference(files, b.Files))
	}
	return b, nil
}

// ReadUpstreamArchive reads a bundle of the upstream (Kagenti) bundle-service, with
// ReadArchive's bounds and entry rules: Rego files under authbridge/global/,
// authbridge/ns/ and authbridge/client/ (each tier's CRs' files side by side) and a
// .manifest with roots [authbridge]. The manifest's revision is the service's own hash,
// so it is not checked; the bundle is built from the files as Build builds (the same
// capabilities, package rules and fail-closed modules), with trustsync's revision. Its
// tiers hold one policy each, named global, ns and client.
func ReadUpstreamArchive(data []byte, l gitopsv1.Limits) (*Bundle, error) {
	_, files, err := readEntries(data, l, false)
	if err != nil {
		return nil, err
	}
	var t Tiers
	tier := func(list *[]*agentv1.AuthorizationPolicy, name string, scope agentv1.PolicyScope) *agentv1.AuthorizationPolicy {
		if len(*list) == 0 {
			*list = append(*list, &agentv1.AuthorizationPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: agentv1.AuthorizationPolicySpec{Scope: scope}})
		}
		return (*list)[0]
	}
	for _, f := range files {
		dir, rest, _ := strings.Cut(strings.TrimPrefix(f.Path, Root+"/"), "/")
		var p *agentv1.AuthorizationPolicy
		switch dir {
		case "global":
			p = tier(&t.Global, "global", agentv1.ScopeGlobal)
		case "ns":
			p = tier(&t.Namespace, "ns", agentv1.ScopeNamespace)
		case "client":
			if t.Client == nil {
				t.Client = &agentv1.AuthorizationPolicy{ObjectMeta: metav1.ObjectMeta{Name: "client"}, Spec: agentv1.AuthorizationPolicySpec{Scope: agentv1.ScopeClient}}
			}
			p = t.Client
		default:
			return nil, fmt.Errorf("bundle archive: %s: not in a tier's directory (global, ns, client)", f.Path)
		}
		if rest == "" {
			return nil, fmt.Errorf("bundle archive: %s: not a file inside its tier's directory", f.Path)
		}
		p.Spec.Policies = append(p.Spec.Policies, agentv1.RegoPolicy{Path: rest, Content: f.Content})
	}
	b, err := Build(t)
	if err != nil {
		return nil, fmt.Errorf("bundle archive: %w", err)
	}
	return b, nil
}

// readEntries reads an archive's .manifest and Rego files, sorted by path, within the
// bounds, refusing an entry that is not a regular file with a clean relative name seen
// once, a file that is not Rego, a missing manifest and a file outside its roots.
// strict refuses manifest fields trustsync does not write (an upstream manifest may
// carry OPA's others).
func readEntries(data []byte, l gitopsv1.Limits, strict bool) (*manifest, []File, error) {
	if len(data) > MaxBundleSize {
		return nil, nil, fmt.Errorf("bundle archive: %d bytes, over the limit of %d", len(data), MaxBundleSize)
	}
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, nil, fmt.Errorf("bundle archive: %w", err)
	}
	// The budget counts decompressed bytes, headers included, across every entry.
	budget := &boundedReader{r: gz, left: MaxBundleUncompressedSize}
	tr := tar.NewReader(budget)
	var (
		man      *manifest
		files    []File
		seen     = map[string]bool{}
		fileSize = l.PolicyBytes()
	)
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("bundle archive: after %d entries: %w", n, err)
		}
		if n >= MaxBundleFiles {
			return nil, nil, fmt.Errorf("bundle archive: %s: more than %d entries", hdr.Name, MaxBundleFiles)
		}
		name, err := entryName(hdr)
		if err != nil {
			return nil, nil, fmt.Errorf("bundle archive: %q: %w", hdr.Name, err)
		}
		if seen[name] {
			return nil, nil, fmt.Errorf("bundle archive: %s: a second entry of that name", name)
		}
		seen[name] = true
		if hdr.Size > fileSize {
			return nil, nil, fmt.Errorf("bundle archive: %s: %d bytes, over the limit of %d (limits.policySize)", name, hdr.Size, fileSize)
		}
		content, err := io.ReadAll(io.LimitReader(tr, fileSize+1))
		if err != nil {
			return nil, nil, fmt.Errorf("bundle archive: %s: %w", name, err)
		}
		if name == manifestName {
			man = &manifest{}
			dec := json.NewDecoder(bytes.NewReader(content))
			if strict {
				dec.DisallowUnknownFields()
			}
			if err := dec.Decode(man); err != nil {
				return nil, nil, fmt.Errorf("bundle archive: %s: %w", name, err)
			}
			continue
		}
		if !strings.HasSuffix(name, ".rego") {
			return nil, nil, fmt.Errorf("bundle archive: %s: not a Rego file (a policy bundle holds only .rego files and the .manifest)", name)
		}
		files = append(files, File{Path: name, Content: string(content)})
	}
	if man == nil {
		return nil, nil, fmt.Errorf("bundle archive: no %s", manifestName)
	}
	if !slices.Equal(man.Roots, []string{Root}) {
		return nil, nil, fmt.Errorf("bundle archive: %s: roots %q, want [%q]", manifestName, man.Roots, Root)
	}
	for _, f := range files {
		if !strings.HasPrefix(f.Path, Root+"/") {
			return nil, nil, fmt.Errorf("bundle archive: %s: outside the bundle's root %s", f.Path, Root)
		}
	}
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return man, files, nil
}

// entryName is the clean, relative name of a regular-file entry. Archive writes names
// with a leading "/", as OPA does; one is accepted and removed.
func entryName(hdr *tar.Header) (string, error) {
	if hdr.Typeflag != tar.TypeReg {
		return "", fmt.Errorf("entry type %q is not a regular file", hdr.Typeflag)
	}
	name := strings.TrimPrefix(hdr.Name, "/")
	switch {
	case name == "" || strings.HasPrefix(name, "/"):
		return "", errors.New("an absolute or empty name")
	case strings.Contains(name, "\\") || strings.ContainsRune(name, 0):
		return "", errors.New("a name with a backslash or NUL")
	case path.Clean(name) != name || name == ".." || strings.HasPrefix(name, "../") || strings.Contains(name, "/../"):
		return "", errors.New("a name that is not clean (.., ., or //)")
	}
	return name, nil
}

// tiersOfFiles rebuilds the tiers from the bundle's directories: global/<policy>/,
// ns/<policy>/, client/; trustsync/failclosed/ is Build's own and is left to it.
func tiersOfFiles(files []File) (Tiers, error) {
	var t Tiers
	byDir := map[string]*agentv1.AuthorizationPolicy{}
	policyIn := func(list *[]*agentv1.AuthorizationPolicy, name string) *agentv1.AuthorizationPolicy {
		key := fmt.Sprintf("%p/%s", list, name)
		if p := byDir[key]; p != nil {
			return p
		}
		p := &agentv1.AuthorizationPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}}
		byDir[key] = p
		*list = append(*list, p)
		return p
	}
	for _, f := range files {
		rest := strings.TrimPrefix(f.Path, Root+"/")
		tier, rest, _ := strings.Cut(rest, "/")
		var p *agentv1.AuthorizationPolicy
		switch tier {
		case "global", "ns":
			name, file, ok := strings.Cut(rest, "/")
			if !ok || name == "" {
				return Tiers{}, fmt.Errorf("bundle archive: %s: not inside a policy's directory", f.Path)
			}
			list := &t.Global
			if tier == "ns" {
				list = &t.Namespace
			}
			p, rest = policyIn(list, name), file
		case "client":
			if t.Client == nil {
				t.Client = &agentv1.AuthorizationPolicy{ObjectMeta: metav1.ObjectMeta{Name: "client"}}
			}
			p = t.Client
		case "trustsync":
			if !strings.HasPrefix(rest, "failclosed/") {
				return Tiers{}, fmt.Errorf("bundle archive: %s: not a file trustsync adds", f.Path)
			}
			continue
		default:
			return Tiers{}, fmt.Errorf("bundle archive: %s: not in a tier's directory (global, ns, client)", f.Path)
		}
		p.Spec.Policies = append(p.Spec.Policies, agentv1.RegoPolicy{Path: rest, Content: f.Content})
	}
	byName := func(a, b *agentv1.AuthorizationPolicy) int { return strings.Compare(a.Name, b.Name) }
	slices.SortFunc(t.Global, byName) // as NewSet orders them
	slices.SortFunc(t.Namespace, byName)
	if t.Client != nil {
		t.Client.Spec.Scope = agentv1.ScopeClient
	}
	for _, p := range t.Namespace {
		p.Spec.Scope = agentv1.ScopeNamespace
	}
	for _, p := range t.Global {
		p.Spec.Scope = agentv1.ScopeGlobal
	}
	return t, nil
}

// firstDifference names the first file present in one list and not the other, or with
// other content.
func firstDifference(archived, built []File) string {
	want := map[string]string{}
	for _, f := range built {
		want[f.Path] = f.Content
	}
	for _, f := range archived {
		if c, ok := want[f.Path]; !ok || c != f.Content {
			return f.Path
		}
		delete(want, f.Path)
	}
	for _, f := range built {
		if _, ok := want[f.Path]; ok {
			return f.Path + " (missing)"
		}
	}
	return "the archive"
}

// boundedReader fails once more than left bytes have been read through it.
type boundedReader struct {
	r    io.Reader
	left int64
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, fmt.Errorf("decompresses to more than %d bytes", MaxBundleUncompressedSize)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}
