package status

import (
	"context"
	"net/url"
)

// gitlabAPI follows https://docs.gitlab.com/api/commits/ (commit statuses).
type gitlabAPI struct {
	c       *client
	project string // {Address}/projects/{url-escaped path}
}

// GitLab has no separate error state.
func (a *gitlabAPI) state(s State) string {
	switch s {
	case Failure, Error:
		return "failed"
	}
	return string(s) // pending and success are GitLab's words too
}

func (a *gitlabAPI) latest(ctx context.Context, commit string, s Status) (bool, string, string, error) {
	// all=true includes statuses of earlier pipelines. GitLab lists by ascending id
	// unless it is 17.8 or newer and honours sort=desc, so the highest id decides.
	q := url.Values{"name": {s.Context}, "all": {"true"}, "order_by": {"id"}, "sort": {"desc"}, "per_page": {"100"}}
	var list []struct {
		ID          int64  `json:"id"`
		Name        string `json:"name"`
		Status      string `json:"status"`
		Description string `json:"description"`
	}
	if err := a.c.do(ctx, "GET", a.project+"/repository/commits/"+commit+"/statuses?"+q.Encode(), nil, &list); err != nil {
		return false, "", "", err
	}
	found, newest := false, 0
	for i, st := range list {
		if st.Name == s.Context && (!found || st.ID > list[newest].ID) {
			found, newest = true, i
		}
	}
	if !found {
		return false, "", "", nil
	}
	return true, list[newest].Status, list[newest].Description, nil
}

func (a *gitlabAPI) create(ctx context.Context, commit string, s Status) error {
	body := struct {
		State       string `json:"state"`
		Name        string `json:"name"`
		TargetURL   string `json:"target_url,omitempty"`
		Description string `json:"description"`
	}{a.state(s.State), s.Context, s.TargetURL, s.Description}
	return a.c.do(ctx, "POST", a.project+"/statuses/"+commit, body, nil)
}
