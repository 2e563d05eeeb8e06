//go:build linux

package cli

import "golang.org/x/sys/unix"

// ramBacked reports whether dir is on a RAM-backed file system (tmpfs or
// ramfs), by its statfs magic. known is false when statfs fails.
func ramBacked(dir string) (ram, known bool) {
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) != nil {
		return false, false
	}
	return st.Type == unix.TMPFS_MAGIC || st.Type == unix.RAMFS_MAGIC, true
}
