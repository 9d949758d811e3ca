package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/internal/gittest"
	"github.com/trustsync/trustsync/manifest"
	"github.com/trustsync/trustsync/renderers"
	"github.com/trustsync/trustsync/sources/git"
)

var updateDiff = flag.Bool("update-diff", false, "rewrite testdata/diff-*.golden")

// runDiff runs the diff command as main would: the exit status and what it prints.
func runDiff(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := newDiffCommand()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		var perr error
		code, perr = exitStatus(err)
		if perr != nil {
			printErrors(&errb, perr)
		}
	}
	return out.String(), errb.String(), code
}

const calendarClientPolicy = `---
# Client tier of calendar-tool: of team-b, only planner-agent may call it.
apiVersion: agent.kagenti.dev/v1alpha1
kind: AuthorizationPolicy
metadata:
  name: calendar-tool
spec:
  scope: client
  clientID: calendar-tool
  policies:
    - path: inbound/request.rego
      content: |
        package authbridge.client.inbound.request

        import rego.v1

        default allow := false

        allow if regex.match(` + "`^spiffe://[^/]+/ns/team-b/sa/planner-agent$`" + `, input.identity.client_id)
`

// multiTenantHistory is a repository holding a copy of examples/multi-tenant in two
// commits: the example, then research-agent's mtlsMode relaxed and a client policy for
// calendar-tool added.
func multiTenantHistory(t *testing.T) (*gittest.Server, *gittest.Workspace) {
	t.Helper()
	s := gittest.NewServer(t, gittest.Options{Username: "diff", Password: "s3cret-pass"})
	s.CreateRepo(t, "agents")
	w := s.Workspace(t, "agents")
	files := map[string]string{}
	src := filepath.Join("..", "..", "examples", "multi-tenant")
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(src, p)
		files[filepath.ToSlash(filepath.Join("multi-tenant", rel))] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(t, files)
	w.Commit(t, "multi-tenant example")

	agent := files["multi-tenant/team-a/research-agent.yaml"]
	if !strings.Contains(agent, "mtlsMode: strict") {
		t.Fatal("the example changed: research-agent has no mtlsMode: strict")
	}
	w.Write(t, map[string]string{
		"multi-tenant/team-a/research-agent.yaml": strings.Replace(agent, "mtlsMode: strict", "mtlsMode: permissive", 1),
		"multi-tenant/team-b/policies.yaml":       files["multi-tenant/team-b/policies.yaml"] + calendarClientPolicy,
	})
	w.Commit(t, "relax research-agent, restrict calendar-tool")
	w.Push(t)
	return s, w
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *updateDiff {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update-diff to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (-update-diff rewrites it):\n--- got\n%s\n--- want\n%s", p, got, want)
	}
}

