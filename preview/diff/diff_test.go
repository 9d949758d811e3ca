package diff

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/trustsync/trustsync/manifest"
)

func obj(t *testing.T, source, doc string) *manifest.Object {
	t.Helper()
	m := map[string]any{}
	if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatal(err)
	}
	return manifest.New(&unstructured.Unstructured{Object: m}, source)
}

const deployment = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: agent, namespace: team-a}
spec:
  template:
    metadata:
      annotations:
        kagenti.io/config-hash: %HASH%
        kagenti.io/mtls-mode: %MTLS%
    spec:
      containers:
        - name: agent
          image: example/agent:1
          ports: [{containerPort: 8080}, {containerPort: 9090}]
          env:
            - {name: A, value: "1"}
            - {name: PLANNER_URL, value: %URL%}
        - name: helper
          image: example/helper:1
      tolerations:
        - {key: a, operator: Exists}
`

func dep(t *testing.T, hash, mtls, url string, edit func(string) string) *manifest.Object {
	t.Helper()
	doc := strings.NewReplacer("%HASH%", hash, "%MTLS%", mtls, "%URL%", url).Replace(deployment)
	if edit != nil {
		doc = edit(doc)
	}
	return obj(t, "team-a/agent.yaml", doc)
}

const hashPath = "spec.template.metadata.annotations[kagenti.io/config-hash]"

func TestObjects(t *testing.T) {
	base := dep(t, "h1", "strict", "http://planner:8000", nil)
	tests := []struct {
		name         string
		head         *manifest.Object
		want         []FieldChange
		wantFollowed []string
		followedOnly bool
	}{
		{name: "identical", head: dep(t, "h1", "strict", "http://planner:8000", nil)},
		{
			name: "keyed lists reordered",
			head: dep(t, "h1", "strict", "http://planner:8000", func(s string) string {
				s = strings.Replace(s, `            - {name: A, value: "1"}
            - {name: PLANNER_URL, value: http://planner:8000}`, `            - {name: PLANNER_URL, value: http://planner:8000}
            - {name: A, value: "1"}`, 1)
				s = strings.Replace(s, `[{containerPort: 8080}, {containerPort: 9090}]`, `[{containerPort: 9090}, {containerPort: 8080}]`, 1)
				// helper first, agent second
				i := strings.Index(s, "        - name: helper")
				j := strings.Index(s, "      tolerations:")
				helper := s[i:j]
				s = s[:i] + s[j:]
				return strings.Replace(s, "      containers:\n", "      containers:\n"+helper, 1)
			}),
		},
		{
			name: "env value changed",
			head: dep(t, "h1", "strict", "http://planner:9000", nil),
			want: []FieldChange{{Path: "spec.template.spec.containers[name=agent].env[name=PLANNER_URL].value", Old: "http://planner:8000", New: "http://planner:9000"}},
		},
		{
			name: "container added",
			head: dep(t, "h1", "strict", "http://planner:8000", func(s string) string {
				return strings.Replace(s, "      tolerations:", "        - name: sidecar\n          image: example/sidecar:1\n      tolerations:", 1)
			}),
			want: []FieldChange{{Path: "spec.template.spec.containers[name=sidecar]", New: map[string]any{"name": "sidecar", "image": "example/sidecar:1"}, Added: true}},
		},
		{
			name: "unnamed port keyed by containerPort",
			head: dep(t, "h1", "strict", "http://planner:8000", func(s string) string {
				return strings.Replace(s, `{containerPort: 9090}`, `{containerPort: 9090, protocol: UDP}`, 1)
			}),
			want: []FieldChange{{Path: "spec.template.spec.containers[name=agent].ports[containerPort=9090].protocol", New: "UDP", Added: true}},
		},
		{
			name: "plain list by index",
			head: dep(t, "h1", "strict", "http://planner:8000", func(s string) string {
				return strings.Replace(s, `{key: a, operator: Exists}`, `{key: b, operator: Exists}`, 1)
			}),
			want: []FieldChange{{Path: "spec.template.spec.tolerations[0].key", Old: "a", New: "b"}},
		},
		{
			name:         "config hash only: suppressed and flagged",
			head:         dep(t, "h2", "strict", "http://planner:8000", nil),
			wantFollowed: []string{hashPath},
			followedOnly: true,
		},
		{
			name:         "config hash follows a change",
			head:         dep(t, "h2", "permissive", "http://planner:8000", nil),
			want:         []FieldChange{{Path: "spec.template.metadata.annotations[kagenti.io/mtls-mode]", Old: "strict", New: "permissive"}},
			wantFollowed: []string{hashPath},
		},
		{
			name: "null, empty and server fields are no change",
			head: dep(t, "h1", "strict", "http://planner:8000", func(s string) string {
				s = strings.Replace(s, "metadata: {name: agent, namespace: team-a}", "metadata: {name: agent, namespace: team-a, labels: {}, resourceVersion: \"7\", uid: x, generation: 3}\nstatus: {replicas: 2}", 1)
				return strings.Replace(s, "          image: example/helper:1", "          image: example/helper:1\n          args: []\n          resources: {}\n          command: null", 1)
			}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Objects([]*manifest.Object{base}, []*manifest.Object{tt.head})
			var got *Change
			switch {
			case tt.followedOnly:
				if len(r.Changes) != 0 || len(r.FollowedOnly) != 1 {
					t.Fatalf("want only a followed-only entry, got %+v", r)
				}
				got = &r.FollowedOnly[0]
			case tt.want == nil:
				if !r.Empty() || len(r.FollowedOnly) != 0 {
					t.Fatalf("want no change, got %+v", r)
				}
				return
			default:
				if len(r.Changes) != 1 || len(r.FollowedOnly) != 0 {
					t.Fatalf("want one change, got %+v", r)
				}
				got = &r.Changes[0]
			}
			if got.Action != Changed || got.Ref().String() != "Deployment team-a/agent" || got.Ref().Group != "apps" {
				t.Errorf("change %+v", got)
			}
			if !reflect.DeepEqual(got.Fields, tt.want) {
				t.Errorf("fields\n got %#v\nwant %#v", got.Fields, tt.want)
			}
			if !reflect.DeepEqual(got.Followed, tt.wantFollowed) {
				t.Errorf("followed %v, want %v", got.Followed, tt.wantFollowed)
			}
		})
	}
}

func TestNumbersNormalised(t *testing.T) {
	svc := func(port any) *manifest.Object {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": "s", "namespace": "n"},
			"spec": map[string]any{"ports": []any{map[string]any{"port": port}}},
		}}
		return manifest.New(u, "s.yaml")
	}
	tests := []struct {
		old, new any
		want     []FieldChange
	}{
		{old: int64(80), new: float64(80)},
		{old: int64(80), new: 80},
		{old: json.Number("80"), new: float64(80)},
		{old: int64(80), new: float64(80.5), want: []FieldChange{{Path: "spec.ports[0].port", Old: int64(80), New: 80.5}}},
		{old: int64(80), new: "80", want: []FieldChange{{Path: "spec.ports[port=80].port", Old: int64(80), New: "80"}}},
	}
	for _, tt := range tests {
		r := Objects([]*manifest.Object{svc(tt.old)}, []*manifest.Object{svc(tt.new)})
		var got []FieldChange
		if len(r.Changes) == 1 {
			got = r.Changes[0].Fields
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%T(%v) → %T(%v): got %#v, want %#v", tt.old, tt.old, tt.new, tt.new, got, tt.want)
		}
	}
}

func TestSecretRedacted(t *testing.T) {
	const (
		oldToken = "b2xkLXNlY3JldC10b2tlbg=="
		newToken = "bmV3LXNlY3JldC10b2tlbg=="
		added    = "YWRkZWQtc2VjcmV0"
	)
	secret := func(data, stringData string) *manifest.Object {
		return obj(t, "s.yaml", `
apiVersion: v1
kind: Secret
metadata:
  name: creds
  namespace: team-a
  labels: {team: a}
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{"data":{"token":"`+data+`"}}'
type: Opaque
data: {token: `+data+`, keep: a2VlcA==}
stringData: {`+stringData+`}
`)
	}
	base := secret(oldToken, "")
	head := secret(newToken, "extra: "+added)
	head.SetLabels(map[string]string{"team": "b"})
	r := Objects([]*manifest.Object{base}, []*manifest.Object{head})
	if len(r.Changes) != 1 {
		t.Fatalf("changes: %+v", r)
	}
	want := []FieldChange{
		{Path: "data.token", Redacted: true},
		{Path: "metadata.annotations[kubectl.kubernetes.io/last-applied-configuration]", Redacted: true},
		{Path: "metadata.labels.team", Old: "a", New: "b"},
		{Path: "stringData.extra", Redacted: true, Added: true},
	}
	if got := r.Changes[0].Fields; !reflect.DeepEqual(got, want) {
		t.Errorf("fields\n got %#v\nwant %#v", got, want)
	}
	var text, js bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := json.NewEncoder(&js).Encode(r); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{text.String(), js.String()} {
		for _, v := range []string{oldToken, newToken, added, "new-secret", "old-secret"} {
			if strings.Contains(out, v) {
				t.Errorf("output holds the secret value %q:\n%s", v, out)
			}
		}
	}
	if !strings.Contains(text.String(), "    data.token: changed (value redacted)\n") || !strings.Contains(text.String(), "    stringData.extra: added (value redacted)\n") {
		t.Errorf("text:\n%s", text.String())
	}
	// A removed or added Secret lists its file only.
	r = Objects([]*manifest.Object{base}, nil)
	text.Reset()
	_ = r.WriteText(&text)
	if got := text.String(); got != "1 object changed: 0 added, 1 removed, 0 changed\n- Secret team-a/creds (s.yaml)\n" {
		t.Errorf("removed secret:\n%s", got)
	}
}

func TestAddedRemovedOrderAndText(t *testing.T) {
	ns := obj(t, "team-b/namespace.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: team-b}")
	sa := obj(t, "", "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: planner, namespace: team-b}")
	policy := func(rego string) *manifest.Object {
		return obj(t, "team-a/policies.yaml", `
apiVersion: agent.kagenti.dev/v1alpha1
kind: AuthorizationPolicy
metadata: {name: research-agent, namespace: team-a}
spec:
  scope: client
  policies:
    - path: outbound/request.rego
      content: |
`+rego)
	}
	oldRego := "        package p\n\n        default allow := false\n\n        allow if input.host == \"a\"\n"
	newRego := "        package p\n\n        default allow := false\n\n        allow if input.host == \"b\"\n\n        allow if input.host == \"c\"\n"
	gone := obj(t, "team-a/old.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: old, namespace: team-a}")
	base := []*manifest.Object{policy(oldRego), gone}
	head := []*manifest.Object{policy(newRego), sa, ns}
	r := Objects(base, head)
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := `4 objects changed: 2 added, 1 removed, 1 changed
+ Namespace team-b (team-b/namespace.yaml)
+ ServiceAccount team-b/planner (generated)
- ConfigMap team-a/old (team-a/old.yaml)
~ AuthorizationPolicy team-a/research-agent
    spec.policies[path=outbound/request.rego].content:
      - allow if input.host == "a"
      + allow if input.host == "b"
      +
      + allow if input.host == "c"
`
	if got := b.String(); got != want {
		t.Errorf("text\n got:\n%s\nwant:\n%s", got, want)
	}
	// Deterministic: the same input in another order gives the same result.
	r2 := Objects([]*manifest.Object{gone, policy(oldRego)}, []*manifest.Object{ns, sa, policy(newRego)})
	if !reflect.DeepEqual(r, r2) {
		t.Errorf("order depends on input order:\n%+v\n%+v", r, r2)
	}
	if r := Objects(head, head); !r.Empty() || r.Summary() != "0 objects changed: 0 added, 0 removed, 0 changed" {
		t.Errorf("same revision: %+v %q", r, r.Summary())
	}
}

func TestLineDiff(t *testing.T) {
	tests := []struct {
		old, new string
		want     []string
	}{
		{"a\nb\nc\n", "a\nc\n", []string{"- b"}},
		{"a\nb\n", "a\nx\nb\n", []string{"+ x"}},
		{"a\nb\n", "b\na\n", []string{"- a", "+ a"}},
		{"", "x\ny\n", []string{"+ x", "+ y"}},
	}
	for _, tt := range tests {
		if got := lineDiff(tt.old, tt.new); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("lineDiff(%q, %q) = %q, want %q", tt.old, tt.new, got, tt.want)
		}
	}
}

func TestFollowedOnlyText(t *testing.T) {
	cm := func(v string) *manifest.Object {
		return obj(t, "team-a/agent.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: authbridge-config-agent, namespace: team-a}\ndata: {config.yaml: \""+v+"\"}")
	}
	base := []*manifest.Object{cm("a"), dep(t, "h1", "strict", "u", nil)}
	head := []*manifest.Object{cm("b"), dep(t, "h2", "strict", "u", nil)}
	r := Objects(base, head)
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := `1 object changed: 0 added, 0 removed, 1 changed
~ ConfigMap team-a/authbridge-config-agent
    data[config.yaml]: "a" → "b"
= Deployment team-a/agent (spec.template.metadata.annotations[kagenti.io/config-hash] follows its inputs)
`
	if got := b.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if a, d, c := r.Count(); a != 0 || d != 0 || c != 1 || r.Empty() {
		t.Errorf("counts %d %d %d", a, d, c)
	}
}
