package status

import "context"

// giteaAPI follows Gitea's /repos/{owner}/{repo}/statuses/{sha} endpoints: GitHub's paths
// and request body, but answers name the state "status".
type giteaAPI struct {
	c    *client
	repo string // {Address}/repos/{owner}/{repo}
}

type giteaStatus struct {
	ID          int64  `json:"id"`
	Status      string `json:"status"`
	Description string `json:"description"`
	Context     string `json:"context"`
}

// Gitea's states are trustsync's (plus warning, which trustsync does not send).
func (a *giteaAPI) state(s State) string { return string(s) }

func (a *giteaAPI) latest(ctx context.Context, commit string, s Status) (bool, string, string, error) {
	var list []giteaStatus
	// Gitea's default order is by creation second, which ties for a pending quickly
	// followed by a success; sort=leastindex orders by the per-commit index, newest
	// first (the name reads backwards). The highest id still decides, whatever the order.
	if err := a.c.do(ctx, "GET", a.repo+"/statuses/"+commit+"?sort=leastindex&limit=50", nil, &list); err != nil {
		return false, "", "", err
	}
	var newest *giteaStatus
	for i, st := range list {
		if st.Context == s.Context && (newest == nil || st.ID > newest.ID) {
			newest = &list[i]
		}
	}
	if newest == nil {
		return false, "", "", nil
	}
	return true, newest.Status, newest.Description, nil
}

func (a *giteaAPI) create(ctx context.Context, commit string, s Status) error {
	body := githubStatus{State: a.state(s.State), TargetURL: s.TargetURL, Description: s.Description, Context: s.Context}
	return a.c.do(ctx, "POST", a.repo+"/statuses/"+commit, body, nil)
}
