package policy

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
)

// MaxBundleSize is the largest bundle served, as in the reference bundle service.
const MaxBundleSize = 5 << 20

// IsTestFile reports whether a policy file holds Rego tests (*_test.rego). Tests run at
// render and never reach a bundle.
func IsTestFile(path string) bool { return strings.HasSuffix(path, "_test.rego") }

// Set indexes AuthorizationPolicies by tier, the way bundles are assembled from them:
// global policies only from the platform namespace, the namespace tier from the
// identity's namespace, the client tier from the policy named after the identity's
// ServiceAccount.
type Set struct {
	global     []*agentv1.AuthorizationPolicy
	namespaces map[string][]*agentv1.AuthorizationPolicy
	clients    map[string]*agentv1.AuthorizationPolicy // namespace/name
	// Ignored are global policies outside the platform namespace; they take no part.
	Ignored []*agentv1.AuthorizationPolicy
}

// NewSet indexes policies. Policies are not copied and must not change afterwards.
func NewSet(platformNamespace string, policies []*agentv1.AuthorizationPolicy) *Set {
	s := &Set{namespaces: map[string][]*agentv1.AuthorizationPolicy{}, clients: map[string]*agentv1.AuthorizationPolicy{}}
	for _, p := range policies {
		switch p.EffectiveScope() {
		case agentv1.ScopeGlobal:
			if p.Namespace != platformNamespace {
				s.Ignored = append(s.Ignored, p)
				continue
			}
			s.global = append(s.global, p)
		case agentv1.ScopeNamespace:
			s.namespaces[p.Namespace] = append(s.namespaces[p.Namespace], p)
		default:
			s.clients[p.Namespace+"/"+p.Name] = p
		}
	}
	byName := func(a, b *agentv1.AuthorizationPolicy) int { return strings.Compare(a.Name, b.Name) }
	slices.SortFunc(s.global, byName)
	for _, l := range s.namespaces {
		slices.SortFunc(l, byName)
	}
	return s
}

// Tiers are the policies of one identity. serviceAccount "" gives the global and
// namespace tiers only (an identity without a client policy); namespace "" gives the
// global tier only.
func (s *Set) Tiers(namespace, serviceAccount string) Tiers {
	t := Tiers{Global: s.global}
	if namespace == "" {
		return t
	}
	t.Namespace = s.namespaces[namespace]
	if serviceAccount != "" {
		t.Client = s.clients[namespace+"/"+serviceAccount]
	}
	return t
}

// TiersOf are the tiers of the identity p decides for: a client policy's identity (the
// ServiceAccount of its name), any identity of a namespace policy's namespace that has
// no client policy, or the global tier alone for a global policy. Its tests run there.
func (s *Set) TiersOf(p *agentv1.AuthorizationPolicy) Tiers {
	switch p.EffectiveScope() {
	case agentv1.ScopeGlobal:
		return s.Tiers("", "")
	case agentv1.ScopeNamespace:
		return s.Tiers(p.Namespace, "")
	}
	return s.Tiers(p.Namespace, p.Name)
}

// Tiers are the AuthorizationPolicies one identity's bundle is made of.
type Tiers struct {
	Global    []*agentv1.AuthorizationPolicy
	Namespace []*agentv1.AuthorizationPolicy
	Client    *agentv1.AuthorizationPolicy
}

// File is one Rego file of a bundle.
type File struct {
	// Path inside the bundle, e.g. authbridge/client/inbound/request.rego.
	Path    string
	Content string
	// Policy is the AuthorizationPolicy the file comes from (namespace/name); empty for
	// the fail-closed modules trustsync adds.
	Policy string
	// Source is the file's path in the policy (spec.policies[i].path).
	Source string
}

// Bundle is the compiled OPA bundle of one identity.
type Bundle struct {
	// Revision is the hex SHA-256 of the bundle's files; the same files give the same
	// revision and the same archive, byte for byte.
	Revision string
	Files    []File
	// FailClosed lists the decision points no global policy defines, which the bundle
	// denies explicitly (the reference AuthBridge plugin would let an undefined decision
	// through).
	FailClosed []Point
	// Tiers the bundle was built from.
	Tiers Tiers

	compiler *ast.Compiler
	byName   map[string]File // by module name
}

