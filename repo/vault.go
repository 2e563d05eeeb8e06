// Package repo is the vault: a git work tree of age-encrypted entries. It
// opens and creates vaults, maps names and scopes to files, reads entries,
// writes every change as exactly one commit under the vault lock, and answers
// history questions. It knows nothing of MCP or the command line.
package repo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/goccy/go-yaml"
	"github.com/google/renameio/v2"

	"github.com/tresor-dev/tresor/codec"
	"github.com/tresor-dev/tresor/repo/gitdb"
	"github.com/tresor-dev/tresor/schemas"
)

// Tracked metadata files.
const (
	ConfigFile     = ".tresor/vault.yaml"
	RecipientsFile = ".tresor/recipients.txt"
	TypesDir       = ".tresor/types"
	AttributesFile = ".gitattributes"
	IgnoreFile     = ".gitignore"
	// Branch is the branch a new vault starts on.
	Branch = "main"
)

// LockTimeout is how long a writer waits for another tresor process.
const LockTimeout = 30 * time.Second

// Config is .tresor/vault.yaml.
type Config struct {
	Format      int    `yaml:"format"`
	ID          string `yaml:"id"`
	RotateEvery string `yaml:"rotate_every,omitempty"`
	Armor       bool   `yaml:"armor,omitempty"`
}

// Vault is an open vault.
type Vault struct {
	// Dir is the absolute path of the work tree.
	Dir    string
	Config Config
	// Device is this clone's device name (from .git/tresor/device).
	Device string

	db    *gitdb.Store
	clock func() time.Time

	catMu sync.Mutex // guards cat: Metadata decodes entries in parallel
	cat   *schemas.Catalog
}

// Options carry what a vault needs from its caller's environment.
type Options struct {
	// Clock is the time source (time.Now when nil).
	Clock func() time.Time
	// Device names this machine when the clone has no device name yet.
	Device string
	// KeepJournal leaves an interrupted write for the caller (doctor) to
	// report and repair; by default Open settles it first.
	KeepJournal bool
}

// InitOptions are the settings of a new vault.
type InitOptions struct {
	Options
	// Recipient is this device's public key (age1… or ssh-…).
	Recipient string
	// Member names the person, for the recipients file comment.
	Member string
	// Author signs the first commit.
	Author gitdb.Signature
	// Textconv is the command git runs to show redacted diffs.
	Textconv string
}

// ErrNotVault means a directory is not a tresor vault.
var ErrNotVault = errors.New("not a tresor vault")

// Init creates a vault in dir, which must not exist or be empty, and makes
// the first commit. On failure it removes what it created.
func Init(dir string, o InitOptions) (v *Vault, err error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	created := false
	switch ents, rerr := os.ReadDir(abs); {
	case errors.Is(rerr, fs.ErrNotExist):
		created = true
	case rerr != nil:
		return nil, fmt.Errorf("vault directory %s: %w", abs, rerr)
	case len(ents) > 0:
		if _, serr := os.Stat(filepath.Join(abs, ConfigFile)); serr == nil {
			return nil, fmt.Errorf("a vault already exists in %s", abs)
		}
		return nil, fmt.Errorf("%s is not empty; choose a new or empty directory for the vault", abs)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("creating vault directory: %w", err)
	}
	if err := os.Chmod(abs, 0o700); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			if created {
				os.RemoveAll(abs)
			} else {
				removeContents(abs)
			}
		}
	}()
	if _, err := codec.ParseRecipient(o.Recipient); err != nil {
		return nil, fmt.Errorf("recipient: %w", err)
	}
	device, err := CleanSegment("device", o.Device)
	if err != nil {
		return nil, err
	}
	db, err := gitdb.Init(abs, Branch)
	if err != nil {
		return nil, err
	}
	v = &Vault{Dir: abs, db: db, clock: o.Clock, Device: device}
	if v.clock == nil {
		v.clock = time.Now
	}
	if err := v.writeDevice(device); err != nil {
		return nil, err
	}
	if o.Textconv != "" {
		if err := SetTextconv(abs, o.Textconv); err != nil {
			return nil, err
		}
	}
	id := make([]byte, 8)
	rand.Read(id)
	v.Config = Config{Format: 1, ID: hex.EncodeToString(id), RotateEvery: "180d"}
	cfg, err := yaml.Marshal(v.Config)
	if err != nil {
		return nil, err
	}
	member := o.Member
	if member == "" {
		member = "me"
	}
	recips := codec.FormatRecipients([]codec.Recipient{{Key: o.Recipient, Comment: recipientComment(member, device)}})
	changes := []gitdb.Change{
		{Path: ConfigFile, Data: cfg},
		{Path: RecipientsFile, Data: recips},
		{Path: AttributesFile, Data: []byte("# entries are binary age files; git shows redacted diffs through `tresor textconv`\n*.age diff=tresor merge=binary -text\n")},
		{Path: IgnoreFile, Data: []byte("# temporary files of interrupted writes\n.*.tmp\n/global/**/.*\n/projects/**/.*\n/devices/**/.*\n/mcp/**/.*\n")},
	}
	unlock, err := db.Lock(context.Background(), LockTimeout)
	if err != nil {
		return nil, err
	}
	defer unlock()
	msg := Message{Op: "init", Summary: "init vault", Device: device}
	if _, err := db.Commit(changes, msg.String(), withTime(o.Author, v.clock())); err != nil {
		return nil, err
	}
	if err := v.recordTrusted(recips); err != nil {
		return nil, err
	}
	return v, nil
}

