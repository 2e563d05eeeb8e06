package schemas

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// maxTypeFile caps a vault-specific type file; type files are small and a
// vault pulled from a remote is not trusted to be reasonable.
const maxTypeFile = 64 << 10

// typeDoc is the YAML form of a type file.
type typeDoc struct {
	Name        string     `yaml:"name"`
	Description string     `yaml:"description"`
	Primary     string     `yaml:"primary"`
	Env         string     `yaml:"env"`
	NoEnv       bool       `yaml:"no_env"`
	RotateEvery string     `yaml:"rotate_every"`
	MaxSize     int        `yaml:"max_size"`
	Check       string     `yaml:"check"`
	Fields      []fieldDoc `yaml:"fields"`
}

// fieldDoc is the YAML form of one field in a type file or common.yaml.
type fieldDoc struct {
	Name     string `yaml:"name"`
	Kind     string `yaml:"kind"`
	Secret   bool   `yaml:"secret"`
	Required bool   `yaml:"required"`
	Derived  bool   `yaml:"derived"`
	Pattern  string `yaml:"pattern"`
	Doc      string `yaml:"doc"`
}

// commonDoc is the YAML form of common.yaml.
type commonDoc struct {
	Fields []fieldDoc `yaml:"fields"`
}

// servicesDoc is the YAML form of services.yaml.
type servicesDoc struct {
	Services []serviceDoc `yaml:"services"`
}

type serviceDoc struct {
	Name       string   `yaml:"name"`
	Doc        string   `yaml:"doc"`
	Aliases    []string `yaml:"aliases"`
	Env        string   `yaml:"env"`
	EnvAliases []string `yaml:"env_aliases"`
	Hosts      []string `yaml:"hosts"`
	Auth       authDoc  `yaml:"auth"`
	Pattern    string   `yaml:"pattern"`
}

type authDoc struct {
	Header string `yaml:"header"`
	Prefix string `yaml:"prefix"`
	Query  string `yaml:"query"`
}

// fileError is an error in a data file: the file, the YAML path or position,
// and what is wrong.
type fileError struct {
	file, where, msg string
}

func (e *fileError) Error() string { return e.file + ": " + e.where + ": " + e.msg }

var (
	kinds = []string{KindString, KindText, KindBytes, KindList, KindBool, KindDate, KindTime,
		KindDuration, KindURL, KindHTTPSURL, KindEnvName, KindHosts, KindAuth}

	// checkFields names the fields each whole-entry check reads; a type using
	// the check must declare them.
	checkFields = map[string][]string{
		"database_url": {"value"},
		"ssh_key":      {"private_key", "public_key"},
		"certificate":  {"certificate", "private_key"},
		"oauth":        {"refresh_token", "token_url"},
		"prompt":       {"text", "arguments"},
	}

	nameRe = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
)

// decodeFile strictly decodes one YAML document into v. Errors name the file
// and the YAML path at fault. Anchors and aliases are refused: data files have
// no use for them, and alias expansion is unbounded in goccy/go-yaml.
func decodeFile(file string, src []byte, v any) error {
	f, err := parser.ParseBytes(src, 0)
	if err != nil {
		var ye yaml.Error
		if errors.As(err, &ye) {
			return &fileError{file, position(ye), ye.GetMessage()}
		}
		return &fileError{file, "$", "not valid YAML"}
	}
	if len(f.Docs) != 1 || f.Docs[0].Body == nil {
		if len(f.Docs) > 1 {
			return &fileError{file, "$", "more than one YAML document"}
		}
		return &fileError{file, "$", "empty document"}
	}
	body := f.Docs[0].Body
	var bad ast.Node
	ast.Walk(visitor(func(n ast.Node) bool {
		switch n.(type) {
		case *ast.AnchorNode, *ast.AliasNode:
			if bad == nil {
				bad = n
			}
		}
		return bad == nil
	}), body)
	if bad != nil {
		return &fileError{file, pathOrRoot(bad.GetPath()), "anchors and aliases are not allowed"}
	}
	err = yaml.NodeToValue(body, v, yaml.DisallowUnknownField())
	if err == nil {
		return nil
	}
	var ye yaml.Error
	if !errors.As(err, &ye) {
		return &fileError{file, "$", err.Error()}
	}
	where := position(ye)
	if p, ok := pathOfToken(body, ye.GetToken()); ok {
		where = p
	}
	msg := ye.GetMessage()
	var te *yaml.TypeError
	if errors.As(err, &te) && te.DstType != nil {
		msg = "wrong type: want " + describeGoType(te.DstType)
	}
	return &fileError{file, where, msg}
}

