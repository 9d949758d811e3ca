package agentcard

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"unicode/utf8"
)

// SignaturesField is the top-level card member that holds the signatures; it is never part
// of the signed payload.
const SignaturesField = "signatures"

// maxDepth bounds the nesting of a card: cards come from the network.
const maxDepth = 64

// Canonicalize returns the canonical JSON of an AgentCard, the bytes its signatures cover:
//
//   - the card must be one JSON object in valid UTF-8, without duplicate member names
//     (at any depth) and nested at most 64 deep;
//   - the top-level "signatures" member is left out (nested members of that name are not);
//   - object members are sorted by name in Unicode code point order (UTF-8 byte order, as
//     Python's sort_keys and Go's encoding/json sort);
//   - no whitespace outside strings;
//   - strings are written as RFC 8785 (JCS) writes them: \" \\ \b \f \n \r \t, other
//     control characters as \u00xx (lower-case hex), everything else as literal UTF-8
//     (no \u escapes for non-ASCII, no HTML escaping);
//   - integers written without fraction or exponent are kept digit for digit (so large IDs
//     survive), "-0" becomes "0"; every other number is read as an IEEE 754 double and
//     written in the ECMAScript form JCS uses (1.0 → 1, 1e2 → 100, 1.5e-7 → 1.5e-7);
//   - true, false and null as such.
//
// Re-indenting a card, or re-ordering its members, does not change its canonical form.
func Canonicalize(card []byte) ([]byte, error) {
	doc, err := parseCard(card)
	if err != nil {
		return nil, err
	}
	return canonical(doc), nil
}

// CardID is the hex SHA-256 of the canonical card: it changes exactly when the signed
// content changes (status.cardId, for drift detection).
func CardID(card []byte) (string, error) {
	c, err := Canonicalize(card)
	if err != nil {
		return "", err
	}
	return cardID(c), nil
}

func cardID(canonical []byte) string {
	sum := sha256.Sum256(canonical)
	return hex.EncodeToString(sum[:])
}

// canonical serialises doc without its top-level signatures.
func canonical(doc map[string]any) []byte {
	var b bytes.Buffer
	writeObject(&b, doc, true)
	return b.Bytes()
}

// parseCard reads a card into maps, slices, strings, bools, nil and json.Number.
func parseCard(card []byte) (map[string]any, error) {
	if !utf8.Valid(card) {
		return nil, errors.New("card is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(card))
	dec.UseNumber()
	v, err := decodeValue(dec, 0)
	if err != nil {
		return nil, fmt.Errorf("card is not valid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("card is not valid JSON: data after the top-level object")
	}
	doc, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("card is not a JSON object")
	}
	return doc, nil
}

func decodeValue(dec *json.Decoder, depth int) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil // string, json.Number, bool or nil
	}
	if depth >= maxDepth {
		return nil, fmt.Errorf("nested deeper than %d", maxDepth)
	}
	switch d {
	case '{':
		obj := map[string]any{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			key := kt.(string) // the decoder only yields strings in key position
			if _, dup := obj[key]; dup {
				// Two readers could disagree on which value counts; refuse to guess.
				return nil, fmt.Errorf("duplicate member %s", quote(key))
			}
			if obj[key], err = decodeValue(dec, depth+1); err != nil {
				return nil, err
			}
		}
		_, err := dec.Token() // '}'
		return obj, err
	case '[':
		arr := []any{}
		for dec.More() {
			v, err := decodeValue(dec, depth+1)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		_, err := dec.Token() // ']'
		return arr, err
	}
	return nil, fmt.Errorf("unexpected %v", d)
}

func writeValue(b *bytes.Buffer, v any) {
	switch v := v.(type) {
	case map[string]any:
		writeObject(b, v, false)
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			writeValue(b, e)
		}
		b.WriteByte(']')
	case string:
		writeString(b, v)
	case json.Number:
		b.WriteString(canonicalNumber(v))
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case nil:
		b.WriteString("null")
	default:
		panic(fmt.Sprintf("agentcard: unexpected JSON value %T", v)) // parseCard yields none
	}
}

func writeObject(b *bytes.Buffer, obj map[string]any, top bool) {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		if top && k == SignaturesField {
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		writeString(b, k)
		b.WriteByte(':')
		writeValue(b, obj[k])
	}
	b.WriteByte('}')
}

func writeString(b *bytes.Buffer, s string) {
	const hexDigits = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < 0x20 {
				b.WriteString(`\u00`)
				b.WriteByte(hexDigits[c>>4])
				b.WriteByte(hexDigits[c&0xf])
			} else {
				b.WriteByte(c) // UTF-8 bytes pass through; the input was checked valid
			}
		}
	}
	b.WriteByte('"')
}

var plainInteger = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)

func canonicalNumber(n json.Number) string {
	s := string(n)
	if plainInteger.MatchString(s) {
		if s == "-0" {
			return "0"
		}
		return s
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		// Out of double range (1e400): the decoder accepted the literal, so keep it rather
		// than invent a value; both sides of a signature see the same bytes.
		return s
	}
	if f == 0 {
		return "0"
	}
	// encoding/json formats float64 exactly as ECMAScript's Number.prototype.toString does
	// (what RFC 8785 prescribes): shortest round-trip digits, exponent only outside
	// [1e-6, 1e21).
	out, _ := json.Marshal(f)
	return string(out)
}
