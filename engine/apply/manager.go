package apply

import (
	"context"
	"encoding/hex"
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/trustsync/trustsync/manifest"
)

// Client makes the requests of the applier: server-side applies (and dry-runs), deletes,
// and the few direct reads the cache cannot answer. It is impersonated when the owner
// applies as a tenant.
type Client interface {
	Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error
	Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error
	Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error
}

// Manager converges the objects of one owner. It remembers what it applied, so it must
// be kept for the owner's lifetime; it is safe for one Apply or Prune at a time.
type Manager struct {
	client Client
	cache  client.Reader
	mapper meta.RESTMapper
	opts   Options
	ignore []ignoreRule

	// prepared are the refs and hashes of the last Apply's desired objects (see
	// prepare); options change them, so Reconfigure drops them.
	prepared map[preparedKey]preparedItem

	mu      sync.Mutex
	records map[manifest.Ref]*record
}

// record is what the Manager knows of an object it applied.
type record struct {
	hash string // of the desired object as applied
	rv   string // resourceVersion right after the apply, or of the last clean check
	// owned are the fields the field manager owned right after the apply, as fieldsV1
	// text (objcache.FieldsText): compared as text when the object changes, and parsed
	// only when the text differs, which is drift or nearly so.
	owned string
}

// New returns a Manager. cache answers reads without requests (an informer cache that
// keeps the field manager's managedFields); mapper maps kinds to resources.
func New(c Client, cache client.Reader, mapper meta.RESTMapper, opts Options) (*Manager, error) {
	opts.defaults()
	ignore, err := compileIgnore(opts.Ignore)
	if err != nil {
		return nil, err
	}
	return &Manager{client: c, cache: cache, mapper: mapper, opts: opts, ignore: ignore, records: map[manifest.Ref]*record{}}, nil
}

// Reconfigure changes the client and options of the Manager and keeps what it
// remembers: records describe the cluster, not the settings, so drift found after a
// change of drift mode, ignore rules or applying identity is still drift.
func (m *Manager) Reconfigure(c Client, opts Options) error {
	opts.defaults()
	ignore, err := compileIgnore(opts.Ignore)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.client, m.opts, m.ignore = c, opts, ignore
	m.prepared = nil
	return nil
}

// Forget drops what the Manager remembers, so the next Apply checks every object anew.
func (m *Manager) Forget() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.records = map[manifest.Ref]*record{}
}

func (m *Manager) record(ref manifest.Ref) *record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.records[ref]
}

func (m *Manager) remember(ref manifest.Ref, r *record) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r == nil {
		delete(m.records, ref)
		return
	}
	m.records[ref] = r
}

// hashOf is the content hash of a desired object (manifest.Hash), in hex.
func hashOf(o *manifest.Object) (string, error) {
	sum, err := manifest.Hash(o)
	if err != nil {
		return "", fmt.Errorf("%s: %w", o.Ref(), err)
	}
	return hex.EncodeToString(sum[:]), nil
}
