// Package config reads the ledger's settings from command-line flags and
// LEDGER_* environment variables, and validates all of them up front.
//
// A flag that was set wins over its environment variable, which wins over
// the default. An empty environment variable counts as unset.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/pflag"
)

// Config is the validated configuration of one ledger process.
type Config struct {
	// DatabaseURL is the PostgreSQL connection string, or empty to let the
	// process find a database itself. It may hold a password: never log it.
	DatabaseURL string
	// HTTPAddr is the host:port the HTTP server listens on.
	HTTPAddr string
	// DataDir is where the embedded PostgreSQL keeps its files.
	DataDir string
	// LogLevel is the least level that is logged.
	LogLevel slog.Level
	// ShutdownTimeout bounds how long in-flight requests may take to finish
	// after a stop signal.
	ShutdownTimeout time.Duration
	// PublishURL, when set, is the broker every committed event is
	// published to: nats://… (JetStream) or amqp://… (RabbitMQ). It may
	// hold a password: never log it.
	PublishURL string
	// EventstoreURL, when set, is the EventStoreDB or KurrentDB server
	// that keeps the event log (esdb://… or esdb+discover://…), the read
	// models staying in PostgreSQL. It may hold a password: never log it.
	EventstoreURL string
	// KeyRateLimit limits the API requests of each key, PartnerRateLimit
	// those of all of a partner's keys together, and UnknownKeyRateLimit
	// the attempts with a key that names no active user, per client
	// address. Each process keeps its own buckets.
	KeyRateLimit, PartnerRateLimit, UnknownKeyRateLimit RateLimit
	// ClientIPHeader names the header a trusted proxy sets to the client's
	// address (X-Forwarded-For or X-Real-IP); empty: the connection's
	// remote address.
	ClientIPHeader string
	// TermInterval is how often `ledger serve` records the renewals and
	// ends of terms that have come due.
	TermInterval time.Duration
}

// RateLimit is a token bucket: PerSecond tokens a second, up to Burst at
// once. A zero PerSecond is no limit.
type RateLimit struct {
	PerSecond float64
	Burst     int
}

// Setting names one configurable value.
type Setting int

// The settings, in the order they are documented and validated.
const (
	DatabaseURL Setting = iota
	HTTPAddr
	DataDir
	LogLevel
	ShutdownTimeout
	PublishURL
	EventstoreURL
	KeyRateLimit
	PartnerRateLimit
	UnknownKeyRateLimit
	ClientIPHeader
	TermInterval
)

type spec struct {
	flag, env, def, usage string
	apply                 func(*Config, string) error
}

var specs = [...]spec{
	DatabaseURL: {"database-url", "LEDGER_DATABASE_URL", "",
		"PostgreSQL connection URL (default: a local or embedded PostgreSQL)", applyDatabaseURL},
	HTTPAddr: {"http-addr", "LEDGER_HTTP_ADDR", ":8080",
		"host:port the HTTP server listens on", applyHTTPAddr},
	DataDir: {"data-dir", "LEDGER_DATA_DIR", "./.ledger",
		"directory for the embedded PostgreSQL's files", applyDataDir},
	LogLevel: {"log-level", "LEDGER_LOG_LEVEL", "info",
		"least level logged: debug, info, warn or error", applyLogLevel},
	ShutdownTimeout: {"shutdown-timeout", "LEDGER_SHUTDOWN_TIMEOUT", "15s",
		"how long in-flight requests may take to finish on shutdown (Go duration)", applyShutdownTimeout},
	PublishURL: {"publish-url", "LEDGER_PUBLISH_URL", "",
		"broker to publish every event to: nats://host:4222 or amqp://user:pass@host:5672/ (default: none)", applyPublishURL},
	EventstoreURL: {"eventstore-url", "LEDGER_EVENTSTORE_URL", "",
		"EventStoreDB/KurrentDB server to keep the event log in: esdb://host:2113?tls=false (default: the log in PostgreSQL)", applyEventstoreURL},
	KeyRateLimit: {"rate-limit", "LEDGER_RATE_LIMIT", "10000/s,20000",
		"API requests per key, in this process: RATE[/s|m|h][,BURST] or off", applyRateLimit(func(c *Config) *RateLimit { return &c.KeyRateLimit })},
	PartnerRateLimit: {"partner-rate-limit", "LEDGER_PARTNER_RATE_LIMIT", "20000/s,40000",
		"API requests per partner, all its keys together, in this process: RATE[/s|m|h][,BURST] or off",
		applyRateLimit(func(c *Config) *RateLimit { return &c.PartnerRateLimit })},
	UnknownKeyRateLimit: {"unknown-key-rate-limit", "LEDGER_UNKNOWN_KEY_RATE_LIMIT", "10/s,100",
		"requests with an unknown API key per client address, in this process: RATE[/s|m|h][,BURST] or off",
		applyRateLimit(func(c *Config) *RateLimit { return &c.UnknownKeyRateLimit })},
	ClientIPHeader: {"client-ip-header", "LEDGER_CLIENT_IP_HEADER", "",
		"header a trusted proxy sets to the client's address: X-Forwarded-For or X-Real-IP (default: none, the connection's address)", applyClientIPHeader},
	TermInterval: {"term-interval", "LEDGER_TERM_INTERVAL", "1m",
		"how often to record the renewals and ends of terms that have come due (Go duration)", applyTermInterval},
}

