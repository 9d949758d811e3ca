package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// GitRef selects the revision of a repository. Exactly one of branch, tag, semver and
// commit may be set; none means the branch main.
// +kubebuilder:validation:XValidation:rule="[has(self.branch), has(self.tag), has(self.semver), has(self.commit)].filter(x, x).size() <= 1",message="set at most one of branch, tag, semver and commit"
type GitRef struct {
	// Branch to follow.
	// +optional
	Branch string `json:"branch,omitempty"`
	// Tag to check out.
	// +optional
	Tag string `json:"tag,omitempty"`
	// SemVer range over the repository's tags; the highest match is checked out.
	// +optional
	SemVer string `json:"semver,omitempty"`
	// Commit is the full SHA-1 to check out.
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{40}$`
	// +optional
	Commit string `json:"commit,omitempty"`
}

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
}

// CommitStatusProvider names a Git host API.
// +kubebuilder:validation:Enum=github;gitlab;gitea;bitbucket;bitbucketserver
type CommitStatusProvider string

const (
	ProviderGitHub          CommitStatusProvider = "github"
	ProviderGitLab          CommitStatusProvider = "gitlab"
	ProviderGitea           CommitStatusProvider = "gitea"
	ProviderBitbucket       CommitStatusProvider = "bitbucket"
	ProviderBitbucketServer CommitStatusProvider = "bitbucketserver"
)

// CommitStatusSpec configures where the results of a revision are reported.
type CommitStatusSpec struct {
	// Provider is the Git host API.
	Provider CommitStatusProvider `json:"provider"`
	// Address is the API base URL, e.g. https://api.github.com or https://gitea.example/api/v1.
	// Derived from the repository URL when empty. No credentials: the token is in the Secret.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*@') && !self.matches('^[a-zA-Z][a-zA-Z0-9+.-]*://[^/@:]*:[^@]*@')",message="must not carry credentials (user:password@ or token@): the token goes in the Secret secretRef names"
	// +kubebuilder:validation:XValidation:rule="!self.matches('[?#]')",message="must not have a query or fragment"
	// +optional
	Address string `json:"address,omitempty"`
	// Repository is owner/name (GitHub, Gitea, Bitbucket) or the project path (GitLab).
	// Derived from the repository URL when empty.
	// +optional
	Repository string `json:"repository,omitempty"`
	// SecretRef names a Secret with key token (and username for Bitbucket).
	SecretRef LocalObjectReference `json:"secretRef"`
	// TargetURL is the link a status points to; {namespace} and {name} are replaced by
	// the Sync's. It is shown to everyone who sees the commit, so it carries no
	// credentials. When empty, the Sync's page on the dashboard, if the controller knows
	// its public URL (--dashboard-url).
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*@')",message="must not carry credentials (user:password@ or token@)"
	// +optional
	TargetURL string `json:"targetURL,omitempty"`
}

// ReceiverType names the push webhook format the receiver verifies.
// +kubebuilder:validation:Enum=github;gitlab;gitea;generic-hmac
type ReceiverType string

const (
	ReceiverGitHub      ReceiverType = "github"
	ReceiverGitLab      ReceiverType = "gitlab"
	ReceiverGitea       ReceiverType = "gitea"
	ReceiverGenericHMAC ReceiverType = "generic-hmac"
)

// ReceiverSpec lets a push webhook trigger an immediate fetch.
type ReceiverSpec struct {
	// Type of the webhook sender.
	Type ReceiverType `json:"type"`
	// SecretRef names a Secret with key token: the HMAC key or shared token.
	SecretRef LocalObjectReference `json:"secretRef"`
}

// GitSourceSpec says where and how often to fetch a repository.
// +kubebuilder:validation:XValidation:rule="!has(self.preview) || has(self.commitStatus)",message="preview posts through the commitStatus provider: set spec.commitStatus"
type GitSourceSpec struct {
	// URL of the repository: https://, http://, ssh:// or scp-like user@host:path.
	// Credentials go in the secretRef Secret, never in the URL: an http(s) URL has no
	// userinfo (user:password@ or token@), an ssh URL no password (judged on the text, so
	// a password holding a '/' is caught too), and no URL a query.
	// +kubebuilder:validation:Pattern=`^(https?://|ssh://|[^@/:\s]+@[^/:\s]+:)\S+$`
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="!self.matches('^https?://[^/?#]*@') && !self.matches('^[a-zA-Z][a-zA-Z0-9+.-]*://[^/@:]*:[^@]*@')",message="must not carry credentials (user:password@ or token@): put them in the Secret secretRef names"
	// +kubebuilder:validation:XValidation:rule="!self.matches('[?#]')",message="must not have a query or fragment (a token in ?access_token= belongs in the Secret secretRef names)"
	URL string `json:"url"`

	// Ref selects the revision.
	// +optional
	Ref *GitRef `json:"ref,omitempty"`

	// Interval between fetches.
	// +kubebuilder:default="1m"
	// +optional
	Interval metav1.Duration `json:"interval,omitempty"`

	// Timeout of one fetch.
	// +kubebuilder:default="60s"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// SecretRef names a Secret with credentials: identity and known_hosts (SSH),
	// bearerToken, or username and password.
	// +optional
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`

	// CommitStatus reports each Sync's result on the applied commit.
	// +optional
	CommitStatus *CommitStatusSpec `json:"commitStatus,omitempty"`

	// Receiver verifies push webhooks for this source.
	// +optional
	Receiver *ReceiverSpec `json:"receiver,omitempty"`

	// Preview turns on pull-request previews: every interval the repository's open pull
	// requests are listed through the commitStatus provider, and each new head commit is
	// previewed for every Sync of this source — who may call whom, the objects, the Rego
	// tests — in one comment per Sync on the pull request and a commit status on its head.
	// +optional
	Preview *PreviewSpec `json:"preview,omitempty"`

	// Suspend stops fetching.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// PreviewSpec configures pull-request previews.
type PreviewSpec struct {
	// FailOn says which access changes fail a preview's commit status: cross-namespace
	// (a new call across namespaces), any-grant (any new call) or none (only failing Rego
	// tests and render errors).
	// +kubebuilder:validation:Enum=cross-namespace;any-grant;none
	// +kubebuilder:default=cross-namespace
	// +optional
	FailOn string `json:"failOn,omitempty"`
}

// PreviewStatus is the last preview of one pull request.
type PreviewStatus struct {
	// Number of the pull request (GitLab: merge request iid).
	Number int `json:"number"`
	// HeadSHA is the commit previewed.
	HeadSHA string `json:"headSHA"`
	// BaseSHA is the commit of the base branch the head was compared with; empty when
	// the base could not be read (e.g. the branch was deleted). A new base commit is
	// previewed again.
	// +optional
	BaseSHA string `json:"baseSHA,omitempty"`
	// State of the commit status posted: success or failure.
	State string `json:"state"`
	// Summary of the preview, or why it failed.
	// +optional
	Summary string `json:"summary,omitempty"`
	// PreviewedAt is when it was posted.
	PreviewedAt metav1.Time `json:"previewedAt"`
}

// Artifact is one fetched revision.
type Artifact struct {
	// Revision is <ref>@sha1:<commit>, e.g. main@sha1:4f2c....
	Revision string `json:"revision"`
	// Digest of the file tree, sha256:<hex>.
	Digest string `json:"digest"`
	// LastUpdateTime is when this revision was fetched.
	LastUpdateTime metav1.Time `json:"lastUpdateTime"`
}

// GitSourceStatus is the observed state of a GitSource.
type GitSourceStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Artifact is the last fetched revision.
	// +optional
	Artifact *Artifact `json:"artifact,omitempty"`
	// ReceiverPath is the path push webhooks for this source are sent to.
	// +optional
	ReceiverPath string `json:"receiverPath,omitempty"`
	// LastHandledReconcileAt echoes the reconcile-requested-at annotation last handled.
	// +optional
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`
	// Previews of the open pull requests: per pull request, the newest head previewed.
	// +listType=map
	// +listMapKey=number
	// +optional
	Previews []PreviewStatus `json:"previews,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=gs
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.spec.url`
// +kubebuilder:printcolumn:name="Revision",type=string,JSONPath=`.status.artifact.revision`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// GitSource fetches a Git repository and publishes its revisions to Syncs.
type GitSource struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   GitSourceSpec   `json:"spec,omitempty"`
	Status GitSourceStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// GitSourceList is a list of GitSources.
type GitSourceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []GitSource `json:"items"`
}

func init() {
	SchemeBuilder.Register(&GitSource{}, &GitSourceList{})
}
