package apply

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-openapi/jsonpointer"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v6/value"

	"github.com/trustsync/trustsync/engine/objcache"
)

// parseOwned reads an ownedText; nil for "".
func parseOwned(text, name string) (*fieldpath.Set, error) {
	if text == "" {
		return nil, nil
	}
	set, err := parseFields(text)
	if err != nil {
		return nil, fmt.Errorf("managed fields of %s: %w", name, err)
	}
	return set, nil
}

// ownedText is the fieldsV1 of the manager's apply entry on the main resource as text.
func ownedText(u *unstructured.Unstructured, manager string) string {
	return objcache.OwnedText(u.Object, manager)
}

// parseFields reads a fieldsV1 text.
func parseFields(text string) (*fieldpath.Set, error) {
	set := &fieldpath.Set{}
	if err := set.FromJSON(strings.NewReader(text)); err != nil {
		return nil, err
	}
	return set, nil
}

// lostFields are the fields the manager owned after its apply and owns no longer:
// someone changed them. They come back as JSON pointers, list items addressed by their
// index in the desired object where it has them, sorted; and as field paths, in the same
// order.
func lostFields(before, now *fieldpath.Set, desired map[string]any) ([]string, []fieldpath.Path) {
	if before == nil {
		return nil, nil
	}
	if now == nil {
		now = &fieldpath.Set{}
	}
	type lost struct {
		ptr  string
		path fieldpath.Path
	}
	var all []lost
	before.Difference(now).Leaves().Iterate(func(p fieldpath.Path) {
		all = append(all, lost{pointer(p, desired), p.Copy()})
	})
	sort.Slice(all, func(i, j int) bool { return all[i].ptr < all[j].ptr })
	ptrs, paths := make([]string, len(all)), make([]fieldpath.Path, len(all))
	for i, l := range all {
		ptrs[i], paths[i] = l.ptr, l.path
	}
	return ptrs, paths
}

// fieldDiffs show, for the first MaxDiffs lost fields, what desired and live hold there.
// A Secret's values are hidden, in every encoding: its fields are named, never shown.
func fieldDiffs(secret bool, desired, live map[string]any, ptrs []string, paths []fieldpath.Path) []FieldDiff {
	n := min(len(ptrs), MaxDiffs)
	out := make([]FieldDiff, n)
	for i := range n {
		out[i].Field = ptrs[i]
		if secret {
			out[i].Hidden = true
			continue
		}
		out[i].Desired, out[i].Live = shown(desired, paths[i]), shown(live, paths[i])
	}
	return out
}

// shown is the value at p in obj as JSON, cut at MaxDiffValue bytes; "" when obj has none.
func shown(obj map[string]any, p fieldpath.Path) string {
	v, ok := valueAt(obj, p)
	if !ok {
		return ""
	}
	data, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	if len(data) > MaxDiffValue {
		cut := MaxDiffValue
		for cut > 0 && !utf8.RuneStart(data[cut]) {
			cut--
		}
		return string(data[:cut]) + "…"
	}
	return string(data)
}

// valueAt finds the value at a field path, list items by their key, index or value.
func valueAt(obj map[string]any, p fieldpath.Path) (any, bool) {
	var cur any = obj
	for _, pe := range p {
		switch {
		case pe.FieldName != nil:
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, false
			}
			if cur, ok = m[*pe.FieldName]; !ok {
				return nil, false
			}
		case pe.Key != nil:
			list, _ := cur.([]any)
			i := slices.IndexFunc(list, func(item any) bool { return keyMatches(item, *pe.Key) })
			if i < 0 {
				return nil, false
			}
			cur = list[i]
		case pe.Index != nil:
			list, _ := cur.([]any)
			if *pe.Index >= len(list) {
				return nil, false
			}
			cur = list[*pe.Index]
		case pe.Value != nil:
			list, _ := cur.([]any)
			want := value.ToString(*pe.Value)
			i := slices.IndexFunc(list, func(item any) bool { return value.ToString(value.NewValueInterface(item)) == want })
			if i < 0 {
				return nil, false
			}
			cur = list[i]
		}
	}
	return cur, true
}

// setsPath reports whether obj sets the field at p or one above or below it; a list
// item, a set member or an index counts as set wherever obj has a list.
func setsPath(obj map[string]any, p fieldpath.Path) bool {
	var cur any = obj
	for _, pe := range p {
		switch {
		case pe.FieldName != nil:
			m, ok := cur.(map[string]any)
			if !ok {
				return true // obj sets a value here, which holds the field
			}
			v, ok := m[*pe.FieldName]
			if !ok {
				return false
			}
			cur = v
		default:
			return cur != nil
		}
	}
	return true
}

// pointer renders a field path as a JSON pointer into obj.
func pointer(p fieldpath.Path, obj map[string]any) string {
	var b strings.Builder
	var cur any = obj
	for _, pe := range p {
		switch {
		case pe.FieldName != nil:
			b.WriteString("/" + jsonpointer.Escape(*pe.FieldName))
			m, _ := cur.(map[string]any)
			cur = m[*pe.FieldName]
		case pe.Key != nil:
			list, _ := cur.([]any)
			idx := -1
			for i, item := range list {
				if keyMatches(item, *pe.Key) {
					idx = i
					break
				}
			}
			if idx < 0 {
				b.WriteString("/" + jsonpointer.Escape(keyString(*pe.Key)))
				cur = nil
				continue
			}
			b.WriteString("/" + strconv.Itoa(idx))
			cur = list[idx]
		case pe.Index != nil:
			b.WriteString("/" + strconv.Itoa(*pe.Index))
			list, _ := cur.([]any)
			if *pe.Index < len(list) {
				cur = list[*pe.Index]
			} else {
				cur = nil
			}
		case pe.Value != nil:
			b.WriteString("/" + jsonpointer.Escape(value.ToString(*pe.Value)))
			cur = nil
		}
	}
	return b.String()
}

func keyMatches(item any, key value.FieldList) bool {
	m, ok := item.(map[string]any)
	if !ok {
		return false
	}
	for _, f := range key {
		if fmt.Sprint(m[f.Name]) != fmt.Sprint(f.Value.Unstructured()) {
			return false
		}
	}
	return true
}

func keyString(key value.FieldList) string {
	var parts []string
	for _, f := range key {
		parts = append(parts, fmt.Sprintf("%s=%v", f.Name, f.Value.Unstructured()))
	}
	return strings.Join(parts, ",")
}

// removePointer deletes the field a JSON pointer (RFC 6901) names, if present.
func removePointer(obj map[string]any, ptr string) {
	tokens := strings.Split(ptr, "/")[1:]
	for i := range tokens {
		tokens[i] = jsonpointer.Unescape(tokens[i])
	}
	removeAt(obj, tokens)
}

// removeAt returns node without the element tokens name; a list comes back shorter.
func removeAt(node any, tokens []string) any {
	if len(tokens) == 0 {
		return node
	}
	switch n := node.(type) {
	case map[string]any:
		if len(tokens) == 1 {
			delete(n, tokens[0])
		} else if child, ok := n[tokens[0]]; ok {
			n[tokens[0]] = removeAt(child, tokens[1:])
		}
		return n
	case []any:
		idx, err := strconv.Atoi(tokens[0])
		if err != nil || idx < 0 || idx >= len(n) {
			return n
		}
		if len(tokens) == 1 {
			return append(n[:idx:idx], n[idx+1:]...)
		}
		n[idx] = removeAt(n[idx], tokens[1:])
		return n
	}
	return node
}
