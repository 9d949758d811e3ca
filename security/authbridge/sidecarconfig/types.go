package sidecarconfig

import (
	"encoding/json"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a Go duration written as a string ("30m", "1h").
type Duration time.Duration

func (t *Duration) decodeNode(d *decoder, n *yaml.Node, path string) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		d.p.add(path, "want a duration such as 30m or 1h, not %s", kindName(n))
		return
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		d.p.add(path, "%q is not a duration such as 30m or 1h", n.Value)
		return
	}
	if v <= 0 {
		d.p.add(path, "%q: must be positive", n.Value)
		return
	}
	*t = Duration(v)
}

func (t Duration) String() string { return time.Duration(t).String() }

func (t Duration) MarshalJSON() ([]byte, error) { return json.Marshal(t.String()) }

// Secret is a credential. It prints as [redacted]; Reveal gives the value.
type Secret string

// Reveal is the secret's value, for the code that sends it.
func (s Secret) Reveal() string { return string(s) }

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }
