package mcpserve

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tresor-dev/tresor/access"
	"github.com/tresor-dev/tresor/repo"
	"github.com/tresor-dev/tresor/schemas"
)

// Tool names. They are fixed, never built from entry names, and match
// ^[a-zA-Z0-9_-]{1,64}$ (the strictest client rule).
const (
	ToolList     = "list_credentials"
	ToolHTTP     = "http_request"
	ToolGet      = "get_credential"
	ToolRemember = "remember"
	ToolRecall   = "recall"
	ToolForget   = "forget"
)

// Memory, prompt and snippet types are served as prompts and resources.
const (
	typeMemory  = "memory"
	typePrompt  = "prompt"
	typeSnippet = "snippet"
)

// Limits on tool arguments.
const (
	maxMemoryText = 64 << 10
	defaultRecall = 20
	maxRecall     = 200
	maxArgName    = 512
)

// ListIn is list_credentials' arguments.
type ListIn struct {
	Scope string `json:"scope,omitempty" jsonschema:"only this scope: global, project:NAME, device:NAME or mcp:SERVER"`
	Type  string `json:"type,omitempty" jsonschema:"only entries of this type (api_key, oauth, password, ...)"`
}

// Credential is one entry's metadata; it never holds a value.
type Credential struct {
	Ref         string   `json:"ref"`
	Type        string   `json:"type"`
	Service     string   `json:"service,omitempty"`
	Description string   `json:"description,omitempty"`
	Env         string   `json:"env,omitempty"`
	Hosts       []string `json:"hosts,omitempty"`
	LastRotated string   `json:"last_rotated,omitempty"`
	Status      string   `json:"status"`
}

// ListOut is list_credentials' result.
type ListOut struct {
	Credentials []Credential `json:"credentials"`
}

// GetIn is get_credential's arguments.
type GetIn struct {
	Credential string `json:"credential,omitempty" jsonschema:"the entry: a reference like projects/mercury/openai, or a bare name looked up in the scopes this client is granted, most specific first (project, device, global)"`
	Name       string `json:"name,omitempty" jsonschema:"the same as credential (accepted for clients that say name)"`
	Field      string `json:"field,omitempty" jsonschema:"a field other than the entry's primary one"`
}

// GetOut is get_credential's result.
type GetOut struct {
	Value string `json:"value"`
	// ValueBase64 holds a value that is not UTF-8 text (Value is then "").
	ValueBase64 string `json:"value_base64,omitempty"`
}

// RememberIn is remember's arguments.
type RememberIn struct {
	Text string   `json:"text" jsonschema:"what to remember"`
	Name string   `json:"name,omitempty" jsonschema:"entry name for the memory (default: memory/<time>)"`
	Tags []string `json:"tags,omitempty" jsonschema:"labels for recall"`
}

// RememberOut is remember's result.
type RememberOut struct {
	Ref string `json:"ref"`
}

// RecallIn is recall's arguments.
type RecallIn struct {
	Query string   `json:"query,omitempty" jsonschema:"words to look for in memories (case-insensitive)"`
	Tags  []string `json:"tags,omitempty" jsonschema:"only memories with all of these tags"`
	Limit int      `json:"limit,omitempty" jsonschema:"at most this many memories (default 20)"`
}

// Memory is one remembered text.
type Memory struct {
	Ref  string   `json:"ref"`
	Text string   `json:"text"`
	Tags []string `json:"tags"`
}

// RecallOut is recall's result.
type RecallOut struct {
	Memories []Memory `json:"memories"`
}

// ForgetIn is forget's arguments.
type ForgetIn struct {
	Ref string `json:"ref" jsonschema:"the memory to remove"`
}

// ForgetOut is forget's result.
type ForgetOut struct {
	Ref       string `json:"ref"`
	Forgotten bool   `json:"forgotten"`
}

func boolp(b bool) *bool { return &b }

