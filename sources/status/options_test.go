package status

import (
	"errors"
	"strings"
	"testing"
)

func TestDeriveFromRepoURL(t *testing.T) {
	tests := []struct {
		provider       Provider
		repoURL        string
		wantAddress    string
		wantRepository string
	}{
		{GitHub, "https://github.com/org/repo", "https://api.github.com", "org/repo"},
		{GitHub, "https://github.com/org/repo.git", "https://api.github.com", "org/repo"},
		{GitHub, "https://x-access-token@github.com/org/repo.git/", "https://api.github.com", "org/repo"},
		{GitHub, "git@github.com:org/repo.git", "https://api.github.com", "org/repo"},
		{GitHub, "ssh://git@ssh.github.com:443/org/repo.git", "https://api.github.com", "org/repo"},
		{GitHub, "https://GHE.example.com/org/repo.git", "https://ghe.example.com/api/v3", "org/repo"},
		{GitHub, "git@ghe.example.com:org/repo.git", "https://ghe.example.com/api/v3", "org/repo"},
		{GitLab, "ssh://git@gitlab.com/group/sub/repo.git", "https://gitlab.com/api/v4", "group/sub/repo"},
		{GitLab, "https://gitlab.example:8443/group/repo.git", "https://gitlab.example:8443/api/v4", "group/repo"},
		{GitLab, "git@gitlab.example:group/a/b/repo.git", "https://gitlab.example/api/v4", "group/a/b/repo"},
		{Gitea, "http://127.0.0.1:3000/owner/repo.git", "http://127.0.0.1:3000/api/v1", "owner/repo"},
		{Gitea, "ssh://git@gitea.example:2222/owner/repo.git", "https://gitea.example/api/v1", "owner/repo"},
		{Gitea, "ssh://git@[::1]:2222/owner/repo.git", "https://[::1]/api/v1", "owner/repo"},
		{Bitbucket, "https://bitbucket.org/ws/repo.git", "https://api.bitbucket.org/2.0", "ws/repo"},
		{Bitbucket, "https://alice@bitbucket.org/ws/repo.git", "https://api.bitbucket.org/2.0", "ws/repo"},
		{Bitbucket, "git@bitbucket.org:ws/repo.git", "https://api.bitbucket.org/2.0", "ws/repo"},
		{BitbucketServer, "https://bitbucket.example/scm/PROJ/repo.git", "https://bitbucket.example", "PROJ/repo"},
		{BitbucketServer, "https://bitbucket.example/scm/proj/repo.git", "https://bitbucket.example", "PROJ/repo"},
		{BitbucketServer, "https://git.example/bitbucket/scm/PROJ/repo.git", "https://git.example/bitbucket", "PROJ/repo"},
		{BitbucketServer, "http://10.0.0.5:7990/scm/PROJ/repo.git", "http://10.0.0.5:7990", "PROJ/repo"},
		{BitbucketServer, "ssh://git@bitbucket.example:7999/proj/repo.git", "https://bitbucket.example", "PROJ/repo"},
		{BitbucketServer, "ssh://git@bitbucket.example:7999/~alice/repo.git", "https://bitbucket.example", "~alice/repo"},
	}
	for _, tt := range tests {
		t.Run(string(tt.provider)+" "+tt.repoURL, func(t *testing.T) {
			h, _ := hostOf(tt.provider)
			address, repository, err := deriveFromRepoURL(h, tt.repoURL)
			if err != nil {
				t.Fatal(err)
			}
			if address != tt.wantAddress || repository != tt.wantRepository {
				t.Errorf("got %q, %q; want %q, %q", address, repository, tt.wantAddress, tt.wantRepository)
			}
			// What derivation yields must also pass New's own checks.
			if _, err := New(Options{Provider: tt.provider, RepoURL: tt.repoURL, Token: testToken}); err != nil {
				t.Errorf("New: %v", err)
			}
		})
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	base := func(p Provider) Options {
		return Options{Provider: p, Address: "https://api.example", Repository: "org/repo", Token: testToken}
	}
	with := func(o Options, f func(*Options)) Options { f(&o); return o }
	tests := []struct {
		name        string
		o           Options
		wantOptions []string
	}{
		{"unknown provider", with(base(GitHub), func(o *Options) { o.Provider = "azuredevops" }), []string{"Provider"}},
		{"empty provider", with(base(GitHub), func(o *Options) { o.Provider = "" }), []string{"Provider"}},
		{"no token", with(base(GitHub), func(o *Options) { o.Token = "" }), []string{"Token"}},
		{"token with newline", with(base(GitHub), func(o *Options) { o.Token = "abc\n" }), []string{"Token"}},
		{"nothing to derive from", with(base(GitHub), func(o *Options) { o.Address, o.Repository = "", "" }), []string{"RepoURL"}},
		{"unsupported clone scheme", with(base(GitHub), func(o *Options) { o.Repository, o.RepoURL = "", "file:///srv/repo.git" }), []string{"RepoURL"}},
		{"clone URL without path", with(base(GitHub), func(o *Options) { o.Repository, o.RepoURL = "", "https://github.com/" }), []string{"RepoURL"}},
		{"Bitbucket Cloud on another host", with(base(Bitbucket), func(o *Options) { o.Address, o.RepoURL = "", "https://bitbucket.example/scm/P/r.git" }), []string{"RepoURL"}},
		{"Bitbucket Server https without /scm/", with(base(BitbucketServer), func(o *Options) { o.Repository, o.RepoURL = "", "https://bitbucket.example/P/r.git" }), []string{"RepoURL"}},
		{"address not http", with(base(GitHub), func(o *Options) { o.Address = "ftp://api.example" }), []string{"Address"}},
		{"address relative", with(base(GitHub), func(o *Options) { o.Address = "/api/v3" }), []string{"Address"}},
		{"address with credentials", with(base(GitHub), func(o *Options) { o.Address = "https://u:p@api.example" }), []string{"Address"}},
		{"address with query", with(base(GitHub), func(o *Options) { o.Address = "https://api.example/?x=1" }), []string{"Address"}},
		{"address with a token as user", with(base(GitHub), func(o *Options) { o.Address = "https://ghtok@api.example" }), []string{"Address"}},
		{"clone URL with a password holding a slash", with(base(GitHub), func(o *Options) { o.Repository, o.RepoURL = "", "https://x:ab/c@github.com/org/repo.git" }), []string{"RepoURL"}},
		{"address with a password holding a slash", with(base(GitHub), func(o *Options) { o.Address = "https://u:p/q@api.example" }), []string{"Address"}},
		{"clone URL with a password", with(base(GitHub), func(o *Options) { o.Repository, o.RepoURL = "", "https://x-access-token:abc@github.com/org/repo.git" }), []string{"RepoURL"}},
		{"github repository with three segments", with(base(GitHub), func(o *Options) { o.Repository = "a/b/c" }), []string{"Repository"}},
		{"gitea repository with one segment", with(base(Gitea), func(o *Options) { o.Repository = "repo" }), []string{"Repository"}},
		{"gitlab project without group", with(base(GitLab), func(o *Options) { o.Repository = "repo" }), []string{"Repository"}},
		{"bitbucket server three segments", with(base(BitbucketServer), func(o *Options) { o.Repository = "P/r/x" }), []string{"Repository"}},
		{"dot-dot segment", with(base(GitLab), func(o *Options) { o.Repository = "group/../repo" }), []string{"Repository"}},
		{"empty segment", with(base(GitHub), func(o *Options) { o.Repository = "org//repo" }), []string{"Repository"}},
		{"username on github", with(base(GitHub), func(o *Options) { o.Username = "bob" }), []string{"Username"}},
		{"username with colon", with(base(Bitbucket), func(o *Options) { o.Username = "bob:x" }), []string{"Username"}},
		{"every problem at once", Options{Provider: GitHub, Address: "ftp://x", Repository: "a", Username: "u"}, []string{"Address", "Repository", "Token", "Username"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.o)
			if err == nil {
				t.Fatal("New accepted the options")
			}
			var got []string
			for _, e := range flatten(err) {
				var oe *OptionError
				if errors.As(e, &oe) {
					got = append(got, oe.Option)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.wantOptions, ",") {
				t.Errorf("rejected options %v, want %v (%v)", got, tt.wantOptions, err)
			}
		})
	}
}

// A token that also sits in a clone URL must not come back in New's error.
func TestNewErrorOmitsToken(t *testing.T) {
	_, err := New(Options{Provider: GitHub, RepoURL: "https://x-access-token:" + testToken + "@github.com/", Token: testToken})
	if err == nil {
		t.Fatal("New accepted a clone URL without a repository path")
	}
	if strings.Contains(err.Error(), testToken) {
		t.Errorf("error carries the token: %v", err)
	}
}

// flatten lists the leaves of joined and wrapped errors.
func flatten(err error) []error {
	switch e := err.(type) {
	case interface{ Unwrap() []error }:
		var out []error
		for _, inner := range e.Unwrap() {
			out = append(out, flatten(inner)...)
		}
		return out
	case *OptionError:
		return []error{e}
	case interface{ Unwrap() error }:
		return flatten(e.Unwrap())
	}
	return []error{err}
}

// The provider errors list what the hosts table holds, in the words they always had.
func TestProviderErrorText(t *testing.T) {
	o := Options{Address: "https://api.example", Repository: "org/repo", Token: testToken}
	with := func(p Provider, username string) Options { o := o; o.Provider, o.Username = p, username; return o }
	newErr := func(o Options) error { _, err := New(o); return err }
	changesErr := func(o Options) error { _, err := NewChangeRequests(o); return err }
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"unknown provider", newErr(with("azuredevops", "")), `status: option Provider: "azuredevops": want github, gitlab, gitea, bitbucket or bitbucketserver`},
		{"username on github", newErr(with(GitHub, "bob")), `status: option Username: only Bitbucket and Bitbucket Server use a username; github authenticates with the token alone`},
		{"comments on bitbucket", changesErr(with(BitbucketServer, "")), `status: option Provider: "bitbucketserver": pull-request comments are not supported; use github, gitlab or gitea`},
		{"comments on an unknown provider", changesErr(with("gogs", "")), `status: option Provider: "gogs": want github, gitlab or gitea`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil || tt.err.Error() != tt.want {
				t.Errorf("error = %v\nwant %s", tt.err, tt.want)
			}
		})
	}
}
