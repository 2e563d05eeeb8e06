package inject

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/tresor-dev/tresor/codec"
	"github.com/tresor-dev/tresor/repo"
)

// Request says which variables a command wants: exec, env and export all
// resolve the same way, so they can never disagree.
type Request struct {
	// Project is the project the request is made in ("" for none): from
	// .tresor.yaml, or --scope project:P.
	Project string
	// Scope is --scope when given. project:P and global select the layers
	// (global, this device, project P); mcp:S selects the server's entries
	// and nothing else; device:D stands in for this device.
	Scope *repo.Scope
	// Mappings are the project file's env mappings (variable -> reference,
	// optionally #field), applied on top of the entries; MappingFile names
	// the file in messages.
	Mappings    map[string]string
	MappingFile string
	// Only restricts the result to these variable names; each must be found.
	Only []string
	// AllowReserved lets these reserved names through (see IsReservedName).
	AllowReserved []string
}

// Plan is what a request resolved to.
type Plan struct {
	// Vars are the variables, sorted by name, each name once.
	Vars []Var
	// Warnings are one line each: skipped reserved names, unreadable
	// entries. They never hold a value.
	Warnings []string
}

// candidate is an entry that provides a variable, before its value is read.
type candidate struct {
	name   string
	ref    repo.Ref
	field  string // "" for the type's primary field
	origin string
	layer  int
	// explicit: the user asked for this name (mapping, --only) rather than
	// getting it from an entry's name.
	explicit bool
}

// Layers returns the scopes a request sees, least specific first: for the
// same variable name a later layer wins.
func (req Request) Layers(device string) []repo.Scope {
	if req.Scope != nil && req.Scope.Kind == repo.MCP {
		return []repo.Scope{*req.Scope}
	}
	layers := []repo.Scope{repo.GlobalScope}
	dev := device
	if req.Scope != nil && req.Scope.Kind == repo.Device {
		dev = req.Scope.Name
	}
	if dev != "" {
		layers = append(layers, repo.Scope{Kind: repo.Device, Name: dev})
	}
	if req.Project != "" {
		layers = append(layers, repo.Scope{Kind: repo.Project, Name: req.Project})
	}
	return layers
}

// Resolve finds the variables of a request: every entry in the visible
// layers that has an environment name (the most specific layer wins), then
// the project mappings (which win over entries), restricted to Only. Values
// are decrypted only for the variables kept. Reserved names that come from
// an entry's name are skipped with a warning; asked for explicitly (an env
// field, a mapping, --only) they are an error unless allowed. Any variable
// that cannot be passed to a program is an error naming it. Nothing is
// logged here: the caller logs each Var before revealing it.
func Resolve(v *repo.Vault, kr *codec.Keyring, req Request) (*Plan, error) {
	plan := &Plan{}
	layers := req.Layers(v.Device)
	layerOf := map[repo.Scope]int{}
	for i, sc := range layers {
		layerOf[sc] = i
	}
	items, problems := v.List()
	for _, p := range problems {
		plan.Warnings = append(plan.Warnings, "skipped: "+p.Error())
	}
	var visible []repo.Item
	for _, it := range items {
		if _, ok := layerOf[it.Ref.Scope]; ok {
			visible = append(visible, it)
		}
	}
	metas := v.Metadata(visible, kr)

	// Entries, by variable name: the most specific layer wins; two entries
	// of the same layer with the same name are ambiguous.
	byName := map[string]candidate{}
	ambiguous := map[string][]string{}
	for _, it := range visible {
		m := metas[it.Path]
		if m.Err != "" {
			plan.Warnings = append(plan.Warnings, fmt.Sprintf("skipped %s: %s", it.Ref, m.Err))
			continue
		}
		if m.Env == "" {
			continue
		}
		c := candidate{name: m.Env, ref: it.Ref, origin: "entry", layer: layerOf[it.Ref.Scope]}
		old, ok := byName[m.Env]
		switch {
		case !ok || c.layer > old.layer:
			byName[m.Env] = c
			delete(ambiguous, m.Env)
		case c.layer == old.layer:
			if len(ambiguous[m.Env]) == 0 {
				ambiguous[m.Env] = []string{old.ref.String()}
			}
			ambiguous[m.Env] = append(ambiguous[m.Env], c.ref.String())
		}
	}

	// Project mappings win over entries.
	mapNames := make([]string, 0, len(req.Mappings))
	for name := range req.Mappings {
		mapNames = append(mapNames, name)
	}
	sort.Strings(mapNames)
	for _, name := range mapNames {
		target := req.Mappings[name]
		origin := fmt.Sprintf("%s: env %s", req.MappingFile, name)
		if !ValidVarName(name) {
			return nil, &EnvError{Name: fmt.Sprintf("%q", name), Ref: req.MappingFile, Msg: "not a valid variable name (letters, digits and _, not starting with a digit)"}
		}
		refText, field, _ := strings.Cut(target, "#")
		ref, err := v.Resolve(refText, nil, repo.Context{Project: req.Project})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", origin, err)
		}
		byName[name] = candidate{name: name, ref: ref, field: field, origin: origin, layer: len(layers), explicit: true}
		delete(ambiguous, name)
	}

	if len(req.Only) > 0 {
		only := map[string]bool{}
		for _, n := range req.Only {
			if !ValidVarName(n) {
				return nil, &EnvError{Name: fmt.Sprintf("%q", n), Ref: "--only", Msg: "not a valid variable name"}
			}
			only[n] = true
			c, ok := byName[n]
			if !ok && len(ambiguous[n]) == 0 {
				return nil, &EnvError{Name: n, Ref: "--only", Msg: fmt.Sprintf("no entry in %s provides it", describeLayers(layers))}
			}
			c.explicit = true
			byName[n] = c
		}
		for n := range byName {
			if !only[n] {
				delete(byName, n)
			}
		}
		for n := range ambiguous {
			if !only[n] {
				delete(ambiguous, n)
			}
		}
	}
	if len(ambiguous) > 0 {
		names := make([]string, 0, len(ambiguous))
		for n := range ambiguous {
			names = append(names, n)
		}
		sort.Strings(names)
		n := names[0]
		return nil, &EnvError{Name: n, Msg: ambiguityMsg(n, ambiguous[n])}
	}

	allowed := map[string]bool{}
	for _, n := range req.AllowReserved {
		allowed[n] = true
	}
	var keep []candidate
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		keep = append(keep, byName[n])
	}

	vars := make([]Var, len(keep))
	errs := make([]error, len(keep))
	explicitEnv := make([]bool, len(keep))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, c := range keep {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			vars[i], explicitEnv[i], errs[i] = load(v, kr, c)
		}()
	}
	wg.Wait()
	for _, e := range errs {
		if e != nil {
			return nil, e
		}
	}
	for i, c := range keep {
		vr := vars[i]
		if why := ReservedReason(vr.Name); why != "" && !allowed[vr.Name] {
			if c.explicit || explicitEnv[i] {
				return nil, &EnvError{Name: vr.Name, Ref: originOf(vr), Msg: fmt.Sprintf("is a reserved name (%s); pass --allow-reserved %s to inject it anyway", why, vr.Name)}
			}
			plan.Warnings = append(plan.Warnings, fmt.Sprintf("not injecting %s from %s: reserved name, %s (allow with --allow-reserved %s)", vr.Name, vr.Ref, why, vr.Name))
			continue
		}
		if err := CheckVar(vr); err != nil {
			return nil, err
		}
		plan.Vars = append(plan.Vars, vr)
	}
	return plan, nil
}

