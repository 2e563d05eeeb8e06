//go:build !linux && !darwin

package gitdb

import "os"

// sysStat has no portable source for ctime/dev/inode; git will re-hash such
// files once on `git status` and then refresh its own index.
func sysStat(fi os.FileInfo) fileStat { return fileStat{} }
