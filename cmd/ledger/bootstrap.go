package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"ledger/commands"
	"ledger/domain"
	"ledger/eventstore/postgres"
	"ledger/internal/config"
	"ledger/internal/pgresolve"
)

// bootstrapKind is what "ledger tenant create" and "ledger partner create"
// differ in: the noun, the JSON name of the new id, and the command.
type bootstrapKind struct {
	noun    string
	idField string
	create  func(ctx context.Context, svc *commands.Service, req commands.Request, name string) (commands.Bootstrapped, error)
}

var (
	tenantKind = bootstrapKind{noun: "tenant", idField: "tenant_id",
		create: func(ctx context.Context, svc *commands.Service, req commands.Request, name string) (commands.Bootstrapped, error) {
			return svc.CreateTenant(ctx, req, commands.CreateTenant{Name: name})
		}}
	partnerKind = bootstrapKind{noun: "partner", idField: "partner_id",
		create: func(ctx context.Context, svc *commands.Service, req commands.Request, name string) (commands.Bootstrapped, error) {
			return svc.CreatePartner(ctx, req, commands.CreatePartner{Name: name})
		}}
)

func newTenantCmd() *cobra.Command { return newBootstrapCmd(tenantKind) }

func newPartnerCmd() *cobra.Command { return newBootstrapCmd(partnerKind) }

// newBootstrapCmd returns "ledger NOUN" with its "create" subcommand, which
// acts as the platform operator.
func newBootstrapCmd(k bootstrapKind) *cobra.Command {
	cmd := &cobra.Command{
		Use:   k.noun,
		Short: fmt.Sprintf("Manage %ss as the platform operator", k.noun),
	}
	var name string
	var asJSON bool
	create := &cobra.Command{
		Use:   "create --name NAME [--json]",
		Short: fmt.Sprintf("Create a %s with its first admin user, and print the admin's API key once", k.noun),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			name = strings.TrimSpace(name)
			if name == "" {
				return fmt.Errorf("--name is required: the %s's name", k.noun)
			}
			return withStore(cmd, func(ctx context.Context, _ *pgresolve.DB, store *postgres.Store) error {
				out, err := k.create(ctx, commands.New(store), operatorRequest(), name)
				if err != nil {
					return fmt.Errorf("creating %s: %w", k.noun, err)
				}
				if asJSON {
					return writeBootstrapJSON(cmd.OutOrStdout(), k.idField, out)
				}
				return writeBootstrapText(cmd.OutOrStdout(), k.noun, name, out)
			})
		},
	}
	create.Flags().StringVar(&name, "name", "", fmt.Sprintf("the %s's name (required)", k.noun))
	create.Flags().BoolVar(&asJSON, "json", false, fmt.Sprintf(`print {"%s","admin_user_id","admin_key"} as JSON`, k.idField))
	config.AddFlags(create.Flags(), config.DatabaseURL, config.DataDir, config.LogLevel)
	cmd.AddCommand(create)
	return cmd
}

// operatorRequest is a command request from the platform operator, with a
// request id of its own so that its events can be traced.
func operatorRequest() commands.Request {
	return commands.Request{
		Principal: domain.Principal{Type: domain.ActorOperator},
		RequestID: uuid.NewString(),
	}
}

// writeBootstrapJSON prints api.md's one line of JSON, keys in its order:
// {"<idField>":"…","admin_user_id":"…","admin_key":"…"}.
func writeBootstrapJSON(w io.Writer, idField string, b commands.Bootstrapped) error {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, kv := range [...][2]string{{idField, b.ID.String()}, {"admin_user_id", b.AdminUserID.String()}, {"admin_key", b.AdminKey}} {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, _ := json.Marshal(kv[0]) // a string always encodes
		v, _ := json.Marshal(kv[1])
		fmt.Fprintf(&buf, "%s:%s", k, v)
	}
	buf.WriteString("}\n")
	_, err := w.Write(buf.Bytes())
	return err
}

// writeBootstrapText prints the result for a person, with the key and a
// warning that it is shown only this once.
func writeBootstrapText(w io.Writer, noun, name string, b commands.Bootstrapped) error {
	_, err := fmt.Fprintf(w, `Created %s %q.
  %-14s %s
  admin user id: %s
  admin API key: %s

Store the API key now: it will not be shown again (only its hash is kept).
Send it as "Authorization: Bearer <key>".
`, noun, name, noun+" id:", b.ID, b.AdminUserID, b.AdminKey)
	return err
}
