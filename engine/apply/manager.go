package apply

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

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
	hash  string         // of the desired object as applied
	rv    string         // resourceVersion right after the apply, or of the last clean check
	owned *fieldpath.Set // fields the field manager owned right after the apply
	// ownedRaw is owned as the live object holds it (a fieldsV1), parsed only when the
	// object changes: a restart records every object, and most never change.
	ownedRaw any
}

// ownedSet is the record's owned fields, parsed from ownedRaw the first time.
func (r *record) ownedSet() (*fieldpath.Set, error) {
	if r.owned == nil && r.ownedRaw != nil {
		set, err := parseFields(r.ownedRaw)
		if err != nil {
			return nil, err
		}
		r.owned, r.ownedRaw = set, nil
	}
	return r.owned, nil
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

// hashOf is the content hash of a desired object: SHA-256 of its canonical form.
func hashOf(o *manifest.Object) (string, error) {
	data, err := appendCanonical(make([]byte, 0, 4096), o.Object)
	if err != nil {
		return "", fmt.Errorf("%s: %w", o.Ref(), err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

// appendCanonical appends an encoding of a JSON value as unstructured objects hold it
// in which equal values, and only they, encode alike: each value tagged with its type,
// strings and containers with their lengths, map keys sorted. It is what json.Marshal
// would give a hash, without reflection.
func appendCanonical(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, 'n'), nil
	case bool:
		if v {
			return append(b, 't'), nil
		}
		return append(b, 'f'), nil
	case string:
		b = strconv.AppendInt(append(b, 's'), int64(len(v)), 10)
		return append(append(b, ':'), v...), nil
	case int64:
		return append(strconv.AppendInt(append(b, 'i'), v, 10), ';'), nil
	case int:
		return append(strconv.AppendInt(append(b, 'i'), int64(v), 10), ';'), nil
	case float64:
		return append(strconv.AppendFloat(append(b, 'd'), v, 'g', -1, 64), ';'), nil
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(strconv.AppendInt(append(b, 'm'), int64(len(v)), 10), '{')
		var err error
		for _, k := range keys {
			if b, err = appendCanonical(b, k); err != nil {
				return nil, err
			}
			if b, err = appendCanonical(b, v[k]); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case []any:
		b = append(strconv.AppendInt(append(b, 'a'), int64(len(v)), 10), '[')
		var err error
		for _, x := range v {
			if b, err = appendCanonical(b, x); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	}
	// Anything else (no render makes one) as JSON, tagged apart.
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	b = strconv.AppendInt(append(b, 'j'), int64(len(data)), 10)
	return append(append(b, ':'), data...), nil
}
