package web

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

var updateScreenshots = flag.Bool("update-screenshots", false, "write the browser test's screenshots to docs/screenshots")

// chromiumPath finds the headless browser the test script installs.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("ZHIWEN_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium found: run the tests with ./scripts/test.sh, which installs it (or set ZHIWEN_CHROMIUM)")
	return ""
}

// TestBrowserUploadAskCite drives the real UI in headless Chromium: create
// a knowledge base, upload policy.docx, watch it ingest, run a retrieval
// test, ask 一线城市部门经理住宿标准是多少, and open the cited passage.
func TestBrowserUploadAskCite(t *testing.T) {
	ts := newTestServer(t, 0)
	// The browser needs an absolute path: it refuses to read a relative one.
	docx, err := filepath.Abs(testdata(t, "docs", "policy.docx"))
	if err != nil {
		t.Fatal(err)
	}
	shots := t.TempDir()
	if *updateScreenshots {
		shots = filepath.Join("..", "docs", "screenshots")
		if err := os.MkdirAll(shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("lang", "zh-CN"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 860),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	defer cancelTimeout()

	// Start the browser on the long-lived context: the first run binds the
	// browser to its context, and the steps below run on shorter ones.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			buf, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name), buf, 0o644)
		})
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	// do runs steps one at a time, each with its own time limit, so that a
	// failure names the step, and saves a screenshot of the page it failed on.
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		for i, step := range steps {
			sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			err := chromedp.Do(sctx, step)
			cancel()
			if err != nil {
				if buf, serr := chromedp.Run(ctx, chromedp.FullScreenshot(100)); serr == nil {
					os.WriteFile(filepath.Join(t.TempDir(), "failure.png"), buf, 0o644)
					os.WriteFile("/tmp/zhiwen-browser-failure.png", buf, 0o644)
				}
				page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
				t.Fatalf("%s, step %d: %v\npage text:\n%s", what, i+1, err, page)
			}
		}
	}

	// Knowledge-base page: create, upload, wait for the document row.
	setLang := func(lang string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[any](`localStorage.setItem("zhiwen.lang", "`+lang+`")`)(ctx, tg)
			return err
		})
	}
	do("upload in the browser",
		chromedp.Navigate(ts.URL+"/"),
		setLang("zh"),
		chromedp.Navigate(ts.URL+"/#/kbs"),
		chromedp.Reload(),
		chromedp.WaitVisible("#kb-create"),
		chromedp.SendKeys("#kb-name", "差旅制度"),
		chromedp.SendKeys("#kb-desc", "员工差旅报销管理办法"),
		chromedp.Click("#kb-create button"),
		chromedp.WaitVisible("#dropzone"),
		chromedp.SetUploadFiles("#file-input", []string{docx}, chromedp.NodeReady),
		chromedp.WaitVisible(`tr[data-doc]`),
		chromedp.WaitVisible(`#uploads .status-ok`),
		shot("kb-documents.png"),
	)
	if docRow, status := text(`tr[data-doc]`), text(`#uploads li`); !strings.Contains(docRow, "policy.docx") || !strings.Contains(status, "完成") {
		t.Fatalf("document row %q, upload status %q", docRow, status)
	}

	// Retrieval test and chunk viewer.
	do("retrieval test in the browser",
		chromedp.SendKeys("#hit-query", "一线城市部门经理住宿标准"),
		chromedp.Click("#kb-main form.search-row button"),
		chromedp.WaitVisible("#hits .hit"),
		shot("kb-search.png"),
	)
	if hit := text("#hits .hit"); !strings.Contains(hit, "700") {
		t.Fatalf("top hit %q lacks the table row", hit)
	}
	do("chunk viewer",
		chromedp.Click(`tr[data-doc] .actions button`),
		chromedp.WaitVisible("#modal .chunk"),
		shot("kb-chunks.png"),
	)
	if chunks := text("#modal-body"); !strings.Contains(chunks, "第一章") {
		t.Fatalf("chunk viewer shows %q", chunks)
	}
	do("close chunk viewer", chromedp.Click("#modal-close"))

	// Chat: ask, wait for the streamed answer, open the citation.
	do("chat in the browser",
		chromedp.Navigate(ts.URL+"/#/chat"),
		chromedp.WaitVisible("#question"),
		chromedp.SetValue("#kb-picker", "差旅制度"),
		chromedp.SendKeys("#question", "一线城市部门经理住宿标准是多少"),
		chromedp.Click("#send"),
		chromedp.WaitVisible(".msg.assistant .cite"),
		chromedp.WaitNotPresent(".msg.assistant .typing"),
	)
	if answer := text(".msg.assistant .bubble"); !strings.Contains(answer, "700") {
		t.Errorf("answer %q lacks 700", answer)
	}
	do("open the citation",
		chromedp.Click(".msg.assistant .cite"),
		chromedp.WaitVisible("#source-panel .source-text"),
		shot("chat-answer.png"),
	)
	if source := text("#source-panel"); !strings.Contains(source, "700") || !strings.Contains(source, "policy.docx") || !strings.Contains(source, "一线城市") {
		t.Errorf("the citation should open the table passage of policy.docx, got %q", source)
	}
	href, err := chromedp.Run(ctx, chromedp.AttributeValue("#open-original", "href"))
	if err != nil || !strings.HasSuffix(strings.Split(href.Value, "#")[0], "/file") {
		t.Errorf("original-file link %q (%v)", href.Value, err)
	}
	if convs := text("#conv-list"); !strings.Contains(convs, "一线城市部门经理住宿标准") {
		t.Errorf("conversation list %q", convs)
	}

	// The layout works on a phone, in English.
	do("phone layout",
		setLang("en"),
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Navigate(ts.URL+"/#/chat"),
		chromedp.Reload(),
		chromedp.WaitVisible("#question"),
		chromedp.SendKeys("#question", "一线城市部门经理住宿标准是多少"),
		chromedp.Click("#send"),
		chromedp.WaitVisible(".msg.assistant .cite"),
		chromedp.WaitNotPresent(".msg.assistant .typing"),
		shot("chat-phone-en.png"),
	)
	if label := text("#send"); label != "Send" {
		t.Errorf("English UI: the send button says %q", label)
	}
}
