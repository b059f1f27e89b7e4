package curator

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/swardnet/sward/internal/testutil"
	"github.com/swardnet/sward/schemas"
)

// chromiumPath finds Chromium, or skips the test (fails it when
// SWARD_REQUIRE_E2E=1, as CI sets).
func chromiumPath(t *testing.T) string {
	t.Helper()
	path := os.Getenv("SWARD_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(path); err != nil {
		if os.Getenv("SWARD_REQUIRE_E2E") == "1" {
			t.Fatalf("Chromium not found at %s and SWARD_REQUIRE_E2E=1: apt-get install -y chromium", path)
		}
		t.Skipf("Chromium not found at %s (apt-get install -y chromium); skipping the browser test", path)
	}
	return path
}

func browser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath(t)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelA() })
	return ctx
}

// hostilePage tries every way a scraped page could act in the curator's
// browser; each one would hit the beacon server or open a dialog.
func hostilePage(beacon, id string) string {
	return fmt.Sprintf(`<html><head><script>alert("head");fetch(%[1]q+"/script")</script>
<meta http-equiv="refresh" content="0;url=%[1]s/refresh"><link rel="stylesheet" href="%[1]s/css"></head>
<body onload="alert('onload')"><h1>Page %[2]s</h1>
<img src="%[1]s/img" onerror="alert('onerror')">
<a href="javascript:alert('js-link')">click</a>
<iframe src="%[1]s/iframe"></iframe>
<svg onload="alert('svg')"><script>alert('svg-script')</script></svg>
<p style="background:url(%[1]s/style)">Body of %[2]s</p>
<script>parent.document.title = "pwned"; top.location = %[1]q + "/top";</script>
</body></html>`, beacon, id)
}

