// Package schemas holds tresor's entry types and service catalogue as
// embedded data files, the Entry model, and validation whose errors name the
// YAML path at fault.
package schemas

// Entry is the decoded plaintext of one vault entry. Values are kept as exact
// bytes: a Go string may hold any byte sequence, including NUL and invalid
// UTF-8 (the codec stores such values as !!binary).
type Entry struct {
	// Type is the entry's type name ("secret" when the document omits it).
	Type string
	// Fields holds the scalar fields by name, exact bytes.
	Fields map[string]string
	// Lists holds the list fields (hosts, tags, scopes, arguments) by name.
	Lists map[string][]string
}

// NewEntry returns an empty entry of the given type.
func NewEntry(typ string) *Entry {
	return &Entry{Type: typ, Fields: map[string]string{}, Lists: map[string][]string{}}
}

// Get returns a scalar field, or "" when it is not set.
func (e *Entry) Get(name string) string { return e.Fields[name] }

// Has reports whether a scalar or list field is present (possibly empty).
func (e *Entry) Has(name string) bool {
	if _, ok := e.Fields[name]; ok {
		return true
	}
	_, ok := e.Lists[name]
	return ok
}

// Set sets a scalar field.
func (e *Entry) Set(name, value string) {
	if e.Fields == nil {
		e.Fields = map[string]string{}
	}
	e.Fields[name] = value
}

// SetList sets a list field.
func (e *Entry) SetList(name string, values []string) {
	if e.Lists == nil {
		e.Lists = map[string][]string{}
	}
	e.Lists[name] = values
}

// Delete removes a field of either kind.
func (e *Entry) Delete(name string) {
	delete(e.Fields, name)
	delete(e.Lists, name)
}

// Clone returns a deep copy.
func (e *Entry) Clone() *Entry {
	c := NewEntry(e.Type)
	for k, v := range e.Fields {
		c.Fields[k] = v
	}
	for k, v := range e.Lists {
		c.Lists[k] = append([]string(nil), v...)
	}
	return c
}

// Field kinds. The kind decides validation and whether the field is a list;
// the codec chooses the YAML spelling from the value itself.
const (
	KindString   = "string"    // one line of text
	KindText     = "text"      // multi-line text (prompts, PEM, notes)
	KindBytes    = "bytes"     // any bytes, binary allowed (secret values, file content)
	KindList     = "list"      // list of strings
	KindBool     = "bool"      // true | false
	KindDate     = "date"      // YYYY-MM-DD
	KindTime     = "time"      // RFC 3339 timestamp
	KindDuration = "duration"  // 90d, 12w, 6m, 1y, 36h
	KindURL      = "url"       // absolute URL with scheme and host
	KindHTTPSURL = "https_url" // absolute https URL
	KindEnvName  = "env_name"  // a valid environment variable name
	KindHosts    = "hosts"     // list of host names or origins
	KindAuth     = "auth"      // how a key is sent: bearer | header NAME [PREFIX] | query NAME
)

// Field describes one field of a type.
type Field struct {
	Name     string
	Kind     string
	Secret   bool   // masked in show/textconv, never in metadata caches
	Required bool   // must be present and non-empty
	Derived  bool   // computed by tresor (e.g. ssh public_key); users may omit it
	Pattern  string // Go regexp the value must match (an error when it does not)
	Doc      string // one-line description for `tresor types`
}

// IsList reports whether the field holds a list.
func (f *Field) IsList() bool { return f.Kind == KindList || f.Kind == KindHosts }

// Type describes an entry type, loaded from a data file.
type Type struct {
	Name        string
	Description string
	Primary     string  // the field `get` prints by default
	Env         string  // default environment variable name, "" for none
	RotateEvery string  // default rotation period, "" for none (the vault default applies), or "never"
	MaxSize     int     // limit in bytes for the primary field, 0 for the default
	Check       string  // whole-entry check: database_url, ssh_key, certificate, oauth, prompt, ""
	Fields      []Field // declared fields, then the common ones, in document order

	// NoEnv says entries of this type get an environment variable name only
	// from their own env field, never from a default or their name: prompts,
	// memories and snippets are not meant for a process environment.
	NoEnv bool
}

// Auth says how a service's key is sent on an HTTP request.
type Auth struct {
	Header string // header name, e.g. Authorization
	Prefix string // prefix before the key in the header, e.g. "Bearer "
	Query  string // query parameter name, when the key goes in the URL instead
}

// Service is one entry of the service catalogue.
type Service struct {
	Name    string
	Env     string   // default environment variable name, e.g. OPENAI_API_KEY
	Hosts   []string // hosts the key may be sent to
	Auth    Auth
	Pattern string // Go regexp a key of this service matches (a warning when not)
	Doc     string

	// Aliases are other names for the service in entry names (gemini for google).
	Aliases []string
	// EnvAliases are other variable names tools read the key from (GH_TOKEN).
	EnvAliases []string

	prefixes []string // literal prefixes every key matching Pattern starts with ("" if any)
}
