package git

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sort"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/trustsync/trustsync/internal/redact"
)

// Auth holds the credentials of one repository: basic (Username, Password), a bearer
// token, or an SSH key with the known_hosts its server is checked against.
type Auth struct {
	Username, Password string
	BearerToken        string
	SSHPrivateKey      []byte // PEM or OpenSSH private key, unencrypted
	SSHKnownHosts      []byte // known_hosts lines; required with SSHPrivateKey
	SSHUser            string // default: the URL's user, else git
}

// Secret keys AuthFromSecret reads (the keys Flux uses for Git credentials).
const (
	SecretUsername    = "username"
	SecretPassword    = "password"
	SecretBearerToken = "bearerToken"
	SecretIdentity    = "identity"
	SecretKnownHosts  = "known_hosts"
)

// ignoredSecretKeys may sit beside the credentials (flux create secret git writes the
// public key) and mean nothing here.
var ignoredSecretKeys = []string{"identity.pub"}

// AuthFromSecret reads credentials from a Secret's data. Unknown keys are errors, and so
// are combinations that leave the method ambiguous or unsafe: an identity without
// known_hosts (host keys are always checked), a password without a username, or more
// than one method.
func AuthFromSecret(data map[string][]byte) (*Auth, error) {
	var unknown []string
	for k := range data {
		switch k {
		case SecretUsername, SecretPassword, SecretBearerToken, SecretIdentity, SecretKnownHosts:
		default:
			if !slices.Contains(ignoredSecretKeys, k) {
				unknown = append(unknown, k)
			}
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("git credentials Secret: unknown keys %q (allowed: username, password, bearerToken, identity, known_hosts)", unknown)
	}
	a := &Auth{
		Username:      string(data[SecretUsername]),
		Password:      string(data[SecretPassword]),
		BearerToken:   string(data[SecretBearerToken]),
		SSHPrivateKey: data[SecretIdentity],
		SSHKnownHosts: data[SecretKnownHosts],
	}
	if err := a.validate(); err != nil {
		return nil, fmt.Errorf("git credentials Secret: %w", err)
	}
	return a, nil
}

func (a *Auth) isBasic() bool  { return a.Username != "" || a.Password != "" }
func (a *Auth) isBearer() bool { return a.BearerToken != "" }
func (a *Auth) isSSH() bool    { return len(a.SSHPrivateKey) > 0 || len(a.SSHKnownHosts) > 0 }

// validate checks the combination of fields; messages never include their values.
func (a *Auth) validate() error {
	methods := 0
	for _, set := range []bool{a.isBasic(), a.isBearer(), a.isSSH()} {
		if set {
			methods++
		}
	}
	if methods > 1 {
		return errors.New("set only one of username/password, bearerToken and identity/known_hosts")
	}
	switch {
	case a.Password != "" && a.Username == "":
		return errors.New("password without username")
	case len(a.SSHPrivateKey) > 0 && len(a.SSHKnownHosts) == 0:
		return errors.New("identity without known_hosts: SSH host keys are always checked")
	case len(a.SSHKnownHosts) > 0 && len(a.SSHPrivateKey) == 0:
		return errors.New("known_hosts without identity")
	}
	if a.isSSH() {
		if _, err := parseSigner(a.SSHPrivateKey); err != nil {
			return err
		}
		if err := checkKnownHosts(a.SSHKnownHosts); err != nil {
			return err
		}
	}
	return nil
}

// Redactor hides these credentials, in every encoding, and every credential shape from
// text: fetch errors use it, and so should callers that put text about this repository
// into conditions, events, logs or comments. A nil Auth hides shapes only.
func (a *Auth) Redactor() *redact.Redactor {
	if a == nil {
		return redact.New()
	}
	secrets := append(redact.Basic(a.Username, a.Password), a.BearerToken)
	return redact.New(append(secrets, redact.Key(a.SSHPrivateKey)...)...)
}

func parseSigner(pemBytes []byte) (ssh.Signer, error) {
	signer, err := ssh.ParsePrivateKey(pemBytes)
	var missing *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &missing):
		return nil, errors.New("identity is passphrase-protected, which is not supported")
	case err != nil:
		// The parser's message does not quote the key, but stay generic anyway.
		return nil, errors.New("identity is not a valid SSH private key")
	}
	return signer, nil
}

func checkKnownHosts(data []byte) error {
	rest := data
	n := 0
	for len(rest) > 0 {
		var err error
		_, _, _, _, rest, err = ssh.ParseKnownHosts(rest)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("known_hosts is not valid: %v", err)
		}
		n++
	}
	if n == 0 {
		return errors.New("known_hosts has no host keys")
	}
	return nil
}

