package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/renameio/v2"
	ucli "github.com/urfave/cli/v2"

	"github.com/tresor-dev/tresor/access"
	"github.com/tresor-dev/tresor/codec"
	"github.com/tresor-dev/tresor/repo"
	"github.com/tresor-dev/tresor/repo/gitdb"
	"github.com/tresor-dev/tresor/schemas"
)

type schemasField = schemas.Field

// catalog is the vault's catalogue when a vault is at hand, else the
// built-in one.
func (r *runner) catalog(c *ucli.Context) (*schemas.Catalog, error) {
	v, err := repo.Open(r.vaultDir(c), repo.Options{Clock: r.env.Now})
	if err != nil {
		return schemas.Builtin(), nil
	}
	defer v.Close()
	return v.Catalog()
}

// identityFor returns the identity at the configured path, creating one
// when there is none. undo removes what it created (the file and the
// directories made for it), for a command that then fails: a failed init
// leaves nothing behind. undo is a no-op when nothing was created.
func (r *runner) identityFor(c *ucli.Context) (kr *codec.Keyring, created bool, undo func(), err error) {
	undo = func() {}
	p := r.identityPath(c)
	if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		// The directories GenerateIdentity will create, deepest first.
		var made []string
		for d := filepath.Dir(p); ; d = filepath.Dir(d) {
			if _, err := os.Lstat(d); err == nil || filepath.Dir(d) == d {
				break
			}
			made = append(made, d)
		}
		kr, err := codec.GenerateIdentity(p)
		if err != nil {
			return nil, false, undo, err
		}
		return kr, true, func() {
			os.Remove(p)
			for _, d := range made {
				os.Remove(d) // only if empty
			}
		}, nil
	}
	kr, err = r.loadIdentity(c)
	return kr, false, undo, err
}

// textconvCommand is what git runs for redacted diffs: this binary when it
// is installed somewhere stable, else `tresor` from PATH.
func (r *runner) textconvCommand() string {
	exe := r.env.Executable
	if exe == "" || strings.HasPrefix(exe, os.TempDir()) || strings.Contains(exe, "go-build") || strings.HasSuffix(exe, ".test") {
		return "tresor textconv"
	}
	return shellQuote(exe) + " textconv"
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func (r *runner) cmdInit(c *ucli.Context) error {
	if err := args(c, 0, 0, "[--join]"); err != nil {
		return err
	}
	if repo.Within(r.vaultDir(c), r.identityPath(c)) {
		return usagef("init: the identity %s would be inside the vault %s, where it would be committed and pushed; keep it outside", r.identityPath(c), r.vaultDir(c))
	}
	kr, created, undo, err := r.identityFor(c)
	if err != nil {
		return err
	}
	if c.Bool("join") {
		if created {
			fmt.Fprintf(r.errw(), "created identity %s (mode 0600; keep it safe and backed up)\n", kr.Path)
		}
		fmt.Fprintf(r.errw(), "give this recipient to a member of the vault; they add it as a line of %s, accept it with `tresor team trust`, commit it, change the entries you need (a `tresor set` or `tresor edit` encrypts to every key listed there), push, and you git clone the vault:\n", repo.RecipientsFile)
		fmt.Fprintln(r.out(), kr.Recipient)
		return nil
	}
	device := c.String("device")
	if device == "" {
		device = r.deviceName()
	}
	dir := r.vaultDir(c)
	member := c.String("member")
	if member == "" {
		member, _ = gitIdentity(dir, r.env)
		if member == "" {
			member = r.env.Getenv("USER")
		}
	}
	name, email := gitIdentity(dir, r.env)
	if name == "" {
		name = "tresor"
	}
	if email == "" {
		email = device + "@tresor.local"
	}
	v, err := repo.Init(dir, repo.InitOptions{
		Options:   repo.Options{Clock: r.env.Now, Device: device},
		Recipient: kr.Recipient,
		Member:    strings.Join(strings.Fields(member), "_"),
		Author:    gitdb.Signature{Name: name, Email: email},
		Textconv:  r.textconvCommand(),
	})
	if err != nil {
		undo() // a failed init creates nothing, the identity included
		return err
	}
	defer v.Close()
	if created {
		fmt.Fprintf(r.errw(), "created identity %s (mode 0600; keep it safe and backed up)\n", kr.Path)
	}
	fmt.Fprintf(r.errw(), "created vault %s\n  device:    %s\n  identity:  %s\n  recipient: %s\n", v.Dir, v.Device, kr.Path, kr.Recipient)
	return nil
}

func (r *runner) cmdKeygen(c *ucli.Context) error {
	if err := args(c, 0, 0, "[--out FILE]"); err != nil {
		return err
	}
	p := r.identityPath(c)
	if o := c.String("out"); o != "" {
		p = r.env.abs(o)
	}
	if repo.Within(r.vaultDir(c), p) {
		return usagef("keygen: %s is inside the vault %s; an identity is never kept there (it would be committed and pushed)", p, r.vaultDir(c))
	}
	kr, err := codec.GenerateIdentity(p)
	if err != nil {
		return err
	}
	fmt.Fprintf(r.errw(), "created identity %s (mode 0600)\n", p)
	fmt.Fprintln(r.out(), kr.Recipient)
	return nil
}

func (r *runner) cmdProjectInit(c *ucli.Context) error {
	if err := args(c, 1, 1, "NAME"); err != nil {
		return err
	}
	name, err := repo.CleanSegment("project", c.Args().First())
	if err != nil {
		return err
	}
	p := filepath.Join(r.env.Cwd, ProjectFileName)
	if _, err := os.Lstat(p); err == nil {
		return fmt.Errorf("%s already exists", p)
	}
	content := fmt.Sprintf("# tresor project binding: references only, never values.\nproject: %q\n# env:\n#   OPENAI_API_KEY: openai          # resolved in project scope, then global\n#   DATABASE_URL: projects/%s/db\n", name, name)
	if err := renameio.WriteFile(p, []byte(content), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(r.errw(), "wrote %s: commands here now default to --scope project:%s\n", p, name)
	return nil
}

func (r *runner) cmdAccessLog(c *ucli.Context) error {
	if err := args(c, 0, 0, "[--client C] [--entry REF] [--since WHEN]"); err != nil {
		return err
	}
	s, err := r.open(c)
	if err != nil {
		return err
	}
	defer s.close()
	l, err := s.readLog()
	if err != nil {
		return err
	}
	f := access.Filter{Client: c.String("client"), Ref: c.String("entry")}
	if since := c.String("since"); since != "" {
		if f.Since, err = parseSince(since, r.env.Now()); err != nil {
			return usagef("--since: %v", err)
		}
	}
	recs, err := l.Records(f)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		if recs == nil {
			recs = []access.Record{}
		}
		return writeJSON(r.out(), recs)
	}
	tw, flush := r.table("TIME", "SEQ", "CLIENT", "OP", "REF", "FIELD", "RESULT", "DETAIL")
	for _, rec := range recs {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", rec.Time.Local().Format("2006-01-02 15:04:05"), rec.Seq, rec.Client, rec.Op, rec.Ref, dash(rec.Field), rec.Result, dash(rec.Detail))
	}
	return flush()
}

// parseSince accepts a date, an RFC 3339 time, or a duration back from now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, time.Local); err == nil {
		return t, nil
	}
	if d, err := schemas.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a date (2026-01-31), a time (RFC 3339) or a duration (24h, 7d)", s)
}

