package renderers

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/manifest"
)

// TestRenderUpstreamAgentCards renders each AgentCard of testdata/upstream-agentcards
// (shaped as upstream documents them, see its SOURCES) alone in a repository, the way
// trustsync render reads one (an os.Root of the tree): the valid cards render as they
// are, the one without a targetRef fails naming its file, the card and the field.
func TestRenderUpstreamAgentCards(t *testing.T) {
	const dir = "testdata/upstream-agentcards"
	tests := []struct {
		file string
		want string // the one error; none when the card renders
	}{
		{file: "weather-agent-card.yaml"},
		{file: "signed-agent-card.yaml"},
		{file: "card-without-targetref.yaml", want: "upstream-agentcards/card-without-targetref.yaml: AgentCard team1/orphan-card: spec.targetRef: Required value"},
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var named []string
	for _, tt := range tests {
		named = append(named, tt.file)
	}
	for _, f := range files {
		if !slices.Contains(named, filepath.Base(f)) {
			t.Errorf("%s has no case: say whether it renders", f)
		}
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			tree := t.TempDir()
			if err := os.Mkdir(filepath.Join(tree, "upstream-agentcards"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(tree, "upstream-agentcards", tt.file), data, 0o644); err != nil {
				t.Fatal(err)
			}
			root, err := os.OpenRoot(tree)
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			res, err := Render(root.FS(), "upstream-agentcards", Options{Platform: gitopsv1.DefaultPlatform()})
			if tt.want != "" {
				if res != nil {
					t.Fatalf("rendered %d objects, want %s", len(res.Objects), tt.want)
				}
				errs := manifest.Errors(err)
				if len(errs) != 1 || errs[0].Error() != tt.want {
					t.Fatalf("got %v\nwant %s", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var cards []*manifest.Object
			for _, o := range res.Objects {
				if o.GetKind() == "AgentCard" {
					cards = append(cards, o)
				}
			}
			if len(cards) != 1 {
				t.Fatalf("rendered %d AgentCards, want 1", len(cards))
			}
			// The card is passed through as written: the operator fetches what it names.
			name, _, _ := unstructured.NestedString(cards[0].Object, "spec", "targetRef", "name")
			if name == "" || cards[0].Source != "upstream-agentcards/"+tt.file {
				t.Errorf("rendered card %s from %q, targetRef.name %q", cards[0].Ref(), cards[0].Source, name)
			}
		})
	}
}
