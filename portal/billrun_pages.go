package portal

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"ledger/commands"
	"ledger/domain"
	"ledger/eventstore"
	"ledger/projections"
)

// billRunTimeout bounds a bill run started from the portal, as the API
// bounds one started over HTTP.
const billRunTimeout = 15 * time.Minute

// billRunRoutes registers the bill runs' pages: the form that starts one
// and a run's page.
func (p *Portal) billRunRoutes(mux *http.ServeMux) {
	t := Prefix + "/tenants/{tenant}"
	mux.HandleFunc("GET "+t+"/bill-runs", p.signedIn(p.billRunsPage))
	mux.HandleFunc("POST "+t+"/bill-runs", p.signedIn(p.runBill))
	mux.HandleFunc("GET "+t+"/bill-runs/{id}", p.signedIn(p.billRun))
}

// billRunsData is the bill runs page's.
type billRunsData struct {
	Tenant uuid.UUID
	// MaxAhead is how many days after today a target date may lie.
	MaxAhead int
}

// billRunsPage shows the form that starts a bill run, for whoever may
// run one (billing.run, as POST /v1/tenants/{t}/bill-runs); anyone else
// gets the 403 page. The API lists no bill runs: each run's page is
// reached from the run, or from an invoice it issued.
func (p *Portal) billRunsPage(w http.ResponseWriter, r *http.Request, c caller) {
	f := newForm()
	f.Values.Set("target_date", p.today().String())
	p.renderBillRuns(w, r, c, &f, http.StatusOK)
}

// renderBillRuns renders the bill run form f with status, after
// authorizing billing.run on the tenant.
func (p *Portal) renderBillRuns(w http.ResponseWriter, r *http.Request, c caller, f *form, status int) {
	req, grant, ok := p.financeRead(w, r, c, domain.PermBillingRun, "bill-runs")
	if !ok {
		return
	}
	v := p.tenantView(c, req.TenantID, grant, "Bill runs", billRunsData{Tenant: req.TenantID, MaxAhead: domain.MaxBillAhead})
	v.Form = f
	p.render(w, r, status, "bill-runs", v)
}

// runBill starts a bill run through commands.RunBill, as POST
// /v1/tenants/{t}/bill-runs does (not cut short by the browser going
// away), then 303 to the run's page once the read models show its
// invoices. A refusal (a target date malformed or too far, an unknown
// account) is the form again with the input kept and the field marked.
func (p *Portal) runBill(w http.ResponseWriter, r *http.Request, c caller) {
	req, ok := p.tenantRequest(w, r, c)
	if !ok {
		return
	}
	f := postedForm(r)
	again := func(status int) {
		foldAccountFields(&f)
		p.renderBillRuns(w, r, c, &f, status)
	}
	cmd, err := billRunInput(f)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), billRunTimeout)
		defer cancel()
		var out commands.Outcome[domain.BillRun]
		out, err = p.cmds.RunBill(ctx, p.commandRequest(w, r, c, req.TenantID), cmd, nil)
		if err == nil {
			p.waitVisible(r.Context(), w, out.Position)
			http.Redirect(w, r, Prefix+"/tenants/"+req.TenantID.String()+"/bill-runs/"+out.State.ID.String(), http.StatusSeeOther)
			return
		}
	}
	p.act(w, r, c, &f, "", again, func(context.Context) (eventstore.Position, error) { return 0, err })
}

// billRunInput reads the form's target date (YYYY-MM-DD) and account
// ids (any number, separated by spaces, commas or lines; none is every
// account), refusing a malformed one as the API's JSON decoding does.
func billRunInput(f form) (commands.RunBill, error) {
	var cmd commands.RunBill
	s := strings.TrimSpace(f.Value("target_date"))
	if s == "" {
		return cmd, domain.Invalid("target_date", "is required")
	}
	d, err := domain.ParseDate("target_date", s)
	if err != nil {
		return cmd, err
	}
	cmd.TargetDate = d
	for _, word := range strings.FieldsFunc(f.Value("account_ids"), func(r rune) bool {
		return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t'
	}) {
		id, err := uuid.Parse(word)
		if err != nil {
			return cmd, domain.Invalid("account_ids", "%q is not an account id (a UUID)", word)
		}
		cmd.AccountIDs = append(cmd.AccountIDs, id)
	}
	return cmd, nil
}

// foldAccountFields marks the form's one account ids control with the
// message of any account the refusal names (account_ids[2], …).
func foldAccountFields(f *form) {
	for name, msg := range f.Fields {
		if strings.HasPrefix(name, "account_ids[") {
			if f.Fields["account_ids"] == "" {
				f.Fields["account_ids"] = msg
			}
			delete(f.Fields, name)
		}
	}
}

// billRunData is a bill run's page's.
type billRunData struct {
	Tenant uuid.UUID
	Run    projections.BillRunView
}

// billRun shows a bill run as GET /v1/tenants/{t}/bill-runs/{id} does,
// from the event log (invoices.read; the tenant's users only): its
// status, target date, the invoices it issued and their totals.
func (p *Portal) billRun(w http.ResponseWriter, r *http.Request, c caller) {
	req, id, ok := p.resourceRequest(w, r, c)
	if !ok {
		return
	}
	out, err := p.cmds.BillRun(r.Context(), req, id)
	if err != nil {
		p.refuse(w, r, c, err)
		return
	}
	run := projections.BillRunViewOf(out.State, out.Version)
	p.render(w, r, http.StatusOK, "bill-run", p.tenantView(c, req.TenantID, nil, "Bill run of "+run.TargetDate.String(), billRunData{Tenant: req.TenantID, Run: run}))
}
