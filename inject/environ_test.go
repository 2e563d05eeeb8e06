package inject

import (
	"strings"
	"testing"
)

func TestBuildEnviron(t *testing.T) {
	parent := []string{"PATH=/bin", "A=parent", "DUP=1", "X=keep", "DUP=2", "NOEQ", "=bad", "B="}
	vars := []Var{testVar("A", "vault"), testVar("Z", "z\nz"), testVar("B", "b=b"), testVar("M", "")}
	got := strings.Join(BuildEnviron(parent, vars, false), "|")
	if want := "PATH=/bin|A=vault|X=keep|DUP=2|B=b=b|M=|Z=z\nz"; got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	got = strings.Join(BuildEnviron(parent, vars, true), "|")
	if want := "PATH=/bin|A=parent|X=keep|DUP=2|B=|M=|Z=z\nz"; got != want {
		t.Fatalf("prefer parent: got %q\nwant %q", got, want)
	}
	if got := Injected(parent, vars, false); len(got) != 4 {
		t.Fatalf("Injected without preferParent: %v", got)
	}
	if got := Injected(parent, vars, true); len(got) != 2 || got[0].Name != "Z" || got[1].Name != "M" {
		t.Fatalf("Injected with preferParent: %v", got)
	}
	if env := BuildEnviron(nil, nil, false); len(env) != 0 {
		t.Fatalf("empty: %q", env)
	}
	if b := environBytes([]string{"A=1", "B=2"}); string(b) != "A=1\x00B=2\x00" {
		t.Fatalf("environBytes %q", b)
	}
}

func TestCheckVar(t *testing.T) {
	tests := []struct {
		v    Var
		want string
	}{
		{testVar("OK_1", "fine"), ""},
		{testVar("_x", ""), ""},
		{testVar("1BAD", "v"), `variable "1BAD" (from global/1bad): not a valid variable name`},
		{testVar("A-B", "v"), "not a valid variable name"},
		{testVar("", "v"), "not a valid variable name"},
		{testVar("NUL", "ab\x00c-FAKE"), "variable NUL (from global/nul): the value holds a NUL byte (at byte 2)"},
		{testVar("BIG", strings.Repeat("x", MaxVarBytes)), "variable BIG (from global/big): the value is 131072 bytes, over the system's per-variable limit of 131067 bytes"},
		{testVar("FITS", strings.Repeat("x", MaxVarBytes-6)), ""},
		{Var{Name: "M-1", Value: "v", Origin: ".tresor.yaml: env M-1"}, `variable "M-1" (from .tresor.yaml: env M-1)`},
	}
	for _, tt := range tests {
		err := CheckVar(tt.v)
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.v.Name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v, want %q", tt.v.Name, err, tt.want)
		} else if strings.Contains(err.Error(), "FAKE") || strings.Contains(err.Error(), "xxxx") {
			t.Errorf("%s: error holds the value: %v", tt.v.Name, err)
		}
	}
}

func TestCheckArgSpace(t *testing.T) {
	if err := CheckArgSpace([]string{"/bin/true"}, []string{"A=1"}, nil); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("y", 100<<10)
	var env []string
	var vars []Var
	for i := 0; i*len(big) < ArgLimit()+len(big); i++ {
		v := testVar("BIG_"+string(rune('A'+i%26))+strings.Repeat("X", i/26), big)
		vars = append(vars, v)
		env = append(env, v.Name+"="+v.Value)
	}
	err := CheckArgSpace([]string{"/bin/true"}, env, vars)
	if err == nil || !strings.Contains(err.Error(), "E2BIG") || !strings.Contains(err.Error(), "largest injected: BIG_") || strings.Contains(err.Error(), "yyyy") {
		t.Fatalf("err = %v", err)
	}
	if err := CheckArgSpace([]string{"/bin/true"}, []string{"H=" + strings.Repeat("z", MaxVarBytes)}, nil); err == nil || !strings.Contains(err.Error(), "variable H") {
		t.Fatalf("per-variable: %v", err)
	}
}

func TestValidVarName(t *testing.T) {
	for _, ok := range []string{"A", "_", "a_1", "OPENAI_API_KEY"} {
		if !ValidVarName(ok) {
			t.Errorf("%q refused", ok)
		}
	}
	for _, bad := range []string{"", "1A", "A-B", "A.B", "A B", "A=B", "ü"} {
		if ValidVarName(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
}