// SetTextconv sets diff.tresor.textconv in the repository's local git
// config, so `git log -p` and `git diff` show redacted entries.
func SetTextconv(dir, command string) error {
	p := filepath.Join(dir, ".git", "config")
	data, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	cfg := gitconfig.NewConfig()
	if err := cfg.Unmarshal(data); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	sub := cfg.Raw.Section("diff").Subsection("tresor")
	sub.SetOption("textconv", command)
	sub.SetOption("cachetextconv", "false")
	out, err := cfg.Marshal()
	if err != nil {
		return err
	}
	return renameio.WriteFile(p, out, 0o600)
}

func removeContents(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}

func recipientComment(member, device string) string {
	return fmt.Sprintf("member=%s device=%s", member, device)
}

// Open opens the vault at dir.
func Open(dir string, o Options) (*Vault, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	cfgData, err := os.ReadFile(filepath.Join(abs, ConfigFile))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w at %s (create one with `tresor init`, or pass --vault DIR)", ErrNotVault, abs)
		}
		return nil, err
	}
	var cfg Config
	if err := yaml.UnmarshalWithOptions(cfgData, &cfg, yaml.DisallowUnknownField()); err != nil {
		return nil, fmt.Errorf("%s: %s", ConfigFile, firstLine(err.Error()))
	}
	if cfg.Format != 1 {
		return nil, fmt.Errorf("%s: unsupported vault format %d (upgrade tresor)", ConfigFile, cfg.Format)
	}
	db, err := gitdb.Open(abs)
	if err != nil {
		return nil, err
	}
	if !o.KeepJournal {
		if _, err := db.Settle(context.Background(), LockTimeout); err != nil {
			db.Close()
			return nil, err
		}
	}
	v := &Vault{Dir: abs, Config: cfg, db: db, clock: o.Clock}
	if v.clock == nil {
		v.clock = time.Now
	}
	if d, err := os.ReadFile(filepath.Join(abs, ".git", "tresor", "device")); err == nil {
		v.Device = strings.TrimSpace(string(d))
	} else if o.Device != "" {
		if dev, err := CleanSegment("device", o.Device); err == nil {
			v.Device = dev
		}
	}
	return v, nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return strings.TrimSpace(s[:i])
	}
	return s
}

// Close releases the repository.
func (v *Vault) Close() error { return v.db.Close() }

// StateDir is the untracked per-clone state directory (.git/tresor).
func (v *Vault) StateDir() string { return filepath.Join(v.Dir, ".git", "tresor") }

func (v *Vault) writeDevice(device string) error {
	if err := os.MkdirAll(v.StateDir(), 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(v.StateDir(), "device"), []byte(device+"\n"), 0o600)
}

// DB exposes the git layer for history, push and doctor.
func (v *Vault) DB() *gitdb.Store { return v.db }

// Catalog is the built-in catalogue plus the vault's own types.
func (v *Vault) Catalog() (*schemas.Catalog, error) {
	v.catMu.Lock()
	defer v.catMu.Unlock()
	if v.cat != nil {
		return v.cat, nil
	}
	cat := schemas.Builtin()
	dir := filepath.Join(v.Dir, TypesDir)
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	files := map[string][]byte{}
	for _, e := range ents {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".yaml") {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				return nil, err
			}
			files[TypesDir+"/"+e.Name()] = b
		}
	}
	if len(files) > 0 {
		if cat, err = cat.WithTypes(files); err != nil {
			return nil, err
		}
	}
	v.cat = cat
	return cat, nil
}

