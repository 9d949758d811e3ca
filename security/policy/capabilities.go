package policy

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
)

// A policy comes from Git, so what it computes must follow from the revision and the
// request alone: it may not reach the network, read the clock, draw random numbers or
// read the process's environment. OPA marks the built-ins that do as Nondeterministic;
// the few it does not mark are listed here, with two that no bound can stop.
var refusedByName = map[string]string{
	// Signs requests for http.send with credentials; pointless without the network.
	"providers.aws.sign_req": "it signs requests for the network",
	// Verify the chain against the current time unless a CurrentTime is given.
	"crypto.x509.parse_and_verify_certificates":              "it reads the clock",
	"crypto.x509.parse_and_verify_certificates_with_options": "it reads the clock unless given CurrentTime",
	// A bound stops an evaluation between expressions and inside the built-ins that
	// check for it; these two can run without end within one call, from a few bytes of
	// policy ({{range 1000000000}} in a template; every path of a small dense graph).
	"strings.render_template": "one call can run and allocate without end, and no bound stops a built-in mid-call",
	"graph.reachable_paths":   "one call can run and allocate without end, and no bound stops a built-in mid-call",
}

// Capabilities are the OPA capabilities every AuthorizationPolicy is compiled and
// evaluated with — by Check, Test, Build (the bundle server's bundles) and the Decider
// (trustsync policy eval, the previews, the data plane): OPA's built-ins without the
// nondeterministic ones (network, clock, randomness, the runtime's environment) and
// those of refusedByName, and no host to connect to (allow_net empty). The value is
// shared and must not be modified.
func Capabilities() *ast.Capabilities { return capabilities() }

var capabilities = sync.OnceValue(func() *ast.Capabilities {
	c := ast.CapabilitiesForThisVersion()
	c.Builtins = slices.DeleteFunc(slices.Clone(c.Builtins), func(b *ast.Builtin) bool {
		_, refused := refusedBuiltin(b.Name)
		return refused
	})
	// Empty, not nil: nil lets OPA connect anywhere (remote JSON schemas included).
	c.AllowNet = []string{}
	return c
})

// refusedBuiltin reports whether a built-in is left out of Capabilities, and why.
func refusedBuiltin(name string) (string, bool) {
	if why, ok := refusedByName[name]; ok {
		return why, true
	}
	b, ok := ast.BuiltinMap[name]
	if !ok || !b.Nondeterministic {
		return "", false
	}
	switch {
	case name == "http.send" || strings.HasPrefix(name, "net."):
		return "it reaches the network", true
	case strings.HasPrefix(name, "time."), name == "io.jwt.decode_verify":
		return "it reads the clock", true
	case strings.HasPrefix(name, "rand."), strings.HasPrefix(name, "uuid."), strings.HasPrefix(name, "io.jwt.encode_sign"):
		return "it draws random numbers", true
	case name == "opa.runtime":
		return "it reads the process's environment", true
	case strings.HasPrefix(name, "json.") && strings.Contains(name, "schema"):
		return "it may fetch remote schemas", true
	}
	return "its result is not determined by its arguments", true
}

// RefusedBuiltins lists the built-ins policies may not call, sorted, with the reason.
func RefusedBuiltins() map[string]string {
	out := map[string]string{}
	for _, b := range ast.CapabilitiesForThisVersion().Builtins {
		if why, ok := refusedBuiltin(b.Name); ok {
			out[b.Name] = why
		}
	}
	return out
}

// newCompiler is the compiler every policy is compiled with.
func newCompiler() *ast.Compiler {
	return ast.NewCompiler().WithCapabilities(Capabilities())
}

// refusedCall is a call of a refused built-in in a module.
type refusedCall struct {
	name, why string
	line      int
}

func (c refusedCall) Error() string {
	return fmt.Sprintf("%s is not allowed: %s, and a policy's decisions must follow from the revision and the request alone", c.name, c.why)
}

// refusedCalls finds the calls of refused built-ins in mod, and the with-targets that
// name one (which would mock it), before compilation: the compiler only says
// "undefined function".
func refusedCalls(mod *ast.Module) []refusedCall {
	var out []refusedCall
	check := func(ref ast.Ref, loc *ast.Location) {
		name := ref.String()
		if why, ok := refusedBuiltin(name); ok {
			line := 0
			if loc != nil {
				line = loc.Row
			}
			out = append(out, refusedCall{name: name, why: why, line: line})
		}
	}
	ast.NewGenericVisitor(func(x any) bool {
		switch x := x.(type) {
		case *ast.Expr:
			if x.IsCall() {
				check(x.Operator(), x.Location)
			}
			for _, w := range x.With {
				if ref, ok := w.Target.Value.(ast.Ref); ok {
					check(ref, w.Location)
				}
			}
		case ast.Call:
			if len(x) > 0 {
				if ref, ok := x[0].Value.(ast.Ref); ok {
					check(ref, x[0].Location)
				}
			}
		}
		return false
	}).Walk(mod)
	return out
}

// undefinedRefused rewrites the compiler's "undefined function" for a refused built-in
// (a module that reached the compiler without refusedCalls, e.g. in the bundle server)
// into the reason.
func undefinedRefused(e *ast.Error) string {
	name, ok := strings.CutPrefix(e.Message, "undefined function ")
	if !ok {
		return e.Message
	}
	if why, refused := refusedBuiltin(name); refused {
		return refusedCall{name: name, why: why}.Error()
	}
	return e.Message
}
