package config_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"ledger/internal/config"
)

var all = []config.Setting{
	config.DatabaseURL, config.HTTPAddr, config.DataDir, config.LogLevel, config.ShutdownTimeout, config.PublishURL, config.EventstoreURL,
	config.KeyRateLimit, config.PartnerRateLimit, config.UnknownKeyRateLimit, config.ClientIPHeader, config.TermInterval,
}

func load(t *testing.T, settings []config.Setting, args []string, env map[string]string) (config.Config, error) {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	config.AddFlags(fs, settings...)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse flags %v: %v", args, err)
	}
	return config.Load(fs, func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
}

func defaults() config.Config {
	return config.Config{
		HTTPAddr: ":8080", DataDir: "./.ledger", LogLevel: slog.LevelInfo, ShutdownTimeout: 15 * time.Second,
		KeyRateLimit:        config.RateLimit{PerSecond: 10000, Burst: 20000},
		PartnerRateLimit:    config.RateLimit{PerSecond: 20000, Burst: 40000},
		UnknownKeyRateLimit: config.RateLimit{PerSecond: 10, Burst: 100},
		TermInterval:        time.Minute,
	}
}

func TestLoadResolvesFlagThenEnvThenDefault(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want func(*config.Config)
	}{
		{name: "defaults", want: func(*config.Config) {}},
		{
			name: "env",
			env: map[string]string{
				"LEDGER_DATABASE_URL": "postgres://u:p@db:5432/ledger", "LEDGER_HTTP_ADDR": "127.0.0.1:9000",
				"LEDGER_DATA_DIR": "/var/lib/ledger", "LEDGER_LOG_LEVEL": "DEBUG", "LEDGER_SHUTDOWN_TIMEOUT": "1m",
			},
			want: func(c *config.Config) {
				c.DatabaseURL, c.HTTPAddr, c.DataDir = "postgres://u:p@db:5432/ledger", "127.0.0.1:9000", "/var/lib/ledger"
				c.LogLevel, c.ShutdownTimeout = slog.LevelDebug, time.Minute
			},
		},
		{
			name: "flag wins over env",
			args: []string{"--http-addr=:9001", "--log-level=error", "--shutdown-timeout=2s"},
			env:  map[string]string{"LEDGER_HTTP_ADDR": ":9000", "LEDGER_LOG_LEVEL": "debug", "LEDGER_SHUTDOWN_TIMEOUT": "bad"},
			want: func(c *config.Config) {
				c.HTTPAddr, c.LogLevel, c.ShutdownTimeout = ":9001", slog.LevelError, 2*time.Second
			},
		},
		{
			name: "empty env counts as unset",
			env:  map[string]string{"LEDGER_HTTP_ADDR": "", "LEDGER_LOG_LEVEL": ""},
			want: func(*config.Config) {},
		},
		{
			name: "event store url",
			env:  map[string]string{"LEDGER_EVENTSTORE_URL": "esdb://admin:changeit@kurrent:2113?tls=false"},
			want: func(c *config.Config) { c.EventstoreURL = "esdb://admin:changeit@kurrent:2113?tls=false" },
		},
		{
			name: "rate limits",
			args: []string{"--rate-limit=100/s,250", "--unknown-key-rate-limit=off", "--client-ip-header=x-forwarded-for"},
			env:  map[string]string{"LEDGER_PARTNER_RATE_LIMIT": "600/m", "LEDGER_RATE_LIMIT": "1/s"},
			want: func(c *config.Config) {
				c.KeyRateLimit = config.RateLimit{PerSecond: 100, Burst: 250}
				c.PartnerRateLimit = config.RateLimit{PerSecond: 10, Burst: 10}
				c.UnknownKeyRateLimit = config.RateLimit{}
				c.ClientIPHeader = "X-Forwarded-For"
			},
		},
		{
			name: "rate limit per hour without a unit or burst",
			env:  map[string]string{"LEDGER_RATE_LIMIT": "7200/h", "LEDGER_PARTNER_RATE_LIMIT": "2.5", "LEDGER_CLIENT_IP_HEADER": "X-Real-IP"},
			want: func(c *config.Config) {
				c.KeyRateLimit = config.RateLimit{PerSecond: 2, Burst: 2}
				c.PartnerRateLimit = config.RateLimit{PerSecond: 2.5, Burst: 3}
				c.ClientIPHeader = "X-Real-IP"
			},
		},
		{
			name: "key value database url and ipv6 address",
			args: []string{"--database-url=host=/tmp dbname=ledger", "--http-addr=[::1]:0"},
			want: func(c *config.Config) { c.DatabaseURL, c.HTTPAddr = "host=/tmp dbname=ledger", "[::1]:0" },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := load(t, all, tt.args, tt.env)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			want := defaults()
			tt.want(&want)
			if got != want {
				t.Errorf("Load = %+v, want %+v", got, want)
			}
		})
	}
}

func TestLoadRejectsInvalidSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    []string
		notWant string
	}{
		{
			name: "address without port",
			env:  map[string]string{"LEDGER_HTTP_ADDR": "abc"},
			want: []string{`invalid LEDGER_HTTP_ADDR (--http-addr) "abc": missing port in address`},
		},
		{
			name: "port out of range from flag",
			args: []string{"--http-addr=:99999"},
			want: []string{`invalid LEDGER_HTTP_ADDR (--http-addr) ":99999": port "99999" is not a number from 0 to 65535`},
		},
		{
			name: "log level",
			env:  map[string]string{"LEDGER_LOG_LEVEL": "loud"},
			want: []string{`invalid LEDGER_LOG_LEVEL (--log-level) "loud": must be one of debug, info, warn, error`},
		},
		{
			name: "shutdown timeout not a duration",
			env:  map[string]string{"LEDGER_SHUTDOWN_TIMEOUT": "15"},
			want: []string{`invalid LEDGER_SHUTDOWN_TIMEOUT (--shutdown-timeout) "15": not a Go duration`},
		},
		{
			name: "shutdown timeout not positive",
			args: []string{"--shutdown-timeout=-1s"},
			want: []string{`invalid LEDGER_SHUTDOWN_TIMEOUT (--shutdown-timeout) "-1s": must be positive`},
		},
		{
			name: "empty data dir flag",
			args: []string{"--data-dir="},
			want: []string{`invalid LEDGER_DATA_DIR (--data-dir) "": must not be empty`},
		},
		{
			name:    "database url keeps its password secret",
			env:     map[string]string{"LEDGER_DATABASE_URL": "postgres://u:s3cret@db:99999/ledger?password=s3cret"},
			want:    []string{"invalid LEDGER_DATABASE_URL (--database-url): ", "invalid port"},
			notWant: "s3cret",
		},
		{
			name:    "key value database url keeps its password secret",
			env:     map[string]string{"LEDGER_DATABASE_URL": "host=db password=s3cret port=abc"},
			want:    []string{"invalid LEDGER_DATABASE_URL (--database-url): "},
			notWant: "s3cret",
		},
		{
			name:    "event store url of another scheme keeps its password secret",
			args:    []string{"--eventstore-url=kurrentdb://u:s3cret@kurrent:2113"},
			want:    []string{"invalid LEDGER_EVENTSTORE_URL (--eventstore-url): ", "must be esdb or esdb+discover"},
			notWant: "s3cret",
		},
		{
			name: "rate limit unit",
			env:  map[string]string{"LEDGER_RATE_LIMIT": "100/d"},
			want: []string{`invalid LEDGER_RATE_LIMIT (--rate-limit) "100/d": unit "d": must be s, m or h`},
		},
		{
			name: "rate limit not positive",
			args: []string{"--partner-rate-limit=0/s"},
			want: []string{`invalid LEDGER_PARTNER_RATE_LIMIT (--partner-rate-limit) "0/s": must be RATE[/s|m|h][,BURST]`},
		},
		{
			name: "rate limit not a number",
			env:  map[string]string{"LEDGER_UNKNOWN_KEY_RATE_LIMIT": "NaN"},
			want: []string{`invalid LEDGER_UNKNOWN_KEY_RATE_LIMIT (--unknown-key-rate-limit) "NaN": must be RATE`},
		},
		{
			name: "rate limit burst",
			env:  map[string]string{"LEDGER_RATE_LIMIT": "10/s,0"},
			want: []string{`invalid LEDGER_RATE_LIMIT (--rate-limit) "10/s,0": burst "0" is not a whole number from 1 to 1000000000`},
		},
		{
			name: "client ip header",
			env:  map[string]string{"LEDGER_CLIENT_IP_HEADER": "Forwarded"},
			want: []string{`invalid LEDGER_CLIENT_IP_HEADER (--client-ip-header) "Forwarded": must be X-Forwarded-For, X-Real-IP or empty`},
		},
		{
			name: "every invalid setting is reported",
			env:  map[string]string{"LEDGER_HTTP_ADDR": "abc", "LEDGER_LOG_LEVEL": "loud"},
			want: []string{"LEDGER_HTTP_ADDR", "LEDGER_LOG_LEVEL"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := load(t, all, tt.args, tt.env)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tt.notWant != "" && strings.Contains(err.Error(), tt.notWant) {
				t.Errorf("error %q leaks %q", err, tt.notWant)
			}
		})
	}
}

