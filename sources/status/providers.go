package status

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"

	"github.com/trustsync/trustsync/internal/redact"
)

// Provider names a Git host's commit-status API.
type Provider string

const (
	GitHub          Provider = "github"
	GitLab          Provider = "gitlab"
	Gitea           Provider = "gitea"
	Bitbucket       Provider = "bitbucket"
	BitbucketServer Provider = "bitbucketserver"
)

// host is what differs between the Git hosts. Adding a provider is adding its row to
// hosts; everything else in the package is shared.
type host struct {
	provider Provider
	name     string // as messages spell it
	// derive returns the default API address and the repository from a clone URL.
	derive func(remote) (address, repository string, err error)
	// repository is the shape Repository takes, for the error: two segments, or two or
	// more when nested (GitLab's subgroups).
	repository string
	nested     bool
	// takesUsername: Username with Token is basic auth. The other hosts take the token
	// alone, and refuse a Username rather than ignore it.
	takesUsername bool
	// authorize puts the credentials on every request's headers and returns the
	// secrets they hold besides Token and the Authorization header.
	authorize func(h http.Header, o Options) []string
	// statuses builds the commit-status API and changes the pull-request API (nil
	// where trustsync has none), for o as connect checked and completed it.
	statuses func(c *client, o Options) hostAPI
	changes  func(c *client, o Options) changesAPI
}

var hosts = []host{
	{
		provider: GitHub, name: "GitHub", derive: deriveGitHub, repository: "owner/name",
		authorize: func(h http.Header, o Options) []string {
			h.Set("Authorization", "Bearer "+o.Token)
			h.Set("Accept", "application/vnd.github+json")
			h.Set("X-GitHub-Api-Version", "2022-11-28")
			return nil
		},
		statuses: func(c *client, o Options) hostAPI { return &githubAPI{c: c, repo: reposURL(o)} },
		changes:  func(c *client, o Options) changesAPI { return &githubChanges{c: c, repo: reposURL(o)} },
	},
	{
		provider: GitLab, name: "GitLab", derive: apiUnderWeb("/api/v4"),
		repository: "a project path group[/subgroup...]/name", nested: true,
		authorize: func(h http.Header, o Options) []string {
			h.Set("PRIVATE-TOKEN", o.Token)
			return nil
		},
		statuses: func(c *client, o Options) hostAPI { return &gitlabAPI{c: c, project: gitlabProject(o)} },
		changes: func(c *client, o Options) changesAPI {
			return &gitlabChanges{c: c, project: gitlabProject(o), web: gitlabWeb(gitlabProject(o), o.Repository)}
		},
	},
	{
		provider: Gitea, name: "Gitea", derive: apiUnderWeb("/api/v1"), repository: "owner/name",
		authorize: func(h http.Header, o Options) []string {
			h.Set("Authorization", "token "+o.Token)
			return nil
		},
		statuses: func(c *client, o Options) hostAPI { return &giteaAPI{c: c, repo: reposURL(o)} },
		changes:  func(c *client, o Options) changesAPI { return &giteaChanges{c: c, repo: reposURL(o)} },
	},
	{
		provider: Bitbucket, name: "Bitbucket", derive: deriveBitbucketCloud, repository: "workspace/repo",
		takesUsername: true, authorize: bitbucketAuth, statuses: newBitbucketCloudAPI,
	},
	{
		provider: BitbucketServer, name: "Bitbucket Server", derive: deriveBitbucketServer, repository: "PROJECT/repo",
		takesUsername: true, authorize: bitbucketAuth, statuses: newBitbucketServerAPI,
	},
}

// hostOf returns p's row of hosts.
func hostOf(p Provider) (host, bool) {
	for _, h := range hosts {
		if h.provider == p {
			return h, true
		}
	}
	return host{}, false
}

// listProviders lists, as "a, b or c", the providers whose row keep accepts.
func listProviders(keep func(host) bool) string {
	var names []string
	for _, h := range hosts {
		if keep(h) {
			names = append(names, string(h.provider))
		}
	}
	return enumerate(names, "or")
}

// usernameHosts names the hosts that take a Username, as "A and B".
func usernameHosts() string {
	var names []string
	for _, h := range hosts {
		if h.takesUsername {
			names = append(names, h.name)
		}
	}
	return enumerate(names, "and")
}

// enumerate joins words as "a, b <conj> c".
func enumerate(words []string, conj string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " " + conj + " " + words[len(words)-1]
}

// reposURL is the repository's API base on GitHub and Gitea.
func reposURL(o Options) string { return o.Address + "/repos/" + escapePath(o.Repository) }

// gitlabProject is the project's API base; its path is one URL-encoded segment:
// group%2Fsub%2Fname.
func gitlabProject(o Options) string { return o.Address + "/projects/" + url.PathEscape(o.Repository) }

// bitbucketAuth is basic auth with a Username (an app password), a bearer token without.
func bitbucketAuth(h http.Header, o Options) []string {
	if o.Username == "" {
		h.Set("Authorization", "Bearer "+o.Token)
		return nil
	}
	cred := base64.StdEncoding.EncodeToString([]byte(o.Username + ":" + o.Token))
	h.Set("Authorization", "Basic "+cred)
	return redact.Basic(o.Username, o.Token)
}
