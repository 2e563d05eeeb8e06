//go:build !windows

package access

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestNewFilesArePrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tresor")
	l, err := Open(dir, stepClock())
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, read(ClientCLI, "get", "global/x"))
	for path, want := range map[string]os.FileMode{
		dir:                                   0o700,
		filepath.Join(dir, "log.key"):         0o600,
		filepath.Join(dir, "access.log"):      0o600,
		filepath.Join(dir, "access.log.lock"): 0o600,
	} {
		if got := mode(t, path); got != want {
			t.Errorf("%s: mode %04o; want %04o", path, got, want)
		}
	}
}

func TestKeyPermissions(t *testing.T) {
	for _, m := range []os.FileMode{0o640, 0o604, 0o644, 0o660, 0o666} {
		dir := filepath.Join(t.TempDir(), "tresor")
		if _, err := Open(dir, stepClock()); err != nil {
			t.Fatal(err)
		}
		key := filepath.Join(dir, "log.key")
		if err := os.Chmod(key, m); err != nil {
			t.Fatal(err)
		}
		_, err := Open(dir, stepClock())
		if err == nil {
			t.Fatalf("mode %04o: Open accepted an exposed key", m)
		}
		if msg := err.Error(); !strings.Contains(msg, key) || !strings.Contains(msg, "chmod 600") {
			t.Errorf("mode %04o: error %q does not name the file and the fix", m, msg)
		}
		if got := mode(t, key); got != m {
			t.Errorf("Open changed the key's mode to %04o", got)
		}
	}
}

func TestKeyDamagedOrLinked(t *testing.T) {
	t.Run("short key", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "tresor")
		os.MkdirAll(dir, 0o700)
		os.WriteFile(filepath.Join(dir, "log.key"), []byte("0123456789abcdef"), 0o600)
		_, err := Open(dir, stepClock())
		if err == nil || !strings.Contains(err.Error(), "damaged (16 bytes, want 32)") {
			t.Fatalf("Open = %v; want a damaged-key error", err)
		}
		if strings.Contains(err.Error(), "0123456789abcdef") {
			t.Error("error quotes the key")
		}
	})
	t.Run("symlinked key", func(t *testing.T) {
		base := t.TempDir()
		dir := filepath.Join(base, "tresor")
		os.MkdirAll(dir, 0o700)
		target := filepath.Join(base, "elsewhere.key")
		os.WriteFile(target, make([]byte, 32), 0o600)
		os.Symlink(target, filepath.Join(dir, "log.key"))
		if _, err := Open(dir, stepClock()); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("Open = %v; want a refusal of the symlink", err)
		}
	})
}

func TestLogPermissionsNarrowed(t *testing.T) {
	l := openTest(t)
	mustAppend(t, l, read(ClientCLI, "get", "global/x"))
	if err := os.Chmod(l.Path(), 0o644); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, read(ClientCLI, "get", "global/y"))
	if got := mode(t, l.Path()); got != 0o600 {
		t.Errorf("access.log mode %04o after Append; want 0600", got)
	}
	verifyOK(t, l, 2)
}

func TestSymlinkedLogRefused(t *testing.T) {
	base := t.TempDir()
	l, err := Open(filepath.Join(base, "tresor"), stepClock())
	if err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(base, "elsewhere.log")
	if err := os.WriteFile(target, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, l.Path()); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(read(ClientCLI, "get", "global/x")); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("Append = %v; want a refusal of the symlink", err)
	}
	if data, _ := os.ReadFile(target); len(data) != 0 {
		t.Error("Append wrote through the symlink")
	}
	if _, err := l.Verify(); err == nil {
		t.Error("Verify read through the symlink")
	}
}

func TestSymlinkedDirRefused(t *testing.T) {
	base := t.TempDir()
	real := filepath.Join(base, "real")
	os.Mkdir(real, 0o700)
	link := filepath.Join(base, "tresor")
	os.Symlink(real, link)
	if _, err := Open(link, stepClock()); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("Open = %v; want a refusal of the symlinked directory", err)
	}
}