// ETag is the bundle's entity tag, sha256:<revision>.
func (b *Bundle) ETag() string { return "sha256:" + b.Revision }

// BuildError is a bundle that does not compile; it names the policy file and line.
type BuildError struct {
	// Policy is namespace/name of the policy at fault, when known.
	Policy string
	Path   string
	Line   int
	Err    error
}

func (e *BuildError) Error() string {
	var b strings.Builder
	if e.Policy != "" {
		fmt.Fprintf(&b, "AuthorizationPolicy %s: ", e.Policy)
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *BuildError) Unwrap() error { return e.Err }

// Build assembles and compiles the bundle of t with Capabilities. A bundle that does not
// compile is an error: the caller keeps serving the last good one.
func Build(t Tiers) (*Bundle, error) {
	a, err := assemble(t, nil)
	if err != nil {
		return nil, err
	}
	c := newCompiler()
	if c.Compile(a.modules); c.Failed() {
		return nil, a.compileError(c.Errors)
	}
	b := &Bundle{Tiers: t, Files: a.files, FailClosed: a.failClosed, Revision: revision(a.files), compiler: c, byName: a.byName}
	return b, nil
}

// assembly is a bundle's files, parsed, before compilation.
type assembly struct {
	files      []File // bundle files in path order
	failClosed []Point
	modules    map[string]*ast.Module // bundle files and extras, by module name
	byName     map[string]File
}

// assemble gathers and parses the files of t, adds the fail-closed modules, and parses
// extra modules (tests) alongside; extras are not bundle files.
func assemble(t Tiers, extra []File) (*assembly, error) {
	// Each tier's files stay in its directory and packages, whatever reached the cluster:
	// OPA cleans paths (a "../" could replace another tier's file) and resolves by
	// package (a tenant's package authbridge.inbound.request would be the decision).
	var files []File
	scopes := map[string]agentv1.PolicyScope{}
	var errs []error
	seen := map[string]bool{}
	add := func(p *agentv1.AuthorizationPolicy, dir string, scope agentv1.PolicyScope) {
		for _, rp := range p.Spec.Policies {
			if IsTestFile(rp.Path) {
				continue
			}
			f := File{Path: dir + rp.Path, Content: rp.Content, Policy: name(p), Source: rp.Path}
			if clean := path.Clean(f.Path); clean != f.Path || !strings.HasPrefix(clean, dir) || seen[clean] {
				errs = append(errs, buildError(f, errors.New("the path leaves the policy's directory in the bundle, or collides with another file")))
				continue
			}
			seen[f.Path] = true
			scopes[f.Path] = scope
			files = append(files, f)
		}
	}
	for _, p := range t.Global {
		add(p, Root+"/global/"+p.Name+"/", agentv1.ScopeGlobal)
	}
	for _, p := range t.Namespace {
		add(p, Root+"/ns/"+p.Name+"/", agentv1.ScopeNamespace)
	}
	if t.Client != nil {
		add(t.Client, Root+"/client/", agentv1.ScopeClient)
	}
	if len(errs) > 0 {
		return nil, errs[0]
	}

	a := &assembly{modules: make(map[string]*ast.Module, len(files)+len(extra)), byName: map[string]File{}}
	defined := map[string]bool{}
	parse := func(f File) error {
		m, err := parseCached(f)
		if err != nil {
			return buildError(f, err)
		}
		// Check holds policies to these before they reach the cluster; this holds what
		// reached it another way, before the compiler spends quadratic time on it.
		if line, err := checkShape(m); err != nil {
			e := buildError(f, err)
			e.Line = line
			return e
		}
		a.modules[f.Path] = m
		a.byName[f.Path] = f
		defined[strings.TrimPrefix(m.Package.Path.String(), "data.")] = true
		return nil
	}
	for _, f := range files {
		if err := parse(f); err != nil {
			return nil, err
		}
		if pkg := strings.TrimPrefix(a.modules[f.Path].Package.Path.String(), "data."); !allowedPackage(scopes[f.Path], pkg) {
			return nil, buildError(f, fmt.Errorf("package %s is outside the %s tier", pkg, scopes[f.Path]))
		}
	}
	// An identity whose global tier leaves a decision point undefined gets an explicit
	// deny there: the sidecar must never see an undefined decision.
	for _, pt := range Points {
		pkg := Package(agentv1.ScopeGlobal, pt)
		if defined[pkg] {
			continue
		}
		f := File{Path: Root + "/trustsync/failclosed/" + pt.File(), Content: "package " + pkg + "\n\n# No global policy defines this decision: deny.\ndefault allow := false\n"}
		if err := parse(f); err != nil {
			return nil, err
		}
		files = append(files, f)
		a.failClosed = append(a.failClosed, pt)
	}
	for _, f := range extra {
		if err := parse(f); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	a.files = files
	return a, nil
}

// parsed caches parsed modules by name and content: the global and namespace tiers are
// the same in many bundles. The compiler rewrites the modules it compiles, so callers
// get a copy.
var parsed sync.Map // string → *ast.Module

// parseCacheLimit bounds the cache; past it, modules are parsed without caching.
const parseCacheLimit = 20000

var parsedCount atomic.Int64

func parseCached(f File) (*ast.Module, error) {
	key := f.Path + "\x00" + f.Content
	if m, ok := parsed.Load(key); ok {
		return m.(*ast.Module).Copy(), nil
	}
	m, err := ast.ParseModuleWithOpts(f.Path, f.Content, ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		return nil, err
	}
	if parsedCount.Load() < parseCacheLimit {
		if _, loaded := parsed.LoadOrStore(key, m.Copy()); !loaded {
			parsedCount.Add(1)
		}
	}
	return m, nil
}

// compileError locates the first compile error in its file.
func (a *assembly) compileError(errs ast.Errors) *BuildError {
	e := errs[0]
	f := File{}
	if e.Location != nil {
		f = a.byName[e.Location.File]
	}
	return buildError(f, ast.Errors{e})
}

func buildError(f File, err error) *BuildError {
	out := &BuildError{Policy: f.Policy, Path: f.Source, Err: err}
	if out.Path == "" {
		out.Path = f.Path
	}
	var list ast.Errors
	if errors.As(err, &list) && len(list) > 0 {
		if list[0].Location != nil {
			out.Line = list[0].Location.Row
		}
		out.Err = fmt.Errorf("%s: %s", list[0].Code, undefinedRefused(list[0]))
	}
	return out
}

// revision hashes the sorted files: path and content, each NUL-terminated.
func revision(files []File) string {
	h := sha256.New()
	for _, f := range files {
		h.Write([]byte(f.Path))
		h.Write([]byte{0})
		h.Write([]byte(f.Content))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// manifest is the bundle's .manifest.
type manifest struct {
	Revision string   `json:"revision"`
	Roots    []string `json:"roots"`
}

// Archive writes the bundle as OPA reads it: a gzip tar with a .manifest (revision,
// roots [authbridge]) and the Rego files. It is deterministic: no timestamps, no owners,
// files in path order, so equal bundles are equal bytes.
func (b *Bundle) Archive() ([]byte, error) {
	var buf bytes.Buffer
	gz, err := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(gz)
	write := func(name string, data []byte) error {
		hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	m, err := json.Marshal(manifest{Revision: b.Revision, Roots: []string{Root}})
	if err != nil {
		return nil, err
	}
	if err := write("/.manifest", m); err != nil {
		return nil, err
	}
	for _, f := range b.Files {
		if err := write("/"+f.Path, []byte(f.Content)); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// PolicyHash is the content hash of one policy's files (tests included), as its status
// reports it.
func PolicyHash(p *agentv1.AuthorizationPolicy) string {
	files := make([]File, 0, len(p.Spec.Policies))
	for _, rp := range p.Spec.Policies {
		files = append(files, File{Path: rp.Path, Content: rp.Content})
	}
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return "sha256:" + revision(files)
}
