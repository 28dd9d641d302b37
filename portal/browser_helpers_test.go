package portal

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// browserTimeout bounds the browser part of one test, so that a hung
// browser fails the test instead of hanging it. Generous: under `make
// test` other packages' tests load the machine, and the portal runs with
// the race detector.
const browserTimeout = 90 * time.Second

// browserNames are the names of a Chromium-based browser looked up on
// PATH, in order.
var browserNames = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell", "headless_shell"}

// browserExecPath is the browser found on PATH. Without one the test is
// skipped, unless LEDGER_REQUIRE_BROWSER=1 (CI) makes it fail.
func browserExecPath(t *testing.T) string {
	t.Helper()
	for _, name := range browserNames {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	msg := fmt.Sprintf("no Chromium on PATH (looked for %s)", strings.Join(browserNames, ", "))
	if os.Getenv("LEDGER_REQUIRE_BROWSER") == "1" {
		t.Fatalf("%s, and LEDGER_REQUIRE_BROWSER=1 requires one", msg)
	}
	t.Skip(msg + "; install chromium to run the browser tests")
	return ""
}

// browserShared is the one headless Chromium of the test binary, started
// by the first browser test and shared by the others (a tab in a browser
// context of its own per user): starting Chromium costs seconds. It dies
// with the test binary (chromedp kills it when the process exits).
var browserShared struct {
	once sync.Once
	root context.Context
	err  error
}

// browserStartTimeout bounds the start of the shared Chromium.
const browserStartTimeout = 60 * time.Second

// browserRoot is the shared Chromium's context, started on first use.
func browserRoot(t *testing.T) context.Context {
	t.Helper()
	path := browserExecPath(t)
	browserShared.once.Do(func() {
		opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.WindowSize(1280, 900),
			chromedp.Flag("lang", "en-US"), chromedp.UserDataDir(browserProfileDir()))
		if os.Geteuid() == 0 {
			opts = append(opts, chromedp.NoSandbox) // Chromium refuses its sandbox as root
		}
		actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
		root, _ := chromedp.NewContext(actx)
		started := make(chan error, 1)
		go func() { started <- chromedp.Do(root) }()
		select {
		case err := <-started:
			browserShared.root, browserShared.err = root, err
		case <-time.After(browserStartTimeout):
			browserShared.err = fmt.Errorf("no answer in %v", browserStartTimeout)
		}
		if browserShared.err != nil {
			cancel()
		}
	})
	if browserShared.err != nil {
		t.Fatalf("start chromium %s: %v", path, browserShared.err)
	}
	return browserShared.root
}

// browserProfileDir is the shared Chromium's profile directory, named by
// the test binary's pid. chromedp would remove its own temporary profile
// only when its allocator ends, which the shared one never does, so the
// profiles of earlier runs whose process is gone are removed here.
func browserProfileDir() string {
	prefix := filepath.Join(os.TempDir(), "ledger-portal-chromium-")
	old, _ := filepath.Glob(prefix + "*")
	for _, dir := range old {
		pid, err := strconv.Atoi(strings.TrimPrefix(dir, prefix))
		if err != nil || pid == os.Getpid() {
			continue
		}
		if proc, err := os.FindProcess(pid); err == nil && proc.Signal(syscall.Signal(0)) == nil {
			continue // a test binary still running
		}
		_ = os.RemoveAll(dir)
	}
	return prefix + strconv.Itoa(os.Getpid())
}

// browserRig is one test's portal on a real HTTP server, driven by the
// shared Chromium within the test's time limit.
type browserRig struct {
	t    *testing.T
	e    *env
	base string
	ctx  context.Context
}

// newBrowserRig serves e's handler over HTTP for the test and gives it
// browserTimeout of the shared Chromium's time from now.
func newBrowserRig(t *testing.T, e *env) *browserRig {
	t.Helper()
	root := browserRoot(t)
	srv := httptest.NewServer(e.srv)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(root, browserTimeout)
	t.Cleanup(cancel)
	start := time.Now()
	t.Cleanup(func() {
		t.Logf("browser part: %v of the %v allowed", time.Since(start).Round(time.Millisecond), browserTimeout)
	})
	return &browserRig{t: t, e: e, base: srv.URL, ctx: ctx}
}