func (r *runner) cmdAccessVerify(c *ucli.Context) error {
	if err := args(c, 0, 0, ""); err != nil {
		return err
	}
	s, err := r.open(c)
	if err != nil {
		return err
	}
	defer s.close()
	l, err := s.readLog()
	if err != nil {
		return err
	}
	n, err := l.Verify()
	if err != nil {
		return err // names the log file already
	}
	if c.Bool("json") {
		return writeJSON(r.out(), map[string]any{"ok": true, "records": n})
	}
	fmt.Fprintf(r.out(), "read log intact: %d records, hash chain verified\n", n)
	return nil
}

// cmdTextconv prints the redacted view of one entry file for git. It never
// fails a diff: an unreadable file is described in one line instead.
func (r *runner) cmdTextconv(c *ucli.Context) error {
	if err := args(c, 1, 1, "FILE"); err != nil {
		return err
	}
	data, err := os.ReadFile(r.env.abs(c.Args().First()))
	if err != nil {
		return err
	}
	kr, err := r.loadIdentity(c)
	if err != nil {
		fmt.Fprintf(r.out(), "<tresor: cannot decrypt: %s>\n", oneLine(err.Error()))
		return nil
	}
	plain, err := kr.Decrypt(data)
	if err != nil {
		fmt.Fprintf(r.out(), "<tresor: cannot decrypt: %s>\n", oneLine(err.Error()))
		return nil
	}
	defer clear(plain)
	e, err := codec.Unmarshal(plain)
	if err != nil {
		fmt.Fprintf(r.out(), "<tresor: not an entry document: %s>\n", oneLine(err.Error()))
		return nil
	}
	cat, _ := r.catalog(c)
	t, _ := cat.Type(e.Type)
	red := codec.Redact(e, t, kr.LocalKey("textconv"))
	doc, err := codec.Marshal(red, t)
	if err != nil {
		return err
	}
	_, err = r.out().Write(doc)
	return err
}

func (r *runner) cmdRemoteAdd(c *ucli.Context) error {
	if err := args(c, 2, 2, "NAME URL"); err != nil {
		return err
	}
	s, err := r.open(c)
	if err != nil {
		return err
	}
	defer s.close()
	name, url := c.Args().Get(0), c.Args().Get(1)
	if err := gitdb.CheckRemoteName(name); err != nil {
		return usagef("remote add: %v", err)
	}
	if !strings.Contains(url, "://") && !strings.Contains(url, "@") {
		// A local path: make it absolute so it works from anywhere.
		url = r.env.abs(url)
	}
	if err := s.vault.DB().AddRemote(name, url); err != nil {
		return err
	}
	fmt.Fprintf(r.errw(), "added remote %s %s (nothing is sent until `tresor push`)\n", name, url)
	return nil
}

