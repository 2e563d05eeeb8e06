package inject

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/tresor-dev/tresor/repo"
)

// MaxVarBytes is the largest "NAME=value" string (with its terminating NUL)
// that Linux passes to a program: MAX_ARG_STRLEN, 32 pages. A larger one
// makes execve fail with E2BIG.
const MaxVarBytes = 128 << 10

// Var is one variable to put in a child's environment.
type Var struct {
	// Name is the variable name; Value its exact bytes.
	Name, Value string
	// Ref and Field say where the value comes from.
	Ref   repo.Ref
	Field string
	// Origin says why the variable is there, for messages: "entry" for an
	// entry's own env name, or "FILE: env NAME" for a project mapping.
	Origin string
	// Canary marks a decoy entry: its read is logged as an alert.
	Canary bool
	// envField: the entry's own env field names the variable.
	envField bool
}

// Label is what masking prints instead of the value: <redacted:REF>.
func (v Var) Label() string { return "<redacted:" + v.Ref.String() + ">" }

// EnvError is an environment that cannot be passed to a program. It names
// the variable and the entry, never the value.
type EnvError struct {
	Name string // the variable
	Ref  string // the entry or mapping it comes from, "" when none
	Msg  string
}

func (e *EnvError) Error() string {
	if e.Ref != "" {
		return fmt.Sprintf("variable %s (from %s): %s", e.Name, e.Ref, e.Msg)
	}
	return fmt.Sprintf("variable %s: %s", e.Name, e.Msg)
}

// ValidVarName reports whether s can be the name of a variable a program
// and a shell both accept: [A-Za-z_][A-Za-z0-9_]*.
func ValidVarName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// CheckVar refuses a variable no program can receive intact: a name that
// is not a variable name, a NUL byte in the value (execve would cut the
// value there), or a NAME=value string over MaxVarBytes.
func CheckVar(v Var) error {
	ref := v.Origin
	if ref == "" || ref == "entry" {
		ref = v.Ref.String()
	}
	if !ValidVarName(v.Name) {
		return &EnvError{Name: fmt.Sprintf("%q", v.Name), Ref: ref, Msg: "not a valid variable name (letters, digits and _, not starting with a digit)"}
	}
	hint := ""
	switch {
	case v.Origin != "" && v.Origin != "entry":
	case v.envField:
		hint = fmt.Sprintf("; leave it out with --only, or remove the entry's env field (tresor set %s --field env=)", v.Ref)
	default:
		hint = fmt.Sprintf("; leave it out with --only, or rename the entry so its name is not a variable name (tresor mv %s %s.bin)", v.Ref, v.Ref)
	}
	if i := strings.IndexByte(v.Value, 0); i >= 0 {
		return &EnvError{Name: v.Name, Ref: ref, Msg: fmt.Sprintf("the value holds a NUL byte (at byte %d), which cannot be passed in an environment%s", i, hint)}
	}
	if n := len(v.Name) + 1 + len(v.Value) + 1; n > MaxVarBytes {
		return &EnvError{Name: v.Name, Ref: ref, Msg: fmt.Sprintf("the value is %d bytes, over the system's per-variable limit of %d bytes (write it to a file with `tresor get --out` or `tresor inject` instead)%s", len(v.Value), MaxVarBytes-len(v.Name)-2, hint)}
	}
	return nil
}

// BuildEnviron returns the child's environment: the parent's variables with
// the injected ones set, each name exactly once. By default the injected
// value wins; with preferParent a variable the parent already has keeps the
// parent's value. Parent entries that repeat a name are collapsed to the
// last one (what getenv sees is then the same in every libc), and entries
// without a name are dropped. The parent's order is kept; new variables
// follow, sorted by name.
func BuildEnviron(parent []string, vars []Var, preferParent bool) []string {
	inject := make(map[string]string, len(vars))
	for _, v := range vars {
		inject[v.Name] = v.Value
	}
	last := make(map[string]int, len(parent))
	for i, kv := range parent {
		name, _, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			continue
		}
		last[name] = i
	}
	out := make([]string, 0, len(parent)+len(vars))
	done := make(map[string]bool, len(vars))
	for i, kv := range parent {
		name, _, ok := strings.Cut(kv, "=")
		if !ok || name == "" || last[name] != i {
			continue
		}
		if val, ok := inject[name]; ok && !preferParent {
			out = append(out, name+"="+val)
		} else {
			out = append(out, kv)
		}
		done[name] = true
	}
	names := make([]string, 0, len(vars))
	for name := range inject {
		if !done[name] {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		out = append(out, name+"="+inject[name])
	}
	return out
}

// Injected returns the variables that BuildEnviron(parent, vars,
// preferParent) really sets from the vault: all of them, or with
// preferParent those the parent does not already have.
func Injected(parent []string, vars []Var, preferParent bool) []Var {
	if !preferParent {
		return vars
	}
	has := make(map[string]bool, len(parent))
	for _, kv := range parent {
		if name, _, ok := strings.Cut(kv, "="); ok {
			has[name] = true
		}
	}
	var out []Var
	for _, v := range vars {
		if !has[v.Name] {
			out = append(out, v)
		}
	}
	return out
}

// CheckArgSpace refuses an argument list and environment that execve would
// reject with E2BIG, naming the largest injected variables: the kernel
// counts every string with its NUL plus one pointer each, against a limit
// of a quarter of the stack size limit (see ArgLimit).
func CheckArgSpace(argv, env []string, injected []Var) error {
	limit := ArgLimit()
	total := 0
	for _, s := range argv {
		total += len(s) + 1 + 8
	}
	for _, s := range env {
		total += len(s) + 1 + 8
		if len(s)+1 > MaxVarBytes {
			name, _, _ := strings.Cut(s, "=")
			return &EnvError{Name: name, Msg: fmt.Sprintf("%d bytes, over the system's per-variable limit of %d bytes", len(s)+1, MaxVarBytes)}
		}
	}
	for _, s := range argv {
		if len(s)+1 > MaxVarBytes {
			return fmt.Errorf("an argument of the command is %d bytes, over the system's per-argument limit of %d bytes", len(s)+1, MaxVarBytes)
		}
	}
	if total <= limit {
		return nil
	}
	big := append([]Var(nil), injected...)
	sort.SliceStable(big, func(i, j int) bool { return len(big[i].Value) > len(big[j].Value) })
	var names []string
	for i := 0; i < len(big) && i < 3; i++ {
		names = append(names, fmt.Sprintf("%s (%d bytes)", big[i].Name, len(big[i].Value)))
	}
	hint := ""
	if len(names) > 0 {
		hint = "; largest injected: " + strings.Join(names, ", ") + "; inject fewer with --only, or write large values to a file with `tresor inject`"
	}
	return fmt.Errorf("the environment and arguments take %d bytes, over the system limit of %d bytes (the program could not be started: E2BIG)%s", total, limit, hint)
}

// environBytes is the environment as /proc/PID/environ shows it, for tests.
func environBytes(env []string) []byte {
	var b bytes.Buffer
	for _, kv := range env {
		b.WriteString(kv)
		b.WriteByte(0)
	}
	return b.Bytes()
}
