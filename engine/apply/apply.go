package apply

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/engine/objcache"
	"github.com/trustsync/trustsync/manifest"
)

// Stage is where a run failed.
type Stage string

const (
	// StagePlan: the revision cannot be applied as it is (unserved kind, another owner).
	StagePlan Stage = "plan"
	// StageDryRun: the API server rejected objects in the dry run; nothing was written.
	StageDryRun Stage = "dry-run"
	// StageWrite: writing failed; earlier stages may have been written.
	StageWrite Stage = "write"
)

// StageError is a failed run: the stage, and every problem (errors.Join of them).
type StageError struct {
	Stage Stage
	Err   error
}

func (e *StageError) Error() string { return e.Err.Error() }

// Unwrap gives the problems one by one, for manifest.Errors and errors.As.
func (e *StageError) Unwrap() []error { return manifest.Errors(e.Err) }

func stageErr(stage Stage, err error) error {
	if err == nil {
		return nil
	}
	return &StageError{Stage: stage, Err: err}
}

// item is one desired object on its way through a run.
type item struct {
	src           *manifest.Object // as desired
	gvk           schema.GroupVersionKind
	obj           *manifest.Object // prepared (see prepareObject); nil until Manager.object
	ref           manifest.Ref
	hash          string
	clusterScoped bool
	served        bool // the API server serves the kind now
	live          *unstructured.Unstructured

	action Action
	drift  []string
	diffs  []FieldDiff
	// lostPaths are the drift's fields as field paths, in drift's order.
	lostPaths []fieldpath.Path
	manager   string
	write     bool // must be applied
	check     bool // live exists but nothing is recorded: a dry-run decides
	// applied says the live object carries this desired object's hash: nothing is
	// recorded (the engine restarted), but Git did not change it since the last apply,
	// so what the dry-run finds different is drift.
	applied bool
}

var (
	gkCRD       = schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}
	gkNamespace = schema.GroupKind{Kind: "Namespace"}
	gkSecret    = schema.GroupKind{Kind: "Secret"}
)

// preparedKey is a desired object as Git names it, and its scope; preparedItem what
// prepare found for it.
type preparedKey struct {
	gvk             schema.GroupVersionKind
	namespace, name string
	clusterScoped   bool
}

type preparedItem struct {
	src  *manifest.Object // the desired object prepared
	ref  manifest.Ref
	hash string
}

func preparedKeyOf(d *manifest.Object, gvk schema.GroupVersionKind, clusterScoped bool) preparedKey {
	return preparedKey{gvk: gvk, namespace: d.GetNamespace(), name: d.GetName(), clusterScoped: clusterScoped}
}

// reuses reports whether d is what p prepared: the same object (a kept render), or one
// equal to it (a new render of what did not change, which renders every object anew).
func (p preparedItem) reuses(d *manifest.Object) bool {
	return p.src == d || manifest.Equal(p.src.Object, d.Object)
}