// browserTab is one user's tab, in a browser context of its own (its
// own cookies), like a separate browser profile.
type browserTab struct {
	t    *testing.T
	rig  *browserRig
	ctx  context.Context
	name string
}

// tab opens a new user's tab, named for failure messages.
func (r *browserRig) tab(name string) *browserTab {
	r.t.Helper()
	ctx, cancel := chromedp.NewContext(r.ctx, chromedp.WithNewBrowserContext())
	r.t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		r.t.Fatalf("%s: open a tab: %v", name, err)
	}
	return &browserTab{t: r.t, rig: r, ctx: ctx, name: name}
}

// do runs actions in the tab, failing the test on an error.
func (b *browserTab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("%s: %s: %v\n%s", b.name, what, err, b.describe())
	}
}

// browserEval evaluates a JavaScript expression in b's page as a T.
func browserEval[T any](b *browserTab, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("%s: evaluate %s: %v\n%s", b.name, expr, err, b.describe())
	}
	return v
}

// describe is where the tab is and the start of its text, for failures.
func (b *browserTab) describe() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + (document.body ? document.body.innerText : "")`))
	if err != nil {
		return "(page unreadable: " + err.Error() + ")"
	}
	if len(text) > 1500 {
		text = text[:1500] + "…"
	}
	return text
}

// waitJS polls a JavaScript predicate until it is true. It polls from Go:
// the portal's CSP forbids the eval that chromedp.Poll runs in the page.
func (b *browserTab) waitJS(what, expr string) {
	b.t.Helper()
	var last error
	for {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return
		}
		last = err
		select {
		case <-b.ctx.Done():
			b.t.Fatalf("%s: waiting for %s: %v (last: %v)\n%s", b.name, what, b.ctx.Err(), last, b.describeAfterTimeout())
		case <-time.After(40 * time.Millisecond):
		}
	}
}

// describeAfterTimeout is describe for a tab whose context has ended.
func (b *browserTab) describeAfterTimeout() string {
	if b.ctx.Err() != nil {
		return "(the test's browser time is up)"
	}
	return b.describe()
}

// pageSettled is true once the page replaced the one marked stale has
// loaded and htmx has finished swapping and settling it.
const pageSettled = `document.readyState === "complete" && !!document.querySelector("main#main")
	&& !document.querySelector("main#main[data-browser-stale]")
	&& !document.querySelector(".htmx-request, .htmx-swapping, .htmx-settling")`

// markStale marks the current page, so that waitPage knows its successor.
func (b *browserTab) markStale() {
	b.t.Helper()
	browserEval[chromedp.Void](b, `(() => { const m = document.querySelector("main#main"); if (m) m.setAttribute("data-browser-stale", ""); })()`)
}

// waitPage waits for the next page, a full load or an htmx swap.
func (b *browserTab) waitPage(what string) {
	b.t.Helper()
	b.waitJS(what, pageSettled)
}

// open loads path of the portal.
func (b *browserTab) open(path string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.rig.base+path))
	b.waitPage("page " + path)
}

// click clicks the first element matching a CSS selector, as a user
// would, and waits for the page it leads to.
func (b *browserTab) click(sel string) {
	b.t.Helper()
	b.markStale()
	b.do("click "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
	b.waitPage("the page after clicking " + sel)
}

// clickLink clicks, with the mouse, the link in main whose text is text,
// and waits for its page.
func (b *browserTab) clickLink(text string) {
	b.t.Helper()
	found := fmt.Sprintf(`[...document.querySelectorAll("main a")].some(a => a.textContent.trim() === %s)`, jsString(text))
	if !browserEval[bool](b, found) {
		b.t.Fatalf("%s: no link %q on the page\n%s", b.name, text, b.describe())
	}
	b.markStale()
	xpath := fmt.Sprintf(`//main//a[normalize-space(.)=%s]`, jsString(text)) // XPath takes "…" literals
	b.do("click link "+text, chromedp.Click(chromedp.Search(xpath), chromedp.NodeVisible))
	b.waitPage("the page of link " + text)
}