// addTools registers the fixed tool set on a client's server.
func (cs *clientServer) addTools() {
	addListingTool(cs.server, &mcp.Tool{
		Name:        ToolList,
		Description: "List the credentials this client may see: reference, type, service, description, environment variable name, allowed hosts, last rotation and status. Never returns a value.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, OpenWorldHint: boolp(false)},
	}, cs.listCredentials)
	mcp.AddTool(cs.server, &mcp.Tool{
		Name:        ToolGet,
		Description: "Return the raw value of a credential. Only for clients granted reveal; prefer http_request, which never shows the value.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, OpenWorldHint: boolp(false)},
	}, cs.getCredential)
	mcp.AddTool(cs.server, &mcp.Tool{
		Name:        ToolRemember,
		Description: "Save a memory (text and tags) in the vault, as one commit naming this client.",
		Annotations: &mcp.ToolAnnotations{DestructiveHint: boolp(false), OpenWorldHint: boolp(false)},
	}, cs.remember)
	addListingTool(cs.server, &mcp.Tool{
		Name:        ToolRecall,
		Description: "Search the memories this client may see, by words and tags.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, OpenWorldHint: boolp(false)},
	}, cs.recall)
	mcp.AddTool(cs.server, &mcp.Tool{
		Name:        ToolForget,
		Description: "Remove a memory from the vault (history keeps it).",
		Annotations: &mcp.ToolAnnotations{DestructiveHint: boolp(true), IdempotentHint: true, OpenWorldHint: boolp(false)},
	}, cs.forget)
	cs.addHTTPTool()
}

// begin authenticates the client again for one call: a revoked client is
// refused here, whatever its session thinks. The refusal is logged.
func (cs *clientServer) begin(op string) (*access.Client, error) {
	c, err := cs.svc.authenticate(cs.token)
	if err != nil {
		cs.svc.record(access.Record{Client: cs.name, Op: op, Result: access.ResultDenied, Detail: oneLine(err.Error())})
		return nil, err
	}
	return c, nil
}

// deny logs a refused call and returns its one-line reason.
func (cs *clientServer) deny(op string, ref string, reason string) error {
	if err := cs.svc.record(access.Record{Client: cs.name, Op: op, Ref: ref, Result: access.ResultDenied, Detail: reason}); err != nil {
		return err
	}
	if ref != "" {
		return fmt.Errorf("%s: %s", ref, reason)
	}
	return errors.New(reason)
}