// method returns the go-git auth for e; nil means anonymous. timeout bounds the SSH
// handshake, which go-git does not tie to the context; tmpDir is writable scratch space.
func (a *Auth) method(e *endpoint, timeout time.Duration, tmpDir string) (transport.AuthMethod, error) {
	if e.scheme == "ssh" {
		if a == nil || len(a.SSHPrivateKey) == 0 {
			// Without this go-git would fall back to an SSH agent and ~/.ssh/known_hosts.
			return nil, errors.New("an ssh URL needs identity and known_hosts credentials")
		}
		return a.sshMethod(e, timeout, tmpDir)
	}
	if a == nil {
		return nil, nil
	}
	if err := a.validate(); err != nil {
		return nil, err
	}
	switch {
	case a.isSSH():
		return nil, fmt.Errorf("SSH credentials cannot be used with a %s URL", e.scheme)
	case a.isBearer():
		return &githttp.TokenAuth{Token: a.BearerToken}, nil
	case a.isBasic():
		return &githttp.BasicAuth{Username: a.Username, Password: a.Password}, nil
	}
	return nil, nil
}

func (a *Auth) sshMethod(e *endpoint, timeout time.Duration, tmpDir string) (transport.AuthMethod, error) {
	if err := a.validate(); err != nil {
		return nil, err
	}
	signer, err := parseSigner(a.SSHPrivateKey)
	if err != nil {
		return nil, err
	}
	callback, err := hostKeyCallback(a.SSHKnownHosts, tmpDir)
	if err != nil {
		return nil, err
	}
	user := a.SSHUser
	if user == "" {
		user = e.user
	}
	if user == "" {
		user = "git"
	}
	pk := &gitssh.PublicKeys{User: user, Signer: signer}
	pk.HostKeyCallback = callback
	// Offer only the algorithms of the keys we know, else the server may present a key
	// of another type and fail the check.
	pk.HostKeyAlgorithms = hostKeyAlgorithms(callback, sshHostPort(e.host))
	return &sshAuth{PublicKeys: pk, timeout: timeout}, nil
}

// sshAuth adds a handshake timeout to go-git's public key auth.
type sshAuth struct {
	*gitssh.PublicKeys
	timeout time.Duration
}

func (s *sshAuth) ClientConfig() (*ssh.ClientConfig, error) {
	cfg, err := s.PublicKeys.ClientConfig()
	if err != nil {
		return nil, err
	}
	cfg.Timeout = s.timeout
	return cfg, nil
}

// hostKeyCallback builds a known_hosts check from bytes. knownhosts only reads files, so
// the lines go through a temp file in dir (the cache: /tmp may be read-only) that is
// removed at once.
func hostKeyCallback(knownHosts []byte, dir string) (ssh.HostKeyCallback, error) {
	f, err := os.CreateTemp(dir, ".tmp-known_hosts-*")
	if err != nil {
		return nil, fmt.Errorf("known_hosts: %w", err)
	}
	defer os.Remove(f.Name())
	_, werr := f.Write(knownHosts)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return nil, fmt.Errorf("known_hosts: %w", werr)
	}
	cb, err := knownhosts.New(f.Name())
	if err != nil {
		return nil, fmt.Errorf("known_hosts is not valid: %v", err)
	}
	return cb, nil
}

// hostKeyAlgorithms asks the callback which keys it knows for host by offering a key it
// cannot know; the KeyError lists the wanted ones.
func hostKeyAlgorithms(cb ssh.HostKeyCallback, host string) []string {
	err := cb(host, &net.TCPAddr{IP: net.IPv4zero}, probeKey{})
	var keyErr *knownhosts.KeyError
	if !errors.As(err, &keyErr) {
		return nil
	}
	var algos []string
	for _, k := range keyErr.Want {
		switch t := k.Key.Type(); t {
		case ssh.KeyAlgoRSA:
			algos = append(algos, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		default:
			algos = append(algos, t)
		}
	}
	slices.Sort(algos)
	return slices.Compact(algos)
}

// sshHostPort adds the default port, as the SSH client does before the host key check.
func sshHostPort(host string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	return net.JoinHostPort(host, "22")
}

// probeKey is a public key no known_hosts file contains.
type probeKey struct{}

func (probeKey) Type() string                        { return "trustsync-probe" }
func (probeKey) Marshal() []byte                     { return []byte("trustsync-probe") }
func (probeKey) Verify([]byte, *ssh.Signature) error { return errors.New("probe key") }
