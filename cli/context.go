package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/go-git/go-git/v5/config"
	"github.com/goccy/go-yaml"
	ucli "github.com/urfave/cli/v2"

	"github.com/tresor-dev/tresor/access"
	"github.com/tresor-dev/tresor/codec"
	"github.com/tresor-dev/tresor/repo"
	"github.com/tresor-dev/tresor/repo/gitdb"
)

// session is what one command invocation works with.
type session struct {
	r       *runner
	c       *ucli.Context
	vault   *repo.Vault
	keyring *codec.Keyring
	project *projectFile
	log     *access.Log
}

// vaultDir is --vault, else TRESOR_DIR, else the default location.
func (r *runner) vaultDir(c *ucli.Context) string {
	if d := c.String("vault"); d != "" {
		return r.env.abs(d)
	}
	if d := r.env.Getenv("TRESOR_DIR"); d != "" {
		return r.env.abs(d)
	}
	return r.env.DefaultVaultDir()
}

// identityPath is --identity, else TRESOR_IDENTITY, else the default.
func (r *runner) identityPath(c *ucli.Context) string {
	if p := c.String("identity"); p != "" {
		return r.env.abs(p)
	}
	if p := r.env.Getenv("TRESOR_IDENTITY"); p != "" {
		return r.env.abs(p)
	}
	return r.env.DefaultIdentity()
}

// open opens the vault and reads the project binding of the working
// directory. It does not load the identity: commands that decrypt call
// unlock.
func (r *runner) open(c *ucli.Context) (*session, error) {
	return r.openWith(c, repo.Options{})
}

// openWith is open with options (doctor keeps an interrupted write to
// report it).
func (r *runner) openWith(c *ucli.Context, o repo.Options) (*session, error) {
	// Plaintext left by an edit whose process was killed (kill -9 cannot
	// be caught) is wiped by the next command.
	for _, d := range r.sweepEditDirs(false) {
		fmt.Fprintf(r.errw(), "wiped %s, left by an interrupted tresor edit\n", d)
	}
	o.Clock, o.Device = r.env.Now, r.deviceName()
	v, err := repo.Open(r.vaultDir(c), o)
	if err != nil {
		return nil, err
	}
	s := &session{r: r, c: c, vault: v}
	if s.project, err = findProject(r.env.Cwd); err != nil {
		v.Close()
		return nil, err
	}
	return s, nil
}

func (s *session) close() { s.vault.Close() }

// unlock loads the identity.
func (s *session) unlock() (*codec.Keyring, error) {
	if s.keyring != nil {
		return s.keyring, nil
	}
	kr, err := s.r.loadIdentity(s.c)
	if err != nil {
		return nil, err
	}
	s.keyring = kr
	return kr, nil
}

// loadIdentity loads the identity, asking for its passphrase on the
// terminal if it has one (see identity.go).
func (r *runner) loadIdentity(c *ucli.Context) (*codec.Keyring, error) {
	return r.identity(c, true)
}

// readLog opens the read log of this clone.
func (s *session) readLog() (*access.Log, error) {
	if s.log != nil {
		return s.log, nil
	}
	l, err := access.Open(s.vault.StateDir(), s.r.env.Now)
	if err != nil {
		return nil, err
	}
	s.log = l
	return l, nil
}

// logRead records one read in the read log before the value is shown. If
// the record cannot be written the read is refused.
func (s *session) logRead(op string, ref repo.Ref, field string, value []byte, result, detail string) error {
	l, err := s.readLog()
	if err != nil {
		return fmt.Errorf("%s: read refused: cannot open the read log: %w", ref, err)
	}
	rec := access.Record{Client: access.ClientCLI, Op: op, Ref: ref.String(), Field: field, Result: result, Detail: detail}
	if value != nil {
		rec.FP = l.Fingerprint(ref.String(), field, value)
	}
	if _, err := l.Append(rec); err != nil {
		return fmt.Errorf("%s: read refused: cannot write the read log: %w", ref, err)
	}
	return nil
}