// fail logs a call that failed for another reason.
func (cs *clientServer) fail(op string, ref string, err error) error {
	msg := oneLine(err.Error())
	if lerr := cs.svc.record(access.Record{Client: cs.name, Op: op, Ref: ref, Result: access.ResultError, Detail: clip(msg, 200)}); lerr != nil {
		return lerr
	}
	return errors.New(msg)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// Bare-name ranks, most specific first: the project the server runs in,
// other projects, this device, other devices, global.
const (
	rankContextProject = iota
	rankProject
	rankOwnDevice
	rankDevice
	rankGlobal
	rankNone // mcp:<server> entries are reached by reference only
)

func (cs *clientServer) nameRank(sc repo.Scope) int {
	switch sc.Kind {
	case repo.Project:
		if sc.Name == cs.svc.opt.Project {
			return rankContextProject
		}
		return rankProject
	case repo.Device:
		if sc.Name == cs.svc.opt.Vault.Device {
			return rankOwnDevice
		}
		return rankDevice
	case repo.Global:
		return rankGlobal
	}
	return rankNone
}

// bareCandidates returns the entries a bare name may mean: in the server's
// project, device and global scopes, and in every scope the client holds a
// grant on (every scope for a client granted "*").
func (cs *clientServer) bareCandidates(c *access.Client, clean string) []*item {
	seen := map[repo.Scope]bool{}
	var out []*item
	add := func(sc repo.Scope) {
		if seen[sc] || cs.nameRank(sc) == rankNone {
			return
		}
		seen[sc] = true
		if it, ok := cs.svc.snap.get(repo.Ref{Scope: sc, Name: clean}); ok {
			out = append(out, it)
		}
	}
	if p := cs.svc.opt.Project; p != "" {
		add(repo.Scope{Kind: repo.Project, Name: p})
	}
	if d := cs.svc.opt.Vault.Device; d != "" {
		add(repo.Scope{Kind: repo.Device, Name: d})
	}
	add(repo.GlobalScope)
	all := false
	for _, g := range c.Grants {
		if g.Scope == access.AllScopes {
			all = true
			continue
		}
		if sc, err := repo.ParseScope(g.Scope); err == nil {
			add(sc)
		}
	}
	if all {
		for _, it := range cs.svc.snap.all() {
			if it.ref.Name == clean {
				add(it.ref.Scope)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		ri, rj := cs.nameRank(out[i].ref.Scope), cs.nameRank(out[j].ref.Scope)
		if ri != rj {
			return ri < rj
		}
		return out[i].ref.String() < out[j].ref.String()
	})
	return out
}

// resolve finds the entry a tool argument names. A reference names one
// entry; a bare name is looked up in the scopes the client holds perm on,
// most specific first (see nameRank), and two matches of the same rank are an
// error naming both. An entry in a scope where the client holds some grant
// but not perm is a logged denial naming the grant; an entry in a scope
// where it holds no grant at all is answered exactly like a missing entry
// (it must not learn that the entry exists) and logged as denied.
func (cs *clientServer) resolve(c *access.Client, op, name, perm string) (*item, error) {
	if name == "" {
		return nil, cs.deny(op, "", "no credential given")
	}
	if len(name) > maxArgName {
		return nil, cs.deny(op, "", fmt.Sprintf("name is longer than %d bytes", maxArgName))
	}
	var found []*item
	shown := name
	if repo.IsRef(name) {
		r, err := repo.ParseRef(name)
		if err != nil {
			return nil, cs.deny(op, "", oneLine(err.Error()))
		}
		shown = r.String()
		if it, ok := cs.svc.snap.get(r); ok {
			found = []*item{it}
		}
	} else {
		clean, err := repo.CleanName(name)
		if err != nil {
			return nil, cs.deny(op, "", oneLine(err.Error()))
		}
		found = cs.bareCandidates(c, clean)
	}
	var allowed []*item
	var denied, hidden *item
	for _, it := range found {
		sc := it.ref.Scope.String()
		switch {
		case c.Allows(perm, sc):
			allowed = append(allowed, it)
		case c.Sees(sc):
			if denied == nil {
				denied = it
			}
		default:
			if hidden == nil {
				hidden = it
			}
		}
	}
	if len(allowed) > 0 {
		best := allowed[0]
		var same []string
		for _, it := range allowed {
			if cs.nameRank(it.ref.Scope) == cs.nameRank(best.ref.Scope) {
				same = append(same, it.ref.String())
			}
		}
		if len(same) > 1 {
			return nil, cs.deny(op, "", fmt.Sprintf("%s is ambiguous: it names %s; give the full reference", clip(name, 64), strings.Join(same, ", ")))
		}
		return best, nil
	}
	if denied != nil {
		return nil, cs.deny(op, denied.ref.String(), fmt.Sprintf("client %s has no %s grant on scope %s", c.Name, perm, denied.ref.Scope))
	}
	notFound := fmt.Errorf("%s: %w", shown, errNoEntry)
	if hidden != nil {
		// Logged as the denial it is; answered as the absence it must look like.
		if err := cs.svc.record(access.Record{Client: cs.name, Op: op, Ref: hidden.ref.String(), Result: access.ResultDenied,
			Detail: fmt.Sprintf("client %s has no grant on scope %s (answered as no such entry)", c.Name, hidden.ref.Scope)}); err != nil {
			return nil, err
		}
		return nil, errors.New(oneLine(notFound.Error()))
	}
	return nil, cs.fail(op, "", notFound)
}

// locked refuses a call that reads entries when no identity is loaded:
// an empty answer would say the vault is empty, which is false.
func (cs *clientServer) locked(op string) error {
	if cs.svc.opt.Keyring != nil {
		return nil
	}
	return cs.fail(op, "", cs.svc.opt.KeyErr)
}

// usable checks that an item decrypted and validated.
func (cs *clientServer) usable(op string, it *item) error {
	if it.err == nil {
		return nil
	}
	msg := oneLine(it.err.Error())
	if !strings.HasPrefix(msg, it.ref.String()) {
		msg = it.ref.String() + ": " + msg
	}
	return cs.fail(op, it.ref.String(), errors.New(msg))
}

func lastSegment(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[i+1:]
	}
	return name
}

func (cs *clientServer) listCredentials(ctx context.Context, req *mcp.CallToolRequest, in ListIn) (*mcp.CallToolResult, ListOut, error) {
	out := ListOut{Credentials: []Credential{}}
	c, err := cs.begin(ToolList)
	if err != nil {
		return nil, out, err
	}
	if err := cs.locked(ToolList); err != nil {
		return nil, out, err
	}
	var only *repo.Scope
	if in.Scope != "" {
		sc, err := repo.ParseScope(in.Scope)
		if err != nil {
			return nil, out, cs.deny(ToolList, "", oneLine(err.Error()))
		}
		if !c.Allows(access.PermList, sc.String()) {
			return nil, out, cs.deny(ToolList, "", fmt.Sprintf("client %s has no list grant on scope %s", c.Name, sc))
		}
		only = &sc
	}
	cat, err := cs.svc.opt.Vault.Catalog()
	if err != nil {
		return nil, out, cs.fail(ToolList, "", err)
	}
	rot := cs.svc.lastRotated()
	now := cs.svc.opt.Clock()
	// Items come sorted by reference, so by scope: decide each scope once.
	var lastScope repo.Scope
	lastAllowed, decided := false, false
	for _, it := range cs.svc.snap.all() {
		sc := it.ref.Scope
		if !decided || sc != lastScope {
			lastScope, lastAllowed, decided = sc, c.Allows(access.PermList, sc.String()), true
		}
		if it.entry == nil || !lastAllowed {
			continue
		}
		if only != nil && sc != *only {
			continue
		}
		if only == nil && sc.Kind == repo.MCP {
			continue // mcp:<server> entries only when that scope is asked for
		}
		t := it.entry.Type
		if in.Type != "" && t != in.Type {
			continue
		}
		if in.Type == "" && (t == typeMemory || t == typePrompt || t == typeSnippet) {
			continue // served as prompts and resources
		}
		last := lastSegment(it.ref.Name)
		cr := Credential{
			Ref:         it.ref.String(),
			Type:        t,
			Service:     it.entry.Fields["service"],
			Description: it.entry.Fields["description"],
			Env:         cat.EnvName(it.entry, last),
			Hosts:       cat.Hosts(it.entry, last),
			Status:      "ok",
		}
		r, hasRot := rot[it.path]
		if hasRot {
			cr.LastRotated = r.When.UTC().Format(time.RFC3339)
		}
		var when time.Time
		if hasRot {
			when = r.When
		}
		cr.Status = repo.Status(it.entry.Fields["expires"], cat.RotateEvery(it.entry), cs.svc.opt.Vault.Config.RotateEvery, when, now)
		out.Credentials = append(out.Credentials, cr)
	}
	if err := cs.svc.record(access.Record{Client: c.Name, Op: ToolList, Ref: in.Scope, Result: access.ResultOK, Detail: fmt.Sprintf("%d entries", len(out.Credentials))}); err != nil {
		return nil, ListOut{Credentials: []Credential{}}, err
	}
	return nil, out, nil
}

// fieldValue returns one field of an entry as bytes: a scalar, or a list
// joined one item a line.
func fieldValue(it *item, field string) (string, bool) {
	if v, ok := it.entry.Fields[field]; ok {
		return v, true
	}
	if l, ok := it.entry.Lists[field]; ok {
		s := strings.Join(l, "\n")
		if len(l) > 0 {
			s += "\n"
		}
		return s, true
	}
	return "", false
}

func (cs *clientServer) getCredential(ctx context.Context, req *mcp.CallToolRequest, in GetIn) (*mcp.CallToolResult, GetOut, error) {
	c, err := cs.begin(ToolGet)
	if err != nil {
		return nil, GetOut{}, err
	}
	name := in.Credential
	if name == "" {
		name = in.Name
	}
	it, err := cs.resolve(c, ToolGet, name, access.PermReveal)
	if err != nil {
		return nil, GetOut{}, err
	}
	if err := cs.usable(ToolGet, it); err != nil {
		return nil, GetOut{}, err
	}
	field := in.Field
	if field == "" {
		field = it.typ.Primary
	}
	v, ok := fieldValue(it, field)
	if !ok {
		return nil, GetOut{}, cs.fail(ToolGet, it.ref.String(), fmt.Errorf("%s: has no field %q", it.ref, clip(field, 64)))
	}
	result := access.ResultOK
	if it.canary() {
		result = access.ResultAlert
	}
	rec := access.Record{Client: c.Name, Op: ToolGet, Ref: it.ref.String(), Field: field, Result: result,
		FP: cs.svc.opt.Log.Fingerprint(it.ref.String(), field, []byte(v))}
	if err := cs.svc.record(rec); err != nil {
		return nil, GetOut{}, err
	}
	if it.canary() {
		cs.svc.logf("alert: client %s read canary entry %s", c.Name, it.ref)
	}
	if utf8.ValidString(v) {
		return nil, GetOut{Value: v}, nil
	}
	return nil, GetOut{ValueBase64: base64.StdEncoding.EncodeToString([]byte(v))}, nil
}

// rememberScope picks where a new memory goes: the server's project, else
// a project the client may write to, else global.
func (cs *clientServer) rememberScope(c *access.Client) (repo.Scope, bool) {
	if p := cs.svc.opt.Project; p != "" {
		sc := repo.Scope{Kind: repo.Project, Name: p}
		if c.Allows(access.PermWrite, sc.String()) {
			return sc, true
		}
	}
	for _, g := range c.Grants {
		if g.Write && strings.HasPrefix(g.Scope, "project:") {
			if sc, err := repo.ParseScope(g.Scope); err == nil {
				return sc, true
			}
		}
	}
	if c.Allows(access.PermWrite, "global") {
		return repo.GlobalScope, true
	}
	return repo.Scope{}, false
}

func newMemoryName(now time.Time) string {
	b := make([]byte, 3)
	rand.Read(b)
	return "memory/" + now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b)
}

