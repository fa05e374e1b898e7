package secretfile

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte, perm os.FileMode) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, data, perm)
		os.Chmod(p, perm)
		return p
	}
	if got, err := Read(write("ok", []byte("s3cret\n"), 0o600), "secret file"); err != nil || string(got) != "s3cret\n" {
		t.Errorf("a private file: %q %v", got, err)
	}
	for _, perm := range []os.FileMode{0o640, 0o604, 0o660, 0o650} {
		p := write("open", []byte("s3cret"), perm)
		if _, err := Read(p, "private key"); err == nil || !strings.Contains(err.Error(), "private key "+p+" has permissions") {
			t.Errorf("mode %#o: %v", perm, err)
		}
	}
	if _, err := Read(write("big", make([]byte, MaxBytes+1), 0o600), "secret file"); err == nil || !strings.Contains(err.Error(), "is larger than") {
		t.Errorf("an oversized file: %v", err)
	}
	if _, err := Read(filepath.Join(dir, "none"), "secret file"); !os.IsNotExist(err) {
		t.Errorf("a missing file: %v", err)
	}
}

// TestGroupOfARootFile checks the exception for a secret a Kubernetes Secret volume with fsGroup
// presents (root's file, 0440, group the pod's) and that nothing wider passes.
func TestGroupOfARootFile(t *testing.T) {
	for _, c := range []struct {
		perm      os.FileMode
		groupRead bool
		want      bool
	}{
		{0o600, false, true}, {0o400, false, true}, {0o440, false, false}, {0o640, false, false},
		{0o440, true, true}, {0o640, true, true}, {0o400, true, true},
		{0o460, true, false}, {0o450, true, false}, {0o444, true, false}, {0o660, true, false},
	} {
		if got := permitted(c.perm, c.groupRead); got != c.want {
			t.Errorf("permitted(%#o, group may read %v) = %v, want %v", c.perm, c.groupRead, got, c.want)
		}
	}
	for _, c := range []struct {
		name       string
		uid, gid   uint32
		euid, egid int
		groups     []int
		want       bool
	}{
		{"root's file, the pod's fsGroup as a supplementary group", 0, 65532, 65532, 65532, []int{65532}, true},
		{"root's file, the process's own group", 0, 1000, 1000, 1000, nil, true},
		{"root's file, a group the process is not in", 0, 50, 65532, 65532, []int{65532}, false},
		{"another user's file", 1000, 65532, 65532, 65532, []int{65532}, false},
		{"gatehouse running as root", 0, 0, 0, 0, []int{0}, false},
	} {
		if got := groupException(c.uid, c.gid, c.euid, c.egid, c.groups); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	// As root, root's group-readable file is refused: the exception is for a process that is not.
	p := filepath.Join(t.TempDir(), "token")
	os.WriteFile(p, []byte("s3cret"), 0o440)
	os.Chmod(p, 0o440)
	if _, err := Read(p, "secret file"); err == nil {
		t.Error("a group-readable file was read by its owner's process")
	}
}

// TestMain lets TestAsThePodsUser run this test binary as another user to read one file.
func TestMain(m *testing.M) {
	if p := os.Getenv("SECRETFILE_TEST_READ"); p != "" {
		if _, err := Read(p, "secret file"); err != nil {
			os.Stdout.WriteString(err.Error())
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestAsThePodsUser reads secret files as a Kubernetes pod's process would: user and group 65532,
// with the pod's fsGroup as a supplementary group, files owned by root. It needs root to set that
// up, which the test script's CI has; elsewhere the rule is covered by TestGroupOfARootFile alone.
func TestAsThePodsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Log("not root: cannot make files root owns for another user; TestGroupOfARootFile covers the rule")
		return
	}
	dir, err := os.MkdirTemp("", "secretfile")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	self, _ := os.ReadFile(os.Args[0])
	bin := filepath.Join(dir, "secretfile.test")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	const fsGroup = 2000
	for _, c := range []struct {
		name     string
		gid      int
		mode     os.FileMode
		readable bool
	}{
		{"root's file, 0440, the fsGroup", fsGroup, 0o440, true},
		{"root's file, 0640, the fsGroup", fsGroup, 0o640, true},
		{"root's file, 0460, the fsGroup may write", fsGroup, 0o460, false},
		{"root's file, 0444, others may read", 3000, 0o444, false},
	} {
		p := filepath.Join(dir, "token")
		os.Remove(p)
		if err := os.WriteFile(p, []byte("s3cret"), c.mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, c.mode)
		os.Chown(p, 0, c.gid)
		cmd := exec.Command(bin, "-test.run=^$")
		cmd.Env = []string{"SECRETFILE_TEST_READ=" + p}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65532, Gid: 65532, Groups: []uint32{fsGroup}}}
		out, err := cmd.CombinedOutput()
		if (err == nil) != c.readable {
			t.Errorf("%s: read %v (%v %s), want %v", c.name, err == nil, err, out, c.readable)
		}
	}
	// A file 65532 owns, group-readable: the strict rule.
	p := filepath.Join(dir, "own")
	os.WriteFile(p, []byte("s3cret"), 0o440)
	os.Chmod(p, 0o440)
	os.Chown(p, 65532, fsGroup)
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = []string{"SECRETFILE_TEST_READ=" + p}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65532, Gid: 65532, Groups: []uint32{fsGroup}}}
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "permissions 0440") {
		t.Errorf("its own group-readable file: %v %s", err, out)
	}
}