func TestBrowserQueueByKeyboard(t *testing.T) {
	ctx := browser(t)
	var beaconHits atomic.Int64
	beacon := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		beaconHits.Add(1)
		t.Logf("beacon hit: %s", r.URL.Path)
	}))
	defer beacon.Close()

	c := openTest(t, Config{Quorum: 1, UndoWindow: 6 * time.Second,
		Guidelines: map[string]string{"job1": "Accept news articles; reject navigation pages."}})
	var items []Item
	for i := range 6 {
		it := testItem(fmt.Sprintf("doc-%d", i), KindReview)
		it.HTML = hostilePage(beacon.URL, it.ID)
		items = append(items, it)
	}
	must(t, c.Enqueue(context.Background(), items...))
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()

	var dialogs atomic.Int64
	must(t, chromedp.Listen(ctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			dialogs.Add(1)
		}
	}))

	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	currentID := func() string {
		t.Helper()
		id, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("item").dataset.id || ""`))
		must(t, err)
		return id
	}
	waitMoved := func(from string) {
		t.Helper()
		step("waiting for the next item", chromedp.Poll[chromedp.Void](
			fmt.Sprintf(`document.getElementById("item").dataset.id !== %q`, from),
			chromedp.WithPollingTimeout(10*time.Second)))
	}

	step("opening the queue", chromedp.Navigate(srv.URL), chromedp.WaitVisible(chromedp.CSS("#item")))
	guidelines, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#guidelines")))
	must(t, err)
	if !strings.Contains(guidelines, "reject navigation pages") {
		t.Errorf("guidelines shown: %q", guidelines)
	}

	// The original page is inert: sanitised srcdoc, empty sandbox (so an
	// opaque origin we cannot even read), nothing fetched, no dialog.
	inert, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]any](`(() => {
		const f = document.getElementById("preview");
		return {sandbox: f.getAttribute("sandbox"), srcdoc: f.srcdoc, opaque: f.contentDocument === null, title: document.title};
	})()`))
	must(t, err)
	srcdoc, _ := inert["srcdoc"].(string)
	for _, bad := range []string{"<script", "onerror", "onload", "javascript:", "<iframe", "refresh", "url(", beacon.URL} {
		if strings.Contains(strings.ToLower(srcdoc), strings.ToLower(bad)) {
			t.Errorf("preview srcdoc contains %q: %s", bad, srcdoc)
		}
	}
	if !strings.Contains(srcdoc, "Body of") {
		t.Errorf("preview lost the page text: %s", srcdoc)
	}
	if inert["sandbox"] != "" || inert["opaque"] != true || inert["title"] == "pwned" {
		t.Errorf("preview frame not sandboxed: %v", inert)
	}

	// Decide five items by keyboard: accept, reject with a reason, edit a
	// field (accept), accept, reject.
	decided := make([]string, 0, 5)
	id := currentID()
	decided = append(decided, id)
	step("accept", chromedp.KeyEvent("a"))
	waitMoved(id)

	id = currentID()
	decided = append(decided, id)
	step("reject", chromedp.KeyEvent("r"), chromedp.WaitVisible(chromedp.CSS("#reason")),
		chromedp.KeyEvent("boilerplate"), chromedp.KeyEvent(kb.Enter))
	waitMoved(id)

	id = currentID()
	decided = append(decided, id)
	step("edit the title", chromedp.KeyEvent("e"), chromedp.WaitVisible(chromedp.CSS("#edit-title")),
		chromedp.Focus(chromedp.CSS("#edit-title")),
		chromedp.KeyEvent("a", chromedp.KeyModifiers(chromedp.ModifierCtrl)), // select the old title
		chromedp.KeyEvent("Edited by keyboard"),
		chromedp.KeyEvent(kb.Enter, chromedp.KeyModifiers(chromedp.ModifierCtrl)))
	waitMoved(id)

	id = currentID()
	decided = append(decided, id)
	step("accept", chromedp.KeyEvent("a"))
	waitMoved(id)

	id = currentID()
	decided = append(decided, id)
	step("reject", chromedp.KeyEvent("r"), chromedp.WaitVisible(chromedp.CSS("#reason")),
		chromedp.KeyEvent("spam"), chromedp.KeyEvent(kb.Enter))
	waitMoved(id)

	// Undo the last decision: the item comes back, and is accepted instead.
	step("undo", chromedp.KeyEvent("u"), chromedp.Poll[chromedp.Void](
		fmt.Sprintf(`document.getElementById("item").dataset.id === %q`, decided[4]),
		chromedp.WithPollingTimeout(10*time.Second)))
	step("accept after undo", chromedp.KeyEvent("a"))
	waitMoved(decided[4])

	// The settled decisions reach Settled, and so the next dataset version.
	want := map[string]string{
		decided[0]: schemas.ActionAccept, decided[1]: schemas.ActionReject, decided[2]: schemas.ActionAccept,
		decided[3]: schemas.ActionAccept, decided[4]: schemas.ActionAccept,
	}
	var settled []Settlement
	testutil.Eventually(t, curatorWait, "five settlements", func() bool {
		s, _, err := c.Settled(context.Background(), 0)
		settled = s
		return err == nil && len(s) >= 5
	})
	time.Sleep(200 * time.Millisecond)
	settled, _, err = c.Settled(context.Background(), 0)
	must(t, err)
	if len(settled) != 5 {
		t.Fatalf("settled %d items, want 5: %+v", len(settled), settled)
	}
	for _, s := range settled {
		if want[s.ItemID] != s.Decision {
			t.Errorf("%s settled as %s, want %s", s.ItemID, s.Decision, want[s.ItemID])
		}
		switch s.ItemID {
		case decided[1]:
			if s.Reason != "boilerplate" {
				t.Errorf("reject reason %q", s.Reason)
			}
		case decided[2]:
			if s.Doc.Title == nil || *s.Doc.Title != "Edited by keyboard" || len(s.Edited) != 1 {
				t.Errorf("edited item: title %v edited %v", s.Doc.Title, s.Edited)
			}
		}
	}
	if n := beaconHits.Load(); n != 0 {
		t.Errorf("the scraped page reached the network %d time(s)", n)
	}
	if n := dialogs.Load(); n != 0 {
		t.Errorf("the scraped page opened %d dialog(s)", n)
	}
}

func TestBrowserRuleLivePreview(t *testing.T) {
	ctx := browser(t)
	c := openTest(t, Config{})
	must(t, c.Enqueue(context.Background(), testItem("p1", KindReview)))
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// Start the browser on the parent context, then limit the steps.
	must(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/rules")))
	err := chromedp.Do(sctx,
		chromedp.WaitVisible(chromedp.CSS(`input[name="domain"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="domain"]`), "news.example.org"),
		chromedp.SendKeys(chromedp.CSS(`textarea[name="fields"]`), "title | h1 | | upper"),
		chromedp.SendKeys(chromedp.CSS(`input[name="body"]`), "article"),
		// No button press: the preview follows the typing.
		chromedp.Poll[chromedp.Void](`document.getElementById("rule-results").textContent.includes("TITLE P1") &&
			document.getElementById("rule-results").textContent.includes("Body of p1")`,
			chromedp.WithPollingTimeout(10*time.Second)),
		chromedp.Click(chromedp.CSS(`#rule button[type="submit"]`)),
		chromedp.Poll[chromedp.Void](`document.getElementById("rule-status").textContent.includes("version 1")`,
			chromedp.WithPollingTimeout(10*time.Second)),
	)
	if err != nil {
		t.Fatalf("rule editor: %v", err)
	}
	rs, err := c.Rules(context.Background())
	must(t, err)
	if len(rs) != 1 || rs[0].Body != "article" || len(rs[0].Fields) != 1 || rs[0].Fields[0].Normalise[0] != "upper" {
		t.Fatalf("published rules: %+v", rs)
	}
}