// ctx is the request context: the project of the working directory.
func (s *session) ctx() repo.Context {
	if s.project != nil {
		return repo.Context{Project: s.project.Project}
	}
	return repo.Context{}
}

// scopeFlag parses --scope, or returns nil when not given.
func scopeFlag(c *ucli.Context) (*repo.Scope, error) {
	v := c.String("scope")
	if v == "" {
		return nil, nil
	}
	sc, err := repo.ParseScope(v)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return &sc, nil
}

// author is git's user.name/user.email when set, else tresor <device>.
func (s *session) author() gitdb.Signature {
	name, email := gitIdentity(s.vault.Dir, s.r.env)
	if name == "" {
		name = "tresor"
	}
	if email == "" {
		email = s.vault.Device + "@tresor.local"
	}
	return gitdb.Signature{Name: name, Email: email, When: s.r.env.Now()}
}

// gitIdentity reads user.name and user.email from the repository's config,
// then the user's global git config.
func gitIdentity(dir string, env *Env) (name, email string) {
	if n := env.Getenv("GIT_AUTHOR_NAME"); n != "" {
		name = n
	}
	if e := env.Getenv("GIT_AUTHOR_EMAIL"); e != "" {
		email = e
	}
	files := []string{filepath.Join(dir, ".git", "config")}
	if x := env.Getenv("XDG_CONFIG_HOME"); x != "" {
		files = append(files, filepath.Join(x, "git", "config"))
	}
	files = append(files, filepath.Join(env.home(), ".gitconfig"))
	for _, f := range files {
		if name != "" && email != "" {
			break
		}
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		cfg := config.NewConfig()
		if err := cfg.Unmarshal(data); err != nil {
			continue
		}
		if name == "" {
			name = cfg.User.Name
		}
		if email == "" {
			email = cfg.User.Email
		}
	}
	return name, email
}

var deviceChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// deviceName is TRESOR_DEVICE, else the host name.
func (r *runner) deviceName() string {
	if d := r.env.Getenv("TRESOR_DEVICE"); d != "" {
		return d
	}
	h, _ := os.Hostname()
	h = strings.Trim(deviceChars.ReplaceAllString(strings.SplitN(h, ".", 2)[0], "-"), "-.")
	if h == "" {
		h = "device"
	}
	return h
}

// projectFile is .tresor.yaml: a project binding with references only.
type projectFile struct {
	Project string            `yaml:"project"`
	Env     map[string]string `yaml:"env,omitempty"`
	// Path is where the file was found.
	Path string `yaml:"-"`
}

// ProjectFileName is the project binding file.
const ProjectFileName = ".tresor.yaml"

// findProject walks up from dir to the first .tresor.yaml, like git does
// for .git. No file is not an error.
func findProject(dir string) (*projectFile, error) {
	for d := dir; d != ""; {
		p := filepath.Join(d, ProjectFileName)
		data, err := os.ReadFile(p)
		if err == nil {
			var pf projectFile
			if err := yaml.UnmarshalWithOptions(data, &pf, yaml.DisallowUnknownField()); err != nil {
				return nil, fmt.Errorf("%s: %s", p, oneLine(firstLine(err.Error())))
			}
			name, err := repo.CleanSegment("project", pf.Project)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			pf.Project, pf.Path = name, p
			return &pf, nil
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		parent := filepath.Dir(d)
		if parent == d {
			break
		}
		d = parent
	}
	return nil, nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return strings.TrimSpace(s[:i])
	}
	return s
}

// args checks the number of positional arguments.
func args(c *ucli.Context, min, max int, usage string) error {
	n := c.NArg()
	if n < min || (max >= 0 && n > max) {
		return usagef("usage: tresor %s %s", commandPath(c), usage)
	}
	return nil
}

// commandPath is the command as typed, subcommands included ("remote add").
func commandPath(c *ucli.Context) string {
	var names []string
	for _, l := range c.Lineage() {
		if l.Command != nil && l.Command.Name != "" && l.Command.Name != c.App.Name && (len(names) == 0 || names[0] != l.Command.Name) {
			names = append([]string{l.Command.Name}, names...)
		}
	}
	return strings.Join(names, " ")
}
