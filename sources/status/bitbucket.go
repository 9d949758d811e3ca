package status

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"strings"
)

// bitbucketAPI serves Bitbucket Cloud
// (https://developer.atlassian.com/cloud/bitbucket/rest/api-group-commit-statuses/) and
// Bitbucket Server's build-status 1.0 API: both take {key, name, state, url, description},
// and a post with an existing key replaces that status.
type bitbucketAPI struct {
	c *client
	// list and post build the endpoint URLs for a commit.
	list, post func(commit string) string
	// web is the repository's web page, sent when a status has no TargetURL because
	// both APIs require a url.
	web string
}

func newBitbucketCloudAPI(c *client, o Options) hostAPI {
	base := o.Address + "/repositories/" + escapePath(o.Repository) + "/commit/"
	return &bitbucketAPI{
		c:    c,
		list: func(commit string) string { return base + commit + "/statuses?pagelen=100" },
		post: func(commit string) string { return base + commit + "/statuses/build" },
		web:  "https://bitbucket.org/" + escapePath(o.Repository),
	}
}

func newBitbucketServerAPI(c *client, o Options) hostAPI {
	base := o.Address + "/rest/build-status/1.0/commits/"
	return &bitbucketAPI{
		c:    c,
		list: func(commit string) string { return base + commit + "?limit=100" },
		post: func(commit string) string { return base + commit },
		web:  bitbucketServerWeb(o.Address, o.Repository),
	}
}

// bitbucketServerWeb is the repository page; personal projects (~user) live under /users.
func bitbucketServerWeb(address, repository string) string {
	project, slug, _ := strings.Cut(repository, "/")
	if user, ok := strings.CutPrefix(project, "~"); ok {
		return address + "/users/" + escapePath(user) + "/repos/" + escapePath(slug)
	}
	return address + "/projects/" + escapePath(project) + "/repos/" + escapePath(slug)
}

type bitbucketStatus struct {
	Key         string `json:"key"`
	Name        string `json:"name"`
	State       string `json:"state"`
	URL         string `json:"url"`
	Description string `json:"description"`
}

func (a *bitbucketAPI) state(s State) string {
	switch s {
	case Pending:
		return "INPROGRESS"
	case Success:
		return "SUCCESSFUL"
	default: // Failure and Error: Bitbucket has one failed state
		return "FAILED"
	}
}

// bitbucketKey fits any context into the 40-character key limit, as Flux does.
func bitbucketKey(context string) string {
	sum := sha1.Sum([]byte(context))
	return hex.EncodeToString(sum[:])
}

func (a *bitbucketAPI) latest(ctx context.Context, commit string, s Status) (bool, string, string, error) {
	var page struct {
		Values []bitbucketStatus `json:"values"`
	}
	if err := a.c.do(ctx, "GET", a.list(commit), nil, &page); err != nil {
		return false, "", "", err
	}
	// Keys are unique per commit, so the match is the current status. Missing it on a
	// long list only costs a post that replaces the status with itself.
	key := bitbucketKey(s.Context)
	for _, st := range page.Values {
		if st.Key == key {
			return true, st.State, st.Description, nil
		}
	}
	return false, "", "", nil
}

func (a *bitbucketAPI) create(ctx context.Context, commit string, s Status) error {
	url := s.TargetURL
	if url == "" {
		url = a.web
	}
	body := bitbucketStatus{Key: bitbucketKey(s.Context), Name: s.Context, State: a.state(s.State), URL: url, Description: s.Description}
	return a.c.do(ctx, "POST", a.post(commit), body, nil)
}
