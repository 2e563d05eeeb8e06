package mcpconfig

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tresor-dev/tresor/access"
	"github.com/tresor-dev/tresor/repo"
	"github.com/tresor-dev/tresor/repo/gitdb"
)

// Request is everything `tresor mcp install` needs.
type Request struct {
	App        App
	Location   Location
	ServerName string   // the key of tresor's server in the app's map ("tresor")
	Client     string   // client name in the registry (default: the app's name)
	Scopes     []string // grant scopes
	Reveal     bool
	Write      bool
	Exe        string   // absolute path of the tresor binary
	GlobalArgs []string // flags every tresor invocation needs (--vault DIR, --identity FILE)
	Now        time.Time

	Vault    *repo.Vault
	Author   gitdb.Signature
	Registry *access.Registry
}

// Plan is what install will do, computed without changing anything.
type Plan struct {
	req      Request
	file     *File
	servers  []Server
	Findings []Finding
	Replaces bool // a server of that name is already in the config
	// Reissues is set when the client is registered and active: install
	// gives it a new token (and the grants asked for now) in the same
	// registry write that ends the old token.
	Reissues bool
	inputID  string // VS Code input the new token goes in
	oldInput string // VS Code input the replaced server referred to
}

// Result is what Apply did.
type Result struct {
	Path      string
	TokenMode TokenMode
	// Token is set when the user must hand the token to the app
	// (TokenInput, TokenEnvRef); with TokenInline it is in the file only.
	Token    string
	Moved    []string // vault references written
	Wrapped  []string // servers rewritten as tresor exec wrappers
	Warnings []string
	Reissued bool // an active client got a new token; the old one is revoked
}

// NewPlan loads the app's config and lists the plaintext keys in its other
// servers. It changes nothing.
func NewPlan(req Request) (*Plan, error) {
	if req.ServerName == "" {
		req.ServerName = "tresor"
	}
	if req.Client == "" {
		req.Client = req.App.Name
	}
	if !filepath.IsAbs(req.Exe) {
		return nil, fmt.Errorf("the tresor binary's absolute path is unknown (%q); apps start servers without a working directory", req.Exe)
	}
	if err := access.CheckClientName(req.Client); err != nil {
		return nil, err
	}
	if len(req.Scopes) == 0 {
		return nil, errors.New("at least one --scope is needed (global, project:NAME, device:NAME, mcp:SERVER)")
	}
	for _, s := range req.Scopes {
		if err := access.CheckGrantScope(s); err != nil {
			return nil, err
		}
	}
	list, err := req.Registry.List()
	if err != nil {
		return nil, err
	}
	f, err := Load(req.Location.File, req.App.JSONC)
	if err != nil {
		return nil, err
	}
	p := &Plan{req: req, file: f}
	for _, c := range list {
		if c.Name == req.Client && c.Revoked == nil {
			p.Reissues = true
		}
	}
	// VS Code keeps what it asked for under the input's id: a new token
	// needs a new id, or the editor would keep sending the old one.
	p.inputID = inputBase(req.Client) + "-" + req.Now.UTC().Format("20060102150405")
	p.oldInput = referencedInput(f, append(slices.Clone(req.Location.Base), req.ServerName))
	raw := map[string]Server{}
	if _, err := f.Decode(req.Location.Base, &raw); err != nil {
		return nil, fmt.Errorf("%s: %s is not a map of servers: %v", f.Path, strings.Join(req.Location.Base, "."), err)
	}
	for name, s := range raw {
		s.Name = name
		p.servers = append(p.servers, s)
	}
	sort.Slice(p.servers, func(i, j int) bool { return p.servers[i].Name < p.servers[j].Name })
	_, p.Replaces = raw[req.ServerName]
	cat, err := req.Vault.Catalog()
	if err != nil {
		return nil, err
	}
	p.Findings = FindKeys(cat, p.servers, req.ServerName, func(name string) error {
		_, err := repo.ParseScope(repo.MCP + ":" + name)
		return err
	})
	for i, fd := range p.Findings {
		if !fd.Movable {
			continue
		}
		ref, err := p.ref(fd)
		switch {
		case err != nil:
			p.Findings[i].Movable, p.Findings[i].Reason = false, fmt.Sprintf("%s cannot be an entry name: %v", fd.Var, err)
		case req.Vault.Exists(ref):
			p.Findings[i].Movable, p.Findings[i].Reason = false, ref.String()+" already exists in the vault; compare and remove one by hand"
		}
	}
	// A server is moved whole or not at all: one key it cannot move keeps
	// the others where they are, so the wrapper never half-works.
	stuck := map[string]string{}
	for _, fd := range p.Findings {
		if !fd.Movable && !strings.HasPrefix(fd.Var, "headers.") {
			stuck[fd.Server] = fd.Reason
		}
	}
	for i, fd := range p.Findings {
		if r, ok := stuck[fd.Server]; ok && fd.Movable {
			p.Findings[i].Movable, p.Findings[i].Reason = false, "another key of this server cannot move: "+r
		}
	}
	return p, nil
}

