package hostile

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// gitDeployment is a plain workload for the revision cases.
const gitDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: team-a}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: web:%d}]}
`

// twoCommits is a repository whose app/ changes between HEAD~1 and HEAD.
var twoCommits = []map[string]string{
	{"app/kustomization.yaml": "resources: [deploy.yaml]\n", "app/deploy.yaml": fmt.Sprintf(gitDeployment, 1)},
	{"app/deploy.yaml": fmt.Sprintf(gitDeployment, 2)},
}

// TestRevisionsNameCommits: a --base or --head that names a file, a tree, a blob, a
// range or a reflog entry is refused, naming the flag and the value — never previewed
// or diffed as the commit before the colon.
func TestRevisionsNameCommits(t *testing.T) {
	var cases []Case
	for _, cmd := range []string{"preview", "diff"} {
		for _, bad := range []struct{ flag, rev, says string }{
			{"--head", "HEAD:app/deploy.yaml", "REV:path names a file or a tree"},
			{"--head", "HEAD:app", "REV:path names a file or a tree"},
			{"--head", "HEAD^{blob}", "^{blob} names a blob, not a commit"},
			{"--head", "HEAD^{tag}", "^{tag} names a tag, not a commit"}, // ^{tree} would be the harness's {tree}
			{"--head", "HEAD@{1}", "reflog"},
			{"--head", "HEAD~1..HEAD", "range"},
			{"--head", "HEAD^{/commit 0}", "commit message search"},
			{"--base", "HEAD~1:app/deploy.yaml", "REV:path names a file or a tree"},
			{"--base", "main^{blob}", "^{blob} names a blob, not a commit"},
			{"--base", ":app/deploy.yaml", "REV:path"},
		} {
			args := []string{cmd, "{tree}/app", "--base", "HEAD~1", "--head", "HEAD"}
			for i := range args {
				if args[i] == bad.flag {
					args[i+1] = bad.rev
				}
			}
			cases = append(cases, Case{
				Name:    fmt.Sprintf("%s %s %s", cmd, bad.flag, bad.rev),
				Commits: twoCommits, Args: args, Exit: 2,
				Stderr: []string{fmt.Sprintf("%s %q", bad.flag, bad.rev), bad.says},
			})
		}
	}
	cases = append(cases,
		Case{Name: "preview of two commits", Commits: twoCommits, Args: []string{"preview", "{tree}/app", "--base", "HEAD~1", "--head", "HEAD", "--format", "text"}, Succeeds: true},
		Case{Name: "diff of a commit with itself, peeled", Commits: twoCommits, Args: []string{"diff", "{tree}/app", "--base", "HEAD", "--head", "main^{commit}"}, Succeeds: true},
		Case{Name: "diff --repo with ancestry", Commits: twoCommits, Args: []string{"diff", "app", "--repo", "{canaryURL}/agents.git", "--base", "main~1", "--head", "main"}, Exit: 2,
			Stderr: []string{"main~1", "a remote revision is a branch, tag or commit"}},
	)
	run(t, cases)
}

// quotingHost is a Git host (or a proxy before it) that answers every request with the
// given status and a body quoting back what it was sent: the Authorization header raw,
// decoded and escaped, and the URL.
type quotingHost struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string // Authorization headers received
}

func newQuotingHost(t *testing.T) *quotingHost {
	h := &quotingHost{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		h.mu.Lock()
		h.seen = append(h.seen, auth)
		h.mu.Unlock()
		_, value, _ := strings.Cut(auth, " ")
		decoded, _ := base64.StdEncoding.DecodeString(value)
		status := http.StatusInternalServerError
		if strings.Contains(r.URL.Path, "/401/") {
			status = http.StatusUnauthorized
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, "refused %s %s\nAuthorization: %s\nPRIVATE-TOKEN: %s\n{\"header\":%q,\"decoded\":%q,\"escaped\":%q}\n",
			r.Method, r.URL, auth, r.Header.Get("PRIVATE-TOKEN"), auth, decoded, url.QueryEscape(string(decoded)))
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *quotingHost) sawCredentials(t *testing.T, want string) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.seen {
		if s == want {
			return
		}
	}
	t.Errorf("the host never received %q (got %q): the case did not test what it claims", want, h.seen)
}

// TestCredentialsStayHidden: a Git host that quotes the credentials back in its error
// answer does not bring them into trustsync's output, in any encoding — a Git password
// and its Basic value, a bearer token, a commit-status token — and credentials in
// configuration URLs are refused without being quoted.
func TestCredentialsStayHidden(t *testing.T) {
	const user, password, token, apiToken = "bot", "pa55/w0rd+s3cr3t", "tok-7d1e9a44c0ffee", "gitea-4f1c2b9e7a"
	basic := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	passwordForms := []string{password, basic, "Basic " + basic, url.QueryEscape(password), base64.StdEncoding.EncodeToString([]byte(password)),
		base64.StdEncoding.EncodeToString([]byte(":" + password))}
	tokenForms := []string{token, base64.StdEncoding.EncodeToString([]byte(token))}
	host := newQuotingHost(t)
	secret := func(data string) map[string]string {
		return map[string]string{"creds.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: git}\nstringData:\n" + data}
	}
	basicCreds := secret(fmt.Sprintf("  username: %s\n  password: %q\n", user, password))
	bearerCreds := secret(fmt.Sprintf("  bearerToken: %s\n", token))
	diffRepo := func(status string) []string {
		return []string{"diff", "app", "--repo", host.URL + "/" + status + "/agents.git", "--auth-secret", "{tree}/creds.yaml", "--base", "main", "--head", "main"}
	}
	var cases []Case
	for _, status := range []string{"401", "500"} {
		cases = append(cases,
			Case{Name: "git password, host answers " + status, Files: basicCreds, Args: diffRepo(status), Exit: 2,
				Stderr: []string{host.URL + "/" + status + "/agents.git"}, NotInOutput: passwordForms},
			Case{Name: "git bearer token, host answers " + status, Files: bearerCreds, Args: diffRepo(status), Exit: 2,
				Stderr: []string{host.URL + "/" + status + "/agents.git"}, NotInOutput: tokenForms},
		)
	}
	cases = append(cases,
		Case{Name: "commit-status token, host answers 500", Commits: twoCommits,
			Args: []string{"preview", "{tree}/app", "--base", "HEAD~1", "--head", "HEAD", "--post", "--provider", "gitea",
				"--repo-url", host.URL + "/org/agents.git", "--pr", "7", "--token-env", "PREVIEW_TOKEN"},
			Env: []string{"PREVIEW_TOKEN=" + apiToken}, Exit: 2, Stderr: []string{"status: gitea org/agents", "HTTP 500"},
			NotInOutput: []string{apiToken, "token " + apiToken, base64.StdEncoding.EncodeToString([]byte(apiToken))}},
		Case{Name: "password in the --repo URL is refused unquoted",
			Args: []string{"diff", "app", "--repo", "http://" + user + ":" + password + "@{canary}/agents.git", "--base", "main", "--head", "main"}, Exit: 2,
			Stderr: []string{"must not contain credentials", "{canary}/agents.git"}, NotInOutput: []string{password, user + ":"}},
		Case{Name: "token as the --repo URL's user is refused unquoted",
			Args: []string{"diff", "app", "--repo", "https://" + token + "@{canary}/agents.git", "--base", "main", "--head", "main"}, Exit: 2,
			Stderr: []string{"must not contain credentials"}, NotInOutput: []string{token}},
		Case{Name: "access token in the --repo URL's query is refused unquoted",
			Args: []string{"diff", "app", "--repo", "https://{canary}/agents.git?access_token=" + token, "--base", "main", "--head", "main"}, Exit: 2,
			Stderr: []string{"must not have a query"}, NotInOutput: []string{token}},
		Case{Name: "password in the --repo-url of a preview post is refused unquoted", Commits: twoCommits,
			Args: []string{"preview", "{tree}/app", "--base", "HEAD~1", "--head", "HEAD", "--post", "--provider", "gitea",
				"--repo-url", "http://" + user + ":" + password + "@{canary}/org/agents.git", "--pr", "7", "--token-env", "PREVIEW_TOKEN"},
			Env: []string{"PREVIEW_TOKEN=" + apiToken}, Exit: 2, Stderr: []string{"RepoURL", "must not carry a password"},
			NotInOutput: []string{password, apiToken}},
		Case{Name: "password in the Platform's keycloak.url is refused unquoted",
			Files: map[string]string{"kustomization.yaml": "resources: [deploy.yaml]\n", "deploy.yaml": fmt.Sprintf(gitDeployment, 1),
				"platform.yaml": "apiVersion: gitops.trustsync.dev/v1alpha1\nkind: Platform\nkeycloak: {url: \"http://admin:" + password + "@{canary}\"}\n"},
			Args: []string{"render", "{tree}", "--platform", "{tree}/platform.yaml"}, Exit: 1,
			Stderr: []string{"platform.yaml", "keycloak.url", "must not carry credentials"}, NotInOutput: []string{password, "admin:"}},
	)
	// The cases run in parallel inside the group; the host is asked once they are done.
	t.Run("cases", func(t *testing.T) { run(t, cases) })
	t.Run("the host received the credentials", func(t *testing.T) {
		host.sawCredentials(t, "Basic "+basic)
		host.sawCredentials(t, "Bearer "+token)
		host.sawCredentials(t, "token "+apiToken)
	})
}
