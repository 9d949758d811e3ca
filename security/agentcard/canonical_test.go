package agentcard

import (
	"strings"
	"testing"
)

func TestCanonicalize(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"sorted keys, no whitespace", `{ "b": 1, "a": { "d": [ 1, 2 ], "c": true } }`, `{"a":{"c":true,"d":[1,2]},"b":1}`},
		{"top-level signatures left out", `{"name":"x","signatures":[{"protected":"p","signature":"s"}]}`, `{"name":"x"}`},
		{"nested signatures kept", `{"skills":[{"signatures":1}]}`, `{"skills":[{"signatures":1}]}`},
		{"arrays keep their order", `{"a":[3,1,2,{"z":null,"y":false}]}`, `{"a":[3,1,2,{"y":false,"z":null}]}`},
		{"empty containers", `{"a":{},"b":[],"c":""}`, `{"a":{},"b":[],"c":""}`},
		{"unicode literal, code point key order", `{"é":1,"z":2,"Z":3,"\u00e9t\u00e9":"\u65e5\u672c","😀":4}`, `{"Z":3,"z":2,"é":1,"été":"日本","😀":4}`},
		{"escapes: quote, backslash, controls", `{"s":"a\"b\\c\/d\n\t\r\b\f\u0001\u001f"}`, `{"s":"a\"b\\c/d\n\t\r\b\f\u0001\u001f"}`},
		{"no HTML escaping, DEL and U+2028 literal", `{"s":"<a href='x'>&</a>\u007f\u2028"}`, "{\"s\":\"<a href='x'>&</a>\u007f\u2028\"}"},
		{"integers kept digit for digit", `{"big":123456789012345678901234567890,"neg":-42,"zero":-0}`, `{"big":123456789012345678901234567890,"neg":-42,"zero":0}`},
		{"other numbers in ECMAScript form", `{"a":1.0,"b":1e2,"c":1.5e-7,"d":0.000001,"e":1E21,"f":-0.0,"g":3.14159,"h":1e-7}`, `{"a":1,"b":100,"c":1.5e-7,"d":0.000001,"e":1e+21,"f":0,"g":3.14159,"h":1e-7}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Canonicalize([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("Canonicalize(%s)\n got %s\nwant %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestCanonicalizeIgnoresLayout(t *testing.T) {
	a := `{"name":"weather","skills":[{"id":"forecast","tags":["a","b"]}],"capabilities":{"streaming":true}}`
	b := "{\n  \"capabilities\" : { \"streaming\" : true },\n\t\"skills\": [ { \"tags\": [\"a\", \"b\"], \"id\": \"forecast\" } ],\r\n \"name\": \"weather\",\n \"signatures\": [] }\n"
	ca, err := CardID([]byte(a))
	if err != nil {
		t.Fatal(err)
	}
	cb, err := CardID([]byte(b))
	if err != nil {
		t.Fatal(err)
	}
	if ca != cb {
		t.Fatalf("the same card in two layouts has two IDs: %s, %s", ca, cb)
	}
	cc, err := CardID([]byte(strings.Replace(a, "weather", "weather2", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if cc == ca {
		t.Fatal("a changed card kept its ID")
	}
	if len(ca) != 64 {
		t.Fatalf("CardID %q is not a hex SHA-256", ca)
	}
}

func TestCanonicalizeRejects(t *testing.T) {
	deep := strings.Repeat(`{"a":`, 70) + "1" + strings.Repeat("}", 70)
	for name, in := range map[string]string{
		"not an object":          `["a"]`,
		"duplicate member":       `{"a":1,"a":2}`,
		"nested duplicate":       `{"x":{"a":1,"a":1}}`,
		"trailing data":          `{"a":1} {"b":2}`,
		"truncated":              `{"a":`,
		"invalid UTF-8":          "{\"a\":\"\xff\"}",
		"too deep":               deep,
		"not JSON":               `name: x`,
		"empty":                  ``,
		"trailing comma (JSON5)": `{"a":1,}`,
	} {
		if got, err := Canonicalize([]byte(in)); err == nil {
			t.Errorf("%s: Canonicalize(%q) = %s, want an error", name, in, got)
		}
	}
}
