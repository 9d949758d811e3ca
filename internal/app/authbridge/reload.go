package authbridge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/trustsync/trustsync/dataplane/files"
	"github.com/trustsync/trustsync/security/authbridge/sidecarconfig"
)

// reloadStatus is what /reload/status shows, as upstream's.
type reloadStatus struct {
	mu sync.Mutex
	s  ReloadStatus
}

// ReloadStatus is the outcome of the configuration reloads.
type ReloadStatus struct {
	LastAttempt        time.Time `json:"last_attempt,omitzero"`
	LastSuccess        time.Time `json:"last_success,omitzero"`
	LastError          string    `json:"last_error,omitempty"`
	ReloadsOK          int       `json:"reloads_ok"`
	ReloadsFailed      int       `json:"reloads_failed"`
	ActiveConfigSHA256 string    `json:"active_config_sha256"`
}

func (r *reloadStatus) snapshot() ReloadStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.s
}

func (r *reloadStatus) update(f func(*ReloadStatus)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(&r.s)
}

// watch reloads the pipelines when config.yaml or a routes file changes, until ctx is
// done. It watches the files' directories: a ConfigMap volume changes by swapping a
// symlink, which a watch on the file itself misses.
func (s *sidecar) watch(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching the configuration: %w", err)
	}
	defer w.Close()
	s.reloads.update(func(st *ReloadStatus) { st.ActiveConfigSHA256 = hex.EncodeToString(s.config.Load().sum[:]) })
	dirs := map[string]bool{}
	for _, f := range append([]string{s.o.ConfigPath}, routesFiles(s.config.Load().resolved)...) {
		d := filepath.Dir(f)
		if dirs[d] {
			continue
		}
		// A routes directory may not exist (the volume is optional): nothing to watch.
		if err := w.Add(d); err == nil {
			dirs[d] = true
		}
	}
	var timer *time.Timer
	fire := make(chan struct{}, 1)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	last := s.inputsSum()
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-w.Events:
			if !ok {
				return nil
			}
			if timer == nil {
				timer = time.AfterFunc(s.o.ReloadDebounce, func() {
					select {
					case fire <- struct{}{}:
					default:
					}
				})
			} else {
				timer.Reset(s.o.ReloadDebounce)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			s.o.Log.Info("configuration watch error", "error", err.Error())
		case <-fire:
			sum := s.inputsSum()
			if sum == last {
				continue
			}
			last = sum
			s.reload(ctx)
		}
	}
}

// inputsSum is a digest of config.yaml and the routes files, to tell a change from a
// touch.
func (s *sidecar) inputsSum() [32]byte {
	h := sha256.New()
	for _, f := range append([]string{s.o.ConfigPath}, routesFiles(s.config.Load().resolved)...) {
		data, _ := files.Read(f)
		h.Write([]byte(f))
		h.Write([]byte{0})
		h.Write(data)
		h.Write([]byte{0})
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// reload swaps in pipelines built from the configuration on disk. A configuration
// that does not load, changes what only a restart can change, or whose plugins do not
// build is refused: the running pipelines stay, and /reload/status says why.
func (s *sidecar) reload(ctx context.Context) {
	now := time.Now()
	fail := func(err error) {
		s.o.Log.Info("configuration reload refused; the running pipelines stay", "error", err.Error())
		s.reloads.update(func(st *ReloadStatus) {
			st.LastAttempt, st.LastError = now, err.Error()
			st.ReloadsFailed++
		})
	}
	next, err := load(s.o.ConfigPath, s.o.LookupEnv)
	if err != nil {
		fail(err)
		return
	}
	if diff := restartOnly(s.config.Load().resolved, next.resolved); len(diff) > 0 {
		fail(fmt.Errorf("%v changed, which takes a restart of the pod", diff))
		return
	}
	p, err := s.builder.build(next.resolved)
	if err != nil {
		fail(err)
		return
	}
	old := s.current.Swap(p)
	s.config.Store(next)
	s.reloads.update(func(st *ReloadStatus) {
		st.LastAttempt, st.LastSuccess, st.LastError = now, now, ""
		st.ReloadsOK++
		st.ActiveConfigSHA256 = hex.EncodeToString(next.sum[:])
	})
	s.o.Log.Info("configuration reloaded", "sha256", hex.EncodeToString(next.sum[:]))
	// Requests in flight keep the old pipelines; their background work runs on a
	// while for them.
	go func() {
		select {
		case <-ctx.Done():
		case <-time.After(s.o.Drain):
		}
		old.close()
	}()
}

// restartOnly names the parts of the configuration that differ between a and b and
// that a reload cannot change: the mode, the listeners, mutual TLS, the Workload API,
// the TLS bridge and the policy bundle source, which the process set up at start (the
// bridge's CA files are re-read on their own when they change).
func restartOnly(a, b *sidecarconfig.Resolved) []string {
	var out []string
	same := func(name string, x, y any) {
		jx, _ := json.Marshal(x)
		jy, _ := json.Marshal(y)
		if string(jx) != string(jy) {
			out = append(out, name)
		}
	}
	same("mode", a.Mode, b.Mode)
	same("listener", a.Listeners, b.Listeners)
	same("session", a.Session, b.Session)
	same("mtls", struct {
		M sidecarconfig.MTLSMode
		P []string
	}{a.MTLS, a.MTLSAllowedPeers}, struct {
		M sidecarconfig.MTLSMode
		P []string
	}{b.MTLS, b.MTLSAllowedPeers})
	same("spiffe", a.SPIFFE, b.SPIFFE)
	same("tls_bridge", a.TLSBridge, b.TLSBridge)
	oa, ob := opaConfig(a), opaConfig(b)
	bundleSource := func(c *sidecarconfig.OPA) any {
		if c == nil {
			return nil
		}
		return []any{c.BundleURL, c.BundleServerID, c.PollingMinDelay, c.PollingMaxDelay}
	}
	same("the opa plugin's bundle source", bundleSource(oa), bundleSource(ob))
	return out
}

// routesFiles are the token-exchange routes files of r.
func routesFiles(r *sidecarconfig.Resolved) []string {
	var out []string
	for _, p := range r.Outbound.Plugins {
		if c, ok := p.Config.(*sidecarconfig.TokenExchange); ok && c.Routes.File != "" && !slices.Contains(out, c.Routes.File) {
			out = append(out, c.Routes.File)
		}
	}
	return out
}
