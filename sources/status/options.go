package status

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode"

	"github.com/trustsync/trustsync/internal/redact"
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
	h, c, o, err := connect(o)
	if err != nil {
		return nil, err
	}
	return &poster{provider: o.Provider, repository: o.Repository, api: h.statuses(c, o), redactor: c.redactor}, nil
}

// connect does New's checks and returns o.Provider's row, the client with its
// credentials and redactor, and o completed from RepoURL.
func connect(o Options) (host, *client, Options, error) {
	h, ok := hostOf(o.Provider)
	if !ok {
		return host{}, nil, o, optionErr("Provider", "%q: want %s", o.Provider, listProviders(func(host) bool { return true }))
	}
	var errs []error
	if o.Address == "" || o.Repository == "" {
		address, repository, err := deriveFromRepoURL(h, o.RepoURL)
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
		errs = append(errs, checkRepository(h, o.Repository))
	}
	errs = append(errs, checkCredentials(h, o))
	if err := errors.Join(errs...); err != nil {
		// The token could sit inside a RepoURL or Address an error quotes.
		return host{}, nil, o, &redactedError{err: err, r: newRedactor(o.Token)}
	}

	c := &client{http: newHTTPClient(o.HTTPClient), header: http.Header{}}
	c.header.Set("Accept", "application/json")
	// Hosts and proxies may echo the token in any encoding or inside the header; the
	// redactor derives the encodings.
	secrets := append([]string{o.Token}, h.authorize(c.header, o)...)
	secrets = append(secrets, c.header.Get("Authorization"))
	c.redactor = newRedactor(secrets...)
	return h, c, o, nil
}

func deriveFromRepoURL(h host, repoURL string) (address, repository string, err error) {
	if repoURL == "" {
		return "", "", optionErr("RepoURL", "empty; it is needed when Address or Repository is not set")
	}
	r, err := parseRepoURL(repoURL)
	if err == nil {
		address, repository, err = h.derive(r)
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
func checkRepository(h host, repository string) error {
	segs := strings.Split(repository, "/")
	for _, s := range segs {
		if s == "" || s == "." || s == ".." || strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
			return optionErr("Repository", "%q: segment %q is empty, a dot path or has spaces", repository, s)
		}
	}
	if len(segs) < 2 || !h.nested && len(segs) > 2 {
		return optionErr("Repository", "%q: want %s", repository, h.repository)
	}
	return nil
}

func checkCredentials(h host, o Options) error {
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
		case !h.takesUsername:
			// Ignoring it would hide a misconfiguration: these hosts take the token alone.
			errs = append(errs, optionErr("Username", "only %s use a username; %s authenticates with the token alone", usernameHosts(), o.Provider))
		case strings.ContainsAny(o.Username, ":\r\n"):
			errs = append(errs, optionErr("Username", "%q: must not contain a colon or line break (basic auth)", o.Username))
		}
	}
	return errors.Join(errs...)
}
