package schemas

import (
	"embed"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"
)

//go:embed common.yaml services.yaml types/*.yaml
var builtinData embed.FS

// Catalog holds entry types and the service catalogue. A Catalog is read-only
// once built and safe for concurrent use; the *Type and *Service values it
// hands out are shared and must not be modified.
type Catalog struct {
	types    map[string]*Type
	builtin  map[string]bool           // names of the built-in types
	common   []Field                   // fields every type gets
	svcs     *serviceSet               // the service catalogue, parsed on first use
	patterns map[string]*regexp.Regexp // compiled field patterns; written only while loading
}

// serviceSet is the service catalogue. Parsing services.yaml is most of the
// cost of loading the catalogue (goccy/go-yaml, ~3 ms), and `get` and most
// other commands never look at a service, so the built-in catalogue parses
// it on first use. load parses it at once and reports its errors; the
// built-in data is checked by the tests, so a lazy parse cannot fail.
type serviceSet struct {
	once     sync.Once
	src      []byte
	err      error
	byName   map[string]*Service       // by name and alias
	byEnv    map[string]*Service       // by env name and env alias
	order    []*Service                // services in catalogue order
	patterns map[string]*regexp.Regexp // compiled service patterns
}

func (s *serviceSet) parseOnce() error {
	s.once.Do(func() {
		s.byName, s.byEnv, s.patterns = map[string]*Service{}, map[string]*Service{}, map[string]*regexp.Regexp{}
		s.err = s.parse("services.yaml", s.src)
		s.src = nil
	})
	return s.err
}

// svc returns the parsed service catalogue.
func (c *Catalog) svc() *serviceSet {
	if err := c.svcs.parseOnce(); err != nil {
		panic("schemas: broken embedded data: " + err.Error())
	}
	return c.svcs
}

var (
	builtinOnce    sync.Once
	builtinCatalog *Catalog
)

// Builtin returns the catalogue of built-in types and services, parsed once
// from the files embedded in the binary.
func Builtin() *Catalog {
	builtinOnce.Do(func() {
		c, err := loadLazy(builtinData)
		if err != nil {
			panic("schemas: broken embedded data: " + err.Error())
		}
		builtinCatalog = c
	})
	return builtinCatalog
}

// mustLoad loads a catalogue and panics when it is broken. It is only used on
// the embedded files, which tests load on every run.
func mustLoad(fsys fs.FS) *Catalog {
	c, err := load(fsys)
	if err != nil {
		panic("schemas: broken embedded data: " + err.Error())
	}
	return c
}

// load reads common.yaml, services.yaml and types/*.yaml from fsys, and
// reports any error in them.
func load(fsys fs.FS) (*Catalog, error) {
	c, err := loadLazy(fsys)
	if err != nil {
		return nil, err
	}
	if err := c.svcs.parseOnce(); err != nil {
		return nil, err
	}
	return c, nil
}

// loadLazy is load with services.yaml read but parsed on first use.
func loadLazy(fsys fs.FS) (*Catalog, error) {
	c := &Catalog{
		types:    map[string]*Type{},
		builtin:  map[string]bool{},
		patterns: map[string]*regexp.Regexp{},
	}
	src, err := fs.ReadFile(fsys, "common.yaml")
	if err != nil {
		return nil, err
	}
	var common commonDoc
	if err := decodeFile("common.yaml", src, &common); err != nil {
		return nil, err
	}
	if c.common, err = c.parseFields("common.yaml", "$.fields", common.Fields); err != nil {
		return nil, err
	}
	if src, err = fs.ReadFile(fsys, "services.yaml"); err != nil {
		return nil, err
	}
	c.svcs = &serviceSet{src: src}
	files, err := fs.Glob(fsys, "types/*.yaml")
	if err != nil {
		return nil, err
	}
	for _, name := range files {
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		t, err := c.addType(name, src)
		if err != nil {
			return nil, err
		}
		if want := strings.TrimSuffix(path.Base(name), ".yaml"); t.Name != want {
			return nil, &fileError{name, "$.name", fmt.Sprintf("type %s in a file named for %s", t.Name, want)}
		}
	}
	for name := range c.types {
		c.builtin[name] = true
	}
	if _, ok := c.types["secret"]; !ok {
		return nil, fmt.Errorf("types: the default type secret is missing")
	}
	return c, nil
}

func (c *Catalog) addType(file string, src []byte) (*Type, error) {
	t, err := c.parseType(file, src, c.common)
	if err != nil {
		return nil, err
	}
	if c.builtin[t.Name] {
		return nil, &fileError{file, "$.name", fmt.Sprintf("type %s is built in and cannot be redefined", t.Name)}
	}
	if _, dup := c.types[t.Name]; dup {
		return nil, &fileError{file, "$.name", fmt.Sprintf("type %s is defined twice", t.Name)}
	}
	c.types[t.Name] = t
	return t, nil
}

// WithTypes returns a catalogue with the vault-specific types in files added
// (file name to contents, the same format as the built-in type files). The
// receiver is not changed. Built-in types cannot be redefined, so a vault
// cannot, say, turn a secret field into a public one. Errors name the file
// and the YAML path at fault.
func (c *Catalog) WithTypes(files map[string][]byte) (*Catalog, error) {
	n := *c
	n.types = maps.Clone(c.types)
	n.patterns = maps.Clone(c.patterns)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		src := files[name]
		if len(src) > maxTypeFile {
			return nil, &fileError{name, "$", fmt.Sprintf("%d bytes, over the limit of %d bytes for a type file", len(src), maxTypeFile)}
		}
		if _, err := n.addType(name, src); err != nil {
			return nil, err
		}
	}
	return &n, nil
}

// Type returns the named type, or an error listing the known types.
func (c *Catalog) Type(name string) (*Type, error) {
	if t, ok := c.types[name]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("unknown type %s (known: %s)", quoteName(name), strings.Join(sortedKeys(c.types), ", "))
}

// Types returns every type, sorted by name.
func (c *Catalog) Types() []*Type {
	out := make([]*Type, 0, len(c.types))
	for _, k := range sortedKeys(c.types) {
		out = append(out, c.types[k])
	}
	return out
}

// Service looks a service up by name or alias, ignoring letter case.
func (c *Catalog) Service(name string) (*Service, bool) {
	s, ok := c.svc().byName[strings.ToLower(name)]
	return s, ok
}

// Services returns every service, sorted by name.
func (c *Catalog) Services() []*Service {
	out := slices.Clone(c.svc().order)
	slices.SortFunc(out, func(a, b *Service) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Field returns the named field of the type.
func (t *Type) Field(name string) (*Field, bool) {
	for i := range t.Fields {
		if t.Fields[i].Name == name {
			return &t.Fields[i], true
		}
	}
	return nil, false
}

// SecretFields returns the names of the type's secret fields, in declaration
// order.
func (t *Type) SecretFields() []string {
	var out []string
	for _, f := range t.Fields {
		if f.Secret {
			out = append(out, f.Name)
		}
	}
	return out
}

// FieldNames returns the names of all the type's fields, in declaration order.
func (t *Type) FieldNames() []string {
	out := make([]string, len(t.Fields))
	for i, f := range t.Fields {
		out[i] = f.Name
	}
	return out
}

// quoteName quotes a user-supplied name for an error message, cut short so a
// pasted blob cannot flood the message.
func quoteName(s string) string {
	const max = 64
	if len(s) > max {
		return fmt.Sprintf("%q…", strings.ToValidUTF8(s[:max], ""))
	}
	return fmt.Sprintf("%q", s)
}
