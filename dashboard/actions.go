package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/dashboard/signin"
)

// Patcher is what actions write with: a client whose requests impersonate the user
// their context carries (signin.Impersonating), so Kubernetes RBAC decides.
type Patcher interface {
	Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error
}

// Actions on a Sync, each a merge patch of what `trustsync reconcile|suspend|resume`
// change.
const (
	ActionReconcile = "reconcile"
	ActionSuspend   = "suspend"
	ActionResume    = "resume"
)

// actionTimeout bounds an action's write.
const actionTimeout = 10 * time.Second

// syncPatch is an action's merge patch, and whether a Sync shows it done.
func syncPatch(action string, now time.Time) ([]byte, func(*gitopsv1.Sync) bool, bool) {
	var patch map[string]any
	var shows func(*gitopsv1.Sync) bool
	switch action {
	case ActionReconcile:
		at := now.UTC().Format(time.RFC3339Nano)
		patch = map[string]any{"metadata": map[string]any{"annotations": map[string]any{gitopsv1.AnnotationReconcileRequestedAt: at}}}
		shows = func(s *gitopsv1.Sync) bool { return s.Annotations[gitopsv1.AnnotationReconcileRequestedAt] == at }
	case ActionSuspend, ActionResume:
		suspend := action == ActionSuspend
		patch = map[string]any{"spec": map[string]any{"suspend": suspend}}
		shows = func(s *gitopsv1.Sync) bool { return s.Spec.Suspend == suspend }
	default:
		return nil, nil, false
	}
	b, _ := json.Marshal(patch)
	return b, shows, true
}

// actionsView is what the layout shows of sign-in and actions.
type actionsView struct {
	// SignIn is on; User is set once signed in, with the CSRF token forms carry.
	SignIn     bool
	User, CSRF string
	LoginURL   string
	// Sync is the path of the Sync the page's actions act on; empty elsewhere.
	Sync      string
	Suspended bool
	// Done is the action just requested, from the redirect after it.
	Done string
}

func (s *Server) actionsOf(r *http.Request, p page) *actionsView {
	if s.opts.SignIn == nil {
		return nil
	}
	v := &actionsView{SignIn: true, LoginURL: signin.LoginURL(r.URL.RequestURI())}
	if u, ok := s.opts.SignIn.User(r); ok {
		v.User, v.CSRF = u.Name, u.CSRF
	}
	if s.opts.Actor != nil && p.sync != nil {
		v.Sync, v.Suspended = "/syncs/"+url.PathEscape(p.sync.Namespace)+"/"+url.PathEscape(p.sync.Name), p.sync.Spec.Suspend
		if d := r.URL.Query().Get("done"); d == ActionReconcile || d == ActionSuspend || d == ActionResume {
			v.Done = d
		}
	}
	return v
}

// act does an action on a Sync as the signed-in user.
func (s *Server) act(w http.ResponseWriter, r *http.Request) {
	key := types.NamespacedName{Namespace: r.PathValue("namespace"), Name: r.PathValue("name")}
	back := "/syncs/" + url.PathEscape(key.Namespace) + "/" + url.PathEscape(key.Name)
	action := r.PathValue("action")
	patch, shows, ok := syncPatch(action, s.opts.Now())
	if !ok {
		http.NotFound(w, r)
		return
	}
	if !sameOrigin(r) {
		s.refuse(w, http.StatusForbidden, "Actions are taken only from the dashboard's own pages.", "")
		return
	}
	u, ok := s.opts.SignIn.User(r)
	if !ok {
		s.refuse(w, http.StatusUnauthorized, "Sign in to "+action+" Syncs.", signin.LoginURL(back))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if !signin.CSRF(u, r.PostFormValue("csrf")) {
		s.refuse(w, http.StatusForbidden, "The form is stale; reload the page and try again.", "")
		return
	}
	ctx, cancel := context.WithTimeout(signin.AsUser(r.Context(), u), actionTimeout)
	defer cancel()
	sync := &gitopsv1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	err := s.opts.Actor.Patch(ctx, sync, client.RawPatch(types.MergePatchType, patch))
	switch {
	case err == nil:
		s.opts.Log.Info("dashboard action", "action", action, "sync", key, "user", u.Name)
		s.awaitCache(r.Context(), key, shows)
		http.Redirect(w, r, back+"?done="+action, http.StatusSeeOther)
	case apierrors.IsForbidden(err):
		s.opts.Log.Info("dashboard action refused by RBAC", "action", action, "sync", key, "user", u.Name)
		s.refuse(w, http.StatusForbidden, "Kubernetes refused: "+apiMessage(err), "")
	case apierrors.IsNotFound(err):
		s.refuse(w, http.StatusNotFound, "Sync "+key.String()+" not found.", "")
	default:
		s.opts.Log.Error(err, "dashboard action failed", "action", action, "sync", key, "user", u.Name)
		s.refuse(w, http.StatusBadGateway, "The action failed; the API server did not answer. Try again.", "")
	}
}

// cachePoll is how often awaitCache looks at the cache, and cacheWait how long at most.
const (
	cachePoll = 20 * time.Millisecond
	cacheWait = 5 * time.Second
)

// awaitCache waits, at most cacheWait, until the cache shows what the user just did, so
// the page the action redirects to does not show the Sync as it was before it.
func (s *Server) awaitCache(ctx context.Context, key types.NamespacedName, done func(*gitopsv1.Sync) bool) {
	ctx, cancel := context.WithTimeout(ctx, cacheWait)
	defer cancel()
	t := time.NewTicker(cachePoll)
	defer t.Stop()
	for {
		cached := &gitopsv1.Sync{}
		if err := s.cache.Get(ctx, key, cached); err == nil && done(cached) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func apiMessage(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return status.Status().Message
	}
	return "forbidden"
}

// sameOrigin refuses requests a browser marks as coming from another site, on top of
// the SameSite session cookie and the CSRF token.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		return site == "same-origin"
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}

// refuse answers an action with a page that says why and, when signing in helps, where.
func (s *Server) refuse(w http.ResponseWriter, status int, msg, login string) {
	out, err := s.fragment("layout", layout{
		Title: http.StatusText(status), Live: template.HTML(template.HTMLEscapeString(msg)), //nolint:gosec // escaped
		Actions: &actionsView{SignIn: true, LoginURL: login},
	})
	if err != nil {
		http.Error(w, msg, status)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(out)
}