func (p *Plan) ref(fd Finding) (repo.Ref, error) {
	sc, err := repo.ParseScope(repo.MCP + ":" + fd.Server)
	if err != nil {
		return repo.Ref{}, err
	}
	name, err := repo.CleanName(fd.Var)
	if err != nil {
		return repo.Ref{}, err
	}
	return repo.Ref{Scope: sc, Name: name}, nil
}

// Movable is how many findings Apply can move.
func (p *Plan) Movable() int {
	n := 0
	for _, fd := range p.Findings {
		if fd.Movable {
			n++
		}
	}
	return n
}

// Path is the config file the plan writes.
func (p *Plan) Path() string { return p.file.Path }

// Apply does it: with move, the movable keys go into the vault first (one
// commit; nothing else changes if it fails); then the client is registered;
// then the config is written in one atomic replace (the client is revoked
// again if that fails, so no orphan token stays valid).
func (p *Plan) Apply(ctx context.Context, move bool) (*Result, error) {
	req := p.req
	res := &Result{Path: p.file.Path, TokenMode: req.App.tokenMode(req.Location.Name)}

	var wrap []string
	if move && p.Movable() > 0 {
		cat, err := req.Vault.Catalog()
		if err != nil {
			return nil, err
		}
		var puts []repo.Put
		for _, fd := range p.Findings {
			if !fd.Movable {
				continue
			}
			ref, _ := p.ref(fd)
			puts = append(puts, repo.Put{Ref: ref, Entry: fd.Entry(cat)})
			res.Moved = append(res.Moved, ref.String())
			if !slices.Contains(wrap, fd.Server) {
				wrap = append(wrap, fd.Server)
			}
		}
		prepared, err := req.Vault.Prepare(puts)
		if err != nil {
			return nil, fmt.Errorf("moving keys: %w (nothing changed)", err)
		}
		for _, pr := range prepared {
			for _, w := range pr.Warnings {
				res.Warnings = append(res.Warnings, pr.Ref.String()+": "+w)
			}
		}
		msg := repo.Message{Op: "import", Entries: res.Moved, ValueChanged: true,
			Summary: fmt.Sprintf("import %d keys from %s's MCP config", len(res.Moved), req.App.Name)}
		if err := req.Vault.Commit(ctx, prepared, msg, req.Author); err != nil {
			return nil, fmt.Errorf("moving keys: %w (nothing changed)", err)
		}
	}

	// One registry write swaps the token (an active client's old one ends
	// there); if the config cannot be written, the registry is put back, so
	// the user sees either the old config and token or the new ones.
	token, restore, err := req.Registry.Reissue(req.Client, req.Scopes, req.Reveal, req.Write, req.Now)
	if err != nil {
		return nil, fmt.Errorf("%w%s", err, movedNote(res))
	}
	err = p.build(p.file, token, wrap, res)
	if err == nil {
		err = p.file.Save()
	}
	if err != nil {
		if rerr := restore(); rerr != nil {
			return nil, fmt.Errorf("%w; and putting client %s back failed: %v%s", err, req.Client, rerr, movedNote(res))
		}
		return nil, fmt.Errorf("%w (client %s is as it was%s)", err, req.Client, movedNote(res))
	}
	res.Reissued = p.Reissues
	if res.TokenMode != TokenInline {
		res.Token = token
	}
	if res.TokenMode == TokenInline && p.file.Mode()&0o077 != 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%s holds the client token and is readable by others (mode %04o); chmod 600 it", p.file.Path, p.file.Mode()))
	}
	return res, nil
}

func movedNote(res *Result) string {
	if len(res.Moved) == 0 {
		return ""
	}
	return fmt.Sprintf("; the %d keys moved into the vault stay there, the config still holds them", len(res.Moved))
}

// serverEntry is tresor's own server, fields in the order apps document.
type serverEntry struct {
	Type    string            `json:"type,omitempty"`
	Command string            `json:"command"`
	Args    []string          `json:"args"`
	Env     map[string]string `json:"env,omitempty"`
}

// promptInput is a VS Code input the editor prompts for and keeps secret.
type promptInput struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	Description string `json:"description"`
	Password    bool   `json:"password"`
}

// serverArgs are the arguments of tresor's own server.
func (p *Plan) serverArgs() []string {
	return append(slices.Clone(p.req.GlobalArgs), "mcp", "serve")
}

// Preview returns the config as Apply(move) would write it, with a
// placeholder instead of the token, and changes nothing.
func (p *Plan) Preview(move bool) ([]byte, error) {
	f := *p.file
	f.doc = p.file.doc.Clone()
	var wrap []string
	if move {
		for _, fd := range p.Findings {
			if fd.Movable && !slices.Contains(wrap, fd.Server) {
				wrap = append(wrap, fd.Server)
			}
		}
	}
	res := &Result{TokenMode: p.req.App.tokenMode(p.req.Location.Name)}
	if err := p.build(&f, "<token, shown once by mcp install>", wrap, res); err != nil {
		return nil, err
	}
	return f.Bytes(), nil
}

