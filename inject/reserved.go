package inject

import "strings"

// Why a name is reserved, said in warnings and errors. Every class is a
// way for whoever wrote a value to change what the user's programs do:
// any recipient of a shared vault can add entries, so injecting these would
// let one teammate (or one stolen key) run code on every machine that runs
// `tresor exec`, or read its traffic.
const (
	whySession = "it belongs to the login session or the shell"
	whyShell   = "a shell runs code from it"
	whyLoader  = "it makes the dynamic loader or the C library load code"
	whyRuntime = "it makes an interpreter or runtime load code or take options"
	whyBuild   = "build tools (make, cargo, go, cmake…) run it as a program or pass it to the compiler"
	whyHelper  = "programs run it as a command (editor, pager, browser, askpass, ssh…)"
	whyGit     = "git reads it as configuration, and can run commands from it"
	whyPackage = "it configures a package manager: where code comes from and what it runs"
	whyNetwork = "it changes where programs connect or which TLS certificates they trust"
	whyConfig  = "it points a tool at a configuration that can run commands"
)

// reservedNames are reserved by exact (case-sensitive) name.
var reservedNames = map[string]string{}

func reserve(why string, names ...string) {
	for _, n := range names {
		reservedNames[n] = why
	}
}

func init() {
	reserve(whySession, "PATH", "HOME", "USER", "LOGNAME", "PWD", "OLDPWD", "SHLVL",
		"TMPDIR", "TMP", "TEMP", "LANG", "LANGUAGE", "TZ", "TZDIR",
		"DISPLAY", "WAYLAND_DISPLAY", "XAUTHORITY", "DBUS_SESSION_BUS_ADDRESS",
		"SSH_AUTH_SOCK", "SSH_AGENT_PID", "GNUPGHOME", "GPG_AGENT_INFO", "GPG_TTY",
		"KRB5CCNAME", "KRB5_CONFIG", "MAIL", "MAILPATH", "POSIXLY_CORRECT")
	reserve(whyShell, "SHELL", "IFS", "PS0", "PS1", "PS2", "PS3", "PS4", "PROMPT_COMMAND",
		"ENV", "CDPATH", "SHELLOPTS", "BASHOPTS", "GLOBIGNORE", "EXECIGNORE", "ZDOTDIR",
		"FPATH", "HISTFILE", "INPUTRC", "FCEDIT")
	reserve(whyLoader, "GCONV_PATH", "LOCPATH", "NLSPATH", "HOSTALIASES", "RESOLV_HOST_CONF",
		"LOCALDOMAIN", "GLIBC_TUNABLES")
	reserve(whyRuntime,
		"NODE_PATH", "NODE_REPL_EXTERNAL_MODULE", "NODE_ICU_DATA", "NODE_REDIRECT_WARNINGS", "NODE_V8_COVERAGE",
		"CLASSPATH", "JAVA_HOME", "JDK_HOME", "GRADLE_USER_HOME", "M2_HOME", "MAVEN_HOME",
		"PHPRC", "PHP_INI_SCAN_DIR", "TCLLIBPATH", "ERL_LIBS",
		"R_PROFILE", "R_PROFILE_USER", "R_ENVIRON", "R_ENVIRON_USER", "R_LIBS", "R_LIBS_USER", "R_LIBS_SITE",
		// the go command and the Go runtime (GOFLAGS is caught by *FLAGS)
		"GOROOT", "GOPATH", "GOBIN", "GOTOOLCHAIN", "GOPROXY", "GONOPROXY", "GOSUMDB", "GONOSUMDB",
		"GONOSUMCHECK", "GOPRIVATE", "GOINSECURE", "GOENV", "GOEXPERIMENT", "GOCACHE", "GOCACHEPROG",
		"GOMODCACHE", "GOVCS", "GOWORK", "GOAUTH", "GOTMPDIR", "GOOS", "GOARCH", "GODEBUG",
		"GOTRACEBACK", "GOGC", "GOMEMLIMIT", "GOMAXPROCS", "GOFIPS140", "GOTELEMETRY", "GOTELEMETRYDIR",
		"GOCOVERDIR", "GCCGO", "GO111MODULE", "GOROOT_FINAL", "GO386", "GOAMD64", "GOARM", "GOARM64",
		"GOMIPS", "GOMIPS64", "GOPPC64", "GORISCV64", "GOWASM")
	// GNU make's programs, which a variable from the environment overrides,
	// and what make, autoconf and kernel builds read.
	reserve(whyBuild, "CC", "CXX", "CPP", "LD", "AR", "AS", "NM", "RANLIB", "STRIP", "OBJCOPY",
		"OBJDUMP", "READELF", "FC", "F77", "PC", "M2C", "CO", "GET", "LEX", "YACC", "LINT", "M4",
		"MAKEINFO", "TEX", "TEXI2DVI", "WEAVE", "CWEAVE", "TANGLE", "CTANGLE", "RM", "INSTALL",
		"LDLIBS", "HOSTCC", "HOSTCXX", "CROSS_COMPILE", "CONFIG_SITE",
		"MAKE", "MAKEFILES", "MAKELEVEL", "MAKEOVERRIDES", "MAKESHELL")
	reserve(whyHelper, "EDITOR", "VISUAL", "PAGER", "MANPAGER", "MANOPT", "BROWSER",
		"LESS", "LESSOPEN", "LESSCLOSE", "LESSKEY", "LESSKEYIN", "LESSEDIT", "LESSSECURE",
		"HGEDITOR", "HGRCPATH", "SSH_ASKPASS_REQUIRE")
	reserve(whyNetwork, "SSLKEYLOGFILE", "NODE_TLS_REJECT_UNAUTHORIZED",
		"GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", "NETRC", "CURL_HOME", "WGETRC")
	reserve(whyConfig, "DOCKER_CONFIG", "DOCKER_HOST", "KUBECONFIG", "AWS_CONFIG_FILE",
		"AWS_SHARED_CREDENTIALS_FILE", "TF_CLI_CONFIG_FILE", "CLOUDSDK_CONFIG")
}