// Recipients returns who entries of a scope are encrypted to: everyone in
// the recipients file, or for a device scope that device's key alone.
func (v *Vault) Recipients(sc Scope) ([]codec.Recipient, error) {
	data, err := v.readTracked(RecipientsFile)
	if err != nil {
		return nil, err
	}
	rs, err := codec.ParseRecipients(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", RecipientsFile, err)
	}
	if sc.Kind != Device {
		return rs, nil
	}
	for _, r := range rs {
		if recipientDevice(r.Comment) == sc.Name {
			return []codec.Recipient{r}, nil
		}
	}
	return nil, fmt.Errorf("no recipient for device %q in %s (device entries are encrypted to that device alone)", sc.Name, RecipientsFile)
}

func recipientDevice(comment string) string {
	for _, f := range strings.Fields(comment) {
		if d, ok := strings.CutPrefix(f, "device="); ok {
			return d
		}
	}
	return ""
}

// readTracked reads a vault file, refusing symlinks on the way.
func (v *Vault) readTracked(rel string) ([]byte, error) {
	if err := v.checkNoSymlink(rel); err != nil {
		return nil, err
	}
	return os.ReadFile(filepath.Join(v.Dir, filepath.FromSlash(rel)))
}

// ErrSymlink reports a symlink inside the vault.
var ErrSymlink = errors.New("symlinks are not allowed inside the vault")

// checkNoSymlink Lstat's every component of rel below the vault root.
func (v *Vault) checkNoSymlink(rel string) error {
	p := v.Dir
	for _, seg := range strings.Split(rel, "/") {
		p = filepath.Join(p, seg)
		st, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if st.Mode()&fs.ModeSymlink != 0 {
			rp, _ := filepath.Rel(v.Dir, p)
			return fmt.Errorf("%s: %w", filepath.ToSlash(rp), ErrSymlink)
		}
	}
	return nil
}

// Message is a commit message with tresor's trailers (SPEC §6).
type Message struct {
	Op           string // set, rotate, meta, rm, mv, import, remember, init, …
	Summary      string // first line; built from Op and Entries when empty
	Entries      []string
	Type         string
	ValueChanged bool
	Device       string
	Client       string
	From         string // mv source
	Body         string
}

// String renders the message; it never holds a value.
func (m Message) String() string {
	var b strings.Builder
	sum := m.Summary
	if sum == "" {
		sum = m.Op
		if len(m.Entries) == 1 {
			sum += " " + m.Entries[0]
		} else if len(m.Entries) > 1 {
			sum += fmt.Sprintf(" %d entries", len(m.Entries))
		}
		if m.Type != "" {
			sum += " (" + m.Type + ")"
		}
	}
	b.WriteString(sum + "\n\n")
	if m.Body != "" {
		b.WriteString(strings.TrimRight(m.Body, "\n") + "\n\n")
	}
	fmt.Fprintf(&b, "Tresor-Op: %s\n", m.Op)
	for _, e := range m.Entries {
		fmt.Fprintf(&b, "Tresor-Entry: %s\n", e)
	}
	if m.From != "" {
		fmt.Fprintf(&b, "Tresor-From: %s\n", m.From)
	}
	if m.Type != "" {
		fmt.Fprintf(&b, "Tresor-Type: %s\n", m.Type)
	}
	if m.Op != "init" {
		fmt.Fprintf(&b, "Tresor-Value-Changed: %s\n", map[bool]string{true: "yes", false: "no"}[m.ValueChanged])
	}
	if m.Device != "" {
		fmt.Fprintf(&b, "Tresor-Device: %s\n", m.Device)
	}
	if m.Client != "" {
		fmt.Fprintf(&b, "Tresor-Client: %s\n", m.Client)
	}
	return b.String()
}

func withTime(s gitdb.Signature, t time.Time) gitdb.Signature {
	s.When = t
	return s
}

// Contains reports whether path (absolute) is inside the vault's directory,
// .git included: plaintext a user asks for by name (get --out) must never
// land in the work tree, where a later `git add -A` would commit it.
func (v *Vault) Contains(path string) bool { return Within(v.Dir, path) }

// Within reports whether path (absolute) is dir or inside it, after
// resolving symlinks in both (a path through a link to the vault counts).
func Within(dir, path string) bool {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		root = filepath.Clean(dir)
	}
	parent, err := filepath.EvalSymlinks(filepath.Dir(path))
	if err != nil {
		parent = filepath.Dir(path)
	}
	rel, err := filepath.Rel(root, filepath.Join(parent, filepath.Base(path)))
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