// Flag returns the command-line flag name of s, without dashes.
func (s Setting) Flag() string { return specs[s].flag }

// Env returns the environment variable name of s.
func (s Setting) Env() string { return specs[s].env }

// Default returns the default value of s as text.
func (s Setting) Default() string { return specs[s].def }

// AddFlags registers the flags of settings on fs. Load reads and validates
// exactly the settings whose flags are registered.
func AddFlags(fs *pflag.FlagSet, settings ...Setting) {
	for _, s := range settings {
		sp := specs[s]
		fs.String(sp.flag, sp.def, fmt.Sprintf("%s [%s]", sp.usage, sp.env))
	}
}

// Load resolves every setting registered on fs from its flag, then from the
// environment through lookupEnv, then from its default, and validates them
// all. The error names each invalid setting by its variable and flag.
// Settings not registered on fs keep their defaults.
func Load(fs *pflag.FlagSet, lookupEnv func(string) (string, bool)) (Config, error) {
	var cfg Config
	var errs []error
	for s, sp := range specs {
		value := sp.def
		if f := fs.Lookup(sp.flag); f != nil {
			value = resolve(f, sp.env, lookupEnv)
		}
		if err := sp.apply(&cfg, value); err != nil {
			errs = append(errs, settingError(Setting(s), value, err))
		}
	}
	return cfg, errors.Join(errs...)
}

func resolve(f *pflag.Flag, env string, lookupEnv func(string) (string, bool)) string {
	if f.Changed {
		return f.Value.String()
	}
	if v, ok := lookupEnv(env); ok && v != "" {
		return v
	}
	return f.DefValue
}

func settingError(s Setting, value string, err error) error {
	if s == DatabaseURL || s == PublishURL || s == EventstoreURL {
		return fmt.Errorf("invalid %s (--%s): %s", s.Env(), s.Flag(), scrubPassword(err.Error(), value))
	}
	return fmt.Errorf("invalid %s (--%s) %q: %w", s.Env(), s.Flag(), value, err)
}

func applyDatabaseURL(cfg *Config, v string) error {
	if v == "" {
		return nil
	}
	if _, err := pgxpool.ParseConfig(v); err != nil {
		return err
	}
	cfg.DatabaseURL = v
	return nil
}

func applyPublishURL(cfg *Config, v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil {
		return errors.New("not a URL")
	}
	if u.Scheme != "nats" && u.Scheme != "amqp" && u.Scheme != "amqps" {
		return fmt.Errorf("scheme %q: must be nats, amqp or amqps", u.Scheme)
	}
	cfg.PublishURL = v
	return nil
}

func applyEventstoreURL(cfg *Config, v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil {
		return errors.New("not a URL")
	}
	if u.Scheme != "esdb" && u.Scheme != "esdb+discover" {
		return fmt.Errorf("scheme %q: must be esdb or esdb+discover", u.Scheme)
	}
	cfg.EventstoreURL = v
	return nil
}