func TestDiffMultiTenant(t *testing.T) {
	s, w := multiTenantHistory(t)
	path := filepath.Join(w.Dir, "multi-tenant")

	out, errOut, code := runDiff(t, path, "--base", "HEAD~1", "--head", "HEAD")
	if code != 1 {
		t.Fatalf("exit %d, want 1 (differences); stderr:\n%s", code, errOut)
	}
	checkGolden(t, "diff-multi-tenant.golden", out)

	t.Run("same revision: exit 0", func(t *testing.T) {
		out, errOut, code := runDiff(t, path, "--base", "HEAD", "--head", "main")
		if code != 0 || out != "0 objects changed: 0 added, 0 removed, 0 changed\n" {
			t.Fatalf("exit %d, out %q, stderr %q", code, out, errOut)
		}
	})

	t.Run("json", func(t *testing.T) {
		out, errOut, code := runDiff(t, path, "--base", "HEAD~1", "--head", "HEAD", "-o", "json")
		if code != 1 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var got struct {
			Base, Head struct{ Ref, Commit string }
			Summary    string
			Changes    []struct {
				Action, Kind, Namespace, Name, Source string
				Fields                                []struct {
					Path     string
					Old, New any
				}
				Followed []string
			}
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v:\n%s", err, out)
		}
		if got.Head.Commit != w.Head(t) || got.Base.Ref != "HEAD~1" || len(got.Base.Commit) != 40 || got.Base.Commit == got.Head.Commit {
			t.Errorf("revisions: %+v %+v", got.Base, got.Head)
		}
		if summary, _, _ := strings.Cut(golden(t), "\n"); got.Summary != summary {
			t.Errorf("summary %q", got.Summary)
		}
		found := false
		for _, c := range got.Changes {
			if c.Kind == "AgentRuntime" && c.Name == "research-agent" {
				found = len(c.Fields) == 1 && c.Fields[0].Path == "spec.mtlsMode" && c.Fields[0].Old == "strict" && c.Fields[0].New == "permissive"
			}
		}
		if !found {
			t.Errorf("no spec.mtlsMode change of AgentRuntime research-agent:\n%s", out)
		}
	})

	t.Run("remote repository with credentials", func(t *testing.T) {
		secret := filepath.Join(t.TempDir(), "creds.yaml")
		if err := os.WriteFile(secret, []byte("apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData:\n  username: diff\n  password: s3cret-pass\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		base := strings.TrimSpace(w.Git(t, "rev-parse", "HEAD~1"))
		out, errOut, code := runDiff(t, "multi-tenant", "--repo", s.RepoURL("agents"), "--auth-secret", secret, "--base", base, "--head", "main")
		if code != 1 {
			t.Fatalf("exit %d; stderr:\n%s", code, errOut)
		}
		if out != golden(t) {
			t.Errorf("remote diff differs from the local one:\n%s", out)
		}
		// Wrong credentials: an error (exit 2) that does not show them.
		if err := os.WriteFile(secret, []byte("apiVersion: v1\nkind: Secret\nstringData:\n  username: diff\n  password: wrong-pass\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, errOut, code = runDiff(t, "multi-tenant", "--repo", s.RepoURL("agents"), "--auth-secret", secret, "--base", base, "--head", "main")
		if code != 2 || strings.Contains(errOut, "wrong-pass") || !strings.Contains(errOut, "error: ") {
			t.Errorf("wrong credentials: exit %d, stderr %q", code, errOut)
		}
	})

	t.Run("a directory only the head has: all added", func(t *testing.T) {
		w.Write(t, map[string]string{"extra/kustomization.yaml": "resources: [cm.yaml]\n", "extra/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra, namespace: team-a}\ndata: {a: b}\n"})
		w.Commit(t, "extra")
		out, errOut, code := runDiff(t, filepath.Join(w.Dir, "extra"), "--base", "HEAD~1", "--head", "HEAD")
		if code != 1 || out != "1 object changed: 1 added, 0 removed, 0 changed\n+ ConfigMap team-a/extra (extra/cm.yaml)\n" {
			t.Errorf("exit %d, out %q, stderr %q", code, out, errOut)
		}
	})

	errorCases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown revision", []string{path, "--base", "no-such-branch"}, `error: base: git `},
		{"bad output", []string{path, "--base", "HEAD~1", "-o", "yaml"}, `--output "yaml": want text or json`},
		{"bad flag", []string{path, "--bogus"}, "unknown flag: --bogus"},
		{"no path", []string{"--base", "HEAD"}, "accepts 1 arg(s)"},
		{"not a repository", []string{t.TempDir(), "--base", "HEAD"}, "is not inside a Git work tree"},
		{"auth without repo", []string{path, "--base", "HEAD", "--auth-secret", "x"}, "--auth-secret needs --repo"},
		{"path outside a remote repo", []string{"../x", "--repo", s.RepoURL("agents"), "--base", "main"}, "must be a path inside the repository"},
	}
	for _, tt := range errorCases {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runDiff(t, tt.args...)
			if code != 2 || out != "" || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 and %q", code, out, errOut, tt.want)
			}
		})
	}
}

