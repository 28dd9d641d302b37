package portal

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"ledger/commands"
	"ledger/domain"
)

// usageMaxBytes bounds an uploaded usage file: the API's body limit (1
// MiB, http.MaxBodyBytes), which the server applies to the whole form.
const usageMaxBytes = 1 << 20

// usageFileField is the usage form's file control.
const usageFileField = "file"

// usageColumns are the columns of a usage file, api.md's fields of a
// usage record.
var usageColumns = []string{"id", "subscription_id", "item_id", "quantity", "occurred_at"}

// usageRowError is one fault of a usage file: its line (1 is the header;
// 0 the whole file), its column, and why.
type usageRowError struct {
	Line    int
	Column  string
	Message string
}

// usageData is the usage page's.
type usageData struct {
	Tenant     uuid.UUID
	Columns    []string
	MaxRecords int
	MaxKiB     int
	Errors     []usageRowError
	Recorded   bool
	Accepted   int
	Duplicates int
}

// usagePage shows the usage upload form to a caller who may record usage
// on the tenant (usage.record), and what the last upload recorded.
func (p *Portal) usagePage(w http.ResponseWriter, r *http.Request, c caller) {
	req, ok := p.tenantRequest(w, r, c)
	if !ok {
		return
	}
	f := newForm()
	data := usageData{}
	q := r.URL.Query()
	if a, err := strconv.Atoi(q.Get("accepted")); err == nil {
		d, _ := strconv.Atoi(q.Get("duplicates"))
		data.Recorded, data.Accepted, data.Duplicates = true, a, d
	}
	p.renderUsage(w, r, c, req, &f, http.StatusOK, data)
}

// renderUsage renders the usage form f with status, after authorizing
// usage.record on the tenant as a whole.
func (p *Portal) renderUsage(w http.ResponseWriter, r *http.Request, c caller, req commands.Request, f *form, status int, data usageData) {
	grant, err := p.cmds.AuthorizeRead(r.Context(), req, domain.PermUsageRecord, "usage")
	if err != nil {
		p.refuse(w, r, c, err)
		return
	}
	data.Tenant, data.Columns, data.MaxRecords, data.MaxKiB = req.TenantID, usageColumns, domain.MaxUsageRecords, usageMaxBytes>>10
	v := p.tenantView(c, req.TenantID, grant, "Usage upload", data)
	v.Form = f
	p.render(w, r, status, "usage", v)
}

// uploadUsage records the usage of an uploaded CSV file as POST
// /v1/tenants/{t}/usage does (commands.RecordUsage, which authorizes):
// all records or none; every fault is listed by line and column.
func (p *Portal) uploadUsage(w http.ResponseWriter, r *http.Request, c caller) {
	req, ok := p.tenantRequest(w, r, c)
	if !ok {
		return
	}
	f := postedForm(r)
	refused := func(status int, faults []usageRowError) {
		if f.Message == "" {
			f.Code, f.Message = domain.CodeInvalid, "nothing was recorded: the file has faults, listed below"
		}
		p.renderUsage(w, r, c, req, &f, status, usageData{Errors: faults})
	}
	cmd, lines, faults := readUsageUpload(r)
	if len(faults) > 0 {
		refused(http.StatusUnprocessableEntity, faults)
		return
	}
	base := Prefix + "/tenants/" + req.TenantID.String() + "/usage"
	ctx := r.Context()
	out, err := p.cmds.RecordUsage(ctx, p.commandRequest(w, r, c, req.TenantID), cmd)
	if err == nil {
		p.waitVisible(ctx, w, out.Position)
		http.Redirect(w, r, fmt.Sprintf("%s?accepted=%d&duplicates=%d", base, out.Accepted, out.Duplicates), http.StatusSeeOther)
		return
	}
	if faults, ok := recordFaults(err, lines); ok {
		refused(http.StatusUnprocessableEntity, faults)
		return
	}
	if status, ok := formRefusal(&f, err); ok {
		refused(status, nil)
		return
	}
	p.refuse(w, r, c, err)
}

// readUsageUpload reads the uploaded file into the command, with the line
// of each record, or the faults of the file.
func readUsageUpload(r *http.Request) (commands.RecordUsage, []int, []usageRowError) {
	file, header, err := r.FormFile(usageFileField)
	if err != nil {
		return commands.RecordUsage{}, nil, []usageRowError{{Message: "choose a CSV file to upload"}}
	}
	defer func() { _ = file.Close() }()
	if header.Size > usageMaxBytes {
		return commands.RecordUsage{}, nil, []usageRowError{{Message: fmt.Sprintf("the file is larger than %d KiB", usageMaxBytes>>10)}}
	}
	return parseUsageCSV(io.LimitReader(file, usageMaxBytes))
}