// pathOfToken finds the YAML path of the node holding tok, the token a
// decode error points at.
func pathOfToken(body ast.Node, tok *token.Token) (path string, found bool) {
	if tok == nil {
		return "", false
	}
	ast.Walk(visitor(func(n ast.Node) bool {
		if !found && n.GetToken() == tok {
			path, found = pathOrRoot(n.GetPath()), true
		}
		return !found
	}), body)
	return path, found
}

// visitor adapts a function to ast.Visitor; returning false stops descent.
type visitor func(ast.Node) bool

func (v visitor) Visit(n ast.Node) ast.Visitor {
	if v(n) {
		return v
	}
	return nil
}

func position(e yaml.Error) string {
	if t := e.GetToken(); t != nil && t.Position != nil {
		return fmt.Sprintf("line %d column %d", t.Position.Line, t.Position.Column)
	}
	return "$"
}

func pathOrRoot(p string) string {
	if p == "" {
		return "$"
	}
	return p
}

func describeGoType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64:
		return "a whole number"
	case reflect.Slice:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "a mapping"
	}
	return t.String()
}

// parseType decodes and checks one type file. The common fields are appended
// unless the type declares a field of the same name.
func (c *Catalog) parseType(file string, src []byte, common []Field) (*Type, error) {
	var d typeDoc
	if err := decodeFile(file, src, &d); err != nil {
		return nil, err
	}
	bad := func(where, format string, args ...any) error {
		return &fileError{file, where, fmt.Sprintf(format, args...)}
	}
	if !nameRe.MatchString(d.Name) {
		return nil, bad("$.name", "want a type name of lower-case letters, digits and _, starting with a letter")
	}
	t := &Type{
		Name:        d.Name,
		Description: d.Description,
		Primary:     d.Primary,
		Env:         d.Env,
		NoEnv:       d.NoEnv,
		RotateEvery: d.RotateEvery,
		MaxSize:     d.MaxSize,
		Check:       d.Check,
	}
	if t.Env != "" && !envNameRe.MatchString(t.Env) {
		return nil, bad("$.env", "not a valid environment variable name")
	}
	if t.RotateEvery != "" {
		if err := checkDuration(t.RotateEvery); err != nil {
			return nil, bad("$.rotate_every", "%v", err)
		}
	}
	if t.MaxSize < 0 {
		return nil, bad("$.max_size", "must not be negative")
	}
	fields, err := c.parseFields(file, "$.fields", d.Fields)
	if err != nil {
		return nil, err
	}
	if len(fields) == 0 {
		return nil, bad("$.fields", "a type needs at least one field")
	}
	t.Fields = fields
	for _, f := range common {
		if _, ok := t.Field(f.Name); !ok {
			t.Fields = append(t.Fields, f)
		}
	}
	p, ok := t.Field(t.Primary)
	if !ok {
		return nil, bad("$.primary", "names no field of the type")
	}
	if p.IsList() {
		return nil, bad("$.primary", "the primary field cannot be a list")
	}
	if t.Check != "" {
		need, ok := checkFields[t.Check]
		if !ok {
			return nil, bad("$.check", "unknown check %q (known: %s)", t.Check, strings.Join(sortedKeys(checkFields), ", "))
		}
		for _, n := range need {
			if _, ok := t.Field(n); !ok {
				return nil, bad("$.check", "check %s needs a field named %s", t.Check, n)
			}
		}
	}
	return t, nil
}

