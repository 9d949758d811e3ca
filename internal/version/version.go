package version

import (
	"fmt"
	"runtime"
)

// Version of the build; "dev" when not stamped.
var Version = "dev"

// String describes the build.
func String() string {
	return fmt.Sprintf("trustsync %s (%s, %s/%s)", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
