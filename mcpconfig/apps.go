// Package mcpconfig writes AI apps' MCP server configs for `tresor mcp
// install`: where each app keeps its config, merging tresor's server into
// it without disturbing anything else (other servers, unknown keys, key
// order, comments in VS Code's JSONC), finding plaintext keys in the other
// servers' env blocks, and moving them into the vault behind `tresor exec`
// wrappers.
package mcpconfig

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// App is an MCP client whose config tresor knows how to write.
type App struct {
	Name      string
	Key       string   // top-level key of the server map: "mcpServers" or VS Code's "servers"
	JSONC     bool     // the file may hold comments and trailing commas (VS Code)
	TypeField bool     // entries carry "type": "stdio"
	Locations []string // where the config can live; the first is the default
}

// Apps are the supported apps, by name.
var Apps = map[string]App{
	"claude-code":    {Name: "claude-code", Key: "mcpServers", TypeField: true, Locations: []string{"user", "local", "project"}},
	"claude-desktop": {Name: "claude-desktop", Key: "mcpServers", Locations: []string{"user"}},
	"cursor":         {Name: "cursor", Key: "mcpServers", Locations: []string{"user", "project"}},
	"vscode":         {Name: "vscode", Key: "servers", JSONC: true, TypeField: true, Locations: []string{"user", "project"}},
}

// Lookup returns the app called name.
func Lookup(name string) (App, error) {
	a, ok := Apps[name]
	if !ok {
		names := make([]string, 0, len(Apps))
		for n := range Apps {
			names = append(names, n)
		}
		slices.Sort(names)
		return App{}, fmt.Errorf("unknown app %q: want one of %s", name, strings.Join(names, ", "))
	}
	return a, nil
}

// PathEnv is what config locations depend on.
type PathEnv struct {
	GOOS          string
	Home          string
	XDGConfigHome string // "" means ~/.config
	AppData       string // Windows %APPDATA%
	ProjectDir    string // the project a project or local config belongs to (absolute)
}

func (e PathEnv) configHome() string {
	if e.XDGConfigHome != "" {
		return e.XDGConfigHome
	}
	return filepath.Join(e.Home, ".config")
}

// appSupport is where macOS apps and Windows roaming apps keep settings.
func (e PathEnv) appSupport(linux string) string {
	switch e.GOOS {
	case "darwin":
		return filepath.Join(e.Home, "Library", "Application Support")
	case "windows":
		if e.AppData != "" {
			return e.AppData
		}
		return filepath.Join(e.Home, "AppData", "Roaming")
	}
	return linux
}

// Location is where one app's server map lives: a file and the path of
// keys down to the map.
type Location struct {
	Name string   // user, local, project
	File string   // absolute path
	Base []string // keys from the document root to the server map
}

// Locate returns where app keeps its servers at location loc ("" for the
// app's default). configOverride, when set, replaces the file but keeps the
// keys (for tests and unusual installs).
func (a App) Locate(loc string, e PathEnv, configOverride string) (Location, error) {
	if loc == "" {
		loc = a.Locations[0]
	}
	if !slices.Contains(a.Locations, loc) {
		return Location{}, fmt.Errorf("%s has no %q config location: want %s", a.Name, loc, strings.Join(a.Locations, " or "))
	}
	if (loc == "project" || loc == "local") && !filepath.IsAbs(e.ProjectDir) {
		return Location{}, fmt.Errorf("%s config needs a project directory", loc)
	}
	if e.Home == "" && configOverride == "" && loc != "project" {
		return Location{}, fmt.Errorf("cannot find the home directory for %s's config (set HOME or pass --config)", a.Name)
	}
	l := Location{Name: loc, Base: []string{a.Key}}
	switch a.Name + "/" + loc {
	case "claude-code/user":
		l.File = filepath.Join(e.Home, ".claude.json")
	case "claude-code/local":
		l.File = filepath.Join(e.Home, ".claude.json")
		l.Base = []string{"projects", e.ProjectDir, a.Key}
	case "claude-code/project":
		l.File = filepath.Join(e.ProjectDir, ".mcp.json")
	case "claude-desktop/user":
		l.File = filepath.Join(e.appSupport(e.configHome()), "Claude", "claude_desktop_config.json")
	case "cursor/user":
		l.File = filepath.Join(e.Home, ".cursor", "mcp.json")
	case "cursor/project":
		l.File = filepath.Join(e.ProjectDir, ".cursor", "mcp.json")
	case "vscode/user":
		l.File = filepath.Join(e.appSupport(e.configHome()), "Code", "User", "mcp.json")
	case "vscode/project":
		l.File = filepath.Join(e.ProjectDir, ".vscode", "mcp.json")
	}
	if configOverride != "" {
		l.File = configOverride
	}
	return l, nil
}

// TokenMode says how the client token reaches `tresor mcp serve`.
type TokenMode string

const (
	// TokenInline writes TRESOR_TOKEN into the server's env in the file:
	// the file is private to the user (mode kept, 0600 when created).
	TokenInline TokenMode = "inline"
	// TokenInput makes VS Code prompt for the token once and keep it in
	// its secret storage (an "inputs" promptString with password: true).
	TokenInput TokenMode = "input"
	// TokenEnvRef writes a reference to the TRESOR_TOKEN environment
	// variable: project files are committed and shared, so they never
	// hold a token.
	TokenEnvRef TokenMode = "env"
)

// tokenMode picks the least exposed place each app supports.
func (a App) tokenMode(loc string) TokenMode {
	switch {
	case a.Name == "vscode":
		return TokenInput
	case loc == "project":
		return TokenEnvRef
	}
	return TokenInline
}

// envRef is how a project file refers to an environment variable.
func (a App) envRef(name string) string {
	if a.Name == "cursor" {
		return "${env:" + name + "}"
	}
	return "${" + name + "}"
}