// affix is a family of names sharing a prefix or suffix.
type affix struct {
	s   string
	why string
	// fold: the programs that read the family ignore case (npm_config_*,
	// http_proxy), so the match does too.
	fold bool
	// creds: a name of the family that ends like a credential
	// (CARGO_REGISTRY_TOKEN, GEM_HOST_API_KEY, GIT_TOKEN) passes. No program
	// reads such a name as code or configuration, and these are exactly the
	// secrets a vault is for.
	creds bool
}

var reservedPrefixes = []affix{
	{s: "LD_", why: whyLoader},
	{s: "DYLD_", why: whyLoader},
	{s: "BASH_", why: whyShell}, // BASH_ENV, BASH_FUNC_name%%, BASH_XTRACEFD…
	{s: "LC_", why: whySession},
	{s: "XDG_", why: whySession},
	{s: "TERM", why: whySession, creds: true}, // TERM, TERMINFO, TERMCAP, TERMINAL
	{s: "PYTHON", why: whyRuntime, creds: true},
	{s: "PERL", why: whyRuntime, creds: true},
	{s: "RUBY", why: whyRuntime, creds: true},
	{s: "LUA_", why: whyRuntime, creds: true},
	{s: "DOTNET_", why: whyRuntime, creds: true},
	{s: "CORECLR_", why: whyRuntime, creds: true},
	{s: "COR_", why: whyRuntime, creds: true},
	{s: "COMPLUS_", why: whyRuntime, fold: true, creds: true},
	{s: "CGO_", why: whyBuild, creds: true},
	{s: "CARGO_", why: whyBuild, creds: true},
	{s: "RUSTC", why: whyBuild, creds: true},
	{s: "RUSTDOC", why: whyBuild, creds: true},
	{s: "RUSTUP_", why: whyBuild, creds: true},
	{s: "CMAKE_", why: whyBuild, creds: true},
	{s: "CCACHE_", why: whyBuild, creds: true},
	{s: "PKG_CONFIG", why: whyBuild, creds: true},
	{s: "GIT_", why: whyGit, creds: true},
	{s: "NPM_CONFIG_", why: whyPackage, fold: true, creds: true},
	{s: "YARN_", why: whyPackage, creds: true},
	{s: "PIP_", why: whyPackage, creds: true},
	{s: "UV_", why: whyPackage, creds: true},
	{s: "POETRY_", why: whyPackage, creds: true},
	{s: "GEM_", why: whyPackage, creds: true},
	{s: "BUNDLE_", why: whyPackage, creds: true},
	{s: "SSL_CERT_", why: whyNetwork},
	{s: "OPENSSL_", why: whyNetwork, creds: true},
}

// reservedSuffixes name what a variable is for, whatever program reads it.
var reservedSuffixes = []affix{
	{s: "FLAGS", why: whyBuild},      // CFLAGS (-fplugin=…), LDFLAGS, RUSTFLAGS, GOFLAGS (-toolexec=…), MAKEFLAGS
	{s: "_OPTIONS", why: whyRuntime}, // NODE_OPTIONS, JAVA_TOOL_OPTIONS, _JAVA_OPTIONS, RES_OPTIONS
	{s: "_OPTS", why: whyRuntime},    // JAVA_OPTS, MAVEN_OPTS, GRADLE_OPTS (-javaagent:…)
	{s: "_PRELOAD", why: whyLoader},
	{s: "_WRAPPER", why: whyBuild},  // RUSTC_WRAPPER
	{s: "_LAUNCHER", why: whyBuild}, // CMAKE_C_COMPILER_LAUNCHER
	{s: "_HOOK", why: whyRuntime},
	{s: "_HOOKS", why: whyRuntime}, // DOTNET_STARTUP_HOOKS
	{s: "_ASKPASS", why: whyHelper},
	{s: "_EDITOR", why: whyHelper},
	{s: "_PAGER", why: whyHelper},
	{s: "_BROWSER", why: whyHelper},
	{s: "_COMMAND", why: whyHelper}, // GIT_SSH_COMMAND, PROMPT_COMMAND, RESTIC_PASSWORD_COMMAND
	{s: "_CMD", why: whyHelper},
	{s: "_RSH", why: whyHelper},   // RSYNC_RSH, CVS_RSH
	{s: "_SHELL", why: whyHelper}, // CONFIG_SHELL, npm_config_script_shell
	{s: "_PROXY", why: whyNetwork, fold: true},
	{s: "_CA_BUNDLE", why: whyNetwork, fold: true}, // CURL_CA_BUNDLE, REQUESTS_CA_BUNDLE, AWS_CA_BUNDLE
	{s: "_CA_CERTS", why: whyNetwork, fold: true},  // NODE_EXTRA_CA_CERTS
	{s: "_INDEX_URL", why: whyPackage, fold: true}, // PIP_EXTRA_INDEX_URL, UV_INDEX_URL
}

