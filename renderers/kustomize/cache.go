package kustomize

import (
	"crypto/sha256"
	"io/fs"
	"slices"
	"strconv"
	"sync"

	"github.com/trustsync/trustsync/internal/generations"
	"github.com/trustsync/trustsync/manifest"
)

// Cache remembers kustomize runs by what they read. A run is a pure function of the
// answers the tree gives kustomize (the render reads nothing else), so a build whose tree
// gives every question of an earlier run the same answer, in order, has that run's
// objects: the run is replayed (each question asked again, with the tree's checks and
// limits) instead of run. One revision's change then costs the runs of the parts it
// touched, and a pull request's preview shares its base's runs.
//
// A Cache is safe for concurrent builds. It keeps the last two runs of each
// kustomization (the applied revision and the next) and at most MaxRuns in all, and the
// verdicts of the YAML guard by content (two generations of 65,536 files).
type Cache struct {
	// MaxRuns bounds the runs kept; zero means 256.
	MaxRuns int

	mu    sync.Mutex
	clock uint64
	runs  map[runKey][]*cachedRun
	count int
	hits  int // runs replayed instead of run, for tests

	// guarded are the YAML files that passed the guard, by digest of their content and
	// the bounds: a replay reads every file again, and need not parse it again.
	guarded generations.Map[guardKey, int]
	// listed are the objects of the files of namespace lists (build), by
	// digest of their content and the namespace.
	listed generations.Map[listedKey, []*manifest.Object]
}

type guardKey struct {
	content [sha256.Size]byte
	bounds  yamlBounds
}

type listedKey struct {
	content   [sha256.Size]byte
	namespace string
}

// listedObjects returns copies of the objects a file gave in a namespace list before.
func (c *Cache) listedObjects(k listedKey) ([]*manifest.Object, bool) {
	objs, ok := c.listed.Get(k)
	if !ok {
		return nil, false
	}
	return copyObjects(objs), true
}

// keepListed remembers copies of the objects of a namespace list's file.
func (c *Cache) keepListed(k listedKey, objs []*manifest.Object) {
	c.listed.Put(k, copyObjects(objs))
}

// runKey is the build a run was: the directory and the namespace it was given.
type runKey struct{ dir, namespace string }

type cachedRun struct {
	journal []query
	objs    []*manifest.Object
	used    uint64
}

// lookup replays the kept runs of key on t, newest first, and returns copies of the
// objects of the first whose every answer is the same. A replay that differs leaves the
// tree's object counts and violations as they were; what it read counts towards the
// revision's limits, as the run that follows reads the same.
func (c *Cache) lookup(t *tree, key runKey) ([]*manifest.Object, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	runs := slices.Clone(c.runs[key])
	c.mu.Unlock()
	for _, r := range runs {
		objects, runObjects, violations := t.objects, t.runObjects, t.violationCount()
		t.runObjects, t.inKustomize = 0, true
		same := t.replay(r.journal)
		t.inKustomize = false
		if same && t.exceeded == nil {
			c.mu.Lock()
			c.clock++
			r.used, c.hits = c.clock, c.hits+1
			c.mu.Unlock()
			return copyObjects(r.objs), true
		}
		// The run that follows counts and reports what it finds itself.
		t.objects, t.runObjects = objects, runObjects
		t.keepViolations(violations)
		if t.exceeded != nil {
			return nil, false
		}
	}
	return nil, false
}