func (cs *clientServer) remember(ctx context.Context, req *mcp.CallToolRequest, in RememberIn) (*mcp.CallToolResult, RememberOut, error) {
	c, err := cs.begin(ToolRemember)
	if err != nil {
		return nil, RememberOut{}, err
	}
	if strings.TrimSpace(in.Text) == "" {
		return nil, RememberOut{}, cs.deny(ToolRemember, "", "text is empty")
	}
	if len(in.Text) > maxMemoryText {
		return nil, RememberOut{}, cs.deny(ToolRemember, "", fmt.Sprintf("text is longer than %d bytes", maxMemoryText))
	}
	var ref repo.Ref
	switch {
	case len(in.Name) > maxArgName:
		return nil, RememberOut{}, cs.deny(ToolRemember, "", fmt.Sprintf("name is longer than %d bytes", maxArgName))
	case in.Name != "" && repo.IsRef(in.Name):
		r, err := repo.ParseRef(in.Name)
		if err != nil {
			return nil, RememberOut{}, cs.deny(ToolRemember, "", oneLine(err.Error()))
		}
		ref = r
	default:
		sc, ok := cs.rememberScope(c)
		if !ok {
			return nil, RememberOut{}, cs.deny(ToolRemember, "", fmt.Sprintf("client %s has no write grant on a project or global scope", c.Name))
		}
		name := in.Name
		if name == "" {
			name = newMemoryName(cs.svc.opt.Clock())
		}
		clean, err := repo.CleanName(name)
		if err != nil {
			return nil, RememberOut{}, cs.deny(ToolRemember, "", oneLine(err.Error()))
		}
		ref = repo.Ref{Scope: sc, Name: clean}
	}
	if !c.Allows(access.PermWrite, ref.Scope.String()) {
		return nil, RememberOut{}, cs.deny(ToolRemember, ref.String(), fmt.Sprintf("client %s has no write grant on scope %s", c.Name, ref.Scope))
	}
	e := schemas.NewEntry(typeMemory)
	e.Set("text", in.Text)
	if len(in.Tags) > 0 {
		e.SetList("tags", in.Tags)
	}
	if err := cs.svc.write(ref, e, repo.Message{Op: "remember", Entries: []string{ref.String()}, Type: typeMemory, ValueChanged: true, Client: c.Name}); err != nil {
		return nil, RememberOut{}, cs.fail(ToolRemember, ref.String(), err)
	}
	if err := cs.svc.record(access.Record{Client: c.Name, Op: ToolRemember, Ref: ref.String(), Result: access.ResultOK}); err != nil {
		return nil, RememberOut{}, err
	}
	return nil, RememberOut{Ref: ref.String()}, nil
}