// fill replaces the value of a text field with value, as pasted: one
// text input event (typing key by key costs seconds for an API key).
func (b *browserTab) fill(sel, value string) {
	b.t.Helper()
	browserEval[chromedp.Void](b, fmt.Sprintf(`(() => { const el = document.querySelector(%s); if (el) el.value = ""; })()`, jsString(sel)))
	b.do("paste into "+sel, chromedp.Focus(chromedp.CSS(sel), chromedp.NodeVisible), chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, input.InsertText, input.InsertTextParams{Text: value})
		return err
	}))
}

// choose sets the value of a select, date or number field, as picking it
// would.
func (b *browserTab) choose(sel, value string) {
	b.t.Helper()
	b.do("choose in "+sel, chromedp.SetValue(chromedp.CSS(sel), value, chromedp.NodeVisible))
}

// path is the path of the tab's current page.
func (b *browserTab) path() string {
	b.t.Helper()
	return browserEval[string](b, `location.pathname`)
}

// text is the visible text of the first element matching sel, "" when
// there is none.
func (b *browserTab) text(sel string) string {
	b.t.Helper()
	return browserEval[string](b, fmt.Sprintf(`(() => { const el = document.querySelector(%s); return el ? el.innerText.trim() : ""; })()`, jsString(sel)))
}

// has reports whether an element matches sel.
func (b *browserTab) has(sel string) bool {
	b.t.Helper()
	return browserEval[bool](b, fmt.Sprintf(`!!document.querySelector(%s)`, jsString(sel)))
}

// status is the HTTP status of what the page shows: the last request
// htmx made for it, or the document's own load.
func (b *browserTab) status() int {
	b.t.Helper()
	return browserEval[int](b, `(() => {
		const xhr = performance.getEntriesByType("resource").filter(e => e.initiatorType === "xmlhttprequest" || e.initiatorType === "fetch");
		if (xhr.length) return xhr[xhr.length - 1].responseStatus;
		const nav = performance.getEntriesByType("navigation");
		return nav.length ? nav[0].responseStatus : 0; })()`)
}

// wantText fails unless the page's main text holds every one of texts.
func (b *browserTab) wantText(texts ...string) {
	b.t.Helper()
	body := b.text("body")
	for _, s := range texts {
		if !strings.Contains(body, s) {
			b.t.Fatalf("%s: the page %s lacks %q:\n%s", b.name, b.path(), s, body)
		}
	}
}

// signIn pastes key into the sign-in form and submits it, landing home.
func (b *browserTab) signIn(key string) {
	b.t.Helper()
	b.open("/portal/sign-in")
	b.fill("#api_key", key)
	b.click(`form[action="/portal/sign-in"] button[type="submit"]`)
	if p := b.path(); p != "/portal/" {
		b.t.Fatalf("%s: signed in at %s, want /portal/\n%s", b.name, p, b.describe())
	}
}

// wantLabelled fails unless every visible input, select and textarea of
// the page has a label (a <label for>, a wrapping label or an ARIA name).
func (b *browserTab) wantLabelled() {
	b.t.Helper()
	missing := browserEval[[]string](b, `[...document.querySelectorAll("input, select, textarea")]
		.filter(el => el.type !== "hidden" && el.getClientRects().length > 0)
		.filter(el => !(el.labels && el.labels.length) && !el.getAttribute("aria-label") && !el.getAttribute("aria-labelledby"))
		.map(el => el.outerHTML)`)
	if len(missing) > 0 {
		b.t.Fatalf("%s: controls without a label on %s: %s", b.name, b.path(), strings.Join(missing, "; "))
	}
}