// ambiguityMsg says which entries provide the same variable, and the exact
// commands that settle it: keep one, or give another its own variable.
func ambiguityMsg(name string, refs []string) string {
	rms := make([]string, len(refs))
	for i, r := range refs {
		rms[i] = "tresor rm " + shellArg(r)
	}
	return fmt.Sprintf("provided by %s in the same scope; keep one (%s), or give one its own variable (tresor set %s --field env=OTHER_NAME), or map %s in .tresor.yaml",
		strings.Join(refs, " and "), strings.Join(rms, " or "), shellArg(refs[len(refs)-1]), name)
}

// shellArg quotes s for a command a message suggests, when it needs it.
func shellArg(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+:@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func originOf(v Var) string {
	if v.Origin == "" || v.Origin == "entry" {
		return v.Ref.String()
	}
	return v.Origin
}

// load decrypts one candidate's value. explicitEnv reports whether the
// entry's own env field names the variable.
func load(v *repo.Vault, kr *codec.Keyring, c candidate) (Var, bool, error) {
	l, err := v.Load(c.ref, kr)
	if err != nil {
		if c.origin != "entry" {
			return Var{}, false, fmt.Errorf("%s: %w", c.origin, err)
		}
		return Var{}, false, err
	}
	defer clear(l.Doc)
	field := c.field
	if field == "" {
		field = l.Type.Primary
	}
	val, ok := FieldValue(l, field)
	if !ok {
		return Var{}, false, &EnvError{Name: c.name, Ref: originOf(Var{Ref: c.ref, Origin: c.origin}), Msg: fmt.Sprintf("%s has no field %q", c.ref, field)}
	}
	envField := l.Entry.Fields["env"] == c.name
	return Var{
		Name: c.name, Value: val, Ref: c.ref, Field: field, Origin: c.origin,
		Canary: l.Entry.Fields["canary"] == "true", envField: envField,
	}, envField, nil
}

// FieldValue is one field of a loaded entry as text: a scalar's exact
// bytes, or a list's items one a line.
func FieldValue(l *repo.Loaded, field string) (string, bool) {
	if list, ok := l.Entry.Lists[field]; ok {
		if len(list) == 0 {
			return "", true
		}
		return strings.Join(list, "\n") + "\n", true
	}
	v, ok := l.Entry.Fields[field]
	return v, ok
}

func describeLayers(layers []repo.Scope) string {
	var s []string
	for _, l := range layers {
		s = append(s, l.String())
	}
	return "scope " + strings.Join(s, ", ")
}

// LoadRef reads the value a reference points to, as templates and mappings
// write it: a full reference (global/openai, projects/p/db) is taken as it
// is; a bare name is looked up in scope when given, else in the project,
// this device and global, the most specific first.
func LoadRef(v *repo.Vault, kr *codec.Keyring, project string, scope *repo.Scope, r TemplateRef) (Var, error) {
	var ref repo.Ref
	var err error
	if repo.IsRef(r.Ref) {
		ref, err = v.Resolve(r.Ref, nil, repo.Context{Project: project})
	} else {
		ref, err = v.Resolve(r.Ref, scope, repo.Context{Project: project})
	}
	if err != nil {
		return Var{}, err
	}
	l, err := v.Load(ref, kr)
	if err != nil {
		return Var{}, err
	}
	defer clear(l.Doc)
	field := r.Field
	if field == "" {
		field = l.Type.Primary
	}
	val, ok := FieldValue(l, field)
	if !ok {
		return Var{}, &repo.EntryError{Ref: ref.String(), Err: fmt.Errorf("has no field %q", field)}
	}
	return Var{Value: val, Ref: ref, Field: field, Origin: r.String(), Canary: l.Entry.Fields["canary"] == "true"}, nil
}
