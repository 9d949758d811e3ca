package status

import "context"

// githubAPI follows https://docs.github.com/rest/commits/statuses.
type githubAPI struct {
	c    *client
	repo string // {Address}/repos/{owner}/{repo}
}

type githubStatus struct {
	State       string `json:"state"`
	TargetURL   string `json:"target_url,omitempty"`
	Description string `json:"description"`
	Context     string `json:"context"`
}

// GitHub's states are trustsync's.
func (a *githubAPI) state(s State) string { return string(s) }

func (a *githubAPI) latest(ctx context.Context, commit string, s Status) (bool, string, string, error) {
	var list []githubStatus
	// The list is documented as reverse chronological, so the first match is the newest.
	if err := a.c.do(ctx, "GET", a.repo+"/commits/"+commit+"/statuses?per_page=100", nil, &list); err != nil {
		return false, "", "", err
	}
	for _, st := range list {
		if st.Context == s.Context {
			return true, st.State, st.Description, nil
		}
	}
	return false, "", "", nil
}

func (a *githubAPI) create(ctx context.Context, commit string, s Status) error {
	body := githubStatus{State: a.state(s.State), TargetURL: s.TargetURL, Description: s.Description, Context: s.Context}
	return a.c.do(ctx, "POST", a.repo+"/statuses/"+commit, body, nil)
}