func (cs *clientServer) recall(ctx context.Context, req *mcp.CallToolRequest, in RecallIn) (*mcp.CallToolResult, RecallOut, error) {
	out := RecallOut{Memories: []Memory{}}
	c, err := cs.begin(ToolRecall)
	if err != nil {
		return nil, out, err
	}
	if err := cs.locked(ToolRecall); err != nil {
		return nil, out, err
	}
	limit := in.Limit
	if limit <= 0 {
		limit = defaultRecall
	}
	limit = min(limit, maxRecall)
	q := strings.ToLower(in.Query)
	for _, it := range cs.svc.snap.all() {
		if it.entry == nil || it.entry.Type != typeMemory || it.ref.Scope.Kind == repo.MCP || !c.Allows(access.PermList, it.ref.Scope.String()) {
			continue
		}
		text := it.entry.Fields["text"]
		if q != "" && !strings.Contains(strings.ToLower(text), q) && !strings.Contains(strings.ToLower(it.ref.String()), q) {
			continue
		}
		tags := it.entry.Lists["tags"]
		if !hasAll(tags, in.Tags) {
			continue
		}
		if tags == nil {
			tags = []string{}
		}
		out.Memories = append(out.Memories, Memory{Ref: it.ref.String(), Text: text, Tags: tags})
		if len(out.Memories) == limit {
			break
		}
	}
	if err := cs.svc.record(access.Record{Client: c.Name, Op: ToolRecall, Result: access.ResultOK, Detail: fmt.Sprintf("%d memories", len(out.Memories))}); err != nil {
		return nil, RecallOut{Memories: []Memory{}}, err
	}
	return nil, out, nil
}

