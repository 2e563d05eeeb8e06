package access

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/goccy/go-yaml"
	"github.com/gofrs/flock"
	"github.com/google/renameio/v2/maybe"
)

// Permissions a Grant may give, as named in Client.Allows.
const (
	PermList   = "list"
	PermUse    = "use"
	PermReveal = "reveal"
	PermWrite  = "write"
)

// AllScopes is the grant scope that matches every scope.
const AllScopes = "*"

// TokenPrefix starts every client token, so leak scanners recognise one.
const TokenPrefix = "tresor_"

// File names inside the state directory.
const (
	clientsName     = "clients.yaml"
	clientsLockName = "clients.yaml.lock"
	// maxClientsFile caps clients.yaml; a larger file is refused.
	maxClientsFile = 1 << 20
	tokenBytes     = 32
)

// Grant gives a client permissions on one scope.
type Grant struct {
	// Scope is "global", "project:P", "device:D", "mcp:S", or "*" for all.
	Scope  string `yaml:"scope" json:"scope"`
	List   bool   `yaml:"list" json:"list"`
	Use    bool   `yaml:"use" json:"use"`
	Reveal bool   `yaml:"reveal" json:"reveal"`
	Write  bool   `yaml:"write" json:"write"`
}

// Client is a registered tool: its name, the hash of its token and its
// grants. The token itself is never stored.
type Client struct {
	Name      string     `yaml:"name" json:"name"`
	TokenHash string     `yaml:"token_hash" json:"-"`
	Grants    []Grant    `yaml:"grants" json:"grants"`
	Created   time.Time  `yaml:"created" json:"created"`
	Revoked   *time.Time `yaml:"revoked,omitempty" json:"revoked,omitempty"`
}

// Allows reports whether the client may do perm ("list", "use", "reveal",
// "write") on scope. A revoked client is allowed nothing; an unknown perm
// is never allowed.
func (c *Client) Allows(perm string, scope string) bool {
	if c == nil || c.Revoked != nil {
		return false
	}
	for _, g := range c.Grants {
		if g.Scope != scope && g.Scope != AllScopes {
			continue
		}
		switch perm {
		case PermList:
			if g.List {
				return true
			}
		case PermUse:
			if g.Use {
				return true
			}
		case PermReveal:
			if g.Reveal {
				return true
			}
		case PermWrite:
			if g.Write {
				return true
			}
		}
	}
	return false
}

// Sees reports whether the client holds any grant on scope (or on all
// scopes). Where it holds none, the scope's entries must look absent to it.
func (c *Client) Sees(scope string) bool {
	if c == nil || c.Revoked != nil {
		return false
	}
	for _, g := range c.Grants {
		if g.Scope == scope || g.Scope == AllScopes {
			return true
		}
	}
	return false
}

// Scopes lists the scopes the client holds any grant on, in grant order.
func (c *Client) Scopes() []string {
	var out []string
	for _, g := range c.Grants {
		out = append(out, g.Scope)
	}
	return out
}

// clientsFile is the on-disk form of clients.yaml.
type clientsFile struct {
	Version int       `yaml:"version"`
	Clients []*Client `yaml:"clients"`
}

// Errors of the registry.
var (
	// ErrBadToken is an unknown or malformed token.
	ErrBadToken = errors.New("invalid client token")
	// ErrRevoked is a token of a revoked client.
	ErrRevoked = errors.New("client is revoked")
	// ErrNoClient is a client name not in the registry.
	ErrNoClient = errors.New("no such client")
)

// Registry is the client registry of one clone,
// <vault>/.git/tresor/clients.yaml: mode 0600, written atomically, token
// hashes only. It is safe for use by many goroutines; writers in several
// processes are serialised by a lock file.
type Registry struct {
	dir  string
	path string
	lock *flock.Flock

	mu      sync.Mutex
	stat    fs.FileInfo // of the file the cache was read from
	clients []*Client
	loadErr error
}

