package policy

import (
	"fmt"
	"strconv"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// MaxSprintfPadding bounds what the widths and precisions of one sprintf call may add
// to its result. Go pads up to a million characters per verb, so a format of a few
// thousand "%1000000d" would build gigabytes within the call, where no bound can stop
// it; real formats pad a few characters.
const MaxSprintfPadding = 1 << 20

// sprintf is OPA's, refusing formats that would pad past MaxSprintfPadding. It replaces
// the built-in for the whole process: trustsync evaluates only AuthorizationPolicies.
func init() {
	orig := topdown.GetBuiltin(ast.Sprintf.Name)
	topdown.RegisterBuiltinFunc(ast.Sprintf.Name, func(bctx topdown.BuiltinContext, operands []*ast.Term, iter func(*ast.Term) error) error {
		if len(operands) >= 2 { // the format, the arguments (and the output)
			format, ok1 := operands[0].Value.(ast.String)
			args, ok2 := operands[1].Value.(*ast.Array)
			if ok1 && ok2 {
				if n := sprintfPadding(string(format), args); n > MaxSprintfPadding {
					// A halt, not a built-in error: those only make the expression undefined.
					return topdown.Halt{Err: fmt.Errorf("sprintf: the format's widths and precisions would pad the result by %d characters, over the bound of %d", n, MaxSprintfPadding)}
				}
			}
		}
		return orig(bctx, operands, iter)
	})
}

// sprintfPadding is the most padding the widths and precisions of format add (Go's fmt
// ignores either above a million), reading * from args as fmt does.
func sprintfPadding(format string, args *ast.Array) int64 {
	const goMax = 1e6
	var total int64
	arg := 0
	number := func(i int) (int, int) { // the number at format[i:], and the index after it
		j := i
		for j < len(format) && format[j] >= '0' && format[j] <= '9' && j-i < 9 {
			j++
		}
		n, _ := strconv.Atoi(format[i:j])
		for j < len(format) && format[j] >= '0' && format[j] <= '9' {
			j, n = j+1, goMax+1 // too many digits: fmt ignores it too
		}
		return n, j
	}
	star := func() int {
		defer func() { arg++ }()
		if arg < args.Len() {
			if n, ok := args.Elem(arg).Value.(ast.Number); ok {
				if v, ok := n.Int(); ok {
					return max(v, -v)
				}
			}
		}
		return 0
	}
	add := func(n int) {
		if n <= goMax {
			total += int64(n)
		}
	}
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		i++
		for i < len(format) && (format[i] == '+' || format[i] == '-' || format[i] == '#' || format[i] == ' ' || format[i] == '0') {
			i++
		}
		index := func() {
			if i < len(format) && format[i] == '[' {
				n, j := number(i + 1)
				if j < len(format) && format[j] == ']' {
					arg, i = n-1, j+1
				}
			}
		}
		// size counts a width or a precision: an argument (*) or a number.
		size := func() {
			if i < len(format) && format[i] == '*' {
				add(star())
				i++
				return
			}
			var n int
			n, i = number(i)
			add(n)
		}
		index()
		size()
		if i < len(format) && format[i] == '.' {
			i++
			index()
			size()
		}
		index()
		if i < len(format) && format[i] != '%' {
			arg++ // the verb's operand
		}
	}
	return total
}