func golden(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "diff-multi-tenant.golden"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDiffAgainstCluster applies the base as the engine would and compares the head
// with the live objects through server-side dry-runs.
func TestDiffAgainstCluster(t *testing.T) {
	_, w := multiTenantHistory(t)
	path := filepath.Join(w.Dir, "multi-tenant")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	fsys, _, err := git.OpenRevision(w.Dir, "HEAD~1")
	if err != nil {
		t.Fatal(err)
	}
	base, err := renderers.Render(fsys, "multi-tenant", renderers.Options{SkipPolicyTests: true})
	if err != nil {
		t.Fatal(err)
	}
	apply := func(objs []*manifest.Object) {
		t.Helper()
		for _, o := range objs {
			u := o.Unstructured.DeepCopy()
			if err := env.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(gitopsv1.FieldManager), client.ForceOwnership); err != nil {
				t.Fatalf("applying %s: %v", o.Ref(), err)
			}
		}
	}
	apply(base.Objects)

	out, errOut, code := runDiff(t, path, "--base", "HEAD~1", "--head", "HEAD", "--kubeconfig", kubeconfig)
	if code != 1 {
		t.Fatalf("exit %d; stderr:\n%s", code, errOut)
	}
	// Defaults the API server adds are on both sides: the change is the same as offline.
	if out != golden(t) {
		t.Errorf("against the cluster:\n%s\nwant (as offline):\n%s", out, golden(t))
	}

	// The base itself, against the live base: no difference, and the head's new policy,
	// which is not live, is not "removed".
	out, errOut, code = runDiff(t, path, "--base", "HEAD", "--head", "HEAD~1", "--kubeconfig", kubeconfig)
	if code != 0 {
		t.Errorf("base against the live base: exit %d\n%s%s", code, out, errOut)
	}

	// Dry-runs wrote nothing.
	rt := &unstructured.Unstructured{}
	rt.SetAPIVersion("agent.kagenti.dev/v1alpha1")
	rt.SetKind("AgentRuntime")
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "team-a", Name: "research-agent"}, rt); err != nil {
		t.Fatal(err)
	}
	if m, _, _ := unstructured.NestedString(rt.Object, "spec", "mtlsMode"); m != "strict" {
		t.Errorf("live mtlsMode %q after the dry-run", m)
	}

	// With the head applied, going back to the base removes the live policy.
	fsys, _, err = git.OpenRevision(w.Dir, "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	head, err := renderers.Render(fsys, "multi-tenant", renderers.Options{SkipPolicyTests: true})
	if err != nil {
		t.Fatal(err)
	}
	apply(head.Objects)
	out, errOut, code = runDiff(t, path, "--base", "HEAD", "--head", "HEAD~1", "--kubeconfig", kubeconfig)
	if code != 1 || !strings.Contains(out, "\n- AuthorizationPolicy team-b/calendar-tool (multi-tenant/team-b/policies.yaml)\n") {
		t.Errorf("back to the base: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "    spec.mtlsMode: \"permissive\" → \"strict\"\n") {
		t.Errorf("back to the base: no mtlsMode change\n%s", out)
	}

	// Admission takes part: a policy of the cluster that refuses permissive mTLS in
	// team-a fails the diff, naming the object and its file.
	denyPermissive(ctx, t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, errOut, code = runDiff(t, path, "--base", "HEAD~1", "--head", "HEAD", "--kubeconfig", kubeconfig)
		if code == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond) // the API server loads new policies asynchronously
	}
	if code != 2 || out != "" || !strings.Contains(errOut, "error: multi-tenant/team-a/research-agent.yaml: AgentRuntime team-a/research-agent: server-side dry-run: ") || !strings.Contains(errOut, "team-a runs strict mTLS") {
		t.Errorf("refused by admission: exit %d\n%s%s", code, out, errOut)
	}

	// A head that adds a Namespace and objects in it: those cannot be dry-run before the
	// Namespace exists, and are added as rendered.
	w.Write(t, map[string]string{
		"fresh/kustomization.yaml": "resources: [ns.yaml, cm.yaml]\n",
		"fresh/ns.yaml":            "apiVersion: v1\nkind: Namespace\nmetadata: {name: diff-fresh}\n",
		"fresh/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: diff-fresh}\ndata: {a: b}\n",
	})
	w.Commit(t, "fresh namespace")
	out, errOut, code = runDiff(t, filepath.Join(w.Dir, "fresh"), "--base", "HEAD~1", "--head", "HEAD", "--kubeconfig", kubeconfig)
	want := "2 objects changed: 2 added, 0 removed, 0 changed\n+ Namespace diff-fresh (fresh/ns.yaml)\n+ ConfigMap diff-fresh/x (fresh/cm.yaml)\n"
	if code != 1 || out != want {
		t.Errorf("new namespace: exit %d\n%s%s", code, out, errOut)
	}
}

// denyPermissive installs a ValidatingAdmissionPolicy (admission in the API server, no
// webhook server needed) refusing AgentRuntimes with permissive mTLS in team-a; it is
// removed when the test ends.
func denyPermissive(ctx context.Context, t *testing.T) {
	t.Helper()
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "diff-test-strict-team-a"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{"agent.kagenti.dev"}, APIVersions: []string{"*"}, Resources: []string{"agentruntimes"}},
				}}},
			},
			Validations: []admissionregistrationv1.Validation{{
				Expression: `!has(object.spec.mtlsMode) || object.spec.mtlsMode != "permissive"`,
				Message:    "team-a runs strict mTLS",
			}},
		},
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "diff-test-strict-team-a"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        policy.Name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
			MatchResources: &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{"kubernetes.io/metadata.name": "team-a"},
			}},
		},
	}
	for _, o := range []client.Object{policy, binding} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), o) })
	}
}