func applyHTTPAddr(cfg *Config, v string) error {
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		var addrErr *net.AddrError
		if errors.As(err, &addrErr) {
			return errors.New(addrErr.Err)
		}
		return err
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	cfg.HTTPAddr = v
	return nil
}

func applyDataDir(cfg *Config, v string) error {
	if strings.TrimSpace(v) == "" {
		return errors.New("must not be empty")
	}
	cfg.DataDir = v
	return nil
}

func applyLogLevel(cfg *Config, v string) error {
	levels := map[string]slog.Level{
		"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError,
	}
	level, ok := levels[strings.ToLower(v)]
	if !ok {
		return errors.New("must be one of debug, info, warn, error")
	}
	cfg.LogLevel = level
	return nil
}

func applyShutdownTimeout(cfg *Config, v string) error {
	d, err := time.ParseDuration(v)
	if err != nil {
		return errors.New("not a Go duration such as 15s or 1m30s")
	}
	if d <= 0 {
		return errors.New("must be positive")
	}
	cfg.ShutdownTimeout = d
	return nil
}

func applyTermInterval(cfg *Config, v string) error {
	d, err := time.ParseDuration(v)
	if err != nil {
		return errors.New("not a Go duration such as 1m or 30s")
	}
	if d <= 0 {
		return errors.New("must be positive")
	}
	cfg.TermInterval = d
	return nil
}

// maxBurst bounds a rate limit's burst.
const maxBurst = 1_000_000_000

// applyRateLimit parses RATE[/s|m|h][,BURST] or off into the limit that
// field picks. BURST defaults to one second's tokens, and at least 1.
func applyRateLimit(field func(*Config) *RateLimit) func(*Config, string) error {
	return func(cfg *Config, v string) error {
		if strings.EqualFold(strings.TrimSpace(v), "off") {
			*field(cfg) = RateLimit{}
			return nil
		}
		ratePart, burstPart, hasBurst := strings.Cut(v, ",")
		perSecond, err := parseRate(strings.TrimSpace(ratePart))
		if err != nil {
			return err
		}
		burst := max(1, int(math.Ceil(perSecond)))
		if hasBurst {
			b, err := strconv.Atoi(strings.TrimSpace(burstPart))
			if err != nil || b < 1 || b > maxBurst {
				return fmt.Errorf("burst %q is not a whole number from 1 to %d", burstPart, maxBurst)
			}
			burst = b
		}
		*field(cfg) = RateLimit{PerSecond: perSecond, Burst: burst}
		return nil
	}
}

// parseRate parses RATE[/s|m|h] into tokens a second.
func parseRate(v string) (float64, error) {
	num, unit, _ := strings.Cut(v, "/")
	per := map[string]float64{"": 1, "s": 1, "m": 60, "h": 3600}[unit]
	if per == 0 {
		return 0, fmt.Errorf("unit %q: must be s, m or h", unit)
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(n) || n <= 0 || n > maxBurst {
		return 0, errors.New("must be RATE[/s|m|h][,BURST] with a positive RATE, such as 100/s,200, or off")
	}
	return n / per, nil
}

func applyClientIPHeader(cfg *Config, v string) error {
	switch strings.ToLower(v) {
	case "":
	case "x-forwarded-for":
		v = "X-Forwarded-For"
	case "x-real-ip":
		v = "X-Real-IP"
	default:
		return errors.New("must be X-Forwarded-For, X-Real-IP or empty")
	}
	cfg.ClientIPHeader = v
	return nil
}

// scrubPassword masks in text every password that connString carries, in
// its user info or as a password parameter, on top of pgx's own redaction.
func scrubPassword(text, connString string) string {
	var passwords []string
	if u, err := url.Parse(connString); err == nil {
		if p, ok := u.User.Password(); ok {
			escaped := strings.TrimPrefix(url.UserPassword("", p).String(), ":")
			passwords = append(passwords, p, escaped)
		}
		passwords = append(passwords, u.Query()["password"]...)
	}
	for _, field := range strings.Fields(connString) {
		if p, ok := strings.CutPrefix(field, "password="); ok {
			passwords = append(passwords, strings.Trim(p, "'"))
		}
	}
	for _, p := range passwords {
		if p != "" {
			text = strings.ReplaceAll(text, p, "xxxxx")
		}
	}
	return text
}