// recordFaults are the faults of a refusal of RecordUsage that names its
// records ("records[3].quantity"), by the line of each record. A
// subscription that does not exist, or is out of the caller's scope, is
// not: it is the 404 page whichever it is, as the API's 404, so that an
// upload cannot tell one from the other.
func recordFaults(err error, lines []int) ([]usageRowError, bool) {
	var derr *domain.Error
	if !errors.As(err, &derr) || len(derr.Fields) == 0 ||
		!(errors.Is(err, domain.ErrInvalid) || errors.Is(err, domain.ErrRule)) {
		return nil, false
	}
	var out []usageRowError
	for _, fe := range derr.Fields {
		m := listField.FindStringSubmatch(fe.Field)
		n, convErr := 0, error(nil)
		if m != nil {
			n, convErr = strconv.Atoi(m[2])
		}
		if m == nil || m[1] != "records" || convErr != nil || n >= len(lines) {
			out = append(out, usageRowError{Column: fe.Field, Message: fe.Message})
			continue
		}
		out = append(out, usageRowError{Line: lines[n], Column: m[3], Message: fe.Message})
	}
	return out, true
}

// parseUsageCSV reads a usage file: a header row naming usageColumns, in
// any order, then one record a row. It returns the records, the line of
// each, and every fault found.
func parseUsageCSV(in io.Reader) (commands.RecordUsage, []int, []usageRowError) {
	rd := csv.NewReader(in)
	rd.TrimLeadingSpace, rd.FieldsPerRecord = true, -1
	head, err := rd.Read()
	if errors.Is(err, io.EOF) {
		return commands.RecordUsage{}, nil, []usageRowError{{Message: "the file is empty"}}
	}
	if err != nil {
		return commands.RecordUsage{}, nil, []usageRowError{csvFault(err)}
	}
	cols, faults := usageHeader(head)
	if len(faults) > 0 {
		return commands.RecordUsage{}, nil, faults
	}
	var cmd commands.RecordUsage
	var lines []int
	for {
		row, err := rd.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return cmd, lines, append(faults, csvFault(err))
		}
		line, _ := rd.FieldPos(0)
		if len(cmd.Records) == domain.MaxUsageRecords {
			return cmd, lines, append(faults, usageRowError{Line: line, Message: fmt.Sprintf("a file holds at most %d records", domain.MaxUsageRecords)})
		}
		if len(row) != len(head) {
			faults = append(faults, usageRowError{Line: line, Message: fmt.Sprintf("has %d fields, the header %d", len(row), len(head))})
			cmd.Records, lines = append(cmd.Records, commands.UsageRecord{}), append(lines, line)
			continue
		}
		rec, rowFaults := usageRecordOf(row, cols, line)
		faults = append(faults, rowFaults...)
		cmd.Records, lines = append(cmd.Records, rec), append(lines, line)
	}
	if len(cmd.Records) == 0 && len(faults) == 0 {
		faults = append(faults, usageRowError{Message: "the file has a header but no records"})
	}
	return cmd, lines, faults
}

// usageHeader reads the header row: the index of each column.
func usageHeader(head []string) (map[string]int, []usageRowError) {
	cols := map[string]int{}
	var faults []usageRowError
	for i, name := range head {
		name = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(name, "\ufeff")))
		switch _, dup := cols[name]; {
		case !isUsageColumn(name):
			faults = append(faults, usageRowError{Line: 1, Column: name, Message: "is not a column of a usage file"})
		case dup:
			faults = append(faults, usageRowError{Line: 1, Column: name, Message: "is given twice"})
		default:
			cols[name] = i
		}
	}
	for _, name := range usageColumns {
		if _, ok := cols[name]; !ok {
			faults = append(faults, usageRowError{Line: 1, Column: name, Message: "is missing from the header row"})
		}
	}
	return cols, faults
}

// isUsageColumn reports whether name is one of usageColumns.
func isUsageColumn(name string) bool {
	for _, c := range usageColumns {
		if c == name {
			return true
		}
	}
	return false
}

// usageRecordOf reads one row of a usage file, at line.
func usageRecordOf(row []string, cols map[string]int, line int) (commands.UsageRecord, []usageRowError) {
	var rec commands.UsageRecord
	var faults []usageRowError
	cell := func(name string) string { return strings.TrimSpace(row[cols[name]]) }
	fault := func(name, msg string) { faults = append(faults, usageRowError{Line: line, Column: name, Message: msg}) }
	ids := map[string]*uuid.UUID{"id": &rec.ID, "subscription_id": &rec.SubscriptionID, "item_id": &rec.ItemID}
	for _, name := range []string{"id", "subscription_id", "item_id"} {
		id, err := uuid.Parse(cell(name))
		if err != nil {
			fault(name, "must be a UUID")
		}
		*ids[name] = id
	}
	q, err := decimal.NewFromString(cell("quantity"))
	if err != nil {
		fault("quantity", "must be a number, such as 12 or 0.5")
	}
	rec.Quantity = q
	at, err := time.Parse(time.RFC3339Nano, cell("occurred_at"))
	if err != nil {
		fault("occurred_at", "must be an RFC 3339 instant, such as 2026-01-31T12:00:00Z")
	}
	rec.OccurredAt = at
	return rec, faults
}

// csvFault is the fault of a file that is not well-formed CSV.
func csvFault(err error) usageRowError {
	var perr *csv.ParseError
	if errors.As(err, &perr) {
		return usageRowError{Line: perr.Line, Message: "not well-formed CSV: " + perr.Err.Error()}
	}
	return usageRowError{Message: "the file could not be read"}
}