// credentialSuffixes end the names that hold a credential rather than
// configure a program (see affix.creds).
var credentialSuffixes = []string{"_TOKEN", "_API_KEY", "_APIKEY", "_SECRET", "_SECRET_KEY", "_ACCESS_KEY", "_PASSWORD"}

func hasPrefix(name string, a affix) bool {
	if a.fold {
		return len(name) >= len(a.s) && strings.EqualFold(name[:len(a.s)], a.s)
	}
	return strings.HasPrefix(name, a.s)
}

func hasSuffix(name string, a affix) bool {
	if a.fold {
		return len(name) >= len(a.s) && strings.EqualFold(name[len(name)-len(a.s):], a.s)
	}
	return strings.HasSuffix(name, a.s)
}

func isCredentialName(name string) bool {
	for _, s := range credentialSuffixes {
		if hasSuffix(name, affix{s: s, fold: true}) {
			return true
		}
	}
	return false
}

// ReservedReason says why name is reserved, or "" when it is not. Reserved
// are the variables that tresor neither imports from shell files nor
// injects by default, because a value for them changes what programs do
// rather than what they know:
//
//   - the session and the shell: PATH, HOME, USER, TMPDIR, LANG, LC_*, TZ,
//     TERM*, XDG_*, DISPLAY, SSH_AUTH_SOCK, SHELL, IFS, PS0…PS4, ENV,
//     BASH_* (BASH_ENV, BASH_FUNC_*), PROMPT_COMMAND, CDPATH, …;
//   - code loading: LD_*, DYLD_*, *_PRELOAD, GCONV_PATH, GLIBC_TUNABLES,
//     NODE_OPTIONS, NODE_PATH, PYTHON*, PERL*, RUBY*, LUA_*, CLASSPATH,
//     JAVA_HOME, *_OPTIONS, *_OPTS, DOTNET_*, the go command's GO* settings;
//   - programs and flags build tools use: CC, CXX, CPP, LD, AR, AS, MAKE…,
//     *FLAGS (CFLAGS, LDFLAGS, RUSTFLAGS, GOFLAGS), CGO_*, CARGO_*,
//     RUSTC*, CMAKE_*, *_WRAPPER, *_LAUNCHER, PKG_CONFIG*, CONFIG_SITE;
//   - commands other programs run: EDITOR, VISUAL, PAGER, MANPAGER, BROWSER,
//     LESS*, *_EDITOR, *_PAGER, *_BROWSER, *_ASKPASS, *_COMMAND, *_CMD,
//     *_SHELL, *_RSH, and all of git's GIT_*;
//   - package managers: npm_config_* (any case), YARN_*, PIP_*, UV_*,
//     POETRY_*, GEM_*, BUNDLE_*, *_INDEX_URL;
//   - where programs connect and whom they trust: *_PROXY (any case),
//     SSL_CERT_*, OPENSSL_*, *_CA_BUNDLE, *_CA_CERTS, SSLKEYLOGFILE,
//     NODE_TLS_REJECT_UNAUTHORIZED, NETRC;
//   - configuration files that run commands: DOCKER_CONFIG, DOCKER_HOST,
//     KUBECONFIG, AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE.
//
// A name in a prefix family that ends like a credential (_TOKEN, _API_KEY,
// _SECRET, _PASSWORD, …) is not reserved: GIT_TOKEN, CARGO_REGISTRY_TOKEN,
// GEM_HOST_API_KEY and YARN_NPM_AUTH_TOKEN pass, as do GITHUB_TOKEN, AWS_*
// credentials, DATABASE_URL and every *_API_KEY.
//
// Names compare case-sensitively, as Unix does, except for the families
// whose programs ignore case (proxies, npm configuration).
func ReservedReason(name string) string {
	if why, ok := reservedNames[name]; ok {
		return why
	}
	for _, a := range reservedSuffixes {
		if hasSuffix(name, a) {
			return a.why
		}
	}
	for _, a := range reservedPrefixes {
		if hasPrefix(name, a) && !(a.creds && isCredentialName(name)) {
			return a.why
		}
	}
	return ""
}

// IsReservedName reports whether name is reserved (see ReservedReason).
func IsReservedName(name string) bool {
	return ReservedReason(name) != ""
}
