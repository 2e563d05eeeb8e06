package repo

import (
	"fmt"
	"net/url"
	"strings"
)

// Scope kinds.
const (
	Global  = "global"
	Project = "project"
	Device  = "device"
	MCP     = "mcp"
)

// Scope says who an entry is for: everyone (global), one project, one
// device, or one MCP server.
type Scope struct {
	Kind string // Global, Project, Device or MCP
	Name string // project, device or server name; "" for Global
}

// GlobalScope is the scope of entries shared by every project.
var GlobalScope = Scope{Kind: Global}

// scopeDirs maps a scope kind to its top-level directory.
var scopeDirs = map[string]string{Global: "global", Project: "projects", Device: "devices", MCP: "mcp"}

// ParseScope parses "global", "project:<p>", "device:<d>" or "mcp:<s>".
func ParseScope(s string) (Scope, error) {
	if s == Global {
		return GlobalScope, nil
	}
	kind, name, ok := strings.Cut(s, ":")
	if !ok || (kind != Project && kind != Device && kind != MCP) {
		return Scope{}, fmt.Errorf("invalid scope %q: want global, project:NAME, device:NAME or mcp:SERVER", s)
	}
	n, err := CleanSegment(kind, name)
	if err != nil {
		return Scope{}, fmt.Errorf("invalid scope %q: %w", s, err)
	}
	return Scope{Kind: kind, Name: n}, nil
}

// String is the scope in ParseScope syntax.
func (s Scope) String() string {
	if s.Kind == Global {
		return Global
	}
	return s.Kind + ":" + s.Name
}

// Dir is the scope's directory in the vault ("global", "projects/mercury").
func (s Scope) Dir() string {
	if s.Kind == Global {
		return "global"
	}
	return scopeDirs[s.Kind] + "/" + encodeSegment(s.Name)
}

// Ref names one entry everywhere: CLI, templates, MCP, logs.
type Ref struct {
	Scope Scope
	Name  string // clean entry name within the scope
}

// String is the reference: scope path plus name, e.g.
// "projects/mercury/openai" or "global/Shopping/Papa Johns".
func (r Ref) String() string {
	if r.Scope.Kind == Global {
		return "global/" + r.Name
	}
	return scopeDirs[r.Scope.Kind] + "/" + r.Scope.Name + "/" + r.Name
}

// URL is the tresor:// form with percent-encoding.
func (r Ref) URL() string {
	segs := strings.Split(r.String(), "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return "tresor://" + strings.Join(segs, "/")
}

// Path is the entry file's path relative to the vault root.
func (r Ref) Path() string { return r.Scope.Dir() + "/" + NamePath(r.Name) }

// IsRef reports whether s starts like a full reference (a scope directory
// followed by a name), as opposed to a bare name.
func IsRef(s string) bool {
	for _, d := range []string{"global/", "projects/", "devices/", "mcp/", "tresor://"} {
		if strings.HasPrefix(s, d) {
			return true
		}
	}
	return false
}

// ParseRef parses a full reference ("global/openai",
// "projects/mercury/db", "tresor://mcp/github/token").
func ParseRef(s string) (Ref, error) {
	orig := s
	if rest, ok := strings.CutPrefix(s, "tresor://"); ok {
		segs := strings.Split(rest, "/")
		for i, seg := range segs {
			u, err := url.PathUnescape(seg)
			if err != nil {
				return Ref{}, fmt.Errorf("invalid reference %q: bad percent-encoding", orig)
			}
			segs[i] = u
		}
		s = strings.Join(segs, "/")
	}
	top, rest, ok := strings.Cut(s, "/")
	if !ok {
		return Ref{}, fmt.Errorf("invalid reference %q: want global/NAME, projects/P/NAME, devices/D/NAME or mcp/S/NAME", orig)
	}
	var sc Scope
	switch top {
	case "global":
		sc = GlobalScope
	case "projects", "devices", "mcp":
		kind := map[string]string{"projects": Project, "devices": Device, "mcp": MCP}[top]
		name, r2, ok := strings.Cut(rest, "/")
		if !ok {
			return Ref{}, fmt.Errorf("invalid reference %q: missing entry name after %s/%s", orig, top, name)
		}
		n, err := CleanSegment(kind, name)
		if err != nil {
			return Ref{}, fmt.Errorf("invalid reference %q: %w", orig, err)
		}
		sc, rest = Scope{Kind: kind, Name: n}, r2
	default:
		return Ref{}, fmt.Errorf("invalid reference %q: unknown scope directory %q", orig, top)
	}
	name, err := CleanName(rest)
	if err != nil {
		return Ref{}, err
	}
	return Ref{Scope: sc, Name: name}, nil
}

// PathRef maps a vault-relative file path back to its reference. ok is false
// for files that are not entries.
func PathRef(p string) (Ref, bool) {
	top, rest, ok := strings.Cut(p, "/")
	if !ok {
		return Ref{}, false
	}
	var sc Scope
	switch top {
	case "global":
		sc = GlobalScope
	case "projects", "devices", "mcp":
		dir, r2, ok := strings.Cut(rest, "/")
		if !ok {
			return Ref{}, false
		}
		name, err := decodeSegment(dir)
		if err != nil {
			return Ref{}, false
		}
		if _, err := CleanSegment(top, name); err != nil {
			return Ref{}, false
		}
		kind := map[string]string{"projects": Project, "devices": Device, "mcp": MCP}[top]
		sc, rest = Scope{Kind: kind, Name: name}, r2
	default:
		return Ref{}, false
	}
	name, ok := PathName(rest)
	if !ok {
		return Ref{}, false
	}
	return Ref{Scope: sc, Name: name}, true
}

// MisplacedEntry reports whether p, a committed file that PathRef refuses,
// decodes to a valid entry name whose file is elsewhere: a directory
// segment ending in ".age" written unescaped (before names.go escaped it),
// or an escape where none is needed. It returns the entry and its proper
// path, for doctor to suggest the rename.
func MisplacedEntry(p string) (Ref, bool) {
	if _, ok := PathRef(p); ok || !strings.HasSuffix(p, Ext) {
		return Ref{}, false
	}
	top, rest, ok := strings.Cut(p, "/")
	if !ok {
		return Ref{}, false
	}
	scopeDir := top
	if top != "global" {
		dir, r2, ok := strings.Cut(rest, "/")
		if !ok {
			return Ref{}, false
		}
		scopeDir, rest = top+"/"+dir, r2
	}
	segs := strings.Split(strings.TrimSuffix(rest, Ext), "/")
	for i, s := range segs {
		d, err := decodeSegment(s)
		if err != nil || strings.Contains(d, "/") {
			return Ref{}, false
		}
		segs[i] = d
	}
	name := strings.Join(segs, "/")
	if c, err := CleanName(name); err != nil || c != name {
		return Ref{}, false
	}
	r, ok := PathRef(scopeDir + "/" + NamePath(name))
	return r, ok
}