// Apply converges the cluster on desired. Every object that is about to be written is
// dry-run first; when any dry-run fails nothing is written and the error names every
// object that failed. Objects whose namespace or kind the same run creates are dry-run
// once those exist, after the cluster-scoped stage. Desired objects are only read, and
// an object given again is known by its address: it must not change once given.
func (m *Manager) Apply(ctx context.Context, desired []*manifest.Object) (*ChangeSet, error) {
	items, err := m.prepare(desired)
	if err != nil {
		return nil, stageErr(StagePlan, err)
	}
	if err := m.classify(ctx, items); err != nil {
		return nil, stageErr(StagePlan, err)
	}

	newNamespaces := map[string]bool{}
	newKinds := map[schema.GroupKind]bool{}
	for _, it := range items {
		if !it.write || it.live != nil {
			continue
		}
		switch it.ref.GroupKind() {
		case gkNamespace:
			newNamespaces[it.ref.Name] = true
		case gkCRD:
			group, _, _ := unstructured.NestedString(it.src.Object, "spec", "group")
			kind, _, _ := unstructured.NestedString(it.src.Object, "spec", "names", "kind")
			newKinds[schema.GroupKind{Group: group, Kind: kind}] = true
		}
	}
	deferred := func(it *item) bool {
		return newKinds[it.ref.GroupKind()] || (!it.clusterScoped && newNamespaces[it.ref.Namespace])
	}

	var now, later []*item
	for _, it := range items {
		if !it.served && !deferred(it) {
			return nil, stageErr(StagePlan, &manifest.Error{File: it.src.Source, Object: it.ref, Err: fmt.Errorf("the cluster does not serve %s, and no CustomResourceDefinition of this revision defines it", it.gvk)})
		}
		if (it.write || it.check) && !deferred(it) {
			now = append(now, it)
		} else if it.write {
			later = append(later, it)
		}
	}
	if err := m.dryRun(ctx, now); err != nil {
		return nil, stageErr(StageDryRun, err)
	}

	var stage1, stage2 []*item
	for _, it := range items {
		switch {
		case !it.write:
		case it.clusterScoped:
			stage1 = append(stage1, it)
		default:
			stage2 = append(stage2, it)
		}
	}
	if err := m.write(ctx, stage1); err != nil {
		return nil, stageErr(StageWrite, err)
	}
	if len(newKinds) > 0 {
		if err := m.waitForCRDs(ctx, stage1); err != nil {
			return nil, stageErr(StageWrite, err)
		}
	}
	// Objects in namespaces or of kinds this run created are dry-run now; a rejection
	// leaves the cluster-scoped stage written (its Namespaces and CRDs), nothing else.
	if len(later) > 0 {
		if err := m.dryRunNewKinds(ctx, later); err != nil {
			return nil, stageErr(StageDryRun, err)
		}
	}
	if err := m.write(ctx, stage2); err != nil {
		return nil, stageErr(StageWrite, err)
	}

	cs := &ChangeSet{}
	for _, it := range items {
		cs.Changes = append(cs.Changes, Change{Object: it.ref, Version: it.gvk.Version, Action: it.action, Drift: it.drift, Manager: it.manager, Diffs: it.diffs})
	}
	return cs, nil
}

