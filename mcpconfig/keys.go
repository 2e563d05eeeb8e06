package mcpconfig

import (
	"regexp"
	"sort"
	"strings"

	"github.com/tresor-dev/tresor/schemas"
)

// Server is one entry of an app's server map, as far as tresor reads it.
type Server struct {
	Name    string            `json:"-"`
	Type    string            `json:"type,omitempty"`
	Command string            `json:"command,omitempty"`
	Args    []string          `json:"args,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	URL     string            `json:"url,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
}

// Finding is a plaintext credential in another server's config. It never
// prints its value.
type Finding struct {
	Server  string `json:"server"`
	Var     string `json:"var"`               // env variable, or "headers.NAME"
	Type    string `json:"type"`              // guessed entry type
	Service string `json:"service,omitempty"` // guessed service
	Movable bool   `json:"movable"`           // can be moved behind a tresor exec wrapper
	Reason  string `json:"reason,omitempty"`  // why not, when it cannot
	value   string
}

// credentialWord marks a variable name as holding a credential.
var credentialWord = regexp.MustCompile(`(?i)(^|_)(KEY|APIKEY|TOKEN|SECRET|PASSWORD|PASSWD|PASS|PWD|CREDENTIALS?|AUTH|DSN|PAT|PRIVATE)(_|$)`)

// reference matches values that point elsewhere instead of holding a key:
// ${VAR}, ${env:VAR}, ${input:id}, $VAR.
var reference = regexp.MustCompile(`^\$\{[^}]*\}$|^\$[A-Za-z_][A-Za-z0-9_]*$`)

// looksLikeKey decides whether an env value is a plaintext credential: a
// value of a known service's key format, a database URL with a password,
// or a non-trivial value under a credential-sounding name.
func looksLikeKey(cat *schemas.Catalog, name, value string) (typ, service string, ok bool) {
	v := strings.TrimSpace(value)
	if len(v) < 8 || reference.MatchString(v) || strings.Contains(v, "${") {
		return "", "", false
	}
	switch strings.ToLower(v) {
	case "true", "false", "null", "none", "changeme", "your-key-here", "xxxxxxxx":
		return "", "", false
	}
	typ, service = cat.GuessType(name, value)
	switch {
	case typ == "api_key" && service != "",
		typ == "database_url" && strings.Contains(v, "@") && strings.Contains(v[:strings.Index(v, "@")], ":"),
		typ == "ssh_key", typ == "password":
		return typ, service, true
	case credentialWord.MatchString(name):
		return typ, service, true
	}
	return "", "", false
}

// FindKeys lists the plaintext credentials in servers other than skip, by
// server then variable name.
func FindKeys(cat *schemas.Catalog, servers []Server, skip string, validServer func(string) error) []Finding {
	var out []Finding
	for _, s := range servers {
		if s.Name == skip {
			continue
		}
		var found []Finding
		for name, value := range s.Env {
			if typ, svc, ok := looksLikeKey(cat, name, value); ok {
				found = append(found, Finding{Server: s.Name, Var: name, Type: typ, Service: svc, Movable: true, value: value})
			}
		}
		for name, value := range s.Headers {
			v := value
			if _, after, ok := strings.Cut(v, " "); ok && strings.EqualFold(name, "Authorization") {
				v = after
			}
			if typ, svc, ok := looksLikeKey(cat, "TOKEN", v); ok {
				found = append(found, Finding{Server: s.Name, Var: "headers." + name, Type: typ, Service: svc, value: value,
					Reason: "a remote (URL) server: move its header by hand"})
			}
		}
		reason := ""
		switch {
		case s.Command == "":
			reason = "not a local (command) server"
		case isTresor(s.Command, s.Args):
			reason = "already runs through tresor"
		case validServer != nil && validServer(s.Name) != nil:
			reason = "its name cannot be a vault scope (mcp:" + s.Name + ")"
		}
		for i := range found {
			if reason != "" && found[i].Movable {
				found[i].Movable, found[i].Reason = false, reason
			}
		}
		sort.Slice(found, func(i, j int) bool { return found[i].Var < found[j].Var })
		out = append(out, found...)
	}
	return out
}

// isTresor recognises a server that tresor already wraps or serves.
func isTresor(command string, args []string) bool {
	base := strings.ToLower(command)
	if i := strings.LastIndexAny(base, `/\`); i >= 0 {
		base = base[i+1:]
	}
	base = strings.TrimSuffix(base, ".exe")
	return base == "tresor"
}

// Entry builds the vault entry for a finding: its guessed type when that
// validates, else a secret; env set to the variable so `tresor exec`
// exports it under the same name.
func (fd Finding) Entry(cat *schemas.Catalog) *schemas.Entry {
	build := func(typ, service string) *schemas.Entry {
		t, err := cat.Type(typ)
		if err != nil {
			return nil
		}
		e := schemas.NewEntry(typ)
		e.Set(t.Primary, fd.value)
		if service != "" {
			if _, ok := t.Field("service"); ok {
				e.Set("service", service)
			}
		}
		cat.Normalize(e, fd.Var)
		if cat.EnvName(e, fd.Var) != fd.Var {
			e.Set("env", fd.Var)
		}
		if _, err := cat.Validate(e); err != nil {
			return nil
		}
		return e
	}
	if e := build(fd.Type, fd.Service); e != nil {
		return e
	}
	if e := build("secret", ""); e != nil {
		return e
	}
	e := schemas.NewEntry("secret")
	e.Set("value", fd.value)
	e.Set("env", fd.Var)
	return e
}