// OpenRegistry returns the registry kept in stateDir (<vault>/.git/tresor).
// Nothing is read until it is used.
func OpenRegistry(stateDir string) *Registry {
	return &Registry{
		dir:  stateDir,
		path: filepath.Join(stateDir, clientsName),
		lock: flock.New(filepath.Join(stateDir, clientsLockName), flock.SetPermissions(0o600)),
	}
}

// Path returns the path of clients.yaml.
func (r *Registry) Path() string { return r.path }

var clientNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// CheckClientName reports what makes name unfit for a client: it must be
// 1 to 64 of A-Z a-z 0-9 . _ - and start with a letter or digit (it goes in
// commit trailers, log records and app configs).
func CheckClientName(name string) error {
	if !clientNameRe.MatchString(name) {
		return fmt.Errorf("invalid client name %q: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// CheckGrantScope reports whether s is a scope a grant may name:
// "global", "project:P", "device:D", "mcp:S" or "*".
func CheckGrantScope(s string) error {
	if s == AllScopes || s == "global" {
		return nil
	}
	kind, name, ok := strings.Cut(s, ":")
	if !ok || (kind != "project" && kind != "device" && kind != "mcp") {
		return fmt.Errorf("invalid scope %q: want global, project:NAME, device:NAME, mcp:SERVER or *", s)
	}
	if name == "" || name == "." || name == ".." || strings.HasPrefix(name, ".") || strings.ContainsRune(name, '/') ||
		strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return fmt.Errorf("invalid scope %q: the name after %q is not a valid segment", s, kind+":")
	}
	return nil
}

// Add registers a client with list and use on each scope, plus reveal and
// write when asked, and returns its token: "tresor_" and 52 base32
// characters (256 random bits). Only the token's SHA-256 is stored, so the
// caller must show the token now; it cannot be recovered. A name already in
// use by a client that is not revoked is refused; a revoked one is replaced.
func (r *Registry) Add(name string, scopes []string, reveal, write bool, now time.Time) (string, error) {
	token, c, err := newClient(name, scopes, reveal, write, now)
	if err != nil {
		return "", err
	}
	err = r.update(func(cs []*Client) ([]*Client, error) {
		for i, old := range cs {
			if old.Name == name {
				if old.Revoked == nil {
					return nil, fmt.Errorf("client %s already exists (revoke it first with `tresor client revoke %s`)", name, name)
				}
				cs = append(cs[:i], cs[i+1:]...)
				break
			}
		}
		return append(cs, c), nil
	})
	if err != nil {
		return "", err
	}
	return token, nil
}

// Reissue registers name with a new token and these grants in one write of
// the registry, whether or not the client exists: an active client's old
// token stops working at that moment, never earlier or later. restore
// undoes it (the previous record back, or the new client revoked when
// there was none) as long as the record is still the one Reissue wrote;
// callers use it when what the new token was for could not be done.
func (r *Registry) Reissue(name string, scopes []string, reveal, write bool, now time.Time) (token string, restore func() error, err error) {
	token, c, err := newClient(name, scopes, reveal, write, now)
	if err != nil {
		return "", nil, err
	}
	var prev *Client
	err = r.update(func(cs []*Client) ([]*Client, error) {
		for i, old := range cs {
			if old.Name == name {
				prev = old
				cs = append(cs[:i], cs[i+1:]...)
				break
			}
		}
		return append(cs, c), nil
	})
	if err != nil {
		return "", nil, err
	}
	restore = func() error {
		return r.update(func(cs []*Client) ([]*Client, error) {
			for i, cur := range cs {
				if cur.Name != name {
					continue
				}
				if cur.TokenHash != c.TokenHash {
					return nil, fmt.Errorf("client %s changed meanwhile; not restored", name)
				}
				if prev != nil {
					cs[i] = prev
					return cs, nil
				}
				t := now.UTC().Truncate(time.Second)
				cur.Revoked = &t
				return cs, nil
			}
			return nil, fmt.Errorf("client %s: %w", name, ErrNoClient)
		})
	}
	return token, restore, nil
}

// newClient checks a registration and makes its token and record.
func newClient(name string, scopes []string, reveal, write bool, now time.Time) (string, *Client, error) {
	if err := CheckClientName(name); err != nil {
		return "", nil, err
	}
	if len(scopes) == 0 {
		return "", nil, fmt.Errorf("client %s: at least one scope is needed (--scope global, project:NAME, ...)", name)
	}
	var grants []Grant
	seen := map[string]bool{}
	for _, s := range scopes {
		if err := CheckGrantScope(s); err != nil {
			return "", nil, fmt.Errorf("client %s: %w", name, err)
		}
		if seen[s] {
			continue
		}
		seen[s] = true
		grants = append(grants, Grant{Scope: s, List: true, Use: true, Reveal: reveal, Write: write})
	}
	raw := make([]byte, tokenBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", nil, fmt.Errorf("client %s: generate token: %w", name, err)
	}
	token := TokenPrefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw))
	clear(raw)
	return token, &Client{Name: name, TokenHash: hashToken(token), Grants: grants, Created: now.UTC().Truncate(time.Second)}, nil
}

