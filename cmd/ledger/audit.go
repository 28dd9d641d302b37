package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"

	"ledger/audit"
	"ledger/internal/config"
)

// The background job's rhythm: new events become leaves every
// auditAppendEvery, and grown trees get a signed checkpoint every
// auditSignEvery (and on demand, GET …/audit/checkpoint).
const (
	auditAppendEvery = time.Second
	auditSignEvery   = 10 * time.Second
)

func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Tamper evidence: the signing key, and checks of the log and of exports against the signed checkpoints",
	}
	cmd.AddCommand(newAuditPublicKeyCmd(), newAuditVerifyCmd(), newAuditVerifyExportCmd(), newAuditExportCmd())
	return cmd
}

func newAuditPublicKeyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "public-key",
		Short: "Print the verifier key of the checkpoints, in note format (generating the signing key into the data directory if it has none)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, _, err := setup(cmd)
			if err != nil {
				return err
			}
			key, err := audit.KeySourceFromEnv(cfg.DataDir).Load(true)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), key.VerifierKey)
			return err
		},
	}
	config.AddFlags(cmd.Flags(), config.DataDir, config.LogLevel)
	return cmd
}

func newAuditVerifyCmd() *cobra.Command {
	var tenant, publicKey string
	cmd := &cobra.Command{
		Use:   "verify [--tenant ID]",
		Short: "Recompute every tenant's tree from the events table and check it against every signed checkpoint; name each event changed, removed, inserted or reordered",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			cfg, logger, err := setup(cmd)
			if err != nil {
				return err
			}
			if cfg.EventstoreURL != "" {
				return errors.New("audit verify reads the log from the events table in PostgreSQL; a log in EventStoreDB/KurrentDB (LEDGER_EVENTSTORE_URL) is not supported yet")
			}
			verifier, err := auditVerifier(publicKey, cfg.DataDir)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			db, _, closeAll, err := openStore(ctx, cfg, logger, false)
			if err != nil {
				return err
			}
			defer func() { err = errors.Join(err, closeAll()) }()
			return runAuditVerify(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), func(ctx context.Context, opt audit.VerifyOptions) (audit.Report, error) {
				return audit.Verify(ctx, db.Pool, verifier, opt)
			}, tenant)
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "check this tenant's tree only")
	cmd.Flags().StringVar(&publicKey, "public-key", "", "file of the verifier key (default: derived from the signing key, as serve finds it)")
	config.AddFlags(cmd.Flags(), config.DatabaseURL, config.DataDir, config.LogLevel, config.EventstoreURL)
	return cmd
}

// runAuditVerify runs verify, prints its findings to out and its progress
// to progress, and fails when it found anything.
func runAuditVerify(ctx context.Context, out, progress io.Writer, verify func(context.Context, audit.VerifyOptions) (audit.Report, error), tenant string) error {
	start, last := time.Now(), time.Now()
	rep, err := verify(ctx, audit.VerifyOptions{Tenant: tenant, Progress: func(n int) {
		if time.Since(last) >= time.Second {
			last = time.Now()
			fmt.Fprintf(progress, "audit verify: %d events read (%.0f/s)\n", n, float64(n)/time.Since(start).Seconds())
		}
	}})
	if err != nil {
		return err
	}
	for _, f := range rep.Findings {
		fmt.Fprintln(out, f)
	}
	elapsed := time.Since(start)
	fmt.Fprintf(progress, "audit verify: %d events, %d tenants, %d checkpoints in %s (%.0f events/s)\n",
		rep.Events, rep.Tenants, rep.Checkpoints, elapsed.Round(time.Millisecond), float64(rep.Events)/elapsed.Seconds())
	if n := len(rep.Findings); n > 0 {
		return fmt.Errorf("%d findings: the log is not as checkpointed", n)
	}
	fmt.Fprintln(out, "ok: the log is as checkpointed")
	return nil
}

// auditVerifier is the verifier of the key in file, or of the signing key
// as serve finds it.
func auditVerifier(file, dataDir string) (note.Verifier, error) {
	if file == "" {
		key, err := audit.KeySourceFromEnv(dataDir).Load(false)
		if err != nil {
			return nil, err
		}
		return key.Verifier, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	v, err := note.NewVerifier(string(bytes.TrimSpace(b)))
	if err != nil {
		return nil, fmt.Errorf("public key %s: %w", file, err)
	}
	return v, nil
}

func newAuditVerifyExportCmd() *cobra.Command {
	var exportFile, checkpointFile, publicKey string
	cmd := &cobra.Command{
		Use:   "verify-export --export FILE.ndjson --checkpoint FILE --public-key FILE",
		Short: "Check an NDJSON audit export against a signed checkpoint, offline",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			verifier, err := auditVerifier(publicKey, "")
			if err != nil {
				return err
			}
			signed, err := readCheckpointFile(checkpointFile)
			if err != nil {
				return err
			}
			f, err := os.Open(exportFile)
			if err != nil {
				return fmt.Errorf("export: %w", err)
			}
			defer f.Close()
			res, err := audit.VerifyExport(f, signed, verifier)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: the export's first %d events of tenant %s are the log of the checkpoint", res.TreeSize, res.Tenant)
			if res.Beyond > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "; %d later events are not covered by it", res.Beyond)
			}
			fmt.Fprintln(cmd.OutOrStdout())
			return nil
		},
	}
	cmd.Flags().StringVar(&exportFile, "export", "", "the NDJSON export (each line with a \"leaf\")")
	cmd.Flags().StringVar(&checkpointFile, "checkpoint", "", "the signed checkpoint: its note, or the JSON of GET …/audit/checkpoint")
	cmd.Flags().StringVar(&publicKey, "public-key", "", "the verifier key, as `ledger audit public-key` prints it")
	for _, name := range []string{"export", "checkpoint", "public-key"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

// readCheckpointFile reads a signed checkpoint: the note itself, or the
// JSON the checkpoint route answers.
func readCheckpointFile(name string) ([]byte, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
		var body struct {
			SignedNote string `json:"signed_note"`
		}
		if err := json.Unmarshal(t, &body); err != nil || body.SignedNote == "" {
			return nil, fmt.Errorf("checkpoint %s: JSON without a signed_note", name)
		}
		return []byte(body.SignedNote), nil
	}
	return b, nil
}
