package inject

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/goccy/go-yaml"

	"github.com/tresor-dev/tresor/codec"
)

// GPG decrypts pass and gopass files with the gpg binary, with the options
// pass itself uses (gpg -d --quiet --yes --batch): keys, agent and pinentry
// are the user's own. The ciphertext goes to gpg on stdin; nothing but
// options is on its command line.
type GPG struct {
	// Path is the gpg executable.
	Path string
	// Env is gpg's environment (GNUPGHOME, GPG_TTY ... pass through).
	Env []string
}

// Decrypt runs gpg on one file and returns the plaintext. The error is
// gpg's own last diagnostic line (never plaintext).
func (g *GPG) Decrypt(ctx context.Context, f StoreFile) ([]byte, error) {
	in, err := openStoreFile(f)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	// The ciphertext goes in on stdin: gpg never opens a path itself.
	// --no-auto-key-retrieve: a signed entry must not make gpg fetch keys
	// over the network, whatever gpg.conf says.
	cmd := exec.CommandContext(ctx, g.Path, "--decrypt", "--quiet", "--yes", "--batch", "--no-auto-key-retrieve")
	cmd.Env = g.Env
	var out capped
	out.limit = maxStoreFile
	var errb bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &errb
	cmd.Stdin = in
	err = cmd.Run()
	if out.over {
		clear(out.buf.Bytes())
		return nil, errors.New("plaintext too large to be one entry")
	}
	if err != nil {
		clear(out.buf.Bytes())
		return nil, fmt.Errorf("gpg failed (%s)", gpgReason(errb.String(), err))
	}
	return out.buf.Bytes(), nil
}

// gpgReason picks gpg's most telling diagnostic line.
func gpgReason(stderr string, err error) string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(stderr))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], "decryption failed") || strings.Contains(lines[i], "no valid OpenPGP data") || strings.Contains(lines[i], "No secret key") {
			return oneLineText(lines[i])
		}
	}
	if len(lines) > 0 {
		return oneLineText(lines[len(lines)-1])
	}
	return err.Error()
}

func oneLineText(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// capped is a writer that keeps at most limit bytes and notes overflow.
type capped struct {
	buf   bytes.Buffer
	limit int
	over  bool
}

func (c *capped) Write(p []byte) (int, error) {
	if c.buf.Len()+len(p) > c.limit {
		c.over = true
		return 0, errors.New("too large")
	}
	return c.buf.Write(p)
}

// AgeKeys decrypts passage and gopass-age files with age identities: the
// Keyring, or else the one Load returns on first use (so a passphrase is
// asked for only when an .age entry is met, and once).
type AgeKeys struct {
	Keyring *codec.Keyring
	Load    func() (*codec.Keyring, error)

	once sync.Once
	err  error
}

func (a *AgeKeys) keyring() (*codec.Keyring, error) {
	a.once.Do(func() {
		if a.Keyring == nil && a.Load != nil {
			a.Keyring, a.err = a.Load()
		}
		if a.Keyring == nil && a.err == nil {
			a.err = errors.New("no age identities")
		}
		if a.err != nil {
			a.err = &KeyError{Err: a.err}
		}
	})
	return a.Keyring, a.err
}

// LoadStoreIdentities reads the age identities file of a passage or gopass
// store: age keys or an SSH key as tresor's own identity file (see
// codec.LoadIdentity; not readable by others), or such a file itself
// encrypted with a passphrase (age -p), as passage allows and gopass does,
// which is asked for with prompt.
func LoadStoreIdentities(path string, allowInsecure bool, prompt func(string) ([]byte, error)) (*codec.Keyring, error) {
	return codec.LoadIdentityWith(path, codec.IdentityOptions{
		AllowInsecure:    allowInsecure,
		Passphrase:       prompt,
		NoPassphraseHint: "there is no terminal to ask for its passphrase",
	})
}

// Decrypt decrypts one age file.
func (a *AgeKeys) Decrypt(_ context.Context, f StoreFile) ([]byte, error) {
	fh, err := openStoreFile(f)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxStoreFile+1))
	if err != nil {
		return nil, errors.New(errText(err))
	}
	kr, err := a.keyring()
	if err != nil {
		return nil, err
	}
	plain, err := kr.Decrypt(data)
	switch {
	case errors.Is(err, codec.ErrNotForYou):
		return nil, fmt.Errorf("not encrypted to the identities in %s", kr.Path)
	case errors.Is(err, codec.ErrTooLarge):
		return nil, errors.New("too large to be one entry")
	case err != nil:
		return nil, fmt.Errorf("age: %v", err)
	}
	return plain, nil
}

