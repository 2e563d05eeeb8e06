package schemas

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultMaxSize is the limit in bytes on any field value, and on the primary
// field of a type that sets no MaxSize: SPEC §3's 1 MiB. Only types that say
// so (file: 8 MiB, for key stores and certificates bundles) go beyond it.
const DefaultMaxSize = 1 << 20

// ValidationError is a problem with an entry: the YAML path of the field at
// fault and what is wrong with it. Msg never contains a field's value.
type ValidationError struct {
	Path string // YAML path, such as $.value or $.hosts[1]
	Msg  string
}

// Error returns "path: msg".
func (e *ValidationError) Error() string { return e.Path + ": " + e.Msg }

// fieldPath returns the YAML path of a field, quoting a name that is not a
// plain identifier.
func fieldPath(name string) string {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return "$." + quoteName(name)
		}
	}
	if name == "" {
		return `$.""`
	}
	return "$." + name
}

func itemPath(name string, i int) string { return fieldPath(name) + "[" + strconv.Itoa(i) + "]" }

func verr(path, format string, args ...any) *ValidationError {
	return &ValidationError{Path: path, Msg: fmt.Sprintf(format, args...)}
}

// Validate checks an entry against its type: the type exists, every field is
// declared, required fields are present and not empty, each value has the
// shape and format its kind asks for and fits the size limit, and the type's
// whole-entry check passes. It returns the first problem as a
// *ValidationError. Warnings are problems that do not stop a write, such as
// a key that does not look like its service's keys; they are nil when err is
// not. An empty Type is taken as "secret". Neither errors nor warnings ever
// contain a field's value.
func (c *Catalog) Validate(e *Entry) (warnings []string, err error) {
	if e == nil {
		return nil, verr("$", "no entry")
	}
	typ := e.Type
	if typ == "" {
		typ = "secret"
	}
	t, ok := c.types[typ]
	if !ok {
		return nil, verr("$.type", "unknown type %s (known: %s)", quoteName(typ), strings.Join(sortedKeys(c.types), ", "))
	}
	names := make([]string, 0, len(e.Fields)+len(e.Lists))
	for n := range e.Fields {
		names = append(names, n)
	}
	for n := range e.Lists {
		if _, dup := e.Fields[n]; dup {
			return nil, verr(fieldPath(n), "given both as a single value and as a list")
		}
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if _, ok := t.Field(n); !ok {
			return nil, verr(fieldPath(n), "unknown field for type %s (fields: %s)", t.Name, strings.Join(t.FieldNames(), ", "))
		}
	}
	for i := range t.Fields {
		if err := c.checkField(t, &t.Fields[i], e); err != nil {
			return nil, err
		}
	}
	var ws []*ValidationError
	warn := func(path, format string, args ...any) {
		ws = append(ws, verr(path, format, args...))
	}
	if err := c.checkEntry(t, e, warn); err != nil {
		return nil, err
	}
	c.checkServiceKey(t, e, warn)
	for _, w := range ws {
		warnings = append(warnings, w.Error())
	}
	return warnings, nil
}

// checkField checks one declared field: shape, presence, size and format.
func (c *Catalog) checkField(t *Type, f *Field, e *Entry) error {
	path := fieldPath(f.Name)
	v, isScalar := e.Fields[f.Name]
	list, isList := e.Lists[f.Name]
	switch {
	case isScalar && f.IsList():
		return verr(path, "must be a list")
	case isList && !f.IsList():
		return verr(path, "must be a single value, not a list")
	case f.Required && !isScalar && !isList:
		return verr(path, "required for type %s", t.Name)
	case f.Required && (isScalar && v == "" || isList && len(list) == 0):
		return verr(path, "must not be empty")
	}
	limit := DefaultMaxSize
	if f.Name == t.Primary && t.MaxSize > 0 {
		limit = t.MaxSize
	}
	if isScalar {
		if len(v) > limit {
			return verr(path, "%d bytes, over the limit of %d bytes for type %s", len(v), limit, t.Name)
		}
		if v == "" && !f.Required {
			return nil // an optional field may be present and empty
		}
		if err := checkKind(f.Kind, v); err != nil {
			return verr(path, "%v", err)
		}
		if f.Pattern != "" && !c.regexp(f.Pattern).MatchString(v) {
			return verr(path, "does not match the pattern %s", f.Pattern)
		}
		return nil
	}
	total := 0
	for i, item := range list {
		total += len(item)
		if total > limit {
			return verr(path, "over the limit of %d bytes for type %s", limit, t.Name)
		}
		var err error
		if f.Kind == KindHosts {
			err = checkHost(item)
		} else if item == "" {
			err = fmt.Errorf("empty list item")
		} else {
			err = checkLine(item)
		}
		if err != nil {
			return verr(itemPath(f.Name, i), "%v", err)
		}
		if f.Pattern != "" && !c.regexp(f.Pattern).MatchString(item) {
			return verr(itemPath(f.Name, i), "does not match the pattern %s", f.Pattern)
		}
	}
	return nil
}