func hasAll(have, want []string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			if strings.EqualFold(h, w) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func (cs *clientServer) forget(ctx context.Context, req *mcp.CallToolRequest, in ForgetIn) (*mcp.CallToolResult, ForgetOut, error) {
	c, err := cs.begin(ToolForget)
	if err != nil {
		return nil, ForgetOut{}, err
	}
	it, err := cs.resolve(c, ToolForget, in.Ref, access.PermWrite)
	if err != nil {
		return nil, ForgetOut{}, err
	}
	if it.entry != nil && it.entry.Type != typeMemory {
		return nil, ForgetOut{}, cs.deny(ToolForget, it.ref.String(), fmt.Sprintf("is a %s entry; forget only removes memories", it.entry.Type))
	}
	if it.entry == nil {
		return nil, ForgetOut{}, cs.usable(ToolForget, it)
	}
	if err := cs.svc.write(it.ref, nil, repo.Message{Op: "rm", Summary: "forget " + it.ref.String(), Entries: []string{it.ref.String()}, Type: typeMemory, ValueChanged: true, Client: c.Name}); err != nil {
		return nil, ForgetOut{}, cs.fail(ToolForget, it.ref.String(), err)
	}
	if err := cs.svc.record(access.Record{Client: c.Name, Op: ToolForget, Ref: it.ref.String(), Result: access.ResultOK}); err != nil {
		return nil, ForgetOut{}, err
	}
	return nil, ForgetOut{Ref: it.ref.String(), Forgotten: true}, nil
}

// write commits one entry (nil deletes it) and updates the snapshot at
// once, without waiting for the watcher. A memory never replaces an entry
// of another type.
func (s *Service) write(ref repo.Ref, e *schemas.Entry, msg repo.Message) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if e != nil && s.opt.Vault.Exists(ref) {
		if s.opt.Keyring == nil {
			return s.opt.KeyErr
		}
		old, err := s.opt.Vault.Load(ref, s.opt.Keyring)
		if err != nil {
			return err
		}
		clear(old.Doc)
		if old.Entry.Type != e.Type {
			return &repo.EntryError{Ref: ref.String(), Err: fmt.Errorf("is a %s entry; remember only writes memories (choose another name)", old.Entry.Type)}
		}
	}
	prepared, err := s.opt.Vault.Prepare([]repo.Put{{Ref: ref, Entry: e}})
	if err != nil {
		return err
	}
	if err := s.opt.Vault.Commit(context.Background(), prepared, msg, s.opt.Author()); err != nil {
		return err
	}
	jobs, _ := s.snap.paths([]string{ref.Path()})
	if s.snap.apply(jobs, false) {
		s.mu.Lock()
		s.rotated = nil
		s.mu.Unlock()
		s.syncAll(false)
	}
	return nil
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
