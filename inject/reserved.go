package inject

import "strings"

// reservedNames are variables that either belong to the login session and
// the shell (overriding them breaks the child or the user's shell) or make a
// program load or run code chosen by whoever wrote the value. Any recipient
// of a shared vault can add entries, so the second group would let one
// teammate run code on everyone's machine.
var reservedNames = map[string]bool{
	// session and shell
	"PATH": true, "HOME": true, "SHELL": true, "USER": true, "LOGNAME": true,
	"PWD": true, "OLDPWD": true, "IFS": true, "PS1": true, "PS2": true,
	"PS3": true, "PS4": true, "PROMPT_COMMAND": true, "ENV": true,
	"BASH_ENV": true, "CDPATH": true, "SHELLOPTS": true, "BASHOPTS": true,
	"GLOBIGNORE": true, "ZDOTDIR": true, "TMPDIR": true,
	// C library loading
	"GCONV_PATH": true, "LOCPATH": true, "NLSPATH": true, "HOSTALIASES": true,
	// interpreters and runtimes that load code from a variable
	"NODE_OPTIONS": true, "PYTHONPATH": true, "PYTHONHOME": true,
	"PYTHONSTARTUP": true, "PERL5LIB": true, "PERL5OPT": true, "PERLLIB": true,
	"RUBYOPT": true, "RUBYLIB": true, "JAVA_TOOL_OPTIONS": true,
	"_JAVA_OPTIONS": true, "JDK_JAVA_OPTIONS": true,
	// commands that tools run on their own
	"GIT_SSH": true, "GIT_SSH_COMMAND": true, "GIT_EXEC_PATH": true,
	"GIT_ASKPASS": true, "GIT_CONFIG": true, "SSH_ASKPASS": true, "SUDO_ASKPASS": true,
	"GIT_PAGER": true, "PAGER": true, "MANPAGER": true, "LESSOPEN": true,
	"LESSCLOSE": true, "EDITOR": true, "VISUAL": true, "GIT_EDITOR": true,
}

// reservedPrefixes: dynamic loader variables (LD_PRELOAD, DYLD_INSERT_…),
// bash exported functions, and git configuration passed by environment
// (which can set core.sshCommand and similar).
var reservedPrefixes = []string{"LD_", "DYLD_", "BASH_FUNC_", "GIT_CONFIG_"}

// IsReservedName reports whether name is a variable that tresor neither
// imports from shell files nor injects by default: session and shell
// variables (PATH, HOME, SHELL, USER, PWD, IFS, PS1…PS4, …), dynamic loader
// variables (LD_*, DYLD_*) and variables that make common programs load or
// run code (NODE_OPTIONS, PYTHONPATH, GIT_SSH_COMMAND, PAGER, …).
//
// The comparison is case-sensitive, as variable names are on Unix.
func IsReservedName(name string) bool {
	if reservedNames[name] {
		return true
	}
	for _, p := range reservedPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