// build changes f: tresor's server, the VS Code input, the wrapped servers.
func (p *Plan) build(f *File, token string, wrap []string, res *Result) error {
	req := p.req
	entry := serverEntry{Command: req.Exe, Args: p.serverArgs()}
	if req.App.TypeField {
		entry.Type = "stdio"
	}
	switch res.TokenMode {
	case TokenInline:
		entry.Env = map[string]string{"TRESOR_TOKEN": token}
	case TokenEnvRef:
		entry.Env = map[string]string{"TRESOR_TOKEN": req.App.envRef("TRESOR_TOKEN")}
	case TokenInput:
		id := p.inputID
		entry.Env = map[string]string{"TRESOR_TOKEN": "${input:" + id + "}"}
		var inputs []map[string]any
		if _, err := f.Decode([]string{"inputs"}, &inputs); err != nil {
			return err
		}
		removeInputs(f, req.Client, p.oldInput)
		err := f.Append([]string{"inputs"}, promptInput{
			Type: "promptString", ID: id, Password: true,
			Description: "tresor client token for " + req.Client + " (printed once by tresor mcp install)",
		})
		if err != nil {
			return err
		}
	}
	base := req.Location.Base
	if err := f.Set(append(slices.Clone(base), req.ServerName), entry); err != nil {
		return err
	}
	for _, name := range wrap {
		var s Server
		for _, srv := range p.servers {
			if srv.Name == name {
				s = srv
			}
		}
		path := append(slices.Clone(base), name)
		args := append(slices.Clone(req.GlobalArgs), "exec", "--scope", repo.MCP+":"+name, "--", s.Command)
		args = append(args, s.Args...)
		if err := f.Set(append(slices.Clone(path), "command"), req.Exe); err != nil {
			return err
		}
		if err := f.Set(append(slices.Clone(path), "args"), args); err != nil {
			return err
		}
		left := 0
		for _, fd := range p.Findings {
			if fd.Server == name && fd.Movable {
				f.Remove(append(slices.Clone(path), "env", fd.Var))
			}
		}
		for v := range s.Env {
			if !slices.ContainsFunc(p.Findings, func(fd Finding) bool { return fd.Server == name && fd.Var == v && fd.Movable }) {
				left++
			}
		}
		if left == 0 {
			f.Remove(append(slices.Clone(path), "env"))
		}
		res.Wrapped = append(res.Wrapped, name)
	}
	return nil
}

// Removal is what Uninstall did.
type Removal struct {
	Path    string
	Server  bool // tresor's server was in the config and is gone
	Input   bool // VS Code's token input was removed
	Revoked bool // the client was active and is now revoked
}

// Uninstall revokes the client (first: a token must not outlive its
// config entry) and removes tresor's server, and VS Code's token input,
// from the config. Servers wrapped with tresor exec stay wrapped: their
// keys are in the vault now. A missing server or client is not an error.
func Uninstall(req Request) (*Removal, error) {
	if req.ServerName == "" {
		req.ServerName = "tresor"
	}
	if req.Client == "" {
		req.Client = req.App.Name
	}
	f, err := Load(req.Location.File, req.App.JSONC)
	if err != nil {
		return nil, err
	}
	out := &Removal{Path: f.Path}
	list, err := req.Registry.List()
	if err != nil {
		return nil, err
	}
	for _, c := range list {
		if c.Name == req.Client && c.Revoked == nil {
			if err := req.Registry.Revoke(req.Client, req.Now); err != nil {
				return nil, err
			}
			out.Revoked = true
		}
	}
	path := append(slices.Clone(req.Location.Base), req.ServerName)
	ref := referencedInput(f, path)
	if f.find(path) != nil {
		f.Remove(path)
		out.Server = true
	}
	if req.App.tokenMode(req.Location.Name) == TokenInput {
		out.Input = removeInputs(f, req.Client, ref)
	}
	if !out.Server && !out.Input {
		return out, nil
	}
	if err := f.Save(); err != nil {
		return nil, err
	}
	return out, nil
}

// inputBase is the id of a client's VS Code token input before any
// re-install, and the prefix of the ids install writes.
func inputBase(client string) string { return "tresor-token-" + client }

// referencedInput is the input id tresor's server at path takes its token
// from ("${input:ID}"), or "".
func referencedInput(f *File, path []string) string {
	var env map[string]any
	if ok, err := f.Decode(append(slices.Clone(path), "env"), &env); !ok || err != nil {
		return ""
	}
	v, _ := env["TRESOR_TOKEN"].(string)
	id, ok := strings.CutPrefix(v, "${input:")
	if !ok || !strings.HasSuffix(id, "}") {
		return ""
	}
	return strings.TrimSuffix(id, "}")
}

// removeInputs removes the client's token inputs: the one tresor's server
// referred to and the one of the client's original id, and the inputs
// array itself when that leaves it empty. It reports whether any went.
func removeInputs(f *File, client, referenced string) bool {
	removed := false
	for f.RemoveElement([]string{"inputs"}, func(v map[string]any) bool {
		id, _ := v["id"].(string)
		return id == inputBase(client) || (referenced != "" && id == referenced)
	}) {
		removed = true
	}
	if removed {
		f.RemoveEmptyArray([]string{"inputs"})
	}
	return removed
}
