package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// editUnderSignal starts `tresor edit k` as a real process whose editor
// records the file it was given and its own pid, then sleeps. It returns
// the process, the plaintext file and the editor's pid once the editor runs.
func editUnderSignal(t *testing.T) (*home, *exec.Cmd, string, int) {
	t.Helper()
	h := newHome(t)
	rt, err := os.MkdirTemp("/dev/shm", "fc-edit-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(rt) })
	h.vars["XDG_RUNTIME_DIR"] = rt
	h.ok("", "init")
	h.ok("sk-test-FAKE1234567890abcdef", "set", "k", "--type", "api_key")
	ed := filepath.Join(h.dir, "ed.sh")
	marks := filepath.Join(h.dir, "marks")
	os.WriteFile(ed, []byte("#!/bin/sh\necho \"$1\" > "+marks+".tmp; echo $$ >> "+marks+".tmp; mv "+marks+".tmp "+marks+"\nexec sleep 30\n"), 0o700)
	h.vars["EDITOR"] = ed
	cmd := h.proc("", "edit", "k")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	for range 500 {
		if data, err := os.ReadFile(marks); err == nil {
			f := strings.Fields(string(data))
			pid, _ := strconv.Atoi(f[1])
			t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
			if _, err := os.Stat(f[0]); err != nil {
				t.Fatalf("the editor's file is not there: %v", err)
			}
			if !strings.HasPrefix(f[0], rt+"/") {
				t.Fatalf("edit file %s is not in the tmpfs $XDG_RUNTIME_DIR %s", f[0], rt)
			}
			return h, cmd, f[0], pid
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the editor never started")
	return nil, nil, "", 0
}

func gone(pid int) bool {
	for range 300 {
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// Closing the terminal (SIGHUP) or SIGTERM during edit wipes the plaintext,
// stops the editor and changes nothing.
func TestEditSignalWipes(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			h, cmd, file, edPID := editUnderSignal(t)
			before := commitCount(t, h.vault())
			cmd.Process.Signal(sig)
			err := cmd.Wait()
			if err == nil {
				t.Error("edit exited 0 after a signal")
			}
			if _, err := os.Stat(filepath.Dir(file)); !os.IsNotExist(err) {
				t.Errorf("the edit directory survived %v: %v", sig, err)
			}
			if !gone(edPID) {
				t.Errorf("the editor (pid %d) still runs after tresor got %v", edPID, sig)
			}
			if commitCount(t, h.vault()) != before {
				t.Error("an interrupted edit committed")
			}
			if got := h.ok("", "get", "k", "--raw").stdout; got != "sk-test-FAKE1234567890abcdef" {
				t.Errorf("value after an interrupted edit = %q", got)
			}
		})
	}
}

// kill -9 cannot be caught: the next tresor command wipes what the dead
// edit left, and never a live edit's directory, a symlink, or another
// directory.
func TestEditKill9NextCommandWipes(t *testing.T) {
	h, cmd, file, edPID := editUnderSignal(t)
	rt := h.vars["XDG_RUNTIME_DIR"]
	// A live edit's directory (our pid) and a look-alike symlink stay.
	live, _ := makeEditDir(rt)
	os.Symlink(h.dir, filepath.Join(rt, "tresor-edit-link"))
	other := filepath.Join(rt, "tresor-edit-nopid")
	os.Mkdir(other, 0o700)

	cmd.Process.Kill()
	cmd.Wait()
	syscall.Kill(edPID, syscall.SIGKILL)
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("kill -9 should leave the file for the next command: %v", err)
	}
	// The pid file names the live test process for "live": a different,
	// live process. Rewrite it to our parent's pid, alive and not tresor.
	os.WriteFile(filepath.Join(live, editPIDFile), []byte(strconv.Itoa(os.Getppid())+"\n"), 0o600)
	r := h.ok("", "ls")
	if !strings.Contains(r.stderr, "wiped "+filepath.Dir(file)) {
		t.Errorf("ls did not say it wiped the dead edit's directory: %q", r.stderr)
	}
	if _, err := os.Stat(filepath.Dir(file)); !os.IsNotExist(err) {
		t.Errorf("the dead edit's directory survived the next command: %v", err)
	}
	for _, p := range []string{live, filepath.Join(rt, "tresor-edit-link"), other, h.dir} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
}

// $XDG_RUNTIME_DIR on a disk file system is not trusted with the plaintext:
// edit says so and uses /dev/shm.
func TestEditSkipsDiskRuntimeDir(t *testing.T) {
	if ram, known := ramBacked(t.TempDir()); !known || ram {
		t.Fatalf("the test needs a disk-backed temp dir: ramBacked = %v, %v", ram, known)
	}
	if ram, known := ramBacked("/dev/shm"); !known || !ram {
		t.Fatalf("ramBacked(/dev/shm) = %v, %v", ram, known)
	}
	h := newHome(t)
	disk := t.TempDir()
	h.vars["XDG_RUNTIME_DIR"] = disk
	h.ok("", "init")
	h.ok("sk-test-FAKE1234567890abcdef", "set", "k", "--type", "api_key")
	where := filepath.Join(h.dir, "where")
	ed := filepath.Join(h.dir, "ed.sh")
	os.WriteFile(ed, []byte("#!/bin/sh\necho \"$1\" > "+where+"\n"), 0o700)
	h.vars["EDITOR"] = ed
	r := h.ok("", "edit", "k")
	if !strings.Contains(r.stderr, disk+" is not RAM-backed") {
		t.Errorf("edit did not say why it skipped %s: %q", disk, r.stderr)
	}
	data, _ := os.ReadFile(where)
	if !strings.HasPrefix(string(data), "/dev/shm/tresor-edit-") {
		t.Errorf("the plaintext went to %q, want /dev/shm", data)
	}
}

// doctor finds and wipes a dead edit's directory in the temporary
// directory too (edit's last resort when there is no tmpfs).
func TestDoctorWipesDeadEditInTempDir(t *testing.T) {
	h := newHome(t)
	h.ok("", "init")
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	dir := filepath.Join(tmp, editDirPrefix+"dead")
	os.Mkdir(dir, 0o700)
	os.WriteFile(filepath.Join(dir, editFile), []byte("value: sk-test-FAKE-left-behind\n"), 0o600)
	// A pid that exited: a finished child's.
	c := exec.Command("true")
	c.Run()
	os.WriteFile(filepath.Join(dir, editPIDFile), []byte(strconv.Itoa(c.Process.Pid)+"\n"), 0o600)
	r := h.ok("", "doctor")
	if !strings.Contains(r.stdout, "FIX  edit "+dir+": wiped plaintext") {
		t.Errorf("doctor did not report the wipe: %q", r.stdout)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s survived doctor: %v", dir, err)
	}
}
