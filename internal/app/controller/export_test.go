package controller

import (
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/trustsync/trustsync/sources/receiver"
)

// NewReceiverLookup is the receiver's lookup as Run builds it, with the Secret cache's
// lifetimes set to ttl.
func NewReceiverLookup(sources, secrets client.Reader, ttl time.Duration) receiver.Lookup {
	c := newSecretCache(secrets)
	c.ttl, c.errorTTL = ttl, ttl
	return receivers{sources: sources, secrets: c}
}

// TargetURL is where a Sync's commit status links.
var TargetURL = targetURL
