package cli

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"

	"github.com/google/renameio/v2"
	ucli "github.com/urfave/cli/v2"

	"github.com/tresor-dev/tresor/codec"
	"github.com/tresor-dev/tresor/repo"
)

type doctorFinding struct {
	Check   string `json:"check"`
	Subject string `json:"subject,omitempty"`
	OK      bool   `json:"ok"`
	Warning bool   `json:"warning,omitempty"` // OK, but worth fixing
	Msg     string `json:"message"`
	Fixed   bool   `json:"fixed,omitempty"`
}

func (r *runner) cmdDoctor(c *ucli.Context) error {
	if err := args(c, 0, 0, "[--fix]"); err != nil {
		return err
	}
	fix := c.Bool("fix")
	var findings []doctorFinding
	add := func(check, subject string, ok bool, msg string) *doctorFinding {
		findings = append(findings, doctorFinding{Check: check, Subject: subject, OK: ok, Msg: msg})
		return &findings[len(findings)-1]
	}

	// Identity.
	idPath := r.identityPath(c)
	kr, idErr := r.loadIdentity(c)
	var insecure *codec.ErrInsecureIdentity
	if errors.As(idErr, &insecure) && fix {
		if err := os.Chmod(idPath, 0o600); err == nil {
			f := add("identity", idPath, true, fmt.Sprintf("mode was %04o, set to 0600", insecure.Mode.Perm()))
			f.Fixed = true
			kr, idErr = r.loadIdentity(c)
		}
	}
	if idErr != nil {
		add("identity", idPath, false, oneLine(idErr.Error()))
	} else {
		add("identity", idPath, true, "readable, mode 0600, public key "+kr.Recipient)
	}

	// Plaintext left by killed edits, the temporary directory included.
	for _, d := range r.sweepEditDirs(true) {
		f := add("edit", d, true, "wiped plaintext left by an interrupted tresor edit")
		f.Fixed = true
	}
	s, err := r.openWith(c, repo.Options{KeepJournal: true})
	if err != nil {
		return err
	}
	defer s.close()
	v := s.vault
	if kr != nil {
		s.keyring = kr
	}

	// Repository health: interrupted writes, index, locks, modes, symlinks.
	if fix {
		fixed, err := v.DB().Fix()
		for _, f := range fixed {
			ff := add("repository", "", true, f)
			ff.Fixed = true
		}
		if err != nil {
			add("repository", "", false, "repair failed: "+oneLine(err.Error()))
		}
		// A damaged work-tree copy of a committed entry is put back before
		// the repository is checked, so the report shows what is left.
		if kr != nil {
			items, _ := v.List()
			for _, it := range items {
				l, err := v.Load(it.Ref, kr)
				if err == nil {
					clear(l.Doc)
					continue
				}
				var de *repo.DecryptError
				if errors.As(err, &de) && errors.Is(de.Kind, codec.ErrCorrupt) {
					if msg, ok := restoreFromHead(v, it, kr); ok {
						f := add("entry", it.Ref.String(), true, msg)
						f.Fixed = true
					}
				}
			}
		}
	}
	problems, err := v.DB().Check()
	if err != nil {
		add("repository", "", false, oneLine(err.Error()))
	}
	for _, p := range problems {
		msg := p.Msg
		if p.Fixable && !fix {
			msg += " (fixable: tresor doctor --fix)"
		}
		if p.Mode() {
			// git clone and git pull write 0644 files and 0755
			// directories under a usual umask. The files are age
			// ciphertext, the bytes any clone holds: other local users
			// see entry names and ciphertext, not values. A warning.
			f := add("repository", p.Path, true, msg)
			f.Warning = true
			continue
		}
		add("repository", p.Path, false, msg)
	}
	if len(problems) == 0 && err == nil {
		add("repository", v.Dir, true, "work tree, index and HEAD agree; no leftover locks")
	}

	// Recipients.
	rs, err := v.Recipients(repo.GlobalScope)
	if err != nil {
		add("recipients", repo.RecipientsFile, false, oneLine(err.Error()))
	} else {
		mine := false
		for _, rc := range rs {
			if kr != nil && rc.Key == kr.Recipient {
				mine = true
			}
		}
		switch {
		case kr == nil:
			add("recipients", repo.RecipientsFile, true, fmt.Sprintf("%d recipients", len(rs)))
		case mine:
			add("recipients", repo.RecipientsFile, true, fmt.Sprintf("%d recipients, including you", len(rs)))
		default:
			add("recipients", repo.RecipientsFile, false, fmt.Sprintf("your public key %s is not among the %d recipients: ask a member to add it as a line of "+repo.RecipientsFile+", accept it with `tresor team trust`, commit it, and change your entries (a `tresor set` or `tresor edit` encrypts to every key listed there)", kr.Recipient, len(rs)))
		}
	}

	if st, err := v.Trust(); err == nil {
		if st.OK() {
			add("trust", repo.RecipientsFile, true, "accepted on this device")
		} else {
			add("trust", repo.RecipientsFile, false, fmt.Sprintf("not trusted: %s; writes are refused until you accept it with `%s`", st.Describe(), repo.TrustCommand))
		}
	}

	// Committed files at a path that is no longer their entry's (an older
	// tresor wrote the directory of "q.age/z" as q.age/, which is the file
	// of "q"): not listed, so named here with the rename that fixes them.
	if head, ok, err := v.DB().Head(); err == nil && ok {
		files, _ := v.DB().Files(head)
		for p := range files {
			if ref, ok := repo.MisplacedEntry(p); ok {
				to := ref.Path()
				add("entry", ref.String(), false, fmt.Sprintf("committed at %s, which is not its file name; rename it: cd %s && mkdir -p %s && git mv %s %s && git commit -m 'move %s'",
					p, v.Dir, path.Dir(to), p, to, ref))
			}
		}
	}

	// Every entry decrypts and validates.
	items, listProblems := v.List()
	for _, p := range listProblems {
		add("entries", "", false, oneLine(p.Error()))
	}
	if kr != nil {
		cat, err := v.Catalog()
		if err != nil {
			return err
		}
		bad := 0
		for _, it := range items {
			l, err := v.Load(it.Ref, kr)
			if err == nil {
				_, verr := cat.Validate(l.Entry)
				clear(l.Doc)
				if verr != nil {
					add("entry", it.Ref.String(), false, "invalid: "+oneLine(verr.Error()))
					bad++
				}
				continue
			}
			bad++
			var de *repo.DecryptError
			if errors.As(err, &de) && errors.Is(de.Kind, codec.ErrCorrupt) && fix {
				if msg, ok := restoreFromHead(v, it, kr); ok {
					f := add("entry", it.Ref.String(), true, msg)
					f.Fixed = true
					bad--
					continue
				}
			}
			add("entry", it.Ref.String(), false, oneLine(unwrapEntry(err).Error()))
		}
		if bad == 0 {
			add("entries", "", true, fmt.Sprintf("%d entries decrypt and validate", len(items)))
		}
	}

	// The read log's chain.
	if l, err := s.readLog(); err != nil {
		add("read log", "", false, oneLine(err.Error()))
	} else if n, err := l.Verify(); err != nil {
		add("read log", l.Path(), false, oneLine(err.Error()))
	} else {
		add("read log", l.Path(), true, fmt.Sprintf("%d records, hash chain intact", n))
	}

	failed := 0
	for _, f := range findings {
		if !f.OK {
			failed++
		}
	}
	if c.Bool("json") {
		if err := writeJSON(r.out(), map[string]any{"ok": failed == 0, "findings": findings}); err != nil {
			return err
		}
	} else {
		for _, f := range findings {
			mark := "ok  "
			if !f.OK {
				mark = "FAIL"
			} else if f.Warning {
				mark = "WARN"
			} else if f.Fixed {
				mark = "FIX "
			}
			subject := ""
			if f.Subject != "" {
				subject = " " + f.Subject
			}
			fmt.Fprintf(r.out(), "%s %s%s: %s\n", mark, f.Check, subject, f.Msg)
		}
	}
	if failed > 0 {
		return &exitError{code: 1, err: fmt.Errorf("doctor: %d problem%s found", failed, map[bool]string{true: "", false: "s"}[failed == 1])}
	}
	return nil
}

// restoreFromHead replaces a damaged entry file with its committed version
// when that version decrypts.
func restoreFromHead(v *repo.Vault, it repo.Item, kr *codec.Keyring) (string, bool) {
	head, ok, err := v.DB().Head()
	if err != nil || !ok {
		return "", false
	}
	data, ok, err := v.DB().ReadBlob(head, it.Path)
	if err != nil || !ok {
		return "", false
	}
	l, err := v.Decode(it.Ref, data, kr)
	if err != nil {
		return "", false
	}
	clear(l.Doc)
	if err := renameio.WriteFile(filepath.Join(v.Dir, filepath.FromSlash(it.Path)), data, 0o600); err != nil {
		return "", false
	}
	return "damaged work-tree file restored from the last commit", true
}
