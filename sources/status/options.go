package status

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode"

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

// Options configure a Poster for one repository.
type Options struct {
	Provider   Provider
	Address    string // API base URL; derived from RepoURL when empty
	Repository string // owner/name; GitLab: the project path group/sub/name; Bitbucket Server: PROJECT/repo; derived from RepoURL when empty
	RepoURL    string // the clone URL (https, http, ssh:// or scp-like git@host:path)
	Token      string
	Username   string       // Bitbucket: with Token as app password (basic auth); otherwise bearer
	HTTPClient *http.Client // http.DefaultClient when nil
}

// OptionError names the Options field that New rejected.
type OptionError struct {
	Option string // field name, e.g. "Repository"
	Err    error
}

func (e *OptionError) Error() string { return fmt.Sprintf("status: option %s: %v", e.Option, e.Err) }
func (e *OptionError) Unwrap() error { return e.Err }

func optionErr(option, format string, args ...any) error {
	return &OptionError{Option: option, Err: fmt.Errorf(format, args...)}
}

// New checks o, fills in what RepoURL implies and returns the Poster for o.Provider.
// Every problem is reported at once.
func New(o Options) (Poster, error) {
	var errs []error
	switch o.Provider {
	case GitHub, GitLab, Gitea, Bitbucket, BitbucketServer:
	default:
		return nil, optionErr("Provider", "%q: want github, gitlab, gitea, bitbucket or bitbucketserver", o.Provider)
	}
	if o.Address == "" || o.Repository == "" {
		address, repository, err := deriveFromRepoURL(o.Provider, o.RepoURL)
		if err != nil {
			errs = append(errs, err)
		}
		if o.Address == "" {
			o.Address = address
		}
		if o.Repository == "" {
			o.Repository = repository
		}
	}
	if o.Address != "" {
		address, err := checkAddress(o.Address)
		errs = append(errs, err)
		o.Address = address
	}
	if o.Repository != "" {
		errs = append(errs, checkRepository(o.Provider, o.Repository))
	}
	errs = append(errs, checkCredentials(o))
	if err := errors.Join(errs...); err != nil {
		// The token could sit inside a RepoURL or Address an error quotes.
		return nil, &redactedError{err: err, r: newRedactor(o.Token)}
	}

	c := &client{http: newHTTPClient(o.HTTPClient), header: http.Header{}}
	c.header.Set("Accept", "application/json")
	// Hosts and proxies may echo the token in any encoding or inside the header; the
	// redactor derives the encodings.
	secrets := []string{o.Token}
	var api hostAPI
	switch o.Provider {
	case GitHub:
		c.header.Set("Authorization", "Bearer "+o.Token)
		c.header.Set("Accept", "application/vnd.github+json")
		c.header.Set("X-GitHub-Api-Version", "2022-11-28")
		api = &githubAPI{c: c, repo: o.Address + "/repos/" + escapePath(o.Repository)}
	case Gitea:
		c.header.Set("Authorization", "token "+o.Token)
		api = &giteaAPI{c: c, repo: o.Address + "/repos/" + escapePath(o.Repository)}
	case GitLab:
		c.header.Set("PRIVATE-TOKEN", o.Token)
		// The project path is one URL-encoded segment: group%2Fsub%2Fname.
		api = &gitlabAPI{c: c, project: o.Address + "/projects/" + url.PathEscape(o.Repository)}
	case Bitbucket, BitbucketServer:
		if o.Username != "" {
			cred := base64.StdEncoding.EncodeToString([]byte(o.Username + ":" + o.Token))
			c.header.Set("Authorization", "Basic "+cred)
			secrets = append(secrets, redact.Basic(o.Username, o.Token)...)
		} else {
			c.header.Set("Authorization", "Bearer "+o.Token)
		}
		api = newBitbucketAPI(c, o.Provider, o.Address, o.Repository)
	}
	secrets = append(secrets, c.header.Get("Authorization"))
	c.redactor = newRedactor(secrets...)
	return &poster{provider: o.Provider, repository: o.Repository, api: api, redactor: c.redactor}, nil
}

func deriveFromRepoURL(p Provider, repoURL string) (address, repository string, err error) {
	if repoURL == "" {
		return "", "", optionErr("RepoURL", "empty; it is needed when Address or Repository is not set")
	}
	r, err := parseRepoURL(repoURL)
	if err == nil {
		address, repository, err = derive(p, r)
	}
	if err != nil {
		return "", "", optionErr("RepoURL", "%s: %v", displayURL(repoURL), err)
	}
	return address, repository, nil
}

// displayURL drops the userinfo and token parameters a URL may carry before it goes
// into an error.
func displayURL(raw string) string { return redact.String(raw) }

// checkAddress returns the address without a trailing slash, so paths can be appended.
func checkAddress(address string) (string, error) {
	u, err := url.Parse(address)
	userinfo, _ := redact.URLUserinfo(address)
	switch {
	case userinfo:
		// Credentials belong in Token; in the URL they would reach logs and errors.
		return "", optionErr("Address", "%s: must not carry credentials", displayURL(address))
	case err != nil:
		return "", optionErr("Address", "%s: not a URL", displayURL(address))
	case u.Scheme != "https" && u.Scheme != "http":
		return "", optionErr("Address", "%s: want an https or http URL", displayURL(address))
	case u.Host == "":
		return "", optionErr("Address", "%s: no host", displayURL(address))
	case u.User != nil:
		return "", optionErr("Address", "%s: must not carry credentials", displayURL(address))
	case u.RawQuery != "" || u.Fragment != "":
		return "", optionErr("Address", "%s: must not have a query or fragment", displayURL(address))
	}
	return strings.TrimRight(address, "/"), nil
}

// checkRepository enforces the shape each host addresses repositories by.
func checkRepository(p Provider, repository string) error {
	segs := strings.Split(repository, "/")
	for _, s := range segs {
		if s == "" || s == "." || s == ".." || strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
			return optionErr("Repository", "%q: segment %q is empty, a dot path or has spaces", repository, s)
		}
	}
	switch {
	case p == GitLab && len(segs) < 2:
		return optionErr("Repository", "%q: want a project path group[/subgroup...]/name", repository)
	case p == BitbucketServer && len(segs) != 2:
		return optionErr("Repository", "%q: want PROJECT/repo", repository)
	case p == Bitbucket && len(segs) != 2:
		return optionErr("Repository", "%q: want workspace/repo", repository)
	case (p == GitHub || p == Gitea) && len(segs) != 2:
		return optionErr("Repository", "%q: want owner/name", repository)
	}
	return nil
}

func checkCredentials(o Options) error {
	var errs []error
	switch {
	case o.Token == "":
		errs = append(errs, optionErr("Token", "empty; every provider needs one to post statuses"))
	case strings.IndexFunc(o.Token, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		// Said without quoting the token.
		errs = append(errs, optionErr("Token", "contains spaces or control characters"))
	}
	if o.Username != "" {
		switch {
		case o.Provider != Bitbucket && o.Provider != BitbucketServer:
			// Ignoring it would hide a misconfiguration: these hosts take the token alone.
			errs = append(errs, optionErr("Username", "only Bitbucket and Bitbucket Server use a username; %s authenticates with the token alone", o.Provider))
		case strings.ContainsAny(o.Username, ":\r\n"):
			errs = append(errs, optionErr("Username", "%q: must not contain a colon or line break (basic auth)", o.Username))
		}
	}
	return errors.Join(errs...)
}
