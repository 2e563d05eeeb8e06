package inject

import (
	"fmt"
	"slices"

	"github.com/tresor-dev/tresor/codec"
	"github.com/tresor-dev/tresor/repo"
	"github.com/tresor-dev/tresor/schemas"
)

// Plan actions.
const (
	ActionAdd       = "add"
	ActionUpdate    = "update"
	ActionUnchanged = "unchanged"
	ActionConflict  = "conflict"
)

// StorePlan is what importing one store entry does to the vault. It never
// holds a value outside Entry.
type StorePlan struct {
	Name   string `json:"name"`
	Source string `json:"source"`
	Ref    string `json:"ref"`
	Action string `json:"action"` // add, update, unchanged, conflict
	Type   string `json:"type"`
	How    string `json:"how"`
	// RefValue is where the entry goes.
	RefValue repo.Ref `json:"-"`
	// Entry is what is written (nil when unchanged).
	Entry *schemas.Entry `json:"-"`
}

// PlanStoreImport decides, for each converted store entry, where it goes
// (scope or the scope a read would find, as `set` does; prefix/ before the
// name when given) and whether it adds, updates (overwrite), leaves alone
// or conflicts with an existing entry. unlock is called once, only when an
// existing entry must be compared. Nothing is written.
func PlanStoreImport(v *repo.Vault, entries []StoreEntry, scope *repo.Scope, ctx repo.Context, prefix string, overwrite bool, unlock func() (*codec.Keyring, error)) ([]*StorePlan, error) {
	var kr *codec.Keyring
	var plans []*StorePlan
	seen := map[string]string{}
	for _, se := range entries {
		name := se.Name
		if prefix != "" {
			name = prefix + "/" + name
		}
		ref, exists, err := v.Target(name, scope, ctx)
		if err != nil {
			return nil, &StoreError{Rel: se.Rel, Err: err}
		}
		fold := repo.FoldName(ref.String())
		if other, dup := seen[fold]; dup {
			return nil, &StoreError{Rel: se.Rel, Err: fmt.Errorf("goes to %s, as %s does (names are unique ignoring case)", ref, other)}
		}
		seen[fold] = se.Rel
		p := &StorePlan{Name: se.Name, Source: se.Rel, Ref: ref.String(), Type: se.Entry.Type, How: se.How, RefValue: ref}
		if !exists {
			p.Action, p.Entry = ActionAdd, se.Entry
			plans = append(plans, p)
			continue
		}
		if kr == nil {
			if kr, err = unlock(); err != nil {
				return nil, err
			}
		}
		l, err := v.Load(ref, kr)
		if err != nil {
			return nil, err
		}
		clear(l.Doc)
		if sameEntry(l.Entry, se.Entry) {
			p.Action = ActionUnchanged
		} else {
			p.Action, p.Entry = ActionConflict, se.Entry
			if overwrite {
				p.Action = ActionUpdate
			}
		}
		plans = append(plans, p)
	}
	return plans, nil
}

// sameEntry reports whether two entries hold the same type and fields.
func sameEntry(a, b *schemas.Entry) bool {
	if a.Type != b.Type || len(a.Fields) != len(b.Fields) || len(a.Lists) != len(b.Lists) {
		return false
	}
	for k, v := range a.Fields {
		if w, ok := b.Fields[k]; !ok || w != v {
			return false
		}
	}
	for k, v := range a.Lists {
		if w, ok := b.Lists[k]; !ok || !slices.Equal(v, w) {
			return false
		}
	}
	return true
}
