package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	ucli "github.com/urfave/cli/v2"

	"github.com/tresor-dev/tresor/codec"
	"github.com/tresor-dev/tresor/repo"
)

// table writes aligned columns; the header only goes to a terminal, so
// piped output is one record a line.
func (r *runner) table(header ...string) (*tabwriter.Writer, func() error) {
	tw := tabwriter.NewWriter(r.out(), 2, 4, 2, ' ', 0)
	if r.env.StdoutTTY {
		fmt.Fprintln(tw, strings.Join(header, "\t"))
	}
	return tw, tw.Flush
}

type lsRow struct {
	Ref         string   `json:"ref"`
	Scope       string   `json:"scope"`
	Name        string   `json:"name"`
	Type        string   `json:"type"`
	Service     string   `json:"service,omitempty"`
	Env         string   `json:"env,omitempty"`
	Hosts       []string `json:"hosts,omitempty"`
	Tags        []string `json:"tags,omitempty"`
	Description string   `json:"description,omitempty"`
	LastRotated string   `json:"last_rotated,omitempty"`
	Status      string   `json:"status,omitempty"`
}

func (r *runner) cmdLs(c *ucli.Context) error {
	if err := args(c, 0, 1, "[PREFIX] [--scope S] [--type T]"); err != nil {
		return err
	}
	sc, err := scopeFlag(c)
	if err != nil {
		return err
	}
	s, err := r.open(c)
	if err != nil {
		return err
	}
	defer s.close()
	if t := c.String("type"); t != "" {
		cat, err := s.vault.Catalog()
		if err != nil {
			return err
		}
		if _, err := cat.Type(t); err != nil {
			return usagef("ls --type: %v", err)
		}
	}
	prefix := c.Args().First()
	// Listing never needs the identity to succeed: without it, types of
	// entries not seen before show as unknown.
	rows, err := s.vault.Listing(func() (*codec.Keyring, error) {
		kr, err := s.unlock()
		if err != nil {
			fmt.Fprintf(r.errw(), "warning: %v; types not shown\n", err)
		}
		return kr, err
	})
	if err != nil {
		return err
	}
	typ := c.String("type")
	keep := rows[:0]
	for _, it := range rows {
		if sc != nil && it.Ref.Scope != *sc {
			continue
		}
		if prefix != "" && !strings.HasPrefix(it.Ref.Name, prefix) && !strings.HasPrefix(it.Key, prefix) {
			continue
		}
		if typ != "" && it.Meta.Type != typ {
			continue
		}
		keep = append(keep, it)
	}
	// Dates repeat: format each day once.
	days := map[int64]string{}
	day := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		t = t.UTC()
		k := t.Unix() / 86400
		d, ok := days[k]
		if !ok {
			d = t.Format("2006-01-02")
			days[k] = d
		}
		return d
	}
	// STATUS: why an entry cannot be read, else expired, expiring or stale
	// by the same rule as MCP's list_credentials (repo.Status); blank when ok.
	now := r.env.Now()
	status := func(it repo.Row) string {
		if it.Meta.Err != "" {
			return it.Meta.Err
		}
		if st := s.vault.Status(it, now); st != repo.StatusOK {
			return st
		}
		return ""
	}
	if c.Bool("json") {
		out := make([]lsRow, 0, len(keep))
		for _, it := range keep {
			m := it.Meta
			out = append(out, lsRow{Ref: it.Key, Scope: it.Ref.Scope.String(), Name: it.Ref.Name, Type: m.Type, Service: m.Service,
				Env: m.Env, Hosts: m.Hosts, Tags: m.Tags, Description: m.Description, LastRotated: day(it.Rotated), Status: status(it)})
		}
		return writeJSON(r.out(), out)
	}
	cells := make([][5]string, 0, len(keep)+1)
	if r.env.StdoutTTY {
		cells = append(cells, [5]string{"REF", "TYPE", "ENV", "LAST ROTATED", "STATUS"})
	}
	for _, it := range keep {
		cells = append(cells, [5]string{it.Key, it.Meta.Type, dash(it.Meta.Env), dash(day(it.Rotated)), status(it)})
	}
	_, err = r.out().Write(alignColumns(cells))
	return err
}

