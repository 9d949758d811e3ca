package parsers

import (
	"bytes"
	"encoding/json"
	"errors"
	"unicode/utf8"
)

const (
	// maxDepth bounds the nesting of the JSON values kept as values (MCP params and
	// results, tool parameters, A2A data parts): a policy input never needs more, and
	// a deeper value costs the decoder and OPA's conversion without saying more.
	maxDepth = 32
	// maxText caps text gathered from a response (A2A artifact, inference completion,
	// each tool call's arguments), whose events may keep arriving for as long as the
	// stream lasts.
	maxText = 64 << 10
	// maxToolCalls bounds the tool calls kept from one response.
	maxToolCalls = 128
	// maxEvents bounds the SSE events read from a buffered response body.
	maxEvents = 50
)

// unmarshal decodes b into v and reports whether it read: a value of the wrong type in
// a field leaves that field zero but is no failure (encoding/json decodes the rest),
// so one odd field does not hide the whole call.
func unmarshal(b []byte, v any) bool {
	err := json.Unmarshal(b, v)
	var te *json.UnmarshalTypeError
	return err == nil || errors.As(err, &te)
}

// firstByte is the first byte of b after JSON white space, 0 when none.
func firstByte(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
		default:
			return c
		}
	}
	return 0
}

// tooDeep reports whether the JSON text b nests arrays and objects more than max deep.
func tooDeep(b []byte, max int) bool {
	depth, inString, escaped := 0, false, false
	for _, c := range b {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			if depth++; depth > max {
				return true
			}
		case '}', ']':
			depth--
		}
	}
	return false
}

// decodeAny decodes a JSON value with its numbers as json.Number (exact, and what
// OPA converts directly); nil when absent, null, malformed or too deep.
func decodeAny(raw json.RawMessage) any {
	if len(raw) == 0 || tooDeep(raw, maxDepth) {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return nil
	}
	return v
}

// decodeObject is decodeAny for a JSON object; nil for anything else.
func decodeObject(raw json.RawMessage) map[string]any {
	if firstByte(raw) != '{' {
		return nil
	}
	m, _ := decodeAny(raw).(map[string]any)
	return m
}

// rpcID reads a JSON-RPC id as written, so that it goes back into a JSON-RPC error
// reply unchanged: a string stays a string, a number a json.Number with its digits.
// Absent, null, and shapes JSON-RPC forbids are nil.
func rpcID(raw json.RawMessage) any {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil
	}
	switch c := raw[0]; {
	case c == '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	case c == '-' || (c >= '0' && c <= '9'):
		// The enclosing decode has checked it is a JSON number.
		return json.Number(raw)
	}
	return nil
}

// sameID reports whether a response's id answers want (a nil want expects none); a
// null or absent id is accepted, as servers send it with errors about the request.
func sameID(raw json.RawMessage, want any) bool {
	got := rpcID(raw)
	if got == nil {
		return true
	}
	switch w := want.(type) {
	case string:
		g, ok := got.(string)
		return ok && g == w
	case json.Number:
		g, ok := got.(json.Number)
		return ok && g == w
	}
	return false
}

// compact is raw as compact JSON text; "" when it is not JSON.
func compact(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return ""
	}
	return b.String()
}

// appendCapped appends s to *dst without letting it grow past maxText, cut on a rune
// boundary.
func appendCapped(dst *string, s string) {
	room := maxText - len(*dst)
	if room <= 0 || s == "" {
		return
	}
	if len(s) > room {
		// s[cut] is the first byte left out: while it continues a rune, the cut is inside
		// that rune.
		cut := room
		for cut > 0 && cut > room-utf8.UTFMax && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	*dst += s
}

var (
	dataPrefix = []byte("data:")
	done       = []byte("[DONE]")
)

// eventData is the data of one SSE event (without its blank-line terminator): its
// data: lines joined by "\n", as the SSE specification assembles them. It is nil when
// the event has no data, and for OpenAI's closing [DONE].
func eventData(event []byte) []byte {
	var first, joined []byte
	n := 0
	for len(event) > 0 {
		line := event
		if i := bytes.IndexByte(event, '\n'); i >= 0 {
			line, event = event[:i], event[i+1:]
		} else {
			event = nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		v, ok := bytes.CutPrefix(line, dataPrefix)
		if !ok {
			continue
		}
		if len(v) > 0 && v[0] == ' ' {
			v = v[1:]
		}
		switch n {
		case 0:
			first = v
		case 1:
			joined = append(append(append(joined, first...), '\n'), v...)
		default:
			joined = append(append(joined, '\n'), v...)
		}
		n++
	}
	if n == 1 {
		joined = first
	}
	if bytes.Equal(bytes.TrimSpace(joined), done) {
		return nil
	}
	return joined
}

// eachEvent calls f with the data of each SSE event of a buffered event-stream body,
// at most maxEvents, until f returns false.
func eachEvent(body []byte, f func(data []byte) bool) {
	for i := 0; i < maxEvents && len(body) > 0; i++ {
		var event []byte
		event, body = nextEvent(body)
		if data := eventData(event); len(data) > 0 && !f(data) {
			return
		}
	}
}

// nextEvent splits the first event (up to a blank line) off an event stream.
func nextEvent(b []byte) (event, rest []byte) {
	for i := 0; i < len(b); i++ {
		if b[i] != '\n' {
			continue
		}
		j := i + 1
		if j < len(b) && b[j] == '\r' {
			j++
		}
		if j < len(b) && b[j] == '\n' {
			return b[:i], b[j+1:]
		}
	}
	return b, nil
}