// wantFocusVisible tabs from the start of main to its first link and
// fails unless the focused link shows an outline.
func (b *browserTab) wantFocusVisible() {
	b.t.Helper()
	browserEval[chromedp.Void](b, `document.querySelector("main#main").focus()`)
	for range 40 {
		b.do("press Tab", chromedp.KeyEvent(kb.Tab))
		if browserEval[bool](b, `!!document.activeElement && document.activeElement.matches("main a[href]")`) {
			style := browserEval[string](b, `(() => { const s = getComputedStyle(document.activeElement); return s.outlineStyle + " " + s.outlineWidth; })()`)
			if strings.HasPrefix(style, "none") || strings.HasSuffix(style, " 0px") {
				b.t.Fatalf("%s: the focused link on %s shows no outline (%s)", b.name, b.path(), style)
			}
			return
		}
	}
	b.t.Fatalf("%s: tabbing through %s never reached a link", b.name, b.path())
}

// screenshot saves the whole page as docs/portal/<name>.png when
// LEDGER_SCREENSHOTS=1 (make screenshots); otherwise it does nothing.
func (b *browserTab) screenshot(name string) {
	b.t.Helper()
	if os.Getenv("LEDGER_SCREENSHOTS") != "1" {
		return
	}
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("%s: screenshot %s: %v", b.name, name, err)
	}
	dir := filepath.Join("..", "docs", "portal")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatalf("screenshot dir: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatalf("save screenshot %s: %v", name, err)
	}
}

// allowDownloads saves the tab's downloads into a new temporary
// directory, which it returns.
func (b *browserTab) allowDownloads() string {
	b.t.Helper()
	dir := b.t.TempDir()
	c := chromedp.FromContext(b.ctx)
	_, err := chromedp.CallBrowser(b.ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, BrowserContextID: c.BrowserContextID, DownloadPath: dir})
	if err != nil {
		b.t.Fatalf("%s: allow downloads: %v", b.name, err)
	}
	return dir
}

// download clicks sel and returns the file it downloads into dir (from
// allowDownloads) once complete.
func (b *browserTab) download(sel, dir string) []byte {
	b.t.Helper()
	b.do("click "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
	for {
		entries, err := os.ReadDir(dir)
		if err != nil {
			b.t.Fatalf("read downloads: %v", err)
		}
		for _, f := range entries {
			if !strings.HasSuffix(f.Name(), ".crdownload") {
				data, err := os.ReadFile(filepath.Join(dir, f.Name()))
				if err != nil {
					b.t.Fatalf("read download: %v", err)
				}
				return data
			}
		}
		select {
		case <-b.ctx.Done():
			b.t.Fatalf("%s: no download after clicking %s: %v\n%s", b.name, sel, b.ctx.Err(), b.describeAfterTimeout())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	out, _ := json.Marshal(s) // a string always encodes
	return string(out)
}

// browserOperator raises the partner's grant of the fixture to
// partner_operator on Globex (the fixture's first account) and adds a
// partner_operator user; it returns the user's key, its id and Globex's id.
func browserOperator(t *testing.T, e *env, f fixture) (key, id, account string) {
	t.Helper()
	base := "/v1/tenants/" + e.tenant.String()
	sub := e.api(t, "GET", base+"/subscriptions/"+f.inScope, e.adminKey, "", 200)
	account = sub["account_id"].(string)
	e.api(t, "PUT", base+"/partners/"+e.partner.String()+"/access", e.adminKey,
		fmt.Sprintf(`{"role":"partner_operator","all_accounts":false,"account_ids":[%q]}`, account), 200)
	op := e.api(t, "POST", "/v1/partners/"+e.partner.String()+"/users", e.partnerKey, `{"name":"Op","role":"partner_operator"}`, 201)
	e.caughtUp(t)
	return op["key"].(string), op["id"].(string), account
}

// browserTenantUser adds a user of the tenant with role and returns its key.
func (e *env) browserTenantUser(t *testing.T, name, role string) string {
	t.Helper()
	u := e.api(t, "POST", "/v1/tenants/"+e.tenant.String()+"/users", e.adminKey, fmt.Sprintf(`{"name":%q,"role":%q}`, name, role), 201)
	e.caughtUp(t)
	return u["key"].(string)
}
