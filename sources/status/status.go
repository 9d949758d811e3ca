package status

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// State is the outcome a status reports, in trustsync's vocabulary; each provider maps it
// onto its own.
type State string

const (
	Pending State = "pending"
	Success State = "success"
	Failure State = "failure"
	Error   State = "error"
)

func (s State) valid() bool {
	switch s {
	case Pending, Success, Failure, Error:
		return true
	}
	return false
}

// Status is what is posted on a commit.
type Status struct {
	Context     string // e.g. trustsync/team-a/agents
	State       State
	Description string // at most 140 characters; longer is cut, ending in "…"
	TargetURL   string
}

// Poster sets commit statuses on one repository of one Git host.
type Poster interface {
	// Post sets s on the commit unless the newest status with the same context already has
	// the same state and description; then it sends nothing and reports posted=false.
	Post(ctx context.Context, commit string, s Status) (posted bool, err error)
}

const (
	// maxDescription is GitHub's limit; the other hosts accept at least as much.
	maxDescription = 140
	// maxContext is GitLab's limit on a status name, the tightest of the hosts.
	maxContext = 255
)

// truncateDescription cuts d to maxDescription runes. Post applies it before comparing
// too, otherwise a long description would never match what the host stored.
func truncateDescription(d string) string {
	if utf8.RuneCountInString(d) <= maxDescription {
		return d
	}
	r := []rune(d)
	return string(r[:maxDescription-1]) + "…"
}

func (s Status) check() error {
	var errs []error
	switch {
	case s.Context == "":
		errs = append(errs, errors.New("context: empty"))
	case utf8.RuneCountInString(s.Context) > maxContext:
		errs = append(errs, fmt.Errorf("context: longer than %d characters", maxContext))
	case strings.IndexFunc(s.Context, unicode.IsControl) >= 0:
		errs = append(errs, fmt.Errorf("context %q: contains control characters", s.Context))
	}
	if !s.State.valid() {
		errs = append(errs, fmt.Errorf("state %q: want one of pending, success, failure, error", s.State))
	}
	if s.TargetURL != "" {
		if u, err := url.Parse(s.TargetURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("target URL %q: want an absolute http(s) URL", s.TargetURL))
		}
	}
	return errors.Join(errs...)
}

// checkCommit accepts full SHA-1 or SHA-256 hex object names only: the hosts want full
// hashes, and the commit ends up in request paths.
func checkCommit(commit string) error {
	if len(commit) != 40 && len(commit) != 64 {
		return fmt.Errorf("commit %q: want a full 40 or 64 character hex hash", shortCommit(commit))
	}
	for _, c := range commit {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return fmt.Errorf("commit %q: not hexadecimal", shortCommit(commit))
		}
	}
	return nil
}

func shortCommit(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}
