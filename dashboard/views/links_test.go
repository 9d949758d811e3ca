package views

import (
	"strings"
	"testing"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

// gitSource is a GitSource of url, with a commitStatus provider when provider is set.
func gitSource(url string, provider gitopsv1.CommitStatusProvider) *gitopsv1.GitSource {
	src := &gitopsv1.GitSource{Spec: gitopsv1.GitSourceSpec{URL: url}}
	if provider != "" {
		src.Spec.CommitStatus = &gitopsv1.CommitStatusSpec{Provider: provider}
	}
	return src
}

const (
	sha1Hex = "0123456789abcdef0123456789abcdef01234567"
)

func TestRepoOfAndLinks(t *testing.T) {
	tests := []struct {
		name     string
		url      string
		provider gitopsv1.CommitStatusProvider
		want     Repo
		commit   string // link of sha1Hex
		pr       string // link of pull request 7
	}{
		{
			name:   "github https with .git",
			url:    "https://github.com/org/agents.git",
			want:   Repo{Web: "https://github.com/org/agents", Provider: gitopsv1.ProviderGitHub},
			commit: "https://github.com/org/agents/commit/" + sha1Hex,
			pr:     "https://github.com/org/agents/pull/7",
		},
		{
			name:   "github.com with its port is still GitHub",
			url:    "https://github.com:443/org/agents",
			want:   Repo{Web: "https://github.com:443/org/agents", Provider: gitopsv1.ProviderGitHub},
			commit: "https://github.com:443/org/agents/commit/" + sha1Hex,
			pr:     "https://github.com:443/org/agents/pull/7",
		},
		{
			name:   "a host that only ends like github.com is not GitHub",
			url:    "https://notgithub.com/org/agents",
			want:   Repo{Web: "https://notgithub.com/org/agents", Provider: gitopsv1.ProviderGitea},
			commit: "https://notgithub.com/org/agents/commit/" + sha1Hex,
			pr:     "https://notgithub.com/org/agents/pulls/7",
		},
		{
			name:   "https with userinfo, query and trailing slash",
			url:    "https://user:token@github.com/org/agents/?ref=main",
			want:   Repo{Web: "https://github.com/org/agents", Provider: gitopsv1.ProviderGitHub},
			commit: "https://github.com/org/agents/commit/" + sha1Hex,
			pr:     "https://github.com/org/agents/pull/7",
		},
		{
			name:     "gitea http with a port, provider from commitStatus",
			url:      "http://gitea.local:3000/team/agents.git",
			provider: gitopsv1.ProviderGitea,
			want:     Repo{Web: "http://gitea.local:3000/team/agents", Provider: gitopsv1.ProviderGitea},
			commit:   "http://gitea.local:3000/team/agents/commit/" + sha1Hex,
			pr:       "http://gitea.local:3000/team/agents/pulls/7",
		},
		{
			name:   "unknown host guessed as gitea",
			url:    "https://git.example.com/team/agents",
			want:   Repo{Web: "https://git.example.com/team/agents", Provider: gitopsv1.ProviderGitea},
			commit: "https://git.example.com/team/agents/commit/" + sha1Hex,
			pr:     "https://git.example.com/team/agents/pulls/7",
		},
		{
			name:     "commitStatus provider beats the host guess",
			url:      "https://github.com/org/agents.git",
			provider: gitopsv1.ProviderGitLab,
			want:     Repo{Web: "https://github.com/org/agents", Provider: gitopsv1.ProviderGitLab},
			commit:   "https://github.com/org/agents/-/commit/" + sha1Hex,
			pr:       "https://github.com/org/agents/-/merge_requests/7",
		},
		{
			name:   "ssh URL on https of the host, port dropped",
			url:    "ssh://git@github.com:22/org/agents.git",
			want:   Repo{Web: "https://github.com/org/agents", Provider: gitopsv1.ProviderGitHub},
			commit: "https://github.com/org/agents/commit/" + sha1Hex,
			pr:     "https://github.com/org/agents/pull/7",
		},
		{
			name:   "ssh URL without port",
			url:    "ssh://git@github.com/org/repo.git",
			want:   Repo{Web: "https://github.com/org/repo", Provider: gitopsv1.ProviderGitHub},
			commit: "https://github.com/org/repo/commit/" + sha1Hex,
			pr:     "https://github.com/org/repo/pull/7",
		},
		{
			name:   "scp-like gitlab with subgroups",
			url:    "git@gitlab.com:group/sub/repo.git",
			want:   Repo{Web: "https://gitlab.com/group/sub/repo", Provider: gitopsv1.ProviderGitLab},
			commit: "https://gitlab.com/group/sub/repo/-/commit/" + sha1Hex,
			pr:     "https://gitlab.com/group/sub/repo/-/merge_requests/7",
		},
		{
			name:   "bitbucket.org",
			url:    "https://bitbucket.org/team/repo.git",
			want:   Repo{Web: "https://bitbucket.org/team/repo", Provider: gitopsv1.ProviderBitbucket},
			commit: "https://bitbucket.org/team/repo/commits/" + sha1Hex,
			pr:     "https://bitbucket.org/team/repo/pull-requests/7",
		},
		{
			name:     "bitbucket server: no links",
			url:      "https://bitbucket.example.com/scm/proj/repo.git",
			provider: gitopsv1.ProviderBitbucketServer,
			want:     Repo{Web: "https://bitbucket.example.com/scm/proj/repo", Provider: gitopsv1.ProviderBitbucketServer},
			commit:   "",
			pr:       "",
		},
		{name: "file scheme", url: "file:///srv/git/repo.git"},
		{name: "git scheme", url: "git://github.com/org/repo.git"},
		{name: "only a host", url: "https://github.com"},
		{name: "only a host and slash", url: "https://github.com/"},
		{name: "only .git", url: "https://github.com/.git"},
		{name: "scp-like without path", url: "git@github.com:"},
		{name: "scp-like without colon", url: "git@github.com"},
		{name: "empty", url: ""},
		{name: "relative path", url: "org/repo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := RepoOf(gitSource(tt.url, tt.provider))
			if r != tt.want {
				t.Fatalf("RepoOf(%q) = %+v, want %+v", tt.url, r, tt.want)
			}
			if got := r.Commit(sha1Hex); got != tt.commit {
				t.Errorf("Commit = %q, want %q", got, tt.commit)
			}
			if got := r.PullRequest(7); got != tt.pr {
				t.Errorf("PullRequest(7) = %q, want %q", got, tt.pr)
			}
		})
	}
	if r := RepoOf(nil); r != (Repo{}) {
		t.Errorf("RepoOf(nil) = %+v", r)
	}
}

