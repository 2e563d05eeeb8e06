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
		ctimeSec: uint32(sys.Ctim.Sec), ctimeNsec: uint32(sys.Ctim.Nsec),
		mtimeSec: uint32(sys.Mtim.Sec), mtimeNsec: uint32(sys.Mtim.Nsec),
		dev: uint32(sys.Dev), ino: uint32(sys.Ino), uid: sys.Uid, gid: sys.Gid,
	}
}
