package authbridge

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"

	"github.com/trustsync/trustsync/dataplane/files"
	"github.com/trustsync/trustsync/security/authbridge/sidecarconfig"
)

// workloadIdentity is the pod's SVIDs from the Workload API.
type workloadIdentity struct {
	x509 *workloadapi.X509Source
	jwt  *workloadapi.JWTSource
	id   spiffeid.ID
}

// svidWaitWarning is how long the sidecar waits for its first SVID before it says so
// (and goes on waiting: SPIRE may be registering the pod).
const svidWaitWarning = 30 * time.Second

// openIdentity connects to the Workload API and waits for the X.509-SVID (and the
// JWT source when needJWT), until ctx is done. When the Workload API serves several
// SVIDs, want picks one (zero: the first).
func openIdentity(ctx context.Context, cfg *sidecarconfig.ResolvedSPIFFE, want spiffeid.ID, needJWT bool, log logr.Logger) (*workloadIdentity, error) {
	client := workloadapi.WithClientOptions(workloadapi.WithAddr(cfg.Socket))
	warn := time.AfterFunc(svidWaitWarning, func() {
		log.Info("still waiting for the X.509-SVID from the Workload API; is the pod registered with SPIRE?", "socket", cfg.Socket, "want", want.String())
	})
	defer warn.Stop()
	x509, err := workloadapi.NewX509Source(ctx, client, workloadapi.WithDefaultX509SVIDPicker(func(svids []*x509svid.SVID) *x509svid.SVID {
		for _, s := range svids {
			if s.ID == want {
				return s
			}
		}
		return svids[0]
	}))
	if err != nil {
		return nil, fmt.Errorf("the X.509-SVID from the Workload API at %s: %w", cfg.Socket, err)
	}
	svid, err := x509.GetX509SVID()
	if err != nil {
		_ = x509.Close()
		return nil, fmt.Errorf("the X.509-SVID from the Workload API at %s: %w", cfg.Socket, err)
	}
	w := &workloadIdentity{x509: x509, id: svid.ID}
	if !want.IsZero() && svid.ID != want {
		log.Info("the Workload API serves no SVID with the agent's client ID; using the first it serves", "want", want.String(), "using", svid.ID.String())
	}
	if needJWT {
		if w.jwt, err = workloadapi.NewJWTSource(ctx, client); err != nil {
			_ = x509.Close()
			return nil, fmt.Errorf("the JWT-SVID source at %s: %w", cfg.Socket, err)
		}
	}
	return w, nil
}

func (w *workloadIdentity) close() {
	if w == nil {
		return
	}
	if w.jwt != nil {
		_ = w.jwt.Close()
	}
	_ = w.x509.Close()
}

// jwtSVIDs fetches JWT-SVIDs of the sidecar's own ID (the Workload API may serve
// several).
type jwtSVIDs struct {
	src *workloadapi.JWTSource
	id  spiffeid.ID
}

func (j jwtSVIDs) FetchJWTSVID(ctx context.Context, p jwtsvid.Params) (*jwtsvid.SVID, error) {
	if p.Subject.IsZero() {
		p.Subject = j.id
	}
	return j.src.FetchJWTSVID(ctx, p)
}

// agentSPIFFEID is the SPIFFE ID in the agent's client ID file, which trustsync writes
// (the client ID is the SPIFFE ID); zero when the file is absent or holds another kind
// of ID.
func agentSPIFFEID(file string) spiffeid.ID {
	data, err := files.Read(file)
	if err != nil || len(data) > 2048 {
		return spiffeid.ID{}
	}
	id, err := spiffeid.FromString(strings.TrimSpace(string(data)))
	if err != nil {
		return spiffeid.ID{}
	}
	return id
}