// parseFields checks field declarations and compiles their patterns.
func (c *Catalog) parseFields(file, path string, docs []fieldDoc) ([]Field, error) {
	var out []Field
	for i, d := range docs {
		at := fmt.Sprintf("%s[%d]", path, i)
		bad := func(key, format string, args ...any) error {
			return &fileError{file, at + key, fmt.Sprintf(format, args...)}
		}
		switch {
		case !nameRe.MatchString(d.Name):
			return nil, bad(".name", "want a field name of lower-case letters, digits and _, starting with a letter")
		case d.Name == "type" || d.Name == "tresor":
			return nil, bad(".name", "%s is reserved for the entry document itself", d.Name)
		case !slices.Contains(kinds, d.Kind):
			return nil, bad(".kind", "unknown kind %q (known: %s)", d.Kind, strings.Join(kinds, ", "))
		case d.Required && d.Derived:
			return nil, bad(".derived", "a derived field cannot be required")
		}
		for _, prev := range out {
			if prev.Name == d.Name {
				return nil, bad(".name", "field %s is declared twice", d.Name)
			}
		}
		if d.Pattern != "" {
			if _, err := c.compile(d.Pattern); err != nil {
				return nil, bad(".pattern", "not a valid Go regexp: %v", err)
			}
		}
		out = append(out, Field{
			Name: d.Name, Kind: d.Kind, Secret: d.Secret, Required: d.Required,
			Derived: d.Derived, Pattern: d.Pattern, Doc: d.Doc,
		})
	}
	return out, nil
}

// parse decodes and checks the service catalogue.
func (c *serviceSet) parse(file string, src []byte) error {
	var d servicesDoc
	if err := decodeFile(file, src, &d); err != nil {
		return err
	}
	for i, sd := range d.Services {
		at := fmt.Sprintf("$.services[%d]", i)
		bad := func(key, format string, args ...any) error {
			return &fileError{file, at + key, fmt.Sprintf(format, args...)}
		}
		s := &Service{
			Name: sd.Name, Doc: sd.Doc, Env: sd.Env, Hosts: sd.Hosts, Pattern: sd.Pattern,
			Auth:    Auth(sd.Auth),
			Aliases: sd.Aliases, EnvAliases: sd.EnvAliases,
		}
		for j, n := range append([]string{s.Name}, s.Aliases...) {
			key := ".name"
			if j > 0 {
				key = fmt.Sprintf(".aliases[%d]", j-1)
			}
			if !nameRe.MatchString(n) {
				return bad(key, "want a service name of lower-case letters, digits and _, starting with a letter")
			}
			if _, dup := c.byName[n]; dup {
				return bad(key, "service name %s is used twice", n)
			}
			c.byName[n] = s
		}
		for j, n := range append([]string{s.Env}, s.EnvAliases...) {
			key := ".env"
			if j > 0 {
				key = fmt.Sprintf(".env_aliases[%d]", j-1)
			}
			if !envNameRe.MatchString(n) {
				return bad(key, "not a valid environment variable name")
			}
			if other, dup := c.byEnv[n]; dup {
				return bad(key, "variable %s is already used by service %s", n, other.Name)
			}
			c.byEnv[n] = s
		}
		for j, h := range s.Hosts {
			if err := checkHost(h); err != nil {
				return bad(fmt.Sprintf(".hosts[%d]", j), "%v", err)
			}
		}
		if err := s.Auth.check(); err != nil {
			return bad(".auth", "%v", err)
		}
		re, err := regexp.Compile(s.Pattern)
		if err == nil {
			c.patterns[s.Pattern] = re
		}
		if s.Pattern == "" || err != nil {
			return bad(".pattern", "want a valid Go regexp for the service's keys")
		}
		s.prefixes = literalPrefixes(re.String())
		c.order = append(c.order, s)
	}
	return nil
}

// compile compiles a pattern once per catalogue.
func (c *Catalog) compile(pattern string) (*regexp.Regexp, error) {
	if re, ok := c.patterns[pattern]; ok {
		return re, nil
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, err
	}
	c.patterns[pattern] = re
	return re, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