// StoreDefaults says where a store and its keys are by default, from the
// environment the way each tool reads it: PASSWORD_STORE_DIR or
// ~/.password-store for pass; PASSAGE_DIR or ~/.passage/store and
// PASSAGE_IDENTITIES_FILE or ~/.passage/identities for passage; for gopass
// the root store path of its configuration ($XDG_CONFIG_HOME/gopass/config,
// or the older config.yml), else $XDG_DATA_HOME/gopass/stores/root, and its
// age identities $XDG_CONFIG_HOME/gopass/age/identities when that exists.
func StoreDefaults(kind string, getenv func(string) string, home string) (dir, identities string) {
	orHome := func(v, rel string) string {
		if v != "" {
			return expandHome(v, home)
		}
		return filepath.Join(home, rel)
	}
	xdg := func(name, rel string) string {
		if d := getenv(name); d != "" && filepath.IsAbs(d) {
			return d
		}
		return filepath.Join(home, rel)
	}
	switch kind {
	case StorePass:
		return orHome(getenv("PASSWORD_STORE_DIR"), ".password-store"), ""
	case StorePassage:
		return orHome(getenv("PASSAGE_DIR"), ".passage/store"), orHome(getenv("PASSAGE_IDENTITIES_FILE"), ".passage/identities")
	case StoreGopass:
		cfgDir := filepath.Join(xdg("XDG_CONFIG_HOME", ".config"), "gopass")
		// gopass's age backend keeps its (passphrase-protected) identities here.
		if p := filepath.Join(cfgDir, "age", "identities"); fileExists(p) {
			identities = p
		}
		if p := gopassRootFromConfig(filepath.Join(cfgDir, "config"), "path", "[mounts]"); p != "" {
			return expandHome(p, home), identities
		}
		if p := gopassRootFromConfig(filepath.Join(cfgDir, "config.yml"), "path", "root:"); p != "" {
			return expandHome(p, home), identities
		}
		return filepath.Join(xdg("XDG_DATA_HOME", ".local/share"), "gopass", "stores", "root"), identities
	}
	return "", ""
}

// gopassRootFromConfig finds `key = value` (gitconfig style, gopass 1.13+)
// or `key: value` (YAML, older gopass) in the section that starts with the
// given line. A URL-style backend spec (gpgcli-gitcli-fs+file:///x) gives
// its path.
func gopassRootFromConfig(file, key, section string) string {
	data, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		t := strings.TrimSpace(line)
		if t == "" || t[0] == '#' || t[0] == ';' {
			continue
		}
		if !strings.HasPrefix(line, " ") && !strings.HasPrefix(line, "\t") || strings.HasPrefix(t, "[") {
			in = t == section
			continue
		}
		if !in {
			continue
		}
		k, v, ok := strings.Cut(t, "=")
		if !ok {
			k, v, ok = strings.Cut(t, ":")
		}
		if !ok || strings.TrimSpace(k) != key {
			continue
		}
		return gopassPath(v, "")
	}
	return ""
}

func expandHome(p, home string) string {
	if p == "~" {
		return home
	}
	if strings.HasPrefix(p, "~/") {
		return filepath.Join(home, p[2:])
	}
	return p
}

// Mount is a gopass sub-store mounted at a prefix of the root store.
type Mount struct {
	Prefix string
	Dir    string
}

// GopassMounts lists the sub-stores gopass's configuration mounts
// ([mounts "NAME"] path = DIR, or the mounts: map of the older
// config.yml), sorted by prefix. Import does not walk into them: each is a
// store of its own (tresor import gopass --store DIR --prefix NAME).
func GopassMounts(getenv func(string) string, home string) []Mount {
	cfgDir := filepath.Join(home, ".config")
	if d := getenv("XDG_CONFIG_HOME"); d != "" && filepath.IsAbs(d) {
		cfgDir = d
	}
	cfgDir = filepath.Join(cfgDir, "gopass")
	var out []Mount
	if data, err := os.ReadFile(filepath.Join(cfgDir, "config")); err == nil {
		section := ""
		for _, line := range strings.Split(string(data), "\n") {
			t := strings.TrimSpace(line)
			if strings.HasPrefix(t, "[") {
				section = t
				continue
			}
			name, ok := strings.CutPrefix(section, "[mounts \"")
			if !ok {
				continue
			}
			name = strings.TrimSuffix(name, "\"]")
			if k, v, ok := strings.Cut(t, "="); ok && strings.TrimSpace(k) == "path" {
				out = append(out, Mount{Prefix: name, Dir: gopassPath(v, home)})
			}
		}
	} else if data, err := os.ReadFile(filepath.Join(cfgDir, "config.yml")); err == nil {
		var cfg struct {
			Mounts map[string]struct {
				Path string `yaml:"path"`
			} `yaml:"mounts"`
		}
		if yaml.Unmarshal(data, &cfg) == nil {
			for name, m := range cfg.Mounts {
				out = append(out, Mount{Prefix: name, Dir: gopassPath(m.Path, home)})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Prefix < out[j].Prefix })
	return out
}

func gopassPath(v, home string) string {
	v = strings.Trim(strings.TrimSpace(v), `"'`)
	if _, after, ok := strings.Cut(v, "file://"); ok {
		v = after
	}
	if home == "" {
		return v
	}
	return expandHome(v, home)
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
