package config_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"ledger/internal/config"
)

// FuzzLoad feeds arbitrary environment values to Load: it must never panic,
// every error must name a setting, and a database URL's password must never
// appear in an error.
func FuzzLoad(f *testing.F) {
	f.Add("postgres://u:s3cret@db:5432/ledger", ":8080", "./.ledger", "info", "15s")
	f.Add("postgres://u:pa%20ss@db:99999/x", "abc", " ", "loud", "-1s")
	f.Add("host=db password=s3cret port=x", "127.0.0.1:70000", "d", "DEBUG", "1h")
	f.Fuzz(func(t *testing.T, dbURL, addr, dataDir, level, timeout string) {
		fs := pflag.NewFlagSet("fuzz", pflag.ContinueOnError)
		config.AddFlags(fs, config.DatabaseURL, config.HTTPAddr, config.DataDir, config.LogLevel, config.ShutdownTimeout)
		env := map[string]string{
			"LEDGER_DATABASE_URL": dbURL, "LEDGER_HTTP_ADDR": addr, "LEDGER_DATA_DIR": dataDir,
			"LEDGER_LOG_LEVEL": level, "LEDGER_SHUTDOWN_TIMEOUT": timeout,
		}
		_, err := config.Load(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		if err == nil {
			return
		}
		if !strings.Contains(err.Error(), "LEDGER_") {
			t.Fatalf("error names no setting: %v", err)
		}
		if u, perr := url.Parse(dbURL); perr == nil && strings.Contains(dbURL, "://") {
			if p, ok := u.User.Password(); ok && len(p) >= 4 && strings.Contains(err.Error(), p) {
				t.Fatalf("error shows the password %q: %v", p, err)
			}
		}
	})
}