// prepare gives each desired object its ref and hash, as prepareObject makes them. An
// object the last run prepared (the same object: a revision's render is kept, and
// desired objects never change; or an equal one: comparing is cheaper than hashing)
// keeps its ref and hash and is copied again only if it must be sent; mappings are
// looked up once per kind.
func (m *Manager) prepare(desired []*manifest.Object) ([]*item, error) {
	items := make([]*item, 0, len(desired))
	crdScopes := map[schema.GroupKind]bool{} // kind → cluster-scoped, for kinds this revision defines
	for _, d := range desired {
		if d.GroupVersionKind().GroupKind() == gkCRD {
			group, _, _ := unstructured.NestedString(d.Object, "spec", "group")
			kind, _, _ := unstructured.NestedString(d.Object, "spec", "names", "kind")
			scope, _, _ := unstructured.NestedString(d.Object, "spec", "scope")
			crdScopes[schema.GroupKind{Group: group, Kind: kind}] = scope == "Cluster"
		}
	}
	type scope struct{ served, cluster bool }
	scopes := map[schema.GroupVersionKind]scope{}
	var kinds []schema.GroupVersionKind
	all := make([]*item, 0, len(desired))
	var fresh []*item // not prepared by the last run
	for _, d := range desired {
		gvk := d.GroupVersionKind()
		sc, ok := scopes[gvk]
		if !ok {
			mapping, err := m.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			switch {
			case err == nil:
				sc = scope{served: true, cluster: mapping.Scope.Name() == meta.RESTScopeNameRoot}
			case meta.IsNoMatchError(err):
				sc = scope{cluster: crdScopes[gvk.GroupKind()]}
			default:
				return nil, fmt.Errorf("mapping %s: %w", gvk, err)
			}
			scopes[gvk] = sc
			kinds = append(kinds, gvk)
		}
		it := &item{src: d, gvk: gvk, served: sc.served, clusterScoped: sc.cluster}
		if p, ok := m.prepared[preparedKeyOf(d, gvk, sc.cluster)]; ok && p.reuses(d) {
			it.ref, it.hash = p.ref, p.hash
		} else {
			fresh = append(fresh, it)
		}
		all = append(all, it)
	}
	// A new revision, or the first after a restart, prepares every object: the hashes
	// are worked out on every core.
	g := errgroup.Group{}
	g.SetLimit(runtime.GOMAXPROCS(0))
	for _, it := range fresh {
		g.Go(func() error {
			o, hash, err := m.prepareObject(it.src, it.clusterScoped)
			if err != nil {
				return err
			}
			it.obj, it.ref, it.hash = o, o.Ref(), hash
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	prepared := make(map[preparedKey]preparedItem, len(desired))
	seen := map[manifest.Ref]string{}
	var errs []error
	for _, it := range all {
		prepared[preparedKeyOf(it.src, it.gvk, it.clusterScoped)] = preparedItem{src: it.src, ref: it.ref, hash: it.hash}
		if other, dup := seen[it.ref]; dup {
			errs = append(errs, &manifest.Error{File: it.src.Source, Object: it.ref, Err: fmt.Errorf("defined twice (also in %s)", other)})
			continue
		}
		seen[it.ref] = it.src.Source
		items = append(items, it)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	m.prepared = prepared
	// manifest.Compare's order, with the kinds ranked once rather than in every comparison.
	rank := make(map[schema.GroupVersionKind]int, len(kinds))
	slices.SortFunc(kinds, manifest.CompareKinds)
	for i, k := range kinds {
		rank[k] = i
	}
	slices.SortStableFunc(items, func(a, b *item) int {
		if c := rank[a.gvk] - rank[b.gvk]; c != 0 {
			return c
		}
		if c := strings.Compare(a.ref.Namespace, b.ref.Namespace); c != 0 {
			return c
		}
		return strings.Compare(a.ref.Name, b.ref.Name)
	})
	return items, nil
}

// prepareObject gives a desired object what the cluster and the owner need: the
// namespace of a namespaced object, the owner labels, no ignored fields, and the hash
// of all that in the applied annotation. The result shares what it leaves as it was
// with d (it is read only, and copied before it is sent); only an object that ignore
// rules cut is copied whole.
func (m *Manager) prepareObject(d *manifest.Object, clusterScoped bool) (*manifest.Object, string, error) {
	top := maps.Clone(d.Object)
	meta, _ := top["metadata"].(map[string]any)
	top["metadata"] = maps.Clone(meta)
	o := manifest.New(&unstructured.Unstructured{Object: top}, d.Source)
	if clusterScoped {
		o.SetNamespace("")
	} else if o.GetNamespace() == "" {
		o.SetNamespace("default")
	}
	l := o.GetLabels() // a copy
	if l == nil {
		l = map[string]string{}
	}
	for k, v := range m.opts.Labels {
		l[k] = v
	}
	o.SetLabels(l)
	copied := false
	for _, r := range m.ignore {
		if r.matches(o) {
			if !copied {
				o, copied = manifest.New(o.DeepCopy(), d.Source), true
			}
			for _, p := range r.paths {
				removePointer(o.Object, p)
			}
		}
	}
	hash, err := hashOf(o)
	if err != nil {
		return nil, "", err
	}
	if o.GroupVersionKind().GroupKind() != gkSecret {
		// Not on a Secret: a hash of its data would be an oracle for guessing it.
		a := o.GetAnnotations() // a copy
		if a == nil {
			a = map[string]string{}
		}
		a[gitopsv1.AnnotationApplied] = hash
		o.SetAnnotations(a)
	}
	return o, hash, nil
}

// object is the item's prepared object, made again when prepare reused its ref and hash.
func (m *Manager) object(it *item) *manifest.Object {
	if it.obj == nil {
		// It was prepared before from the same object with the same options: no error.
		it.obj, _, _ = m.prepareObject(it.src, it.clusterScoped)
	}
	return it.obj
}

// classify decides, from the cache and the records alone, what each object needs.
// Objects another owner manages are refused, all of them reported at once.
func (m *Manager) classify(ctx context.Context, items []*item) error {
	var conflicts []error
	for _, it := range items {
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(it.gvk)
		if it.served {
			// The cache's own copy: the run only reads it.
			err := m.cache.Get(ctx, client.ObjectKey{Namespace: it.ref.Namespace, Name: it.ref.Name}, live, client.UnsafeDisableDeepCopy)
			switch {
			case err == nil:
				it.live = live
			case apierrors.IsNotFound(err) || meta.IsNoMatchError(err):
			default:
				return fmt.Errorf("reading %s from the cache: %w", it.ref, err)
			}
		}
		if it.live != nil {
			if other := m.otherOwner(it.live); other != "" {
				conflicts = append(conflicts, &manifest.Error{File: it.src.Source, Object: it.ref,
					Err: fmt.Errorf("already managed by another owner (%s); an object can have one owner", other)})
				continue
			}
		}
		rec := m.record(it.ref)
		switch {
		case it.live == nil && rec != nil:
			it.drift = []string{"/"} // someone deleted it
			m.onDrift(it)
		case it.live == nil:
			it.action, it.write = Created, true
		case rec == nil:
			// Nothing recorded: the engine restarted, or never applied it.
			annotations, _, _ := unstructured.NestedFieldNoCopy(it.live.Object, "metadata", "annotations")
			a, _ := annotations.(map[string]any)
			it.applied = a[gitopsv1.AnnotationApplied] == it.hash
			if ours := ownedText(it.live, m.opts.FieldOwner); it.applied && ours != "" && !m.writtenSince(it) {
				// What Git wants is what was applied, and nobody has written a field
				// of it since: nothing to send, nothing to dry-run.
				it.action = Unchanged
				m.remember(it.ref, &record{hash: it.hash, rv: it.live.GetResourceVersion(), owned: ours})
				continue
			}
			it.check = true
		case rec.hash != it.hash:
			it.action, it.write = Configured, true
		case it.live.GetResourceVersion() == rec.rv:
			it.action = Unchanged
		default:
			ownedNow := ownedText(it.live, m.opts.FieldOwner)
			if ownedNow == rec.owned {
				// Changed by someone, but not in the fields we own (status, others' fields).
				it.action = Unchanged
				m.remember(it.ref, &record{hash: rec.hash, rv: it.live.GetResourceVersion(), owned: ownedNow})
				continue
			}
			now, err := parseOwned(ownedNow, it.ref.Name)
			if err != nil {
				return err
			}
			owned, err := parseOwned(rec.owned, it.ref.Name)
			if err != nil {
				return fmt.Errorf("managed fields of %s as applied: %w", it.ref, err)
			}
			if !m.lost(it, owned, now) {
				it.action = Unchanged
				m.remember(it.ref, &record{hash: rec.hash, rv: it.live.GetResourceVersion(), owned: rec.owned})
				continue
			}
			m.describeDrift(ctx, it, nil)
			m.onDrift(it)
		}
	}
	return errors.Join(conflicts...)
}

// writtenSince reports whether another manager has written, since this manager's
// last apply, a field the desired object sets (the cache keeps the other managers'
// entries of the main resource from then on). A list the desired object sets counts as
// written when anything in it is: matching items by key is left to the dry-run.
func (m *Manager) writtenSince(it *item) bool {
	for _, e := range objcache.Entries(it.live.Object) {
		text := objcache.FieldsText(e)
		if e["manager"] == m.opts.FieldOwner || !objcache.MainResource(e) || text == "" {
			continue
		}
		set, err := parseFields(text)
		if err != nil {
			return true // unreadable: the dry-run decides
		}
		written := false
		set.Leaves().Iterate(func(p fieldpath.Path) {
			written = written || setsPath(m.object(it).Object, p)
		})
		if written {
			return true
		}
	}
	return false
}

// otherOwner describes the owner of an object that carries owner labels other than this
// Manager's (e.g. another Sync's) by those labels; "" when it is ours or nobody's.
func (m *Manager) otherOwner(u *unstructured.Unstructured) string {
	l, _, _ := unstructured.NestedFieldNoCopy(u.Object, "metadata", "labels") // live objects are the cache's: read in place
	labels, _ := l.(map[string]any)
	differs := false
	for k, want := range m.opts.Labels {
		if v, ok := labels[k]; ok && v != want {
			differs = true
		}
	}
	if !differs {
		return ""
	}
	var theirs []string
	for _, k := range slices.Sorted(maps.Keys(m.opts.Labels)) {
		if v, ok := labels[k].(string); ok {
			theirs = append(theirs, k+"="+v)
		}
	}
	return strings.Join(theirs, ", ")
}

// lost records the fields the manager owned (before) and owns no longer on the live
// object (now) as the item's drift; it reports whether there are any. Their values are
// read by describeDrift.
func (m *Manager) lost(it *item, before, now *fieldpath.Set) bool {
	it.drift, it.lostPaths = lostFields(before, now, m.object(it).Object)
	return len(it.drift) > 0
}

// onDrift sets what happens to a drifted object: corrected, or left and reported.
func (m *Manager) onDrift(it *item) {
	if m.opts.DriftMode == gitopsv1.DriftWarn {
		it.action = Drifted
		return
	}
	it.write = true
	if it.live == nil {
		it.action = Created
	} else {
		it.action = Configured
	}
}

// describeDrift shows what desired and live hold in a drifted object's lost fields and
// names who changed it last, from the object read uncached (the cache keeps neither its
// values nor the older managedFields entries); fresh is that object when the caller
// read it already. Best effort: without it the drift is reported without values.
func (m *Manager) describeDrift(ctx context.Context, it *item, fresh *unstructured.Unstructured) {
	if fresh == nil {
		var err error
		if fresh, err = m.readFresh(ctx, it); err != nil {
			return
		}
	}
	secret := it.gvk.Group == "" && it.gvk.Kind == "Secret"
	it.diffs = fieldDiffs(secret, m.object(it).Object, fresh.Object, it.drift, it.lostPaths)
	var at time.Time
	for _, e := range fresh.GetManagedFields() {
		if e.Manager == m.opts.FieldOwner || e.Time == nil {
			continue
		}
		if e.Time.After(at) {
			it.manager, at = e.Manager, e.Time.Time
		}
	}
}

// readFresh reads the item's object from the API server.
func (m *Manager) readFresh(ctx context.Context, it *item) (*unstructured.Unstructured, error) {
	fresh := &unstructured.Unstructured{}
	fresh.SetGroupVersionKind(it.gvk)
	if err := m.client.Get(ctx, client.ObjectKey{Namespace: it.ref.Namespace, Name: it.ref.Name}, fresh); err != nil {
		return nil, err
	}
	return fresh, nil
}

// applyAll server-side applies the items, in parallel up to the concurrency limit, and
// returns what the API server answered for each; the error names every object rejected.
func (m *Manager) applyAll(ctx context.Context, items []*item, dryRun bool) ([]*unstructured.Unstructured, error) {
	opts := []client.ApplyOption{client.FieldOwner(m.opts.FieldOwner), client.ForceOwnership}
	failure := "apply failed"
	if dryRun {
		opts = append(opts, client.DryRunAll)
		failure = "rejected by the API server"
	}
	errs := make([]error, len(items))
	results := make([]*unstructured.Unstructured, len(items))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(m.opts.Concurrency)
	for i, it := range items {
		g.Go(func() error {
			u := m.object(it).DeepCopy()
			if err := m.client.Apply(gctx, client.ApplyConfigurationFromUnstructured(u), opts...); err != nil {
				errs[i] = &manifest.Error{File: it.src.Source, Object: it.ref, Err: fmt.Errorf("%s: %w", failure, err)}
				return nil
			}
			results[i] = u
			return nil
		})
	}
	_ = g.Wait()
	return results, errors.Join(errs...)
}

// dryRun dry-runs the items, all of them, and reports every failure. Items that had
// nothing recorded are settled by the result: unchanged when the apply would change
// nothing, else written.
func (m *Manager) dryRun(ctx context.Context, items []*item) error {
	results, err := m.applyAll(ctx, items, true)
	if err != nil {
		return err
	}
	if err := m.readChecked(ctx, items); err != nil {
		return err
	}
	for i, it := range items {
		if !it.check {
			continue
		}
		if it.live == nil {
			// Gone since it was planned: the apply creates it again.
			it.action, it.write = Created, true
			continue
		}
		owned, liveOwned := ownedText(results[i], m.opts.FieldOwner), ownedText(it.live, m.opts.FieldOwner)
		if sameContent(results[i], it.live) && owned != "" && owned == liveOwned {
			it.action = Unchanged
			m.remember(it.ref, &record{hash: it.hash, rv: it.live.GetResourceVersion(), owned: owned})
			continue
		}
		if it.applied {
			// Git wants what was applied: the fields the apply would own and the
			// manager owns no longer are drift, decided as drift is (warn writes
			// nothing). The record holds what the apply owned, so the next plan finds
			// the same drift from the cache alone.
			before, err := parseOwned(owned, it.ref.Name)
			if err != nil {
				return err
			}
			now, err := parseOwned(liveOwned, it.ref.Name)
			if err != nil {
				return err
			}
			if m.lost(it, before, now) {
				m.remember(it.ref, &record{hash: it.hash, owned: owned})
				m.describeDrift(ctx, it, it.live)
				m.onDrift(it)
				continue
			}
		}
		it.action, it.write = Configured, true
	}
	return nil
}

// readChecked reads the objects a dry-run decides on from the API server, in parallel up
// to the concurrency limit: what the apply would change is weighed against the whole
// object, which the cache does not keep (package objcache). One deleted since it was
// planned is left without live; the error names every object that could not be read.
func (m *Manager) readChecked(ctx context.Context, items []*item) error {
	errs := make([]error, len(items))
	g := errgroup.Group{}
	g.SetLimit(m.opts.Concurrency)
	for i, it := range items {
		if !it.check {
			continue
		}
		g.Go(func() error {
			fresh, err := m.readFresh(ctx, it)
			switch {
			case err == nil:
				it.live = fresh
			case apierrors.IsNotFound(err):
				it.live = nil
			default:
				errs[i] = &manifest.Error{File: it.src.Source, Object: it.ref, Err: fmt.Errorf("reading it from the API server: %w", err)}
			}
			return nil
		})
	}
	_ = g.Wait()
	return errors.Join(errs...)
}

// dryRunNewKinds dry-runs objects of kinds this run created. Discovery can lag a moment
// behind a CRD's Established condition, so while every failure is an unknown kind it tries
// again, within the CRD timeout.
func (m *Manager) dryRunNewKinds(ctx context.Context, items []*item) error {
	deadline := time.Now().Add(m.opts.CRDTimeout)
	for {
		err := m.dryRun(ctx, items)
		if err == nil || time.Now().After(deadline) || !allNoMatch(err) {
			return err
		}
		if r, ok := m.mapper.(meta.ResettableRESTMapper); ok {
			r.Reset()
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func allNoMatch(err error) bool {
	for _, e := range manifest.Errors(err) {
		if !meta.IsNoMatchError(e) && !strings.Contains(e.Error(), "no matches for kind") {
			return false
		}
	}
	return true
}

// sameContent compares two versions of an object, leaving out what every write changes.
func sameContent(a, b *unstructured.Unstructured) bool {
	strip := func(u *unstructured.Unstructured) map[string]any {
		c := u.DeepCopy().Object
		unstructured.RemoveNestedField(c, "metadata", "managedFields")
		unstructured.RemoveNestedField(c, "metadata", "resourceVersion")
		unstructured.RemoveNestedField(c, "metadata", "generation")
		return c
	}
	return reflect.DeepEqual(strip(a), strip(b))
}

// write applies the items and records what each became.
func (m *Manager) write(ctx context.Context, items []*item) error {
	results, err := m.applyAll(ctx, items, false)
	for i, u := range results {
		if u == nil {
			continue // rejected; reported in err
		}
		m.remember(items[i].ref, &record{hash: items[i].hash, rv: u.GetResourceVersion(), owned: ownedText(u, m.opts.FieldOwner)})
	}
	return err
}

// waitForCRDs waits until the CRDs among items are established, then lets the mapper see
// their kinds.
func (m *Manager) waitForCRDs(ctx context.Context, items []*item) error {
	ctx, cancel := context.WithTimeout(ctx, m.opts.CRDTimeout)
	defer cancel()
	for _, it := range items {
		if it.ref.GroupKind() != gkCRD {
			continue
		}
		for {
			crd := &unstructured.Unstructured{}
			crd.SetGroupVersionKind(it.gvk)
			err := m.client.Get(ctx, client.ObjectKey{Name: it.ref.Name}, crd)
			if err == nil && established(crd) {
				break
			}
			select {
			case <-ctx.Done():
				return &manifest.Error{File: it.src.Source, Object: it.ref, Err: fmt.Errorf("not established within %s", m.opts.CRDTimeout)}
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	if r, ok := m.mapper.(meta.ResettableRESTMapper); ok {
		r.Reset()
	}
	return nil
}

func established(crd *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Established" && m["status"] == "True" {
			return true
		}
	}
	return false
}
