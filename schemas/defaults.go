package schemas

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Normalize fills in what an entry leaves to defaults, without overwriting
// anything the user set: an empty Type becomes "secret"; an api_key without a
// service gets the service that lastSegment (the last segment of the entry's
// name) names, by name, alias or environment variable, ignoring case. A
// derived field is the exception: ssh_key's public_key is always recomputed
// from a private_key that parses and is not passphrase protected, so it
// cannot go stale when the key is rotated.
func (c *Catalog) Normalize(e *Entry, lastSegment string) {
	if e == nil {
		return
	}
	if e.Type == "" {
		e.Type = "secret"
	}
	switch e.Type {
	case "api_key":
		if e.Get("service") == "" {
			if s, ok := c.serviceForName(lastSegment); ok {
				e.Set("service", s.Name)
			}
		}
	case "ssh_key":
		key, _, pub, err := parsePrivateKey(e.Get("private_key"))
		if err == nil && key != nil {
			e.Set("public_key", authorizedKey(pub))
		}
	}
}

// serviceForName finds the service an entry name stands for: its name, an
// alias, its env name or an env alias, ignoring case.
func (c *Catalog) serviceForName(name string) (*Service, bool) {
	if s, ok := c.Service(name); ok {
		return s, true
	}
	s, ok := c.svc().byEnv[strings.ToUpper(name)]
	return s, ok
}

// serviceOf returns the catalogue service an entry names in its service
// field, or for an api_key without one, the service lastSegment names.
func (c *Catalog) serviceOf(e *Entry, lastSegment string) (*Service, bool) {
	if name := e.Get("service"); name != "" {
		return c.Service(name)
	}
	if e.Type == "api_key" && lastSegment != "" {
		return c.serviceForName(lastSegment)
	}
	return nil, false
}

// EnvName returns the environment variable an entry is exported as: its env
// field (present but empty: no variable); else its service's default; else its type's default; else
// lastSegment when that is a valid variable name; else "". Types marked
// NoEnv (prompt, memory, snippet) only use the env field. A name that is not
// a valid variable name is never returned, so a hostile env field cannot
// smuggle "A=B" into a child's environment.
func (c *Catalog) EnvName(e *Entry, lastSegment string) string {
	if e == nil {
		return ""
	}
	if v, ok := e.Fields["env"]; ok {
		if ValidEnvName(v) {
			return v
		}
		return ""
	}
	t, known := c.types[cmp.Or(e.Type, "secret")]
	if known && t.NoEnv {
		return ""
	}
	if s, ok := c.serviceOf(e, lastSegment); ok {
		return s.Env
	}
	if known && t.Env != "" {
		return t.Env
	}
	if ValidEnvName(lastSegment) {
		return lastSegment
	}
	return ""
}

// Hosts returns where http_request may send an entry's credential: its hosts
// field when set, else its service's hosts. The result is a fresh slice.
func (c *Catalog) Hosts(e *Entry, lastSegment string) []string {
	if e == nil {
		return nil
	}
	if h, ok := e.Lists["hosts"]; ok {
		return slices.Clone(h)
	}
	if s, ok := c.serviceOf(e, lastSegment); ok {
		return slices.Clone(s.Hosts)
	}
	return nil
}

// Auth returns how http_request sends an entry's primary value: its auth
// field, else its service's auth, else "Authorization: Bearer". It is an
// error when the auth field does not parse or the service has no way to take
// a key in a request (AWS signs requests instead).
func (c *Catalog) Auth(e *Entry, lastSegment string) (Auth, error) {
	if e == nil {
		return Auth{}, fmt.Errorf("no entry")
	}
	if v, ok := e.Fields["auth"]; ok && v != "" {
		a, err := ParseAuth(v)
		if err != nil {
			return Auth{}, &ValidationError{Path: "$.auth", Msg: err.Error()}
		}
		return a, nil
	}
	if s, ok := c.serviceOf(e, lastSegment); ok {
		if s.Auth == (Auth{}) {
			return Auth{}, fmt.Errorf("service %s does not take its key in a header or query parameter; set the entry's auth field", s.Name)
		}
		return s.Auth, nil
	}
	return Auth{Header: "Authorization", Prefix: "Bearer "}, nil
}

// RotateEvery returns an entry's rotation period as written: its
// rotate_every field, else its type's default. "" means the vault's default
// applies, Never that the entry is never due; anything else ParseDuration
// reads (Validate has checked it).
func (c *Catalog) RotateEvery(e *Entry) string {
	if e == nil {
		return ""
	}
	if v := e.Get("rotate_every"); v != "" {
		return v
	}
	if t, ok := c.types[cmp.Or(e.Type, "secret")]; ok {
		return t.RotateEvery
	}
	return ""
}
