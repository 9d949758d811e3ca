package secureprofile

import (
	"reflect"
	"strings"
	"testing"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/manifest"
)

// sharedMemo is one memo for every expansion of the package's tests, so each test's
// inputs also meet what the tests before left in it.
var sharedMemo = &Memo{}

// expandBoth is Expand, checked against ExpandWith through sharedMemo twice (the second
// served from it): the memo must change no object, agent or error.
func expandBoth(t *testing.T, objs []*manifest.Object, p *gitopsv1.Platform) (*Result, error) {
	t.Helper()
	copies := func() []*manifest.Object {
		out := make([]*manifest.Object, len(objs))
		for i, o := range objs {
			out[i] = manifest.New(o.DeepCopy(), o.Source)
		}
		return out
	}
	want, wantErr := Expand(copies(), p)
	for round := range 2 {
		got, err := ExpandWith(copies(), p, sharedMemo)
		if errText(err) != errText(wantErr) {
			t.Fatalf("round %d with the memo: error %v; without: %v", round, err, wantErr)
		}
		if wantErr == nil && (encoded(t, got.Objects) != encoded(t, want.Objects) || !reflect.DeepEqual(got.Agents, want.Agents)) {
			t.Fatalf("round %d with the memo differs:\n%s\nwithout:\n%s", round, encoded(t, got.Objects), encoded(t, want.Objects))
		}
	}
	return Expand(objs, p)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func encoded(t *testing.T, objs []*manifest.Object) string {
	t.Helper()
	var b strings.Builder
	if err := manifest.WriteYAML(&b, objs); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestMemoServesUnchangedAgents: a second expansion of the same agents takes their
// config.yaml and its verdict from the memo.
func TestMemoServesUnchangedAgents(t *testing.T) {
	memo := &Memo{}
	if _, err := ExpandWith(objects(t, ns, deploy, chatRuntime), platformWith(nil), memo); err != nil {
		t.Fatal(err)
	}
	if memo.configs.Len() != 1 || memo.loads.Len() != 1 {
		t.Fatalf("the memo kept %d configs and %d verdicts, want 1 and 1", memo.configs.Len(), memo.loads.Len())
	}
	if _, err := ExpandWith(objects(t, ns, deploy, strings.Replace(chatRuntime, "type: agent", "type: agent\n  mtlsMode: strict", 1)), platformWith(nil), memo); err != nil {
		t.Fatal(err)
	}
	if memo.configs.Len() != 2 {
		t.Fatalf("a changed agent's config was not built anew: %d configs kept", memo.configs.Len())
	}
}

// TestMemoVerdictIsPerMode: a config.yaml the full sidecar loads is refused by the lite
// image all the same when the memo saw it pass.
func TestMemoVerdictIsPerMode(t *testing.T) {
	memo := &Memo{}
	pipeline := runtimeConfig(goodPipeline + "\n      - name: opa")
	if _, err := ExpandWith(objects(t, ns, deploy, chatRuntime, pipeline), platformWith(nil), memo); err != nil {
		t.Fatal(err)
	}
	lite := strings.Replace(chatRuntime, "  type: agent\n", "  type: agent\n  authBridgeMode: lite\n", 1)
	if _, err := ExpandWith(objects(t, ns, deploy, lite, pipeline), platformWith(nil), memo); err == nil || !strings.Contains(err.Error(), "opa is not a plugin of the lite image") {
		t.Fatalf("the lite agent's config passed: %v", err)
	}
}
