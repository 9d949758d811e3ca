package status

import (
	"context"
	"errors"
)

// hostAPI is one provider's commit-status endpoints.
type hostAPI interface {
	// state maps s onto the host's vocabulary.
	state(s State) string
	// latest returns the newest status on commit with s's context, with its state in the
	// host's vocabulary; found is false when there is none.
	latest(ctx context.Context, commit string, s Status) (found bool, state, description string, err error)
	// create posts s, whose description is already cut to size.
	create(ctx context.Context, commit string, s Status) error
}

type poster struct {
	provider   Provider
	repository string
	api        hostAPI
	redactor   redactor
}

func (p *poster) Post(ctx context.Context, commit string, s Status) (bool, error) {
	if err := errors.Join(checkCommit(commit), s.check()); err != nil {
		return false, p.fail(commit, s, "check", err)
	}
	s.Description = truncateDescription(s.Description)
	found, state, description, err := p.api.latest(ctx, commit, s)
	if err != nil {
		return false, p.fail(commit, s, "list statuses", err)
	}
	// Compared in the host's vocabulary: on GitLab and Bitbucket failure and error are
	// the same state, so switching between them changes nothing visible.
	if found && state == p.api.state(s.State) && description == s.Description {
		return false, nil
	}
	if err := p.api.create(ctx, commit, s); err != nil {
		return false, p.fail(commit, s, "post status", err)
	}
	return true, nil
}

func (p *poster) fail(commit string, s Status, op string, err error) *PostError {
	e := &PostError{
		Provider:   p.provider,
		Repository: p.repository,
		Commit:     shortCommit(commit),
		Context:    s.Context,
		Op:         op,
		Err:        &redactedError{err: err, r: p.redactor},
	}
	var re *responseError
	if errors.As(err, &re) {
		e.StatusCode, e.Body = re.StatusCode, re.Body
	}
	return e
}