func TestLoadIgnoresSettingsWithoutFlags(t *testing.T) {
	t.Parallel()
	env := map[string]string{"LEDGER_HTTP_ADDR": "abc", "LEDGER_SHUTDOWN_TIMEOUT": "soon", "LEDGER_DATA_DIR": "/srv/ledger"}
	got, err := load(t, []config.Setting{config.DatabaseURL, config.DataDir, config.LogLevel}, nil, env)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := defaults()
	want.DataDir = "/srv/ledger"
	if got != want {
		t.Errorf("Load = %+v, want %+v", got, want)
	}
}

func TestSettingNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		setting          config.Setting
		flag, env, value string
	}{
		{config.DatabaseURL, "database-url", "LEDGER_DATABASE_URL", ""},
		{config.HTTPAddr, "http-addr", "LEDGER_HTTP_ADDR", ":8080"},
		{config.DataDir, "data-dir", "LEDGER_DATA_DIR", "./.ledger"},
		{config.LogLevel, "log-level", "LEDGER_LOG_LEVEL", "info"},
		{config.ShutdownTimeout, "shutdown-timeout", "LEDGER_SHUTDOWN_TIMEOUT", "15s"},
		{config.PublishURL, "publish-url", "LEDGER_PUBLISH_URL", ""},
		{config.EventstoreURL, "eventstore-url", "LEDGER_EVENTSTORE_URL", ""},
		{config.KeyRateLimit, "rate-limit", "LEDGER_RATE_LIMIT", "10000/s,20000"},
		{config.PartnerRateLimit, "partner-rate-limit", "LEDGER_PARTNER_RATE_LIMIT", "20000/s,40000"},
		{config.UnknownKeyRateLimit, "unknown-key-rate-limit", "LEDGER_UNKNOWN_KEY_RATE_LIMIT", "10/s,100"},
		{config.ClientIPHeader, "client-ip-header", "LEDGER_CLIENT_IP_HEADER", ""},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			t.Parallel()
			if got := tt.setting.Flag(); got != tt.flag {
				t.Errorf("Flag() = %q, want %q", got, tt.flag)
			}
			if got := tt.setting.Env(); got != tt.env {
				t.Errorf("Env() = %q, want %q", got, tt.env)
			}
			if got := tt.setting.Default(); got != tt.value {
				t.Errorf("Default() = %q, want %q", got, tt.value)
			}
		})
	}
}
