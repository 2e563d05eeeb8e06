package gitdb

import (
	"os"
	"syscall"
)

func sysStat(fi os.FileInfo) fileStat {
	sys, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileStat{}
	}
	return fileStat{
		ctimeSec: uint32(sys.Ctimespec.Sec), ctimeNsec: uint32(sys.Ctimespec.Nsec),
		mtimeSec: uint32(sys.Mtimespec.Sec), mtimeNsec: uint32(sys.Mtimespec.Nsec),
		dev: uint32(sys.Dev), ino: uint32(sys.Ino), uid: sys.Uid, gid: sys.Gid,
	}
}
