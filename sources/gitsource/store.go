package gitsource

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"github.com/trustsync/trustsync/sources/git"
)

// Store holds the latest artifact of every GitSource, for the Syncs in the same process.
type Store struct {
	mu          sync.Mutex
	artifacts   map[types.NamespacedName]*git.Artifact
	subscribers []func(types.NamespacedName)
}

// NewStore returns an empty Store.
func NewStore() *Store {
	return &Store{artifacts: map[types.NamespacedName]*git.Artifact{}}
}

// Latest returns the latest artifact of a source.
func (s *Store) Latest(source types.NamespacedName) (*git.Artifact, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.artifacts[source]
	return a, ok
}

// Subscribe calls f whenever a source gets a new artifact, including the first one
// after a restart, when the revision itself may be unchanged.
func (s *Store) Subscribe(f func(source types.NamespacedName)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subscribers = append(s.subscribers, f)
}

func (s *Store) set(source types.NamespacedName, a *git.Artifact) {
	s.mu.Lock()
	prev := s.artifacts[source]
	s.artifacts[source] = a
	subs := s.subscribers
	s.mu.Unlock()
	if prev == nil || prev.Commit != a.Commit || prev.Digest != a.Digest {
		for _, f := range subs {
			f(source)
		}
	}
}

func (s *Store) remove(source types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.artifacts, source)
}
