package syncs

import (
	"context"

	"k8s.io/apimachinery/pkg/types"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

// Artifact is a fetched revision of a source, checked out on disk.
type Artifact struct {
	// Revision is <ref>@sha1:<commit>.
	Revision string
	// Commit is the full commit SHA.
	Commit string
	// Digest of the file tree.
	Digest string
	// Dir holds the checked-out tree; it never changes once published.
	Dir string
}

// Artifacts gives the latest artifact of a source.
type Artifacts interface {
	Latest(source types.NamespacedName) (*Artifact, bool)
}

// State of a report on a commit.
type State string

const (
	Pending State = "pending"
	Success State = "success"
	Failure State = "failure"
)

// Report is what a Sync says about a revision on its commit.
type Report struct {
	// Cluster is the member cluster the report is about; empty for the Sync as a whole.
	Cluster     string
	State       State
	Description string
}

// Reporter posts a Sync's report on the commit it applied or tried. It must not post
// a report identical to the last one posted for the same Sync and commit.
type Reporter interface {
	Report(ctx context.Context, sync *gitopsv1.Sync, source *gitopsv1.GitSource, commit string, r Report) error
}
