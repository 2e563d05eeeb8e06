package repo

import (
	"bufio"
	"encoding/gob"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tresor-dev/tresor/repo/gitdb"
)

// Trailers parses the `Key: value` trailer block at the end of a commit
// message. Repeated keys (Tresor-Entry) keep every value in order.
func Trailers(msg string) map[string][]string {
	out := map[string][]string{}
	msg = strings.TrimRight(msg, "\n")
	i := strings.LastIndex(msg, "\n\n")
	if i < 0 {
		return out
	}
	sc := bufio.NewScanner(strings.NewReader(msg[i+2:]))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ": ")
		if !ok || strings.ContainsAny(k, " \t") {
			return map[string][]string{}
		}
		out[k] = append(out[k], strings.TrimSpace(v))
	}
	return out
}

func first(m map[string][]string, k string) string {
	if v := m[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// HistoryItem is one change in the vault's history.
type HistoryItem struct {
	Commit string    `json:"commit"`
	When   time.Time `json:"time"`
	Author string    `json:"author"`
	// Op is the Tresor-Op trailer, or "git" for a commit made with plain git.
	Op      string   `json:"op"`
	Entries []string `json:"entries"`
	// ValueChanged is "yes", "no", or "unknown" for commits without trailers.
	ValueChanged string `json:"value_changed"`
	Summary      string `json:"summary"`
	Client       string `json:"client,omitempty"`
}

// ErrStop ends a walk early.
var errStop = gitdb.ErrStop

// Log returns the history of the vault, or of one entry when ref is set
// (following renames made with `mv`), newest first. limit <= 0 means all.
func (v *Vault) Log(ref *Ref, limit int) ([]HistoryItem, error) {
	var out []HistoryItem
	want := ""
	if ref != nil {
		want = ref.Path()
	}
	err := v.db.Walk("", func(ci *gitdb.CommitInfo) error {
		tr := Trailers(ci.Message)
		item := HistoryItem{
			Commit:  ci.Hash.String(),
			When:    ci.Author.When,
			Author:  ci.Author.Name,
			Op:      first(tr, "Tresor-Op"),
			Summary: strings.SplitN(ci.Message, "\n", 2)[0],
			Client:  first(tr, "Tresor-Client"),
		}
		switch vc := first(tr, "Tresor-Value-Changed"); vc {
		case "yes", "no":
			item.ValueChanged = vc
		default:
			item.ValueChanged = "unknown"
		}
		if item.Op == "" {
			item.Op = "git"
		}
		touched := false
		nextWant := want
		for _, ch := range ci.Changes {
			r, ok := PathRef(ch.Path)
			if !ok {
				continue
			}
			if want == "" {
				item.Entries = append(item.Entries, r.String())
				continue
			}
			if ch.Path != want {
				continue
			}
			touched = true
			item.Entries = append(item.Entries, r.String())
			// A rename: older history lives under the old name.
			if ch.From.IsZero() && item.Op == "mv" {
				if from, err := ParseRef(first(tr, "Tresor-From")); err == nil {
					nextWant = from.Path()
				}
			}
		}
		if want != "" && !touched {
			return nil
		}
		if want == "" && len(item.Entries) == 0 && item.Op != "init" {
			return nil
		}
		out = append(out, item)
		want = nextWant
		if limit > 0 && len(out) >= limit {
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	return out, nil
}

// Rotation is when an entry's value last changed.
type Rotation struct {
	Commit string
	When   time.Time
}

type rotationCache struct {
	Head    string
	Rotated map[string]Rotation // by path
}

// LastRotated answers "last rotated" for every entry at HEAD, by path: the
// newest commit that created the entry or changed its value. One walk of
// the history answers every entry; the answer is cached by HEAD in
// .git/tresor and updated incrementally when HEAD moves on.
func (v *Vault) LastRotated() (map[string]Rotation, error) {
	head, ok, err := v.db.Head()
	if err != nil || !ok {
		return map[string]Rotation{}, err
	}
	cachePath := filepath.Join(v.StateDir(), "rotated.cache")
	var cache rotationCache
	if f, err := os.Open(cachePath); err == nil {
		if gob.NewDecoder(f).Decode(&cache) != nil {
			cache = rotationCache{}
		}
		f.Close()
	}
	if cache.Head == head.String() && cache.Rotated != nil {
		return cache.Rotated, nil
	}
	files, err := v.db.TreeFiles(head)
	if err != nil {
		return nil, err
	}
	// pending maps a path to resolve -> the path at HEAD it answers for.
	pending := make(map[string][]string, len(files))
	for _, f := range files {
		if _, ok := PathRef(f.Path); ok {
			pending[f.Path] = []string{f.Path}
		}
	}
	result := make(map[string]Rotation, len(pending))
	stopAt := cache.Head
	reachedCache := false
	err = v.db.Walk("", func(ci *gitdb.CommitInfo) error {
		if len(pending) == 0 {
			return errStop
		}
		if ci.Hash.String() == stopAt && cache.Rotated != nil {
			reachedCache = true
			return errStop
		}
		tr := Trailers(ci.Message)
		op := first(tr, "Tresor-Op")
		valueChanged := first(tr, "Tresor-Value-Changed") != "no"
		rot := Rotation{Commit: ci.Hash.String(), When: ci.Author.When}
		for _, ch := range ci.Changes {
			owners, ok := pending[ch.Path]
			if !ok || ch.To.IsZero() {
				continue
			}
			delete(pending, ch.Path)
			if ch.From.IsZero() && op == "mv" {
				// Renamed here: the value dates from before the rename.
				if from, err := ParseRef(first(tr, "Tresor-From")); err == nil {
					pending[from.Path()] = append(pending[from.Path()], owners...)
					continue
				}
			}
			if valueChanged || ch.From.IsZero() {
				for _, o := range owners {
					result[o] = rot
				}
				continue
			}
			// Metadata only: the value is older; keep looking.
			pending[ch.Path] = owners
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	if reachedCache {
		for p, owners := range pending {
			if r, ok := cache.Rotated[p]; ok {
				for _, o := range owners {
					result[o] = r
				}
			}
		}
	}
	cache = rotationCache{Head: head.String(), Rotated: result}
	if f, err := os.CreateTemp(v.StateDir(), ".rotated-*"); err == nil {
		name := f.Name()
		encErr := gob.NewEncoder(f).Encode(&cache)
		f.Close()
		if encErr == nil {
			os.Rename(name, cachePath)
		} else {
			os.Remove(name)
		}
	}
	return result, nil
}