func TestCommitNeedsASHA(t *testing.T) {
	r := Repo{Web: "https://github.com/org/agents", Provider: gitopsv1.ProviderGitHub}
	tests := []struct {
		sha  string
		want string
	}{
		{sha1Hex, r.Web + "/commit/" + sha1Hex},
		{"abcdef0", r.Web + "/commit/abcdef0"},                                  // 7: the shortest
		{strings.Repeat("a", 64), r.Web + "/commit/" + strings.Repeat("a", 64)}, // sha256
		{"abcdef", ""},                // too short
		{strings.Repeat("a", 65), ""}, // too long
		{"main", ""},                  // a branch
		{"v1.2.3", ""},                // a tag
		{"0123456789ABCDEF0123", ""},  // upper case is not how Git writes it
		{"0123456789abcdeg0123", ""},  // not hex
		{"", ""},
	}
	for _, tt := range tests {
		if got := r.Commit(tt.sha); got != tt.want {
			t.Errorf("Commit(%q) = %q, want %q", tt.sha, got, tt.want)
		}
	}
	if got := (Repo{}).Commit(sha1Hex); got != "" {
		t.Errorf("zero Repo Commit = %q", got)
	}
	for _, n := range []int{0, -1} {
		if got := r.PullRequest(n); got != "" {
			t.Errorf("PullRequest(%d) = %q", n, got)
		}
	}
	if got := (Repo{}).PullRequest(3); got != "" {
		t.Errorf("zero Repo PullRequest = %q", got)
	}
}

func TestParseRevision(t *testing.T) {
	tests := []struct {
		in   string
		want Revision
	}{
		{"main@sha1:" + sha1Hex, Revision{Ref: "main", SHA: sha1Hex, Short: sha1Hex[:12]}},
		{"refs/tags/v1@sha1:abcdef0", Revision{Ref: "refs/tags/v1", SHA: "abcdef0", Short: "abcdef0"}},
		{"@sha1:" + sha1Hex, Revision{SHA: sha1Hex, Short: sha1Hex[:12]}},
		{"main@sha1:nothex", Revision{Ref: "main@sha1:nothex"}},
		{"main@sha1:", Revision{Ref: "main@sha1:"}},
		{"main/" + sha1Hex, Revision{Ref: "main/" + sha1Hex}},
		{sha1Hex, Revision{Ref: sha1Hex}},
		{"", Revision{}},
	}
	for _, tt := range tests {
		got := ParseRevision(tt.in)
		if got != tt.want {
			t.Errorf("ParseRevision(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		if got.SHA != "" && len(got.Short) > 12 {
			t.Errorf("ParseRevision(%q).Short = %q, longer than 12", tt.in, got.Short)
		}
	}
}
