// Package inject moves secrets between the vault and the process world:
// it reads .env and shell files for import (dotenv.go, shellfile.go), writes
// the dotenv, shell and JSON export formats (write.go), and decides which
// variable names are too dangerous to import or inject (reserved.go). It also
// reads pass, passage and gopass stores for import (stores.go, storekeys.go,
// storeplan.go) and speaks git's credential helper protocol (gitcred.go).
//
// For exec, env and export it resolves which variables a request sees
// (plan.go: scopes layered, project mappings, reserved names), checks that
// a program can receive them (environ.go: NUL, per-variable and total
// limits, one copy of each name), runs the child with signals forwarded
// (run.go, pty_unix.go) and masks every value in its output with one
// Aho-Corasick automaton (mask.go). template.go parses and fills
// {{ tresor://ref#field }} templates; nothing in one is ever executed.
//
// The import dialect is fixed by shared/cases/README.md: values are byte-exact,
// references resolve only against keys defined earlier in the same file, and
// nothing is ever executed. Errors and warnings name lines and keys, never
// values or source text.
package inject