// checkKind checks a scalar value against its kind. Messages never quote the
// value.
func checkKind(kind, v string) error {
	switch kind {
	case KindString:
		return checkLine(v)
	case KindText:
		return checkText(v)
	case KindBool:
		if v != "true" && v != "false" {
			return fmt.Errorf("want true or false")
		}
	case KindDate:
		if _, err := time.Parse(time.DateOnly, v); err != nil {
			return fmt.Errorf("want a date as YYYY-MM-DD")
		}
	case KindTime:
		if _, err := time.Parse(time.RFC3339, v); err != nil {
			return fmt.Errorf("want an RFC 3339 time such as 2026-03-01T12:00:00Z")
		}
	case KindDuration:
		return checkDuration(v)
	case KindURL:
		return checkURL(v, false)
	case KindHTTPSURL:
		return checkURL(v, true)
	case KindEnvName:
		if !envNameRe.MatchString(v) {
			return fmt.Errorf("not a valid environment variable name (letters, digits and _, not starting with a digit)")
		}
	case KindAuth:
		_, err := ParseAuth(v)
		return err
	}
	return nil // KindBytes: anything goes
}

// regexp returns a pattern compiled at load time.
func (c *Catalog) regexp(pattern string) *regexp.Regexp {
	if re, ok := c.patterns[pattern]; ok {
		return re
	}
	if re, ok := c.svc().patterns[pattern]; ok {
		return re
	}
	return regexp.MustCompile(pattern) // unreachable: every pattern is compiled by the loader
}

// checkEntry runs the type's whole-entry check.
func (c *Catalog) checkEntry(t *Type, e *Entry, warn func(path, format string, args ...any)) error {
	switch t.Check {
	case "database_url":
		if v, ok := e.Fields["value"]; ok {
			if err := checkURL(v, false); err != nil {
				return verr("$.value", "%v", err)
			}
		}
	case "oauth":
		if e.Get("refresh_token") != "" && e.Get("token_url") == "" {
			warn("$.token_url", "not set, so the refresh_token cannot be used to get a new access token")
		}
	case "ssh_key":
		return checkSSHKey(e)
	case "certificate":
		return checkCertificate(e)
	case "prompt":
		return checkPrompt(e, warn)
	}
	return nil
}

// checkServiceKey warns when the primary value does not look like a key of
// the entry's service.
func (c *Catalog) checkServiceKey(t *Type, e *Entry, warn func(path, format string, args ...any)) {
	name := e.Get("service")
	if name == "" {
		return
	}
	s, ok := c.Service(name)
	if !ok {
		return
	}
	v, ok := e.Fields[t.Primary]
	if !ok || v == "" {
		return
	}
	if !c.regexp(s.Pattern).MatchString(v) {
		warn(fieldPath(t.Primary), "does not look like a key for service %s (its keys usually match %s)", s.Name, s.Pattern)
	}
}

// placeholderRe finds {{name}} placeholders in prompt text.
var placeholderRe = regexp.MustCompile(`\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}`)

// checkPrompt checks that {{name}} placeholders and arguments agree: an
// undeclared placeholder is an error, an unused argument a warning.
func checkPrompt(e *Entry, warn func(path, format string, args ...any)) error {
	args := e.Lists["arguments"]
	for i, a := range args {
		if !envNameRe.MatchString(a) {
			return verr(itemPath("arguments", i), "an argument name is letters, digits and _, not starting with a digit")
		}
		if slices.Contains(args[:i], a) {
			return verr(itemPath("arguments", i), "argument %s is declared twice", a)
		}
	}
	used := map[string]bool{}
	for _, m := range placeholderRe.FindAllStringSubmatch(e.Get("text"), -1) {
		name := m[1]
		if !slices.Contains(args, name) {
			return verr("$.text", "placeholder {{%s}} is not declared in arguments", name)
		}
		used[name] = true
	}
	for i, a := range args {
		if !used[a] {
			warn(itemPath("arguments", i), "argument %s is not used in text", a)
		}
	}
	return nil
}