func (r *runner) cmdRemoteLs(c *ucli.Context) error {
	if err := args(c, 0, 0, ""); err != nil {
		return err
	}
	s, err := r.open(c)
	if err != nil {
		return err
	}
	defer s.close()
	rs, err := s.vault.DB().Remotes()
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return writeJSON(r.out(), rs)
	}
	for _, k := range sortedKeys(rs) {
		fmt.Fprintf(r.out(), "%s\t%s\n", k, rs[k])
	}
	return nil
}

func (r *runner) cmdPush(c *ucli.Context) error {
	if err := args(c, 0, 1, "[REMOTE]"); err != nil {
		return err
	}
	s, err := r.open(c)
	if err != nil {
		return err
	}
	defer s.close()
	remote := c.Args().First()
	if remote == "" {
		rs, err := s.vault.DB().Remotes()
		if err != nil {
			return err
		}
		switch {
		case len(rs) == 0:
			return errors.New("no remote: add one with `tresor remote add origin URL`")
		case rs["origin"] != "":
			remote = "origin"
		case len(rs) == 1:
			for k := range rs {
				remote = k
			}
		default:
			return usagef("several remotes (%s): name the one to push to", strings.Join(sortedKeys(rs), ", "))
		}
	}
	if err := s.checkBeforePush(); err != nil {
		return err
	}
	res, err := s.vault.DB().Push(context.Background(), remote)
	if err != nil {
		return err
	}
	if res.UpToDate {
		fmt.Fprintf(r.errw(), "%s is up to date\n", remote)
		return nil
	}
	from := "(new)"
	if !res.From.IsZero() {
		from = res.From.String()[:10]
	}
	fmt.Fprintf(r.errw(), "pushed %s to %s/%s (%s..%s)\n", res.Branch, remote, res.Branch, from, res.To.String()[:10])
	return nil
}

// checkBeforePush refuses to push a vault with a file that is not an age
// file where an entry should be (SPEC §7), naming the file.
func (s *session) checkBeforePush() error {
	head, ok, err := s.vault.DB().Head()
	if err != nil || !ok {
		return err
	}
	files, err := s.vault.DB().Files(head)
	if err != nil {
		return err
	}
	for _, p := range sortedKeys(files) {
		top, _, _ := strings.Cut(p, "/")
		switch top {
		case "global", "projects", "devices", "mcp":
		default:
			continue
		}
		data, _, err := s.vault.DB().ReadBlob(head, p)
		if err != nil {
			return err
		}
		if !strings.HasSuffix(p, repo.Ext) || !isAgeFile(data) {
			return fmt.Errorf("refusing to push: %s is tracked but is not an age-encrypted entry (remove it with git rm)", p)
		}
	}
	return nil
}

func isAgeFile(b []byte) bool {
	s := string(b[:min(len(b), 64)])
	return strings.HasPrefix(s, "age-encryption.org/v1\n") || strings.HasPrefix(strings.TrimLeft(s, " \r\n\t"), "-----BEGIN AGE ENCRYPTED FILE-----")
}

func (r *runner) cmdCompletion(c *ucli.Context) error {
	if err := args(c, 1, 1, "bash|zsh|fish"); err != nil {
		return err
	}
	switch c.Args().First() {
	case "bash":
		_, err := fmt.Fprint(r.out(), bashCompletion)
		return err
	case "zsh":
		_, err := fmt.Fprint(r.out(), zshCompletion)
		return err
	case "fish":
		s, err := c.App.ToFishCompletion()
		if err != nil {
			return err
		}
		_, err = fmt.Fprint(r.out(), s)
		return err
	}
	return usagef("completion: unknown shell %q (bash, zsh or fish)", c.Args().First())
}

// The completion scripts ask tresor itself (--generate-bash-completion);
// completing names reads the file tree only, never decrypts.
const bashCompletion = `# bash completion for tresor: eval "$(tresor completion bash)"
_tresor_complete() {
  local cur words
  cur="${COMP_WORDS[COMP_CWORD]}"
  words=$("${COMP_WORDS[0]}" "${COMP_WORDS[@]:1:$((COMP_CWORD-1))}" --generate-bash-completion 2>/dev/null)
  COMPREPLY=( $(compgen -W "${words}" -- "${cur}") )
  return 0
}
complete -o default -F _tresor_complete tresor
`

const zshCompletion = `#compdef tresor
# zsh completion for tresor: eval "$(tresor completion zsh)"
_tresor() {
  local -a opts
  opts=("${(@f)$(${words[1]} ${words[@]:1:#words[@]-2} --generate-bash-completion 2>/dev/null)}")
  _describe 'values' opts
}
compdef _tresor tresor
`
