// Package deps pins dependencies that work in progress is about to use, so parallel work
// does not race on go.mod. It is removed once real code imports them.
package deps

import (
	_ "github.com/Masterminds/semver/v3"
	_ "github.com/fluxcd/cli-utils/pkg/kstatus/status"
	_ "github.com/fluxcd/pkg/runtime/conditions"
	_ "github.com/fluxcd/pkg/ssa"
	_ "github.com/go-git/go-git/v5"
	_ "github.com/prometheus/client_golang/prometheus"
)
