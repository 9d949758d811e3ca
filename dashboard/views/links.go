package views

import (
	"net/url"
	"strconv"
	"strings"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

// Repo is where a GitSource's repository is browsed: its web address and the host's
// kind, which decides the shape of commit and pull-request links.
type Repo struct {
	Web      string // e.g. https://github.com/org/agents
	Provider gitopsv1.CommitStatusProvider
}

// RepoOf derives a repository's web address from its clone URL: http(s) as it is
// (without .git, userinfo or query), ssh and scp-like URLs on https of the same host. The
// provider is the commitStatus one, else that of a well-known host (github.com,
// gitlab.com, bitbucket.org), else Gitea's. An address that cannot be browsed gives a zero Repo.
func RepoOf(src *gitopsv1.GitSource) Repo {
	if src == nil {
		return Repo{}
	}
	raw := src.Spec.URL
	var host, hostname, path string
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" && u.Host != "" {
		switch u.Scheme {
		case "http", "https":
			host = u.Scheme + "://" + u.Host
		case "ssh":
			host = "https://" + u.Hostname()
		default:
			return Repo{}
		}
		hostname, path = u.Hostname(), u.Path
	} else if at, rest, ok := strings.Cut(raw, "@"); ok && !strings.Contains(at, "/") {
		h, p, ok := strings.Cut(rest, ":")
		if !ok || strings.ContainsAny(h, "/") {
			return Repo{}
		}
		host, hostname, path = "https://"+h, h, "/"+strings.TrimPrefix(p, "/")
	} else {
		return Repo{}
	}
	path = strings.TrimSuffix(strings.TrimSuffix(path, "/"), ".git")
	if path == "" || path == "/" {
		return Repo{}
	}
	r := Repo{Web: host + path}
	if cs := src.Spec.CommitStatus; cs != nil {
		r.Provider = cs.Provider
	}
	if r.Provider == "" {
		switch hostname {
		case "github.com":
			r.Provider = gitopsv1.ProviderGitHub
		case "gitlab.com":
			r.Provider = gitopsv1.ProviderGitLab
		case "bitbucket.org":
			r.Provider = gitopsv1.ProviderBitbucket
		default:
			r.Provider = gitopsv1.ProviderGitea
		}
	}
	return r
}

// Commit links to a commit; "" when the repository or the SHA is unknown.
func (r Repo) Commit(sha string) string {
	if r.Web == "" || !isSHA(sha) {
		return ""
	}
	switch r.Provider {
	case gitopsv1.ProviderGitLab:
		return r.Web + "/-/commit/" + sha
	case gitopsv1.ProviderBitbucket:
		return r.Web + "/commits/" + sha
	case gitopsv1.ProviderBitbucketServer:
		return "" // its web paths (/projects/…/repos/…) are not its clone paths (/scm/…)
	}
	return r.Web + "/commit/" + sha
}

// PullRequest links to a pull (merge) request.
func (r Repo) PullRequest(n int) string {
	if r.Web == "" || n <= 0 {
		return ""
	}
	num := strconv.Itoa(n)
	switch r.Provider {
	case gitopsv1.ProviderGitLab:
		return r.Web + "/-/merge_requests/" + num
	case gitopsv1.ProviderBitbucket:
		return r.Web + "/pull-requests/" + num
	case gitopsv1.ProviderBitbucketServer:
		return ""
	case gitopsv1.ProviderGitea:
		return r.Web + "/pulls/" + num
	}
	return r.Web + "/pull/" + num
}

// Revision is a <ref>@sha1:<commit> revision split for showing: the ref, the full SHA
// and its first twelve characters.
type Revision struct {
	Ref, SHA, Short string
}

// ParseRevision splits a revision; a text of another shape is kept whole as Ref.
func ParseRevision(rev string) Revision {
	ref, sha, ok := strings.Cut(rev, "@sha1:")
	if !ok || !isSHA(sha) {
		return Revision{Ref: rev}
	}
	short := sha
	if len(short) > 12 {
		short = short[:12]
	}
	return Revision{Ref: ref, SHA: sha, Short: short}
}

func isSHA(s string) bool {
	if len(s) < 7 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
