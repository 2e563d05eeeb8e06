// Package inject moves secrets between the vault and the process world:
// it reads .env and shell files for import (dotenv.go, shellfile.go), writes
// the dotenv, shell and JSON export formats (write.go), and decides which
// variable names are too dangerous to import or inject (reserved.go). It also
// reads pass, passage and gopass stores for import (stores.go, storekeys.go,
// storeplan.go) and speaks git's credential helper protocol (gitcred.go).
//
// The import dialect is fixed by shared/cases/README.md: values are byte-exact,
// references resolve only against keys defined earlier in the same file, and
// nothing is ever executed. Errors and warnings name lines and keys, never
// values or source text.
package inject
