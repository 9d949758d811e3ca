package secureprofile

import (
	"crypto/sha256"
	"encoding/json"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	"github.com/trustsync/trustsync/internal/generations"
	"github.com/trustsync/trustsync/security/authbridge"
)

// Memo remembers, by content, what the expansion computes from an agent's own inputs,
// so a render expands anew only the agents whose inputs changed: the sidecar's
// config.yaml built from them (authbridge.AgentConfigSources, which prints YAML) and the
// verdict that the sidecar loads it. What failed is always computed again, so its errors
// name their objects. Each keeps two generations of 65,536 entries. The zero Memo is
// ready; it is safe for concurrent renders. The memo changes no result: every entry is
// what the function gives for that input.
type Memo struct {
	configs generations.Map[[sha256.Size]byte, builtConfig]
	loads   generations.Map[loadKey, struct{}]
}

type builtConfig struct {
	data    []byte
	entries map[string]authbridge.EntrySource
}

// loadKey is a config.yaml and the mode of the sidecar that reads it.
type loadKey struct {
	config [sha256.Size]byte
	mode   agentv1.AuthBridgeMode
}

// agentConfig is authbridge.AgentConfigSources through the memo. The bytes and entries
// it returns are shared with later renders: callers only read them.
func (e *expansion) agentConfig(in authbridge.AgentInput) ([]byte, map[string]authbridge.EntrySource, error) {
	if e.memo == nil {
		return authbridge.AgentConfigSources(in)
	}
	text, err := json.Marshal(in)
	if err != nil {
		return authbridge.AgentConfigSources(in)
	}
	key := sha256.Sum256(text)
	if c, ok := e.memo.configs.Get(key); ok {
		return c.data, c.entries, nil
	}
	data, entries, err := authbridge.AgentConfigSources(in)
	if err == nil {
		e.memo.configs.Put(key, builtConfig{data: data, entries: entries})
	}
	return data, entries, err
}

// loaded reports whether a config.yaml passed checkAgentConfig for mode before.
func (e *expansion) loaded(data []byte, mode agentv1.AuthBridgeMode) (loadKey, bool) {
	if e.memo == nil {
		return loadKey{}, false
	}
	k := loadKey{config: sha256.Sum256(data), mode: mode}
	_, ok := e.memo.loads.Get(k)
	return k, ok
}
