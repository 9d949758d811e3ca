package git

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"

	"github.com/trustsync/trustsync/internal/redact"
)

// endpoint is a parsed repository URL.
type endpoint struct {
	raw     string // as given, passed to go-git
	scheme  string // http, https or ssh
	user    string // userinfo user, if any
	display string // safe for messages: no userinfo
	key     string // normalised, identifies the cache
	host    string // host[:port] as in the URL, for SSH host key algorithms
}

var defaultPorts = map[string]string{"http": "80", "https": "443", "ssh": "22"}

// scpLike matches user@host:path (no scheme), the form git accepts for SSH.
var scpLike = regexp.MustCompile(`^([^@/:]+)@([^/:]+):(.+)$`)

func parseEndpoint(raw string) (*endpoint, error) {
	if raw == "" {
		return nil, fmt.Errorf("repository URL is empty")
	}
	if m := scpLike.FindStringSubmatch(raw); m != nil && !strings.Contains(raw, "://") {
		host := strings.ToLower(m[2])
		path := strings.TrimSuffix(m[3], "/")
		return &endpoint{
			raw:     raw,
			scheme:  "ssh",
			user:    m[1],
			display: host + ":" + m[3],
			key:     "ssh://" + host + "/" + strings.TrimPrefix(path, "/"),
			host:    host,
		}, nil
	}
	if userinfo, password := redact.URLUserinfo(raw); password || (userinfo && !strings.HasPrefix(strings.ToLower(raw), "ssh://")) {
		// A URL ends up in specs, status and logs; credentials belong in the Secret. Over
		// HTTP any userinfo is a credential (a token as the user name); over SSH the user
		// is part of the address. Judged on the text: a password with a '/' does not parse.
		return nil, fmt.Errorf("repository URL %s must not contain credentials (user:password@ or token@); put them in the credentials Secret", stripUserinfo(raw))
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse errors quote the URL, credentials included.
		return nil, fmt.Errorf("repository URL %s is not valid", stripUserinfo(raw))
	}
	scheme := strings.ToLower(u.Scheme)
	if _, ok := defaultPorts[scheme]; !ok {
		return nil, fmt.Errorf("repository URL %s: scheme %q is not supported (use https, http or ssh)", stripUserinfo(raw), u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("repository URL %s has no host", stripUserinfo(raw))
	}
	if _, hasPassword := u.User.Password(); hasPassword || (u.User != nil && scheme != "ssh") {
		return nil, fmt.Errorf("repository URL %s must not contain credentials (user:password@ or token@); put them in the credentials Secret", stripUserinfo(raw))
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("repository URL %s must not have a query or fragment", stripUserinfo(raw))
	}
	host := strings.ToLower(u.Hostname())
	if p := u.Port(); p != "" && p != defaultPorts[scheme] {
		host = net.JoinHostPort(host, p)
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	shown := *u
	shown.User = nil
	e := &endpoint{
		raw:     raw,
		scheme:  scheme,
		display: shown.String(),
		key:     scheme + "://" + host + "/" + strings.Trim(u.EscapedPath(), "/"),
		host:    u.Host,
	}
	if u.User != nil {
		e.user = u.User.Username()
	}
	return e, nil
}

// cacheKey names the cache directory of a repository.
func (e *endpoint) cacheKey() string {
	sum := sha256.Sum256([]byte(e.key))
	return hex.EncodeToString(sum[:16])
}

// stripUserinfo makes a URL given by a user safe for messages: no userinfo, no token
// parameters (it may not have parsed, so this works on the text).
func stripUserinfo(s string) string { return redact.String(s) }
