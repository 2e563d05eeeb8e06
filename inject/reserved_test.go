package inject

import (
	"strings"
	"testing"

	"github.com/tresor-dev/tresor/schemas"
)

// TestReservedName: every variable that makes a program run code, load
// code, take options, or change where it connects and whom it trusts is
// reserved, by family; credentials, even inside such a family, are not.
func TestReservedName(t *testing.T) {
	reserved := map[string][]string{
		"session and shell": {"PATH", "HOME", "SHELL", "USER", "LOGNAME", "PWD", "IFS", "PS0", "PS1", "PS2",
			"PS3", "PS4", "PROMPT_COMMAND", "ENV", "BASH_ENV", "BASH_FUNC_x%%", "BASH_XTRACEFD", "SHELLOPTS",
			"BASHOPTS", "CDPATH", "GLOBIGNORE", "ZDOTDIR", "TMPDIR", "TERM", "TERMINFO", "TERMCAP", "LANG",
			"LC_ALL", "LC_CTYPE", "TZ", "DISPLAY", "SSH_AUTH_SOCK", "XDG_CONFIG_HOME", "XDG_DATA_HOME",
			"XDG_RUNTIME_DIR", "GNUPGHOME"},
		"loader": {"LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "DYLD_INSERT_LIBRARIES", "DYLD_LIBRARY_PATH",
			"GCONV_PATH", "GLIBC_TUNABLES", "ASAN_PRELOAD"},
		"runtimes": {"NODE_OPTIONS", "NODE_PATH", "NODE_EXTRA_CA_CERTS", "NODE_TLS_REJECT_UNAUTHORIZED",
			"PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME", "PYTHONBREAKPOINT", "PYTHONWARNINGS", "PERL5LIB",
			"PERL5OPT", "PERL5DB", "PERLLIB", "RUBYOPT", "RUBYLIB", "GEM_HOME", "GEM_PATH", "BUNDLE_GEMFILE",
			"JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "JAVA_OPTS", "MAVEN_OPTS", "GRADLE_OPTS",
			"CLASSPATH", "JAVA_HOME", "DOTNET_STARTUP_HOOKS", "CORECLR_PROFILER_PATH", "COMPlus_EnableDiagnostics",
			"LUA_INIT", "PHPRC"},
		"go": {"GOFLAGS", "GOPROXY", "GOTOOLCHAIN", "GOROOT", "GOPATH", "GOENV", "GOCACHEPROG", "GOAUTH",
			"GONOSUMDB", "GOSUMDB", "GOINSECURE", "GOPRIVATE", "GODEBUG", "CGO_CFLAGS", "CGO_LDFLAGS", "CGO_ENABLED"},
		"build": {"CC", "CXX", "CPP", "LD", "AR", "AS", "RANLIB", "YACC", "LEX", "RM", "MAKE", "MAKEFLAGS",
			"MFLAGS", "GNUMAKEFLAGS", "MAKEFILES", "MAKESHELL", "CFLAGS", "CXXFLAGS", "CPPFLAGS", "LDFLAGS", "LDLIBS",
			"RUSTFLAGS", "RUSTDOCFLAGS", "RUSTC", "RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER", "RUSTUP_TOOLCHAIN",
			"CARGO_HOME", "CARGO_BUILD_RUSTC_WRAPPER", "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER",
			"CMAKE_C_COMPILER_LAUNCHER", "CCACHE_PREFIX", "PKG_CONFIG_PATH", "CONFIG_SITE", "CONFIG_SHELL",
			"CROSS_COMPILE"},
		"helpers": {"EDITOR", "VISUAL", "PAGER", "MANPAGER", "BROWSER", "LESSOPEN", "LESSCLOSE", "LESS",
			"GIT_EDITOR", "GIT_PAGER", "SUDO_ASKPASS", "SSH_ASKPASS", "SUDO_EDITOR", "SYSTEMD_PAGER",
			"KUBE_EDITOR", "RSYNC_RSH", "RESTIC_PASSWORD_COMMAND", "SOPS_AGE_KEY_CMD"},
		"git": {"GIT_SSH", "GIT_SSH_COMMAND", "GIT_EXEC_PATH", "GIT_DIR", "GIT_WORK_TREE", "GIT_CONFIG",
			"GIT_CONFIG_GLOBAL", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT", "GIT_TEMPLATE_DIR", "GIT_ASKPASS",
			"GIT_PROXY_COMMAND", "GIT_EXTERNAL_DIFF", "GIT_SSL_NO_VERIFY", "GIT_SSL_CAINFO", "GIT_ALTERNATE_OBJECT_DIRECTORIES"},
		"package managers": {"npm_config_script_shell", "NPM_CONFIG_USERCONFIG", "npm_config_registry",
			"Npm_Config_Globalconfig", "YARN_RC_FILENAME", "YARN_NPM_REGISTRY_SERVER", "PIP_INDEX_URL",
			"PIP_EXTRA_INDEX_URL", "PIP_CONFIG_FILE", "UV_INDEX_URL", "UV_PYTHON", "POETRY_REPOSITORIES_X_URL"},
		"network and trust": {"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy",
			"NO_PROXY", "no_proxy", "FTP_PROXY", "Https_Proxy", "SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE",
			"REQUESTS_CA_BUNDLE", "AWS_CA_BUNDLE", "OPENSSL_CONF", "OPENSSL_MODULES", "SSLKEYLOGFILE", "NETRC"},
		"config that runs commands": {"DOCKER_CONFIG", "DOCKER_HOST", "KUBECONFIG", "AWS_CONFIG_FILE",
			"AWS_SHARED_CREDENTIALS_FILE"},
	}
	for family, names := range reserved {
		for _, n := range names {
			t.Run(family+"/"+n, func(t *testing.T) {
				why := ReservedReason(n)
				if why == "" || !IsReservedName(n) {
					t.Fatalf("%s is not reserved", n)
				}
				if strings.Contains(why, n) || strings.ContainsAny(why, "\n;") {
					t.Errorf("reason %q must be one clause, not naming the variable again", why)
				}
			})
		}
	}

	passes := []string{
		// credentials: what a vault is for
		"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GITHUB_TOKEN", "GH_TOKEN", "GITLAB_TOKEN", "HOMEBREW_GITHUB_API_TOKEN",
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_PROFILE",
		"DATABASE_URL", "REDIS_URL", "PGPASSWORD", "MYSQL_PWD", "STRIPE_SECRET_KEY", "SENTRY_DSN",
		"SLACK_WEBHOOK_URL", "NPM_TOKEN", "NODE_AUTH_TOKEN", "PYPI_TOKEN", "TWINE_PASSWORD", "SSH_PRIVATE_KEY",
		"GOOGLE_API_KEY", "GOOGLE_APPLICATION_CREDENTIALS", "DOCKER_PASSWORD", "KUBE_TOKEN",
		// credentials inside a reserved family
		"GIT_TOKEN", "GIT_PASSWORD", "CARGO_REGISTRY_TOKEN", "CARGO_REGISTRIES_MINE_TOKEN", "GEM_HOST_API_KEY",
		"YARN_NPM_AUTH_TOKEN", "UV_PUBLISH_TOKEN", "UV_INDEX_MINE_PASSWORD", "POETRY_HTTP_BASIC_MINE_PASSWORD",
		"RUBYGEMS_API_KEY", "npm_config_mine_token",
		// look-alikes
		"path", "Home", "pwd", "PATH_PREFIX", "MY_PATH", "LDAP_URL", "USERNAME", "PS5", "NODE_ENV", "RAILS_ENV",
		"APP_ENV", "GITHUB_ACTIONS", "GOOGLE_CLOUD_PROJECT", "GOPHER_KEY", "CCX_KEY", "ASSET_HOST", "LESSON_ID",
		"JAVA_OPTS_NOTE", "PROXY_URL", "MY_PROXY_HOST", "cc", "editor",
	}
	for _, n := range passes {
		if why := ReservedReason(n); why != "" {
			t.Errorf("%s is reserved (%s), but it is an ordinary variable", n, why)
		}
	}
}

// TestReservedNameSparesCatalogue: no default variable of a service or an
// entry type is reserved; otherwise `tresor set openai` would be skipped.
func TestReservedNameSparesCatalogue(t *testing.T) {
	cat := schemas.Builtin()
	var names []string
	for _, s := range cat.Services() {
		names = append(names, s.Env)
		names = append(names, s.EnvAliases...)
	}
	for _, ty := range cat.Types() {
		names = append(names, ty.Env)
	}
	n := 0
	for _, name := range names {
		if name == "" {
			continue
		}
		n++
		if why := ReservedReason(name); why != "" {
			t.Errorf("%s, a catalogue default, is reserved (%s)", name, why)
		}
	}
	if n < 20 {
		t.Fatalf("only %d default names in the catalogue", n)
	}
}

// BenchmarkReservedReason: every variable of every exec goes through it.
func BenchmarkReservedReason(b *testing.B) {
	names := []string{"OPENAI_API_KEY", "DATABASE_URL", "GIT_TOKEN", "CARGO_REGISTRY_TOKEN", "https_proxy", "CC", "LD_PRELOAD", "STRIPE_SECRET_KEY"}
	for b.Loop() {
		for _, n := range names {
			ReservedReason(n)
		}
	}
}
