package git

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/trustsync/trustsync/internal/gittest"
)

// newSSHKey returns an ed25519 private key in OpenSSH PEM form and its public key.
func newSSHKey(t *testing.T) ([]byte, ssh.PublicKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(block), sshPub
}

func knownHostsLine(t *testing.T, host string) []byte {
	t.Helper()
	_, hostKey := newSSHKey(t)
	return []byte(knownhosts.Line([]string{host}, hostKey) + "\n")
}

func sshAuthForTest(t *testing.T) *Auth {
	key, _ := newSSHKey(t)
	return &Auth{SSHPrivateKey: key, SSHKnownHosts: knownHostsLine(t, "example.invalid")}
}

func TestAuthFromSecret(t *testing.T) {
	key, _ := newSSHKey(t)
	known := knownHostsLine(t, "github.com")
	encrypted := func() []byte {
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		block, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte("pass"))
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(block)
	}()

	tests := []struct {
		name    string
		data    map[string][]byte
		want    *Auth
		wantErr string
	}{
		{"empty", map[string][]byte{}, &Auth{}, ""},
		{"basic", map[string][]byte{"username": []byte("u"), "password": []byte("p")}, &Auth{Username: "u", Password: "p"}, ""},
		{"username only", map[string][]byte{"username": []byte("u")}, &Auth{Username: "u"}, ""},
		{"bearer", map[string][]byte{"bearerToken": []byte("t")}, &Auth{BearerToken: "t"}, ""},
		{"ssh", map[string][]byte{"identity": key, "known_hosts": known, "identity.pub": []byte("ignored")}, &Auth{SSHPrivateKey: key, SSHKnownHosts: known}, ""},
		{"password without username", map[string][]byte{"password": []byte("p")}, nil, "password without username"},
		{"identity without known_hosts", map[string][]byte{"identity": key}, nil, "identity without known_hosts"},
		{"known_hosts without identity", map[string][]byte{"known_hosts": known}, nil, "known_hosts without identity"},
		{"bad identity", map[string][]byte{"identity": []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nnope\n-----END OPENSSH PRIVATE KEY-----\n"), "known_hosts": known}, nil, "not a valid SSH private key"},
		{"encrypted identity", map[string][]byte{"identity": encrypted, "known_hosts": known}, nil, "passphrase-protected"},
		{"bad known_hosts", map[string][]byte{"identity": key, "known_hosts": []byte("github.com ssh-ed25519 !!!\n")}, nil, "known_hosts is not valid"},
		{"comment-only known_hosts", map[string][]byte{"identity": key, "known_hosts": []byte("# nothing\n")}, nil, "no host keys"},
		{"two methods", map[string][]byte{"bearerToken": []byte("t"), "username": []byte("u"), "password": []byte("p")}, nil, "only one of"},
		{"ssh and basic", map[string][]byte{"identity": key, "known_hosts": known, "username": []byte("u"), "password": []byte("p")}, nil, "only one of"},
		{"unknown key", map[string][]byte{"token": []byte("t")}, nil, `unknown keys ["token"]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := AuthFromSecret(tc.data)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				for _, v := range tc.data {
					if len(v) > 3 && strings.Contains(err.Error(), string(v)) {
						t.Errorf("error quotes secret data: %v", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Username != tc.want.Username || got.Password != tc.want.Password || got.BearerToken != tc.want.BearerToken ||
				string(got.SSHPrivateKey) != string(tc.want.SSHPrivateKey) || string(got.SSHKnownHosts) != string(tc.want.SSHKnownHosts) {
				t.Errorf("AuthFromSecret = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestHostKeyAlgorithms(t *testing.T) {
	_, ed := newSSHKey(t)
	known := knownhosts.Line([]string{"[127.0.0.1]:2222"}, ed) + "\n" +
		knownhosts.Line([]string{"github.com"}, ed) + "\n"
	cb, err := hostKeyCallback([]byte(known), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host string
		want string
	}{
		{"127.0.0.1:2222", "ssh-ed25519"},
		{sshHostPort("github.com"), "ssh-ed25519"},
		{"127.0.0.1:22", ""},
	}
	for _, tc := range tests {
		if got := strings.Join(hostKeyAlgorithms(cb, tc.host), ","); got != tc.want {
			t.Errorf("%s: algorithms %q, want %q", tc.host, got, tc.want)
		}
	}
}

// TestFetchSSH fetches over SSH from an in-process server that runs git-upload-pack,
// checking the host key against known_hosts.
func TestFetchSSH(t *testing.T) {
	s := gittest.NewServer(t, gittest.Options{})
	s.CreateRepo(t, "demo")
	w := s.Workspace(t, "demo")
	w.Write(t, map[string]string{"f": "over ssh\n"})
	sha := w.Commit(t, "c")
	w.Tag(t, "v1.0.0")
	w.Push(t)

	key, pub := newSSHKey(t)
	srv := s.ServeSSH(t, pub)
	otherKey, _ := newSSHKey(t)

	tests := []struct {
		name    string
		url     string
		auth    *Auth
		wantErr string
	}{
		{"ssh url", srv.RepoURL("demo"), &Auth{SSHPrivateKey: key, SSHKnownHosts: srv.KnownHosts}, ""},
		{"wrong host key", srv.RepoURL("demo"), &Auth{SSHPrivateKey: key, SSHKnownHosts: knownHostsLine(t, "[127.0.0.1]:"+strings.Split(srv.Addr, ":")[1])}, "key mismatch"},
		{"unknown host", srv.RepoURL("demo"), &Auth{SSHPrivateKey: key, SSHKnownHosts: knownHostsLine(t, "example.invalid")}, "key is unknown"},
		{"unauthorised key", srv.RepoURL("demo"), &Auth{SSHPrivateKey: otherKey, SSHKnownHosts: srv.KnownHosts}, "unable to authenticate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &Fetcher{CacheDir: t.TempDir()}
			for _, ref := range []Ref{{}, {Tag: "v1.0.0"}, {Commit: sha}} {
				a, err := fetch(t, f, Request{URL: tc.url, Ref: ref, Auth: tc.auth})
				if tc.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
						t.Fatalf("%+v: err = %v, want %q", ref, err, tc.wantErr)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%+v: %v", ref, err)
				}
				if a.Commit != sha || readFile(t, a.Dir, "f") != "over ssh\n" {
					t.Errorf("%+v: artifact %+v", ref, a)
				}
			}
		})
	}
}
