package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/tresor-dev/tresor/codec"
	"github.com/tresor-dev/tresor/inject"
	"github.com/tresor-dev/tresor/repo"
)

// refusing is a decrypter for files the user gave no key for. fatal stops
// the whole import (no gpg at all); otherwise each such entry fails alone,
// and --skip-invalid can import the rest.
type refusing struct {
	why   string
	fatal bool
}

func (r refusing) Decrypt(context.Context, inject.StoreFile) ([]byte, error) {
	if r.fatal {
		return nil, &inject.KeyError{Err: errors.New(r.why)}
	}
	return nil, errors.New(r.why)
}

// cmdImportStore imports a pass, passage or gopass store: every entry
// decrypted with the user's own gpg or age keys, converted, and written in
// one commit, or nothing written at all.
func (r *runner) cmdImportStore(c *ucli.Context, kind string) error {
	what := "import " + kind
	if c.IsSet("format") {
		return usagef("%s: --format is for .env and shell files", what)
	}
	dir, ids := inject.StoreDefaults(kind, r.env.Getenv, r.env.home())
	if d := c.String("store"); d != "" {
		dir = r.env.abs(d)
	}
	if p := c.String("identities"); p != "" {
		ids = r.env.abs(p)
	}
	sc, err := scopeFlag(c)
	if err != nil {
		return err
	}
	prefix := strings.Trim(c.String("prefix"), "/")
	if prefix != "" {
		if _, err := repo.CleanName(prefix); err != nil {
			return usagef("--prefix: %v", err)
		}
	}
	s, err := r.open(c)
	if err != nil {
		return err
	}
	defer s.close()
	cat, err := s.vault.Catalog()
	if err != nil {
		return err
	}
	o := inject.StoreOptions{Kind: kind, Dir: dir, Catalog: cat, Whole: c.Bool("whole-body"), SkipInvalid: c.Bool("skip-invalid")}
	if kind != inject.StorePassage {
		gpg := r.env.Getenv("TRESOR_GPG")
		if gpg == "" {
			gpg = "gpg"
		}
		if p, err := r.env.lookPath(gpg); err == nil {
			o.GPG = &inject.GPG{Path: p, Env: r.env.Environ()}
		} else {
			o.GPG = refusing{why: "gpg is not installed (not found on PATH); install GnuPG to import a " + kind + " store", fatal: true}
		}
	}
	switch {
	case kind == inject.StorePassage || ids != "":
		insecure := r.env.Getenv("TRESOR_ALLOW_INSECURE_IDENTITY") == "1"
		// Loaded at the first .age entry: a passphrase is asked only then.
		o.Age = &inject.AgeKeys{Load: func() (*codec.Keyring, error) {
			return inject.LoadStoreIdentities(ids, insecure, r.env.ReadSecret)
		}}
	default:
		o.Age = refusing{why: "an age-encrypted entry; give the age identities that decrypt it with --identities FILE"}
	}
	res, err := inject.ReadStore(context.Background(), o)
	if err != nil {
		var se *inject.StoreError
		if errors.As(err, &se) {
			return fmt.Errorf("%s: %w (nothing imported; fix the entry, or use --skip-invalid to import the rest)", what, err)
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	if len(res.Entries) == 0 {
		if len(res.Skipped) == 0 {
			return fmt.Errorf("%s: %s holds no entries (give the store with --store DIR)", what, dir)
		}
		return fmt.Errorf("%s: nothing to import from %s: every file was skipped", what, dir)
	}
	plans, err := inject.PlanStoreImport(s.vault, res.Entries, sc, s.ctx(), prefix, c.Bool("overwrite"), s.unlock)
	if err != nil {
		return fmt.Errorf("%s: %w (nothing imported)", what, err)
	}
	report := func() {
		for _, sk := range res.Skipped {
			fmt.Fprintf(r.errw(), "skipped: %s\n", sk)
		}
	}
	if c.Bool("dry-run") {
		report()
		if c.Bool("json") {
			return writeJSON(r.out(), plans)
		}
		tw, flush := r.table("ACTION", "REF", "TYPE", "SOURCE")
		for _, p := range plans {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Action, p.Ref, p.Type, p.Source)
		}
		if err := flush(); err != nil {
			return err
		}
		fmt.Fprintf(r.errw(), "dry run: nothing written\n")
		return nil
	}
	var conflicts []string
	var puts []repo.Put
	var refs []string
	counts := map[string]int{}
	for _, p := range plans {
		counts[p.Action]++
		switch p.Action {
		case inject.ActionConflict:
			conflicts = append(conflicts, p.Ref)
		case inject.ActionAdd, inject.ActionUpdate:
			puts = append(puts, repo.Put{Ref: p.RefValue, Entry: p.Entry})
			refs = append(refs, p.Ref)
		}
	}
	if len(conflicts) > 0 {
		return fmt.Errorf("%s: %d entr%s already hold%s different values: %s; nothing imported (use --overwrite to replace them; history keeps the old values)",
			what, len(conflicts), map[bool]string{true: "y", false: "ies"}[len(conflicts) == 1], map[bool]string{true: "s", false: ""}[len(conflicts) == 1], strings.Join(conflicts, ", "))
	}
	report()
	if len(puts) == 0 {
		r.noteMounts(c, kind)
		fmt.Fprintf(r.errw(), "nothing to import from %s: %d entries already up to date\n", dir, counts[inject.ActionUnchanged])
		return nil
	}
	if err := s.commitImport(puts, refs, fmt.Sprintf("import %d entries from a %s store", len(refs), kind), what); err != nil {
		return err
	}
	r.noteMounts(c, kind)
	fmt.Fprintf(r.errw(), "imported %d entries from %s (%d new, %d updated, %d unchanged, %d skipped)\n",
		len(refs), dir, counts[inject.ActionAdd], counts[inject.ActionUpdate], counts[inject.ActionUnchanged], len(res.Skipped))
	return nil
}

// noteMounts tells a gopass user which mounted sub-stores were not part of
// the root store just imported, and how to import each.
func (r *runner) noteMounts(c *ucli.Context, kind string) {
	if kind != inject.StoreGopass || c.String("store") != "" {
		return
	}
	for _, m := range inject.GopassMounts(r.env.Getenv, r.env.home()) {
		fmt.Fprintf(r.errw(), "note: gopass mount %s (%s) is a store of its own: tresor import gopass --store %s --prefix %s\n",
			m.Prefix, m.Dir, shellQuote(m.Dir), shellQuote(m.Prefix))
	}
}