// store keeps a run: the questions it asked and copies of its objects.
func (c *Cache) store(key runKey, journal []query, objs []*manifest.Object) {
	if c == nil {
		return
	}
	r := &cachedRun{journal: journal, objs: copyObjects(objs)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.runs == nil {
		c.runs = map[runKey][]*cachedRun{}
	}
	c.clock++
	r.used = c.clock
	kept := append([]*cachedRun{r}, c.runs[key]...)
	if len(kept) > 2 {
		kept = kept[:2]
		c.count--
	}
	c.runs[key] = kept
	c.count++
	max := c.MaxRuns
	if max <= 0 {
		max = 256
	}
	for c.count > max {
		c.evictOldest()
	}
}

func (c *Cache) evictOldest() {
	var oldest runKey
	at, found := -1, false
	for k, runs := range c.runs {
		for i, r := range runs {
			if !found || r.used < c.runs[oldest][at].used {
				oldest, at, found = k, i, true
			}
		}
	}
	if !found {
		c.count = 0
		return
	}
	runs := slices.Delete(c.runs[oldest], at, at+1)
	if len(runs) == 0 {
		delete(c.runs, oldest)
	} else {
		c.runs[oldest] = runs
	}
	c.count--
}

func copyObjects(objs []*manifest.Object) []*manifest.Object {
	out := make([]*manifest.Object, len(objs))
	for i, o := range objs {
		out[i] = manifest.New(o.DeepCopy(), o.Source)
	}
	return out
}

// query is one question kustomize asked the tree during a run, and a digest of the
// answer.
type query struct {
	op     op
	path   string
	answer [sha256.Size]byte
}

type op byte

const (
	opIsDir op = iota
	opExists
	opReadFile
	opReadDir
	opCleanedAbs
	opOpen
	opGlob
	opWalk
)

// journal records the questions of one run.
type journal struct {
	mu      sync.Mutex
	queries []query
}

// note records a question of the current run; callers digest and note only while
// t.journal is set.
func (t *tree) note(o op, p string, answer [sha256.Size]byte) {
	t.journal.mu.Lock()
	t.journal.queries = append(t.journal.queries, query{op: o, path: p, answer: answer})
	t.journal.mu.Unlock()
}

// replay asks the tree every question of a journal again and reports whether each
// answer is the same.
func (t *tree) replay(queries []query) bool {
	for _, q := range queries {
		if t.answer(q.op, q.path) != q.answer {
			return false
		}
	}
	return true
}

// answer asks the tree one question, as kustomize's call would, and digests the answer.
func (t *tree) answer(o op, p string) [sha256.Size]byte {
	switch o {
	case opIsDir:
		return digest(strconv.FormatBool(t.isDir(p)))
	case opExists:
		return digest(strconv.FormatBool(t.exists(p)))
	case opReadFile:
		data, err := t.readFile(p)
		return digest(string(data), errText(err))
	case opReadDir:
		names, err := t.readDir(p)
		return digest(append(names, errText(err))...)
	case opCleanedAbs:
		dir, name, err := t.cleanedAbs(p)
		return digest(string(dir), name, errText(err))
	case opOpen:
		info, data, err := t.open(p)
		return openDigest(info, data, err)
	case opGlob:
		matches, err := t.glob(p)
		return digest(append(matches, errText(err))...)
	case opWalk:
		var parts []string
		err := t.walk(p, func(name string, info fs.FileInfo, err error) error {
			parts = append(parts, walkStep(name, info, err))
			return nil
		})
		return digest(append(parts, errText(err))...)
	}
	return [sha256.Size]byte{}
}

// digest hashes strings, each with its length, so no two lists hash alike by accident.
func digest(parts ...string) [sha256.Size]byte {
	h := sha256.New()
	var n [20]byte
	for _, s := range parts {
		h.Write(strconv.AppendInt(n[:0], int64(len(s)), 10))
		h.Write([]byte{':'})
		h.Write([]byte(s))
	}
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return "error: " + err.Error()
}

func openDigest(info fs.FileInfo, data []byte, err error) [sha256.Size]byte {
	if err != nil {
		return digest("", errText(err))
	}
	return digest(string(data), info.Name(), strconv.FormatBool(info.IsDir()), strconv.FormatInt(info.Size(), 10))
}

func walkStep(name string, info fs.FileInfo, err error) string {
	if info == nil {
		return name + "\x00" + errText(err)
	}
	return name + "\x00" + strconv.FormatBool(info.IsDir()) + "\x00" + strconv.FormatInt(info.Size(), 10) + "\x00" + errText(err)
}
