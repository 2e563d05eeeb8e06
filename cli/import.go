package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/tresor-dev/tresor/codec"
	"github.com/tresor-dev/tresor/inject"
	"github.com/tresor-dev/tresor/repo"
	"github.com/tresor-dev/tresor/schemas"
)

var envVarName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

type importPlan struct {
	Key    string `json:"key"`
	Ref    string `json:"ref"`
	Action string `json:"action"` // add, update, unchanged, conflict
	Type   string `json:"type"`
	Line   int    `json:"line"`
	ref    repo.Ref
	entry  *schemas.Entry
}

func (r *runner) cmdImport(c *ucli.Context) error {
	if err := args(c, 1, 1, "FILE|pass|passage|gopass [--format dotenv|shell] [--store DIR] [--skip-invalid] [--dry-run] [--overwrite]"); err != nil {
		return err
	}
	src := c.Args().First()
	switch src {
	case inject.StorePass, inject.StorePassage, inject.StoreGopass:
		return r.cmdImportStore(c, src)
	}
	for _, f := range []string{"store", "identities", "whole-body"} {
		if c.IsSet(f) {
			return usagef("import: --%s is for pass, passage and gopass stores", f)
		}
	}
	format := c.String("format")
	if format != inject.FormatDotenv && format != inject.FormatShell {
		return usagef("import: --format must be dotenv or shell, not %q", format)
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
	f, err := os.Open(r.env.abs(src))
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	data, err := readInput(f, src)
	f.Close()
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer clear(data)
	res, err := inject.Parse(data, format, c.Bool("skip-invalid"))
	if err != nil {
		var le *inject.LineError
		if errors.As(err, &le) {
			return fmt.Errorf("import %s: %w (nothing imported; fix the line, or use --skip-invalid to import the rest)", src, err)
		}
		return fmt.Errorf("import %s: %w (nothing imported)", src, err)
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(r.errw(), "warning: %s:%s\n", src, strings.TrimPrefix(w.String(), "line "))
	}
	for _, sk := range res.Skipped {
		fmt.Fprintf(r.errw(), "skipped: %s:%s\n", src, strings.TrimPrefix(sk.Error(), "line "))
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
	var kr *codec.Keyring
	var plans []*importPlan
	seen := map[string]string{}
	for _, p := range res.Pairs {
		name := p.Key
		if prefix != "" {
			name = prefix + "/" + p.Key
		}
		ref, exists, err := s.vault.Target(name, sc, s.ctx())
		if err != nil {
			return fmt.Errorf("import %s: line %d: %s: %w", src, p.Line, p.Key, err)
		}
		fold := repo.FoldName(ref.String())
		if other, dup := seen[fold]; dup {
			return fmt.Errorf("import %s: line %d: %s: differs only by letter case from %s in the same file; entry names are unique ignoring case", src, p.Line, p.Key, other)
		}
		seen[fold] = p.Key
		plan := &importPlan{Key: p.Key, Ref: ref.String(), Line: p.Line, ref: ref}
		if exists {
			if kr == nil {
				if kr, err = s.unlock(); err != nil {
					return err
				}
			}
			l, err := s.vault.Load(ref, kr)
			if err != nil {
				return fmt.Errorf("import %s: %w", src, err)
			}
			clear(l.Doc)
			plan.Type = l.Entry.Type
			if l.Entry.Fields[l.Type.Primary] == p.Value {
				plan.Action = "unchanged"
			} else {
				plan.Action = "conflict"
				if c.Bool("overwrite") {
					plan.Action = "update"
				}
				e := l.Entry.Clone()
				e.Set(l.Type.Primary, p.Value)
				plan.entry = e
			}
		} else {
			plan.Action = "add"
			plan.entry = newImported(cat, p.Key, p.Value, ref)
			plan.Type = plan.entry.Type
		}
		plans = append(plans, plan)
	}
	var conflicts []string
	for _, p := range plans {
		if p.Action == "conflict" {
			conflicts = append(conflicts, p.Key)
		}
	}
	if c.Bool("dry-run") {
		if c.Bool("json") {
			if plans == nil {
				plans = []*importPlan{}
			}
			return writeJSON(r.out(), plans)
		}
		tw, flush := r.table("ACTION", "KEY", "REF", "TYPE", "LINE")
		for _, p := range plans {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", p.Action, p.Key, p.Ref, p.Type, p.Line)
		}
		if err := flush(); err != nil {
			return err
		}
		fmt.Fprintf(r.errw(), "dry run: nothing written\n")
		return nil
	}
	if len(conflicts) > 0 {
		return fmt.Errorf("import %s: %d entr%s already hold a different value: %s; nothing imported (use --overwrite to replace them; history keeps the old values)",
			src, len(conflicts), map[bool]string{true: "y", false: "ies"}[len(conflicts) == 1], strings.Join(conflicts, ", "))
	}
	var puts []repo.Put
	var refs []string
	counts := map[string]int{}
	for _, p := range plans {
		counts[p.Action]++
		if p.entry == nil {
			continue
		}
		puts = append(puts, repo.Put{Ref: p.ref, Entry: p.entry})
		refs = append(refs, p.Ref)
	}
	if len(puts) == 0 {
		fmt.Fprintf(r.errw(), "nothing to import from %s: %d entries already up to date\n", src, counts["unchanged"])
		return nil
	}
	if err := s.commitImport(puts, refs, fmt.Sprintf("import %d entries from %s", len(refs), filepath.Base(src)), "import "+src); err != nil {
		return err
	}
	noun := "entries"
	if len(refs) == 1 {
		noun = "entry"
	}
	fmt.Fprintf(r.errw(), "imported %d %s from %s (%d new, %d updated, %d unchanged)\n", len(refs), noun, src, counts["add"], counts["update"], counts["unchanged"])
	return nil
}

// newImported builds the entry for a new key: its type guessed from the
// name and value, falling back to secret when the guess does not validate.
func newImported(cat *schemas.Catalog, key, value string, ref repo.Ref) *schemas.Entry {
	typ, service := cat.GuessType(key, value)
	build := func(typ, service string) *schemas.Entry {
		t, err := cat.Type(typ)
		if err != nil {
			return nil
		}
		e := schemas.NewEntry(typ)
		e.Set(t.Primary, value)
		if service != "" {
			if _, ok := t.Field("service"); ok {
				e.Set("service", service)
			}
		}
		last := ref.Name
		if i := strings.LastIndexByte(last, '/'); i >= 0 {
			last = last[i+1:]
		}
		cat.Normalize(e, last)
		// Keep the variable name the file used.
		if envVarName.MatchString(key) && cat.EnvName(e, last) != key {
			e.Set("env", key)
		}
		if _, err := cat.Validate(e); err != nil {
			return nil
		}
		return e
	}
	if e := build(typ, service); e != nil {
		return e
	}
	if e := build("secret", ""); e != nil {
		return e
	}
	e := schemas.NewEntry("secret")
	e.Set("value", value)
	return e
}

// commitImport encrypts the entries of an import and commits them as one
// change (what names the source in errors): all of them, or nothing.
func (s *session) commitImport(puts []repo.Put, refs []string, summary, what string) error {
	prepared, err := s.vault.Prepare(puts)
	if err != nil {
		return fmt.Errorf("%s: %w (nothing imported)", what, err)
	}
	for _, p := range prepared {
		for _, w := range p.Warnings {
			fmt.Fprintf(s.r.errw(), "warning: %s: %s\n", p.Ref, w)
		}
	}
	msg := repo.Message{Op: "import", Entries: refs, ValueChanged: true, Summary: summary}
	if err := s.vault.Commit(context.Background(), prepared, msg, s.author()); err != nil {
		return fmt.Errorf("%s: %w (nothing imported)", what, err)
	}
	return nil
}