// Revoke marks a client revoked: its token is refused from then on,
// including by a running MCP server (Authenticate re-reads the file).
func (r *Registry) Revoke(name string, now time.Time) error {
	return r.update(func(cs []*Client) ([]*Client, error) {
		for _, c := range cs {
			if c.Name == name {
				if c.Revoked != nil {
					return nil, fmt.Errorf("client %s: already revoked on %s", name, c.Revoked.Format(time.RFC3339))
				}
				t := now.UTC().Truncate(time.Second)
				c.Revoked = &t
				return cs, nil
			}
		}
		return nil, fmt.Errorf("client %s: %w", name, ErrNoClient)
	})
}

// List returns every client, revoked ones included, sorted by name.
func (r *Registry) List() ([]Client, error) {
	cs, err := r.current()
	if err != nil {
		return nil, err
	}
	out := make([]Client, 0, len(cs))
	for _, c := range cs {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Authenticate finds the client a token belongs to. It re-reads
// clients.yaml whenever the file changed since the last call, so a
// revocation takes effect at the next call. The comparison is constant-time
// over every registered hash. A revoked client's token gives ErrRevoked; an
// unknown or malformed token ErrBadToken; a damaged registry an error
// naming the file (and no client is let in).
func (r *Registry) Authenticate(token string) (*Client, error) {
	if !strings.HasPrefix(token, TokenPrefix) || len(token) > 200 {
		return nil, ErrBadToken
	}
	cs, err := r.current()
	if err != nil {
		return nil, err
	}
	want := sha256.Sum256([]byte(token))
	var found *Client
	for _, c := range cs {
		h, err := hex.DecodeString(strings.TrimPrefix(c.TokenHash, "sha256:"))
		if err != nil || len(h) != sha256.Size {
			continue // checked at load; never matches
		}
		if subtle.ConstantTimeCompare(h, want[:]) == 1 {
			found = c
		}
	}
	if found == nil {
		return nil, ErrBadToken
	}
	c := *found
	c.Grants = append([]Grant(nil), found.Grants...)
	if c.Revoked != nil {
		return &c, fmt.Errorf("client %s: %w", c.Name, ErrRevoked)
	}
	return &c, nil
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// current returns the registry's clients, re-reading the file when its
// identity, size or modification time changed.
func (r *Registry) current() ([]*Client, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fi, err := os.Lstat(r.path)
	if errors.Is(err, fs.ErrNotExist) {
		r.stat, r.clients, r.loadErr = nil, nil, nil
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("client registry %s: %w", r.path, err)
	}
	if r.stat != nil && os.SameFile(fi, r.stat) && fi.Size() == r.stat.Size() && fi.ModTime().Equal(r.stat.ModTime()) {
		return r.clients, r.loadErr
	}
	cs, err := r.load()
	r.stat, r.clients, r.loadErr = fi, cs, err
	return cs, err
}

// load reads and checks clients.yaml. Its errors name the file and never
// quote it.
func (r *Registry) load() ([]*Client, error) {
	fail := func(format string, args ...any) ([]*Client, error) {
		return nil, fmt.Errorf("client registry %s: %s; fix or remove it (then `tresor client add` again)", r.path, fmt.Sprintf(format, args...))
	}
	f, err := os.Open(r.path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return fail("%v", errors.Unwrap(err))
	}
	defer f.Close()
	fi, err := checkRegular(f, r.path)
	if err != nil {
		return nil, err
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return fail("mode %04o is open to group or others (run: chmod 600 %s)", fi.Mode().Perm(), r.path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxClientsFile+1))
	if err != nil {
		return fail("%v", err)
	}
	if len(data) > maxClientsFile {
		return fail("larger than %d bytes", maxClientsFile)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	var doc clientsFile
	if err := yaml.UnmarshalWithOptions(data, &doc, yaml.DisallowUnknownField(), yaml.Strict()); err != nil {
		return fail("not a valid registry (%s)", yamlReason(err))
	}
	if doc.Version != 1 {
		return fail("unsupported version %d", doc.Version)
	}
	names := map[string]bool{}
	hashes := map[string]bool{}
	for i, c := range doc.Clients {
		if c == nil {
			return fail("clients[%d] is empty", i)
		}
		if err := CheckClientName(c.Name); err != nil {
			return fail("clients[%d]: invalid name", i)
		}
		if names[c.Name] {
			return fail("client %s is listed twice", c.Name)
		}
		names[c.Name] = true
		h, ok := strings.CutPrefix(c.TokenHash, "sha256:")
		if b, err := hex.DecodeString(h); !ok || err != nil || len(b) != sha256.Size {
			return fail("client %s: token_hash is not sha256:<64 hex digits>", c.Name)
		}
		if hashes[h] {
			return fail("client %s: token_hash is shared with another client", c.Name)
		}
		hashes[h] = true
		for j, g := range c.Grants {
			if err := CheckGrantScope(g.Scope); err != nil {
				return fail("client %s: grants[%d]: invalid scope", c.Name, j)
			}
		}
	}
	return doc.Clients, nil
}

// yamlReason is the first line of a YAML error, without the source excerpt
// the library appends (which could quote the file).
func yamlReason(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

// update applies fn to the registry under the lock and writes the result
// atomically with mode 0600.
func (r *Registry) update(fn func([]*Client) ([]*Client, error)) error {
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		return fmt.Errorf("client registry: %w", err)
	}
	if err := r.lock.Lock(); err != nil {
		return fmt.Errorf("client registry: lock %s: %w", r.lock.Path(), err)
	}
	defer r.lock.Unlock()
	r.mu.Lock()
	r.stat = nil // force a fresh read under the lock
	r.mu.Unlock()
	cs, err := r.current()
	if err != nil {
		return err
	}
	// Work on copies: the cache must not change if the write fails.
	cp := make([]*Client, 0, len(cs))
	for _, c := range cs {
		cc := *c
		cc.Grants = append([]Grant(nil), c.Grants...)
		cp = append(cp, &cc)
	}
	out, err := fn(cp)
	if err != nil {
		return err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	data, err := yaml.Marshal(&clientsFile{Version: 1, Clients: out})
	if err != nil {
		return fmt.Errorf("client registry: encode: %w", err)
	}
	header := []byte("# tresor client registry: token hashes only. Managed by `tresor client`.\n")
	if err := maybe.WriteFile(r.path, append(header, data...), 0o600); err != nil {
		return fmt.Errorf("client registry %s: %w", r.path, err)
	}
	r.mu.Lock()
	r.stat = nil
	r.mu.Unlock()
	return nil
}
