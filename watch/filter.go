package watch

import (
	"path"
	"strconv"
	"strings"
)

// tempName reports whether base (a file name without directory) is a
// temporary, swap, lock or backup file that an editor or an atomic writer
// keeps beside the file it saves. Such names never carry a change of their
// own: the save that matters shows up as a create or rename of the target.
func tempName(base string) bool {
	if base == "" {
		return false
	}
	n := len(base)
	switch {
	case base[n-1] == '~': // vim, emacs, nano backups: x~
		return true
	case strings.HasPrefix(base, ".#"): // emacs lock symlink: .#x
		return true
	case n >= 2 && base[0] == '#' && base[n-1] == '#': // emacs auto-save: #x#
		return true
	case strings.HasSuffix(base, "___jb_tmp___"), strings.HasSuffix(base, "___jb_old___"),
		strings.HasSuffix(base, "___jb_bak___"): // JetBrains safe write
		return true
	case strings.HasSuffix(base, ".vsctmp"): // VS Code atomic write postfix
		return true
	case strings.HasSuffix(base, ".kate-swp"): // Kate swap file
		return true
	case vimSwap(base), vimProbe(base), hiddenDigits(base), sedTemp(base):
		return true
	}
	return false
}

// vimSwap matches vim's (and nano's) swap files beside the edited file:
// ".x.swp", then ".x.swo", ".x.swn" ... down to ".x.swa", and ".x.swx"
// (the probe vim writes to test whether swap files can be created).
func vimSwap(base string) bool {
	if base[0] != '.' {
		return false
	}
	ext := path.Ext(base)
	if len(ext) != 4 || ext[1] != 's' || ext[2] != 'w' || len(base) < 5 {
		return false
	}
	c := ext[3]
	return c >= 'a' && c <= 'p' || c == 'x'
}

// vimProbe matches the file vim creates to test whether it may write in a
// directory: "4913", or 4913+123k when that exists, below 100000.
func vimProbe(base string) bool {
	if base[0] < '1' || base[0] > '9' || len(base) > 5 {
		return false
	}
	n, err := strconv.Atoi(base)
	return err == nil && n >= 4913 && n < 100000 && (n-4913)%123 == 0
}

// hiddenDigits matches google/renameio's temporary files, "."+name+a
// decimal rand.Int64 (github.com/google/renameio/v2 tempfile.go), and
// os.CreateTemp(dir, ".x-*") names (this repo's ".cache-*", ".rotated-*"):
// a hidden name ending in at least nine digits. renameio's suffix is shorter
// than that with probability below 1e-9.
func hiddenDigits(base string) bool {
	if base[0] != '.' {
		return false
	}
	d := 0
	for i := len(base) - 1; i > 0 && base[i] >= '0' && base[i] <= '9'; i-- {
		d++
	}
	return d >= 9 && d < len(base)-1
}

// sedTemp matches GNU sed -i's temporary file: "sed" and six random
// alphanumerics.
func sedTemp(base string) bool {
	if len(base) != 9 || !strings.HasPrefix(base, "sed") {
		return false
	}
	for i := 3; i < 9; i++ {
		c := base[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// gitKind says what a path below .git means to the watcher.
type gitKind int

const (
	gitIgnored  gitKind = iota // object and index churn, lock files, logs
	gitRefs                    // HEAD, packed-refs, refs/**: a ref moved
	gitRefsDir                 // .git/refs or a directory below it: watch it
	gitStateDir                // .git/tresor: watch it for clients.yaml
	gitClients                 // .git/tresor/clients.yaml: report as a path
)

// clientsPath is the client registry, reported as a path so that a
// revocation reaches a running server at once.
const clientsPath = ".git/tresor/clients.yaml"

// classifyGit classifies rel, a slash path relative to the root that starts
// with ".git/". Lock files are ignored: git and gitdb write "<ref>.lock" and
// rename it over the ref, and the rename is what reports the move.
func classifyGit(rel string) gitKind {
	switch {
	case rel == ".git/HEAD", rel == ".git/packed-refs":
		return gitRefs
	case rel == ".git/refs":
		return gitRefsDir
	case strings.HasPrefix(rel, ".git/refs/"):
		if strings.HasSuffix(rel, ".lock") {
			return gitIgnored
		}
		return gitRefs
	case rel == ".git/tresor":
		return gitStateDir
	case rel == clientsPath:
		return gitClients
	}
	return gitIgnored
}

// hasGitSegment reports whether rel has a ".git" segment (any case) below
// the root's own .git: a nested repository or submodule, never vault data.
func hasGitSegment(rel string) bool {
	for seg := range strings.SplitSeq(rel, "/") {
		if strings.EqualFold(seg, ".git") {
			return true
		}
	}
	return false
}
