package gitdb

import "os"

// fileStat is the stat data git caches in an index entry. git truncates
// every field to 32 bits on disk, and so do we.
type fileStat struct {
	ctimeSec, ctimeNsec uint32
	mtimeSec, mtimeNsec uint32
	dev, ino, uid, gid  uint32
	size                uint32
}

// statOf extracts the index stat data from fi (from os.Lstat). Without
// dev/inode/uid/gid/ctime git sees a stat mismatch and re-hashes the file on
// every `git status`.
func statOf(fi os.FileInfo) fileStat {
	st := sysStat(fi)
	st.size = uint32(fi.Size())
	if st.mtimeSec == 0 && st.mtimeNsec == 0 {
		mt := fi.ModTime()
		st.mtimeSec, st.mtimeNsec = uint32(mt.Unix()), uint32(mt.Nanosecond())
	}
	return st
}
