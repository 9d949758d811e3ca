package manifest

import (
	"crypto/sha256"
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
)

// Hash is the SHA-256 of an object's canonical form: equal objects, and only they, hash
// alike, however their maps were built.
func Hash(o *Object) ([sha256.Size]byte, error) {
	data, err := appendCanonical(make([]byte, 0, 4096), o.Object)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	return sha256.Sum256(data), nil
}

// appendCanonical appends an encoding of a JSON value as unstructured objects hold it
// in which equal values, and only they, encode alike: each value tagged with its type,
// strings and containers with their lengths, map keys sorted. It is what json.Marshal
// would give a hash, without reflection.
func appendCanonical(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, 'n'), nil
	case bool:
		if v {
			return append(b, 't'), nil
		}
		return append(b, 'f'), nil
	case string:
		b = strconv.AppendInt(append(b, 's'), int64(len(v)), 10)
		return append(append(b, ':'), v...), nil
	case int64:
		return append(strconv.AppendInt(append(b, 'i'), v, 10), ';'), nil
	case int:
		return append(strconv.AppendInt(append(b, 'i'), int64(v), 10), ';'), nil
	case float64:
		return append(strconv.AppendFloat(append(b, 'd'), v, 'g', -1, 64), ';'), nil
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(strconv.AppendInt(append(b, 'm'), int64(len(v)), 10), '{')
		var err error
		for _, k := range keys {
			if b, err = appendCanonical(b, k); err != nil {
				return nil, err
			}
			if b, err = appendCanonical(b, v[k]); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case []any:
		b = append(strconv.AppendInt(append(b, 'a'), int64(len(v)), 10), '[')
		var err error
		for _, x := range v {
			if b, err = appendCanonical(b, x); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	}
	// Anything else (no render makes one) as JSON, tagged apart.
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	b = strconv.AppendInt(append(b, 'j'), int64(len(data)), 10)
	return append(append(b, ':'), data...), nil
}

// Equal reports whether two JSON values as unstructured objects hold them are the same:
// what Hash would tell, without encoding either. Numbers of different Go types are
// unequal here (Hash may call them alike), so Equal errs only towards false.
func Equal(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !Equal(xv, yv) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !Equal(x[i], y[i]) {
				return false
			}
		}
		return true
	case string:
		return sameAs(x, b)
	case bool:
		return sameAs(x, b)
	case int64:
		return sameAs(x, b)
	case float64:
		return sameAs(x, b)
	case nil:
		return b == nil
	}
	return reflect.DeepEqual(a, b)
}

// sameAs reports whether b is a T equal to x.
func sameAs[T comparable](x T, b any) bool {
	y, ok := b.(T)
	return ok && x == y
}
