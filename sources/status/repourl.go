package status

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/trustsync/trustsync/internal/redact"
)

// remote is a clone URL reduced to what the API address and the repository derive from.
type remote struct {
	scheme string // https, http or ssh
	host   string // host[:port] for http(s); the bare host for ssh, whose port is not the web port
	path   string // e.g. org/repo, without slashes around it or a .git suffix
}

// scpLike matches git's [user@]host:path form; git treats it so only when no "/" comes
// before the colon.
var scpLike = regexp.MustCompile(`^(?:[^@/]+@)?([^:/]+):(.+)$`)

func parseRepoURL(raw string) (remote, error) {
	var r remote
	if !strings.Contains(raw, "://") {
		m := scpLike.FindStringSubmatch(raw)
		if m == nil {
			return r, fmt.Errorf("want https://, http://, ssh:// or git@host:path")
		}
		r = remote{scheme: "ssh", host: m[1], path: m[2]}
	} else {
		if _, password := redact.URLUserinfo(raw); password {
			// In a URL the password reaches specs, logs and process lists; it goes in
			// Token. Judged on the text: a password with a '/' does not parse.
			return r, fmt.Errorf("must not carry a password (user:password@); the token goes in the credentials")
		}
		u, err := url.Parse(raw)
		if err != nil {
			return r, fmt.Errorf("not a URL")
		}
		switch u.Scheme {
		case "https", "http":
			r = remote{scheme: u.Scheme, host: u.Host, path: u.Path}
		case "ssh":
			host := u.Hostname()
			if strings.Contains(host, ":") {
				host = "[" + host + "]" // IPv6
			}
			r = remote{scheme: "ssh", host: host, path: u.Path}
		default:
			return r, fmt.Errorf("scheme %q: want https, http or ssh", u.Scheme)
		}
	}
	if r.host == "" {
		return r, fmt.Errorf("no host")
	}
	r.host = strings.ToLower(r.host)
	r.path = strings.Trim(strings.TrimSuffix(strings.Trim(r.path, "/"), ".git"), "/")
	if r.path == "" {
		return r, fmt.Errorf("no repository path")
	}
	return r, nil
}

// web is the host's web root: http only when the clone URL itself was http, so a plain
// loopback Gitea keeps working while ssh remotes assume https.
func (r remote) web() string {
	if r.scheme == "http" {
		return "http://" + r.host
	}
	return "https://" + r.host
}

// apiUnderWeb derives the API address as a path under the web root (Gitea, GitLab).
func apiUnderWeb(path string) func(remote) (address, repository string, err error) {
	return func(r remote) (string, string, error) { return r.web() + path, r.path, nil }
}

// deriveGitHub: github.com's API has a host of its own, GitHub Enterprise's is under /api/v3.
func deriveGitHub(r remote) (address, repository string, err error) {
	if r.host == "github.com" || r.host == "ssh.github.com" {
		return "https://api.github.com", r.path, nil
	}
	return r.web() + "/api/v3", r.path, nil
}

// deriveBitbucketCloud knows only bitbucket.org, whose API has a host of its own.
func deriveBitbucketCloud(r remote) (address, repository string, err error) {
	if r.host != "bitbucket.org" && r.host != "altssh.bitbucket.org" {
		return "", "", fmt.Errorf("host %s is not Bitbucket Cloud (bitbucket.org); use provider bitbucketserver or set Address", r.host)
	}
	return "https://api.bitbucket.org/2.0", r.path, nil
}

// deriveBitbucketServer handles https://host[/context]/scm/PROJ/repo.git and
// ssh://git@host:7999/proj/repo.git; only http(s) clone URLs carry the /scm/ prefix.
func deriveBitbucketServer(r remote) (address, repository string, err error) {
	address = r.web()
	path := r.path
	if r.scheme != "ssh" {
		before, after, ok := strings.Cut("/"+path, "/scm/")
		if !ok {
			return "", "", fmt.Errorf("want an http(s) clone URL of the form https://host/scm/PROJECT/repo.git")
		}
		address += before // the context path Bitbucket is served under, if any
		path = after
	}
	project, slug, ok := strings.Cut(path, "/")
	if !ok {
		return "", "", fmt.Errorf("want PROJECT/repo, got %q", path)
	}
	// Project keys are upper case; clone URLs spell them in lower case. Personal
	// projects (~user) name a user and keep their case.
	if !strings.HasPrefix(project, "~") {
		project = strings.ToUpper(project)
	}
	return address, project + "/" + slug, nil
}

// escapePath escapes each segment of a slash-separated path.
func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}