// alignColumns lays out rows as space-padded columns (two spaces between
// them, none after the last non-empty cell), in one buffer: text/tabwriter
// costs more at 10k rows than the rest of a warm `ls`.
func alignColumns(rows [][5]string) []byte {
	var width [5]int
	size := 0
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], utf8.RuneCountInString(c))
			size += len(c)
		}
	}
	total := 0
	for _, w := range width {
		total += w + 2
	}
	buf := make([]byte, 0, size+len(rows)*total+len(rows))
	for _, r := range rows {
		last := len(r) - 1
		for last > 0 && r[last] == "" {
			last--
		}
		for i := 0; i <= last; i++ {
			buf = append(buf, r[i]...)
			if i < last {
				for pad := width[i] - utf8.RuneCountInString(r[i]) + 2; pad > 0; pad-- {
					buf = append(buf, ' ')
				}
			}
		}
		buf = append(buf, '\n')
	}
	return buf
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (r *runner) cmdLog(c *ucli.Context) error {
	if err := args(c, 0, 1, "[NAME] [-n N]"); err != nil {
		return err
	}
	sc, err := scopeFlag(c)
	if err != nil {
		return err
	}
	s, err := r.open(c)
	if err != nil {
		return err
	}
	defer s.close()
	var ref *repo.Ref
	if name := c.Args().First(); name != "" {
		// History also answers for entries that no longer exist.
		rf, err := s.vault.Resolve(name, sc, s.ctx())
		if err != nil {
			if rf, _, err = s.vault.Target(name, sc, s.ctx()); err != nil {
				return err
			}
		}
		ref = &rf
	}
	items, err := s.vault.Log(ref, c.Int("limit"))
	if err != nil {
		return err
	}
	if ref != nil && len(items) == 0 {
		return &repo.EntryError{Ref: ref.String(), Err: fmt.Errorf("no history (never committed)")}
	}
	if c.Bool("json") {
		if items == nil {
			items = []repo.HistoryItem{}
		}
		return writeJSON(r.out(), items)
	}
	tw, flush := r.table("DATE", "AUTHOR", "OP", "ENTRY", "VALUE", "COMMIT")
	for _, it := range items {
		entries := strings.Join(it.Entries, ", ")
		if len(it.Entries) > 3 {
			entries = fmt.Sprintf("%s, … (%d entries)", strings.Join(it.Entries[:3], ", "), len(it.Entries))
		}
		if entries == "" {
			entries = "-"
		}
		author := it.Author
		if it.Client != "" {
			author += " via " + it.Client
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", it.When.Local().Format("2006-01-02 15:04"), author, it.Op, entries, valueWord(it), it.Commit[:10])
	}
	return flush()
}

func valueWord(it repo.HistoryItem) string {
	switch it.ValueChanged {
	case "yes":
		return "changed"
	case "no":
		return "same"
	}
	if it.Op == "init" {
		return "-"
	}
	return "unknown"
}

func (r *runner) cmdTypes(c *ucli.Context) error {
	if err := args(c, 0, 1, "[TYPE]"); err != nil {
		return err
	}
	cat, err := r.catalog(c)
	if err != nil {
		return err
	}
	types := cat.Types()
	if name := c.Args().First(); name != "" {
		t, err := cat.Type(name)
		if err != nil {
			return err
		}
		types = types[:0]
		types = append(types, t)
	}
	if c.Bool("json") {
		type field struct {
			Name     string `json:"name"`
			Kind     string `json:"kind"`
			Secret   bool   `json:"secret,omitempty"`
			Required bool   `json:"required,omitempty"`
			Doc      string `json:"doc,omitempty"`
		}
		type typ struct {
			Name        string  `json:"name"`
			Description string  `json:"description"`
			Primary     string  `json:"primary"`
			RotateEvery string  `json:"rotate_every,omitempty"`
			Fields      []field `json:"fields"`
		}
		var out []typ
		for _, t := range types {
			tt := typ{Name: t.Name, Description: t.Description, Primary: t.Primary, RotateEvery: t.RotateEvery}
			for _, f := range t.Fields {
				tt.Fields = append(tt.Fields, field{f.Name, f.Kind, f.Secret, f.Required, f.Doc})
			}
			out = append(out, tt)
		}
		return writeJSON(r.out(), out)
	}
	w := r.out()
	for i, t := range types {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s — %s\n", t.Name, t.Description)
		if len(types) > 1 {
			var fields []string
			for _, f := range t.Fields {
				n := f.Name
				if f.Secret {
					n += "*"
				}
				fields = append(fields, n)
			}
			fmt.Fprintf(w, "  fields: %s (* secret; get prints %s)\n", strings.Join(fields, ", "), t.Primary)
			continue
		}
		printTypeFields(w, t.Fields, t.Primary)
	}
	return nil
}

func printTypeFields(w io.Writer, fields []schemasField, primary string) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, f := range fields {
		flags := []string{f.Kind}
		if f.Secret {
			flags = append(flags, "secret")
		}
		if f.Required {
			flags = append(flags, "required")
		}
		if f.Name == primary {
			flags = append(flags, "primary")
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", f.Name, strings.Join(flags, ", "), f.Doc)
	}
	tw.Flush()
}
